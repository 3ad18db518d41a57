"""Datasets as device-resident uint8 tensors, and the batches each process draws from them.

No DataLoader and no per-sample transforms: the whole training set (47 MB for MNIST) sits on the training
device, and a batch is an index gather plus one conversion to float. This module is the only one that knows
datasets and their image shapes: the model is built from what it reports.

A batch is a dict of tensors: "x", images (n, c, h, w) in [0, 1]; "y", their labels (n,), where the dataset has
them; and the trainer adds a draw of each of the model's priors (e.g. "z_prior").
"""

import os
from dataclasses import dataclass

import torch
import torchvision

from .errors import AAEError, one_line

DATASET_CLASSES = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}


def load_dataset(name, root, train=True, download=True):
    """(images uint8 (N, 28, 28), labels int64 (N,)) of MNIST or Fashion-MNIST, from torchvision's layout."""
    dataset_class = DATASET_CLASSES[name]
    folder = os.path.join(root, dataset_class.__name__)
    try:
        dataset = dataset_class(root=root, train=train, download=download)
    except (RuntimeError, OSError, ValueError) as error:  # missing files, no network, unwritable root, bad checksum
        if not download:
            raise AAEError(f"{name} not found under {folder}; drop --no-download to fetch it, or set --data-root "
                           f"(or $AAE_DATA_ROOT) to a folder holding {dataset_class.__name__}/raw") from error
        raise AAEError(f"could not download {name} into {folder} ({one_line(error)}); copy the files there or set "
                       "--data-root to a folder that has them") from error
    return dataset.data, dataset.targets


@dataclass
class TrainingSet:
    images: torch.Tensor         # uint8 (N, c, h, w)
    labels: torch.Tensor | None  # int64 (N,)
    num_classes: int

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])


def load_training_set(name, root, download=True):
    images, labels = load_dataset(name, root, train=True, download=download)
    return TrainingSet(with_channels(images), labels, num_classes=int(labels.max()) + 1)


def with_channels(images):
    """Grayscale (N, h, w) -> (N, 1, h, w); images with a channel dimension stay as they are."""
    return images.unsqueeze(1) if images.dim() == 3 else images


def to_model_input(images):
    """uint8 images (n, h, w) or (n, c, h, w) -> float pixels in [0, 1], shape (n, c, h, w)."""
    return with_channels(images).float().div_(255)


class ShardedBatches:
    """The batch a process trains on at each step, a pure function of (seed, step, rank).

    Each epoch is a permutation of the training set drawn from (seed, epoch); the global batch of step s is the
    s-th contiguous slice of world_size x batch_size indices, and rank r takes the r-th part of it. The ranks'
    shards are disjoint, a 2-process run sees exactly the global batches of a 1-process run with twice the
    batch, and a resumed run needs no sampler state.
    """

    def __init__(self, images, batch_size, rank=0, world_size=1, seed=0, labels=None):
        self.images, self.labels, self.batch_size, self.rank, self.seed = images, labels, batch_size, rank, seed
        self.global_batch_size = batch_size * world_size
        self.steps_per_epoch = len(images) // self.global_batch_size
        if self.steps_per_epoch == 0:
            raise AAEError(f"--batch-size {batch_size} x {world_size} processes exceeds the {len(images)} training "
                           f"images; use --batch-size {len(images) // world_size} or less")
        self._epoch, self._order = None, None

    def epoch_order(self, epoch):
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch = epoch
            self._order = torch.randperm(len(self.images), generator=generator).to(self.images.device)
        return self._order

    def batch(self, step):
        """{"x": float pixels (batch_size, c, h, w), "y": labels} of this process's part of global batch `step`."""
        epoch, index = divmod(step, self.steps_per_epoch)
        start = index * self.global_batch_size + self.rank * self.batch_size
        indices = self.epoch_order(epoch)[start:start + self.batch_size]
        batch = {"x": to_model_input(self.images[indices])}
        if self.labels is not None:
            batch["y"] = self.labels[indices]
        return batch
