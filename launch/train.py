"""Train an Adversarial Autoencoder.

    accelerate launch launch/train.py                        # the lecture's recipe: MNIST, 5000 steps, batch 100
    python launch/train.py --steps 300 --data-root ../shared/data
    accelerate launch launch/train.py --help                 # every flag and its default
"""

from aae_dist import Trainer
from aae_dist.cli import run
from aae_dist.config import load_train_config, parse_train_args


def main():
    config = load_train_config(parse_train_args())
    Trainer(config).fit()


if __name__ == "__main__":
    run(main)
