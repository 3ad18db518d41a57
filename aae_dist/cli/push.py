"""aae-push: share a finished run on the Hugging Face Hub as a model repo (the same program as launch/push.py).

    aae-push runs/a org/name                   # log in first: hf auth login (or set HF_TOKEN)
    aae-push runs/a org/name --private
    aae-push runs/a org/name --dry-run card/   # write the folder that would be uploaded; upload nothing
    aae-push runs/a/checkpoints/best org/name  # the checkpoint --keep-best chose (or any checkpoints/step_N)

It uploads model.safetensors, model_config.json, the training config.json (data_root and output_dir, paths on
this machine, become ./data and the repo id), evaluation.json where the run (or checkpoint) folder has one
(aae-evaluate --checkpoint runs/a --json runs/a/evaluation.json), a sample grid samples.png and a model card
README.md. Then `AAE.from_pretrained("org/name")` and `aae-generate --checkpoint org/name` load it.
"""

import os

from ..config import OneLineParser
from ..errors import AAEError
from ..hub import push_to_hub
from . import load_model, program, read_run, run


def build_parser(prog=None):
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by aae-train (finished: with "
                        "its model.safetensors), or one of its checkpoints (RUN/checkpoints/best, RUN/checkpoints/"
                        "step_N: the moving average's weights where the run keeps one)")
    parser.add_argument("repo_id", metavar="REPO_ID", help="the Hub model repo, org/name or user/name (created "
                        "if it does not exist)")
    parser.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps "
                        "its visibility)")
    parser.add_argument("--dry-run", metavar="DIR", help="write exactly the files that would be uploaded into "
                        "DIR (new or empty) and upload nothing")
    return parser


def push(argv=None):
    args = build_parser().parse_args(argv)
    if not os.path.isdir(args.run_dir):  # pushing is from local files, never from a repo id
        raise AAEError(f"{args.run_dir} is not a directory: push a run directory written by aae-train")
    aae = load_model(args.run_dir, "cpu")  # a run whose training has not finished fails here, in one line
    config, _ = read_run(args.run_dir)
    where = push_to_hub(aae, args.run_dir, config, args.repo_id, private=args.private, dry_run=args.dry_run)
    print(f"{program()}: {args.run_dir} -> {where}" + (" (dry run: nothing uploaded)" if args.dry_run else ""))


def main(argv=None):
    run(push, argv)


if __name__ == "__main__":
    main()
