"""Priors p(z) that the discriminator teaches the encoder's aggregated posterior to match."""

import torch


class Prior:
    """A distribution over the latent space. `sample(n, generator)` draws on the generator's device."""

    name: str
    dim: int

    def sample(self, n, generator=None, device=None):
        raise NotImplementedError

    def config(self):
        """The JSON-able description that `build_prior` turns back into this prior."""
        raise NotImplementedError


class GaussianPrior(Prior):
    """N(0, std^2 I), the lecture's prior."""

    name = "gaussian"

    def __init__(self, dim, std=1.0):
        self.dim, self.std = dim, std

    def sample(self, n, generator=None, device=None):
        device = generator.device if generator is not None else device
        return self.std * torch.randn(n, self.dim, generator=generator, device=device)

    def config(self):
        return {"name": self.name, "dim": self.dim, "std": self.std}


PRIORS = {GaussianPrior.name: GaussianPrior}


def build_prior(config):
    config = dict(config)
    return PRIORS[config.pop("name")](**config)
