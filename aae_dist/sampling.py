"""Latent grids to look at: the lecture's 100-point lattice, decoded and saved as a 10x10 image grid."""

import os

import torch
from torchvision.utils import make_grid, save_image


def latent_lattice(z_dim=2):
    """The lecture's 100 latent points: 4 quadrants of 5x5, coordinates +-0.4 .. +-2.0 (0 in other dims).

    Row k = 25 * quadrant + 5 * i + j holds ((i + 1) * 0.4 * p, (j + 1) * 0.4 * q) for the quadrant's signs (p, q).
    """
    steps = torch.arange(1, 6) * 0.4
    quadrants = []
    for p, q in [(-1, -1), (1, 1), (-1, 1), (1, -1)]:
        x, y = torch.meshgrid(p * steps, q * steps, indexing="ij")
        quadrants.append(torch.stack([x.flatten(), y.flatten()], dim=1))
    z = torch.zeros(100, z_dim)
    used = min(2, z_dim)
    z[:, :used] = torch.cat(quadrants)[:, :used]
    return z


def save_grid(images, path, nrow=10):
    """Save images (n, 1, 28, 28) in [0, 1] as one grid PNG (written to a temporary name, then renamed)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid = make_grid(images.float().cpu(), nrow=nrow, padding=2, pad_value=1.0)
    save_image(grid, path + ".tmp.png")
    os.replace(path + ".tmp.png", path)
    return grid
