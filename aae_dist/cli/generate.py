"""aae-generate: synthetic samples from a trained model (the same program as launch/generate.py).

    aae-generate --checkpoint runs/a --num-samples 10000 --out samples.npz   # images + their z
    aae-generate --checkpoint runs/a --num-samples 64 --out grid.png         # an image grid
    aae-generate --checkpoint runs/a --lattice --out lattice.png             # the lecture's lattice
    aae-generate --checkpoint runs/a --manifold 20 --out manifold.png        # 2-D latents only
    aae-generate --checkpoint runs/s --label 7 --out sevens.npz              # supervised: one class
    aae-generate --checkpoint runs/s --style-grid --out styles.png           # supervised: the figure
    aae-generate --checkpoint runs/s --label all --num-samples 1000 --out synthetic/   # PNG files
"""

import math
import os

import numpy as np
import torch

from ..config import OneLineParser
from ..errors import AAEError
from ..models import conditional_models
from ..sampling import generate, latent_lattice, manifold_codes, save_grid, save_pngs, style_grid_codes

from . import add_run_arguments, check_writable, load_model, pick_device, program, run

SUFFIXES = (".npz", ".pt", ".png")


def build_parser(prog=None):
    parser = OneLineParser(prog=prog, description="Decode prior samples of a trained AAE into images.")
    add_run_arguments(parser)
    parser.add_argument("--num-samples", type=int, default=100, help="images to draw from the prior (default: 100)")
    parser.add_argument("--out", required=True, help="output: .npz or .pt (images N x C x H x W in [0, 1], "
                        "their z, and their labels for class-conditional models), .png (an image grid), or a folder "
                        "(a name ending in / or without a suffix: one PNG per image, in a subfolder per class for "
                        "class-conditional models)")
    parser.add_argument("--batch-size", type=int, default=1000, help="images decoded at a time (default: 1000)")
    parser.add_argument("--label", default="all", help="class-conditional models (supervised, semi-supervised, "
                        "dim-reduction: a class; clustering: a cluster): the label of every sample, or all: "
                        "balanced over the labels (default: all)")
    parser.add_argument("--lattice", action="store_true", help="decode the lecture's 100-point latent lattice")
    parser.add_argument("--manifold", type=int, metavar="K", help="decode a K x K sweep over the prior's quantiles "
                        "(2-D latents)")
    parser.add_argument("--style-grid", type=int, nargs="?", const=10, metavar="ROWS", help="class-conditional "
                        "models: ROWS style codes (default 10), each decoded with every class (the AAE paper's "
                        "figure 6)")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_samples <= 0 or args.batch_size <= 0:
        parser.error("--num-samples and --batch-size must be positive integers")
    for name in ("manifold", "style_grid"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.label != "all" and not args.label.isdigit():
        parser.error(f"--label {args.label}: name a class (0, 1, ...) or all")
    if os.path.splitext(args.out.rstrip("/"))[1] and not args.out.endswith((*SUFFIXES, "/")):
        parser.error(f"--out {args.out}: unknown suffix; use one of {', '.join(SUFFIXES)}, or a folder name")
    return args


def codes(aae, args, label, generator):
    """(z, labels or None, images per grid row) of a lattice, manifold or style grid."""
    if args.style_grid:
        if not aae.conditional:
            raise AAEError(f"--style-grid: style grids need a class-conditional model (--model "
                           f"{conditional_models()}); this run is {aae.config.model}")
        return *style_grid_codes(aae.prior, args.style_grid, aae.classes, generator), aae.classes
    if args.manifold and aae.prior.dim != 2:
        raise AAEError(f"--manifold needs a 2-D latent; this run's has {aae.prior.dim} dimensions "
                       "(use --lattice or plain samples)")
    z = manifold_codes(aae.prior, args.manifold, generator) if args.manifold else latent_lattice(aae.prior.dim)
    return z, aae.labels_for(len(z), label), args.manifold or 10


def generate_samples(argv=None):
    args = parse_args(argv)
    check_writable("--out", args.out)
    device = pick_device(args.device)
    aae = load_model(args.checkpoint, device)
    generator = torch.Generator(device).manual_seed(args.seed)
    label = None if args.label == "all" else int(args.label)
    nrow = math.ceil(args.num_samples ** 0.5)
    if args.lattice or args.manifold or args.style_grid:
        z, labels, nrow = codes(aae, args, label, generator)
        images, z = aae.decode(z.to(device), labels).cpu(), z.cpu()
        labels = None if labels is None else labels.cpu()
    else:
        images, z, labels = generate(aae, args.num_samples, args.batch_size, generator, labels=label)
    if not args.out.endswith(SUFFIXES):
        save_pngs(images, args.out, labels)
        print(f"{program()}: {len(images)} PNG files -> {args.out}")
        return
    arrays = {"images": images, "z": z, **({"labels": labels} if labels is not None else {})}
    if args.out.endswith(".npz"):
        np.savez_compressed(args.out, **{name: array.numpy() for name, array in arrays.items()})
    elif args.out.endswith(".pt"):
        torch.save(arrays, args.out)
    else:
        save_grid(images, args.out, nrow=nrow)
    print(f"{program()}: {len(images)} image{'s' * (len(images) != 1)} -> {args.out}")


def main(argv=None):
    run(generate_samples, argv)


if __name__ == "__main__":
    main()
