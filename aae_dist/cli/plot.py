"""Draw a run's pictures into its directory: losses.png (from metrics.jsonl), latent_scatter.png (the encoded
test set coloured by class over prior samples) and, as the model has them, style_grid.png (class-conditional
models) or manifold.png (2-D latents: a sweep over the prior), clusters.png (models with a class head),
labelled_codes.png (runs with a labelled subset) and representation.png (dim-reduction).

aae-plot is this program, and so is launch/plot.py:

    aae-plot runs/a [--data-root ../shared/data]
"""

from ..config import OneLineParser
from ..plots import make_pictures
from ..tracking import log_to_finished_run
from . import add_machine_arguments, pick_device, program, read_run, run


def build_parser(prog=None):
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by aae-train")
    parser.add_argument("--manifold-size", type=int, default=20, help="K of the K x K manifold sweep (default: 20)")
    add_machine_arguments(parser, data_root=True)
    return parser


def plot_run(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.manifold_size <= 0:
        parser.error(f"--manifold-size must be a positive integer, got {args.manifold_size}")
    config, data_root = read_run(args.run_dir, args.data_root)
    paths = make_pictures(args.run_dir, config["dataset"], data_root, pick_device(args.device), args.manifold_size,
                          image_size=config.get("image_size"))
    log_to_finished_run(args.run_dir, images={f"pictures/{name}": path for name, path in paths.items()})
    print(f"{program()}: " + ", ".join(paths.values()))


def main(argv=None):
    run(plot_run, argv)


if __name__ == "__main__":
    main()
