"""Evaluate a trained run: `python launch/evaluate.py --help` (the same program as aae-evaluate)."""

from aae_dist.cli.evaluate import main

if __name__ == "__main__":
    main()
