"""The building blocks of every AAE variant: fully connected stacks for encoders, decoders and discriminators.

Each is a stack of Linear layers with dropout then ReLU after every hidden layer (the lecture's order) and a linear
output. The encoder flattens images (n, c, h, w) itself and the decoder returns image-shaped logits, so that only
the data decides the image shape. Decoders and discriminators return logits: the losses use the numerically safe
BCE-with-logits, and images are sigmoid(decoder(z)).
"""

import math

import torch
from torch import nn


class Dropout(nn.Dropout):
    """nn.Dropout with the mask drawn as uniform < keep on the CPU, where torch's bernoulli_ is 2-3x slower than
    rand: the same distribution (keep each unit with probability 1 - p, scale kept units by 1 / (1 - p)), a
    different random stream. Elsewhere it is nn.Dropout."""

    def forward(self, x):
        if not (self.training and self.p > 0 and x.device.type == "cpu"):
            return super().forward(x)
        keep = 1 - self.p
        return x * torch.rand_like(x).lt_(keep).div_(keep)  # the scaled mask in place of the uniforms


class MLP(nn.Sequential):
    """Linear layers of `sizes`, with dropout then ReLU after each hidden one. Inputs are flattened to (n, -1) and
    outputs reshaped to `out_shape` (a view: the layers and their state_dict keys are those of a plain stack)."""

    def __init__(self, sizes, dropout, out_shape=None):
        layers = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(n_in, n_out), Dropout(dropout), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        super().__init__(*layers)
        self.out_shape = tuple(out_shape or (sizes[-1],))

    def forward(self, x):
        return super().forward(x.flatten(1)).unflatten(1, self.out_shape)


def encoder(image_shape, hidden, z_dim, dropout):
    """image (c, h, w) -> latent code. The latent layer has no dropout or activation."""
    return MLP([math.prod(image_shape), hidden, hidden, z_dim], dropout)


def decoder(z_dim, hidden, image_shape, dropout):
    """latent code (and whatever else the variant feeds it) -> image logits (c, h, w)."""
    return MLP([z_dim, hidden, hidden, math.prod(image_shape)], dropout, out_shape=image_shape)


def discriminator(z_dim, hidden, dropout):
    """latent code -> one logit, high for prior samples, low for codes of real images."""
    return MLP([z_dim, hidden, hidden, 1], dropout)
