"""Latent codes to look at (the lecture's 100-point lattice, the manifold sweep, the style grid), image grids, and
generation in batches."""

import os

import torch
from einops import rearrange
from PIL import Image
from torchvision.utils import make_grid, save_image

from .files import atomic_path


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
    """Save images (n, c, h, w) in [0, 1] (c: 1 or 3) as one grid PNG (written to a temporary name, then renamed)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid = make_grid(images.float().cpu(), nrow=nrow, padding=2, pad_value=1.0)
    with atomic_path(path) as tmp:
        save_image(grid, tmp)


def save_pngs(images, folder, labels=None):
    """One PNG per image (n, c, h, w) in [0, 1]: folder/000000.png, ..., or folder/<label>/000000.png (the
    ImageFolder layout, so that the samples can train a model again)."""
    pixels = rearrange(images.mul(255).round().to(torch.uint8).cpu(), "n c h w -> n h w c").numpy()
    for index, image in enumerate(pixels):
        subfolder = os.path.join(folder, str(int(labels[index]))) if labels is not None else folder
        os.makedirs(subfolder, exist_ok=True)
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)  # grayscale "L" or "RGB"
        image.save(os.path.join(subfolder, f"{index:06d}.png"))


def manifold_codes(prior, k, generator=None, reference_samples=100_000):
    """A k x k sweep over a 2-D prior's quantiles (the AAE paper's manifold figures), as (k * k, 2) codes.

    Row r, column c holds the (c + 0.5) / k quantile of the first coordinate and the 1 - (r + 0.5) / k quantile of
    the second (so up is up), each estimated from prior samples: exact for any prior, not just the Gaussian.
    """
    if prior.dim != 2:
        raise ValueError(f"a manifold sweep needs a 2-D latent, this one has {prior.dim}")
    reference = prior.sample(reference_samples, generator, device="cpu" if generator is None else None).float()
    levels = (torch.arange(k, dtype=torch.float32, device=reference.device) + 0.5) / k
    x = torch.quantile(reference[:, 0], levels)
    y = torch.quantile(reference[:, 1], 1 - levels)
    rows, cols = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([cols.flatten(), rows.flatten()], dim=1)


def style_grid_codes(prior, rows, classes, generator=None):
    """The supervised AAE's figure: `rows` style codes drawn from the prior, each decoded with every class label
    in turn. Returns (z, labels), row-major: row r, column c holds style r with label c."""
    z = prior.sample(rows, generator, device="cpu" if generator is None else None)
    labels = torch.arange(classes, device=z.device).repeat(rows)
    return z.repeat_interleave(classes, dim=0), labels


def generate(aae, n, batch_size=1000, generator=None, labels=None):
    """n images (n, c, h, w) in [0, 1] decoded from prior samples; returns (images, z, labels) on the CPU, labels
    None for an unconditional model. A conditional model decodes `labels` (one class, or one per sample; by
    default balanced over the classes).

    All n codes are drawn at once, so the samples depend on the seed and not on the batch size.
    """
    z = aae.prior.sample(n, generator, device=aae.device)
    labels = aae.labels_for(n, labels)
    label_batches = labels.split(batch_size) if labels is not None else [None] * len(z.split(batch_size))
    images = torch.cat([aae.decode(codes, y).cpu() for codes, y in zip(z.split(batch_size), label_batches)])
    return images, z.cpu(), None if labels is None else labels.cpu()
