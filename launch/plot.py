"""Draw a run's pictures into its directory: losses.png (from metrics.jsonl), latent_scatter.png (the encoded
test set coloured by class over prior samples) and, for 2-D latents, manifold.png (a sweep over the prior).

    python launch/plot.py runs/a [--data-root ../shared/data]
"""

from aae_dist.cli import pick_device, read_run, run
from aae_dist.config import OneLineParser
from aae_dist.plots import make_pictures
from aae_dist.tracking import log_to_finished_run


def main():
    parser = OneLineParser(prog="plot.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by launch/train.py")
    parser.add_argument("--data-root", help="dataset folder (default: $AAE_DATA_ROOT, else the run's --data-root)")
    parser.add_argument("--manifold-size", type=int, default=20, help="K of the K x K manifold sweep (default: 20)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda if any, else cpu)")
    args = parser.parse_args()
    config, data_root = read_run(args.run_dir, args.data_root)
    paths = make_pictures(args.run_dir, config["dataset"], data_root, pick_device(args.device), args.manifold_size,
                          image_size=config.get("image_size"))
    log_to_finished_run(args.run_dir, images={f"pictures/{name}": path for name, path in paths.items()})
    print("plot.py: " + ", ".join(paths.values()))


if __name__ == "__main__":
    run(main)
