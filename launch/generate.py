"""Generate synthetic samples from a trained run: `python launch/generate.py --help` (the same program as aae-generate)."""

from aae_dist.cli.generate import main

if __name__ == "__main__":
    main()
