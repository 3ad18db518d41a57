"""aae-train: train an Adversarial Autoencoder (the same program as launch/train.py and `-m aae_dist.train`).

    aae-train                                               # the lecture's recipe: MNIST, 5000 steps, batch 100
    aae-train --steps 300 --data-root ../shared/data
    accelerate launch -m aae_dist.train --model supervised  # every GPU of the machine (DDP)
"""

from ..config import load_train_config, parse_train_args, train_parser
from ..trainer import Trainer
from . import run

build_parser = train_parser


def train(argv=None):
    Trainer(load_train_config(parse_train_args(argv))).fit()


def main(argv=None):
    run(train, argv)


if __name__ == "__main__":
    main()
