"""Priors p(z) that the discriminator teaches the encoder's aggregated posterior to match.

Each prior draws on the device of the generator it is given, so the trainer samples on the training device.
The two 2-D priors of the AAE paper's figures (a mixture of 10 Gaussians and a swiss roll) take their shape
parameters from the command line; their defaults are those of the common reproductions of the paper.
"""

import math

import torch


class Prior:
    """A distribution over the latent space: `sample(n, generator)` draws (n, dim) on the generator's device."""

    name: str

    def __init__(self, dim):
        self.dim = dim

    def sample(self, n, generator=None, device=None):
        device = generator.device if generator is not None else device
        return self._sample(n, generator, device)

    def _sample(self, n, generator, device):
        raise NotImplementedError


class GaussianPrior(Prior):
    """N(0, std^2 I), the lecture's prior."""

    name = "gaussian"

    def __init__(self, dim, std=1.0):
        super().__init__(dim)
        self.std = std

    def _sample(self, n, generator, device):
        return self.std * torch.randn(n, self.dim, generator=generator, device=device)


class MixturePrior(Prior):
    """The paper's 2-D mixture of Gaussians: `components` equally likely elongated Gaussians, centred on a circle
    of `radius` at angles 2 pi k / components, with std `radial_std` along the radius and `tangential_std` across."""

    name = "mixture"

    def __init__(self, dim=2, components=10, radius=1.4, radial_std=0.5, tangential_std=0.05):
        super().__init__(dim)
        self.components, self.radius = components, radius
        self.radial_std, self.tangential_std = radial_std, tangential_std

    def _sample(self, n, generator, device):
        k = torch.randint(self.components, (n,), generator=generator, device=device)
        along = self.radius + self.radial_std * torch.randn(n, generator=generator, device=device)
        across = self.tangential_std * torch.randn(n, generator=generator, device=device)
        angle = 2 * math.pi * k / self.components
        cos, sin = torch.cos(angle), torch.sin(angle)
        return torch.stack([along * cos - across * sin, along * sin + across * cos], dim=1)


class SwissRollPrior(Prior):
    """The paper's 2-D swiss roll: u ~ U(0, 1), radius `radius` sqrt(u), angle 2 pi `turns` sqrt(u), so that the
    density along the spiral is uniform in area."""

    name = "swiss-roll"

    def __init__(self, dim=2, radius=3.0, turns=2.0):
        super().__init__(dim)
        self.radius, self.turns = radius, turns

    def _sample(self, n, generator, device):
        s = torch.rand(n, generator=generator, device=device).sqrt()
        angle = 2 * math.pi * self.turns * s
        return torch.stack([self.radius * s * torch.cos(angle), self.radius * s * torch.sin(angle)], dim=1)


class CategoricalPrior(Prior):
    """One-hot vectors of `dim` equally likely categories: the prior of the semi-supervised and clustering AAEs'
    class head y (Makhzani et al. 2015, sections 6 and 7)."""

    name = "categorical"

    def _sample(self, n, generator, device):
        categories = torch.randint(self.dim, (n,), generator=generator, device=device)
        return torch.nn.functional.one_hot(categories, self.dim).float()


PRIORS = {prior.name: prior for prior in (GaussianPrior, MixturePrior, SwissRollPrior)}  # of the code z
TWO_D_PRIORS = {MixturePrior.name, SwissRollPrior.name}


def build_prior(config):
    """A prior from its config dict, e.g. {"name": "mixture", "dim": 2, "components": 10}."""
    config = dict(config)
    return PRIORS[config.pop("name")](**config)
