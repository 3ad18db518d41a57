"""Draw a run's pictures into its directory: `python launch/plot.py --help` (the same program as aae-plot)."""

from aae_dist.cli.plot import main

if __name__ == "__main__":
    main()
