"""Train an Adversarial Autoencoder: `accelerate launch launch/train.py [flags]` (the same program as aae-train)."""

from aae_dist.cli.train import main

if __name__ == "__main__":
    main()
