"""The three networks of the vanilla AAE and the `AAE` container that saves, loads and samples them.

Q (encoder) 784 -> N -> N -> z, P (decoder) z -> N -> N -> 784, D (discriminator) z -> M -> M -> 1, each a
stack of Linear layers with dropout then ReLU after every hidden layer (the lecture's order) and a linear
output. P and D return logits: the losses use the numerically safe BCE-with-logits, and images are
sigmoid(P(z)). Unlike the lecture, P has its second ReLU and D applies its last layer.
"""

import json
import os
from dataclasses import asdict, dataclass, field

import torch
from einops import rearrange
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import AAEError
from .files import atomic_path, write_json
from .priors import build_prior

IMAGE_SHAPE = (1, 28, 28)
WEIGHTS_NAME = "model.safetensors"
MODEL_CONFIG_NAME = "model_config.json"


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
    def __init__(self, sizes, dropout):
        layers = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(n_in, n_out), Dropout(dropout), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        super().__init__(*layers)


def encoder(x_dim, hidden, z_dim, dropout):
    """Q: image (flattened) -> latent code. The latent layer has no dropout or activation."""
    return MLP([x_dim, hidden, hidden, z_dim], dropout)


def decoder(z_dim, hidden, x_dim, dropout):
    """P: latent code -> image logits."""
    return MLP([z_dim, hidden, hidden, x_dim], dropout)


def discriminator(z_dim, hidden, dropout):
    """D: latent code -> one logit, high for prior samples, low for codes of real images."""
    return MLP([z_dim, hidden, hidden, 1], dropout)


@dataclass
class ModelConfig:
    z_dim: int = 2
    hidden: int = 1000
    disc_hidden: int = 500
    dropout: float = 0.25
    disc_dropout: float = 0.2
    x_dim: int = 784
    prior: dict = field(default_factory=lambda: {"name": "gaussian", "std": 1.0})


class AAE(nn.Module):
    """Encoder, decoder, discriminator and prior of one adversarial autoencoder.

    >>> aae = AAE.from_pretrained("runs/a")        # a run directory written by the trainer
    >>> images = aae.sample(64)                     # (64, 1, 28, 28) in [0, 1]
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder(config.x_dim, config.hidden, config.z_dim, config.dropout)
        self.decoder = decoder(config.z_dim, config.hidden, config.x_dim, config.dropout)
        self.discriminator = discriminator(config.z_dim, config.disc_hidden, config.disc_dropout)
        self.prior = build_prior({**config.prior, "dim": config.z_dim})

    @torch.no_grad()
    def decode(self, z):
        """Images in [0, 1], shape (n, 1, 28, 28), for latent codes z of shape (n, z_dim)."""
        logits = self.decoder(z.to(self.device, torch.float32))
        return rearrange(torch.sigmoid(logits.float()), "n (c h w) -> n c h w", c=IMAGE_SHAPE[0], h=IMAGE_SHAPE[1])

    @torch.no_grad()
    def encode(self, images):
        return self.encoder(rearrange(images.to(self.device, torch.float32), "n ... -> n (...)"))

    @torch.no_grad()
    def sample(self, n, generator=None):
        """n synthetic images decoded from prior samples; returns (images, z)."""
        z = self.prior.sample(n, generator, device=self.device)
        return self.decode(z), z

    @property
    def device(self):
        return next(self.parameters()).device

    def save_pretrained(self, directory):
        """Write model.safetensors and model_config.json, each atomically (temporary name, then rename)."""
        os.makedirs(directory, exist_ok=True)
        weights = os.path.join(directory, WEIGHTS_NAME)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(weights) as tmp:
            save_file(state, tmp)
        write_json(os.path.join(directory, MODEL_CONFIG_NAME), asdict(self.config))

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        """Load a run directory's weights (safetensors: no code is ever unpickled) in eval mode."""
        weights = os.path.join(directory, WEIGHTS_NAME)
        config_path = os.path.join(directory, MODEL_CONFIG_NAME)
        if not (os.path.isfile(weights) and os.path.isfile(config_path)):
            raise AAEError(f"{directory} has no {WEIGHTS_NAME} and {MODEL_CONFIG_NAME}; "
                           "point to a run directory whose training finished")
        with open(config_path) as f:
            model = cls(ModelConfig(**json.load(f)))
        model.load_state_dict(load_file(weights))
        return model.to(device).eval()
