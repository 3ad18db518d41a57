"""The building blocks of every AAE variant: encoders, decoders and discriminators.

Two architectures for the encoder and decoder (`--arch`):
- mlp: the lecture's stacks of Linear layers with dropout then ReLU after every hidden layer and a linear output,
  for any image size (flattened).
- conv: DCGAN-style (Radford et al. 2015): strided 4x4 convolutions halve the image down to 4-7 pixels, doubling
  the channels from `conv_width`, then a linear layer to the code; the decoder mirrors it with transposed
  convolutions. No batch normalisation, so that a batch's result does not depend on its other images (DDP over
  N processes computes what one process computes on the global batch).
The discriminator reads codes, not images: it is an MLP for every architecture.

The encoder takes images (n, c, h, w) and the decoder returns image-shaped logits, so that only the data decides
the image shape. Decoders and discriminators return logits: the losses use the numerically safe BCE-with-logits,
and images are sigmoid(decoder(z)).
"""

import math

import torch
from torch import nn

from .errors import ConfigError

ARCHS = ("mlp", "conv")


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


def conv_halvings(image_shape):
    """How many stride-2 layers take a square image down to 4-7 pixels; a one-line error for other shapes."""
    _, h, w = image_shape
    side, halvings = h, 0
    while side > 7 and side % 2 == 0:
        side, halvings = side // 2, halvings + 1
    if h != w or side > 7 or halvings == 0:
        raise ConfigError(f"--arch conv takes square images whose side halves evenly down to 4-7 pixels (16, 28, "
                          f"32, 64, 128, ...); these are {h}x{w}: pass --image-size 32 (or 64), or use --arch mlp")
    return halvings, side


def conv_encoder(image_shape, width, z_dim, dropout):
    halvings, side = conv_halvings(image_shape)
    channels = [image_shape[0]] + [width * 2**i for i in range(halvings)]
    layers = []
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), Dropout(dropout), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels[-1] * side * side, z_dim))


def conv_decoder(in_size, width, image_shape, dropout):
    halvings, side = conv_halvings(image_shape)
    channels = [width * 2**i for i in reversed(range(halvings))] + [image_shape[0]]
    layers = [nn.Linear(in_size, channels[0] * side * side), nn.Unflatten(1, (channels[0], side, side)),
              Dropout(dropout), nn.ReLU(inplace=True)]
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), Dropout(dropout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-2])  # the last layer's output is the logits: no dropout or activation


def encoder(config, out_size=None):
    """image (c, h, w) -> latent code (z_dim, or out_size values where the variant reads more from its last layer).
    The latent layer has no dropout or activation."""
    c, out_size = config, out_size or config.z_dim
    if c.arch == "conv":
        return conv_encoder(c.image_shape, c.conv_width, out_size, c.dropout)
    return MLP([math.prod(c.image_shape), c.hidden, c.hidden, out_size], c.dropout)


def decoder(config, in_size):
    """latent code (and whatever else the variant feeds it: in_size values in all) -> image logits (c, h, w)."""
    c = config
    if c.arch == "conv":
        return conv_decoder(in_size, c.conv_width, c.image_shape, c.dropout)
    return MLP([in_size, c.hidden, c.hidden, math.prod(c.image_shape)], c.dropout, out_shape=c.image_shape)


def discriminator(in_size, hidden, dropout):
    """latent code -> one logit, high for prior samples, low for codes of real images."""
    return MLP([in_size, hidden, hidden, 1], dropout)
