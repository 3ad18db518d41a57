"""`accelerate launch -m aae_dist.train [flags]`: aae-train as a module, for launchers that take one (Accelerate,
torchrun) where no checkout of launch/train.py is at hand."""

from .cli.train import main

if __name__ == "__main__":
    main()
