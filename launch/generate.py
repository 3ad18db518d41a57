"""Generate synthetic samples from a trained run.

    python launch/generate.py --checkpoint runs/a --num-samples 10000 --out samples.npz   # images + their z
    python launch/generate.py --checkpoint runs/a --num-samples 64 --out grid.png         # an image grid
    python launch/generate.py --checkpoint runs/a --lattice --out lattice.png             # the lecture's lattice
    python launch/generate.py --checkpoint runs/a --manifold 20 --out manifold.png        # 2-D latents only
"""

import math
import os

import numpy as np
import torch

from aae_dist import AAEError
from aae_dist.cli import add_run_arguments, load_model, pick_device, run
from aae_dist.config import OneLineParser
from aae_dist.sampling import generate, latent_lattice, manifold_codes, save_grid

SUFFIXES = (".npz", ".pt", ".png")


def parse_args():
    parser = OneLineParser(prog="generate.py", description="Decode prior samples of a trained AAE into images.")
    add_run_arguments(parser)
    parser.add_argument("--num-samples", type=int, default=100, help="images to draw from the prior (default: 100)")
    parser.add_argument("--out", required=True, help="output file: .npz or .pt (images N x 1 x 28 x 28 in [0, 1] "
                        "and z), or .png (an image grid)")
    parser.add_argument("--batch-size", type=int, default=1000, help="images decoded at a time (default: 1000)")
    parser.add_argument("--lattice", action="store_true", help="decode the lecture's 100-point latent lattice")
    parser.add_argument("--manifold", type=int, metavar="K", help="decode a K x K sweep over the prior's quantiles "
                        "(2-D latents)")
    args = parser.parse_args()
    if args.num_samples <= 0 or args.batch_size <= 0:
        parser.error("--num-samples and --batch-size must be positive integers")
    if args.manifold is not None and args.manifold <= 0:
        parser.error("--manifold K must be a positive integer")
    if not args.out.endswith(SUFFIXES):
        parser.error(f"--out {args.out}: unknown suffix; use one of {', '.join(SUFFIXES)}")
    return args


def main():
    args = parse_args()
    device = pick_device(args.device)
    aae = load_model(args.checkpoint, device)
    generator = torch.Generator(device).manual_seed(args.seed)
    if args.lattice or args.manifold:
        if args.manifold and aae.prior.dim != 2:
            raise AAEError(f"--manifold needs a 2-D latent; this run's has {aae.prior.dim} dimensions "
                           "(use --lattice or plain samples)")
        z = (manifold_codes(aae.prior, args.manifold, generator) if args.manifold
             else latent_lattice(aae.prior.dim)).to(device)
        images, z = aae.decode(z).cpu(), z.cpu()
    else:
        images, z = generate(aae, args.num_samples, args.batch_size, generator)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.out.endswith(".npz"):
        np.savez_compressed(args.out, images=images.numpy(), z=z.numpy())
    elif args.out.endswith(".pt"):
        torch.save({"images": images, "z": z}, args.out)
    else:
        save_grid(images, args.out, nrow=args.manifold or (10 if args.lattice else math.ceil(len(images) ** 0.5)))
    print(f"generate.py: {len(images)} images -> {args.out}")


if __name__ == "__main__":
    run(main)
