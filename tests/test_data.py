import os
from pathlib import Path

import pytest
import torch
from torchvision.datasets import MNIST

from aae_dist import AAEError
from aae_dist.data import ShardedBatches, load_dataset, load_training_set

from conftest import DATA_ROOT, needs_mnist


def test_ranks_split_the_global_batch():
    images = torch.arange(40, dtype=torch.uint8).reshape(40, 1, 1).expand(40, 28, 28).contiguous()
    labels = torch.arange(40) % 7
    single = ShardedBatches(images, batch_size=8, seed=3, labels=labels)
    ranks = [ShardedBatches(images, batch_size=4, rank=r, world_size=2, seed=3, labels=labels) for r in range(2)]
    assert single.steps_per_epoch == 5
    seen = []
    for step in range(12):  # crosses two epoch boundaries
        parts = [r.batch(step) for r in ranks]
        for key in ("x", "y"):
            assert torch.equal(torch.cat([p[key] for p in parts]), single.batch(step)[key])
        ids = [((p["x"][:, 0, 0, 0] * 255).round().long()) for p in parts]
        for image_ids, part in zip(ids, parts):  # each label travels with its image
            assert torch.equal(part["y"], image_ids % 7)
        ids = [set(i.tolist()) for i in ids]
        assert not ids[0] & ids[1]  # disjoint shards
        seen.append(ids[0] | ids[1])
    assert set().union(*seen[:5]) == set(range(40))  # one epoch covers every image once
    assert seen[0] != seen[5]  # reshuffled each epoch


def test_batches_are_floats_in_unit_range():
    images = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8)
    batch = ShardedBatches(images, batch_size=10).batch(0)
    assert batch.keys() == {"x"}  # no labels given, none in the batch
    x = batch["x"]
    assert x.shape == (10, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1


@needs_mnist
def test_mnist_loads():
    images, labels = load_dataset("mnist", DATA_ROOT, download=False)
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.bincount().tolist()[:3] == [5923, 6742, 5958]
    data = load_training_set("mnist", DATA_ROOT, download=False)  # what the model is built from
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10 and torch.equal(data.labels, labels)


def test_training_on_svhn_fetches_its_test_split_too(tmp_path, monkeypatch):
    """SVHN downloads one split at a time; evaluation and the end-of-training pictures read the test split, which
    they never download: training fetches it (here a stand-in records what torchvision would be asked for)."""
    import numpy as np

    from aae_dist import data

    asked = []

    class FakeSVHN:
        def __init__(self, root, split, download):
            asked.append((split, download))
            self.data = np.zeros((4, 3, 32, 32), dtype=np.uint8)
            self.labels = np.arange(4)

    monkeypatch.setitem(data.TORCHVISION_DATASETS, "svhn", FakeSVHN)
    load_training_set("svhn", str(tmp_path), download=True)
    assert ("test", True) in asked and ("train", True) in asked
    asked.clear()
    load_training_set("svhn", str(tmp_path), download=False)  # --no-download: nothing fetched
    assert asked == [("train", False)]


def test_a_failed_download_leaves_no_folder_behind_and_keeps_one_that_was_there(tmp_path, monkeypatch):
    """torchvision makes MNIST/raw before it fetches: a folder left empty would later read as "the data is here"."""
    def offline(self):
        os.makedirs(self.raw_folder, exist_ok=True)
        (Path(self.raw_folder) / "train-images-idx3-ubyte.gz.part").write_bytes(b"half")
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(AAEError, match="could not download mnist into"):
        load_training_set("mnist", str(tmp_path), download=True)
    assert not (tmp_path / "MNIST").exists()
    (tmp_path / "MNIST" / "mine").mkdir(parents=True)  # the user's folder: left as it was
    with pytest.raises(AAEError, match="could not download mnist into"):
        load_training_set("mnist", str(tmp_path), download=True)
    assert (tmp_path / "MNIST" / "mine").is_dir()
