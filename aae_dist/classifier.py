"""A small CNN classifier of a dataset's labelled training set that judges generated samples.

Its penultimate features give a Frechet distance and k-NN precision and recall between samples and real images
(FID's recipe with this network instead of Inception), and its predicted labels tell whether every class is
generated equally often. MNIST's and Fashion-MNIST's classifiers ship with the package (aae_dist/weights/, trained
by benchmarks/train_classifiers.py), so that their numbers compare across machines; any other labelled dataset's
is trained on first use and cached in cache_dir().
"""

import hashlib
import json
import math
import os

import torch
from safetensors.torch import load_file
from torch import nn

from .data import FILE_DATASETS, cache_dir, load_dataset, to_model_input
from .files import atomic_path, save_weights

FEATURES = 128
SHIPPED = os.path.join(os.path.dirname(__file__), "weights")


class ImageClassifier(nn.Module):
    """Two 3x3 convolutions with max-pooling, pooled to 5x5 (a no-op at 28x28), then 128 features."""

    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),    # 28 -> 26 -> 13
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),          # 13 -> 11 -> 5
            nn.AdaptiveAvgPool2d(5), nn.Flatten(), nn.Linear(64 * 5 * 5, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, images):
        return self.head(self.features(images))

    @torch.no_grad()
    def embed(self, images, batch_size=1000):
        """(features (n, 128), predicted labels (n,)) for images (n, c, h, w) in [0, 1]."""
        features = torch.cat([self.features(batch) for batch in images.split(batch_size)])
        return features, self.head(features).argmax(1)


@torch.enable_grad()  # also when called from an evaluation under no_grad
def fit_classifier(images, labels, epochs=2.0, batch_size=128, seed=0, device="cpu"):
    """A fresh ImageClassifier trained with Adam on images (n, c, h, w) in [0, 1] and their labels for `epochs`
    (fractions allowed) epochs; about 99% test accuracy on MNIST."""
    torch.manual_seed(seed)
    images, labels = images.to(device), labels.to(device)
    model = ImageClassifier(images.shape[1], int(labels.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [index for _ in range(math.ceil(epochs))
               for index in torch.randperm(len(images), device=device).split(batch_size)]
    for index in batches[:int(epochs * len(images) / batch_size)]:
        loss = nn.functional.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def classifier_path(dataset, data_root, image_size):
    """The shipped weights of MNIST and Fashion-MNIST at their own size, else a cache file named after the data."""
    if image_size is None and dataset not in FILE_DATASETS:
        shipped = os.path.join(SHIPPED, f"classifier_{dataset}.safetensors")
        if os.path.isfile(shipped):
            return shipped
    identity = [dataset, image_size] + ([os.path.abspath(data_root)] if dataset in FILE_DATASETS else [])
    key = hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:12]
    return os.path.join(cache_dir(), "classifiers", f"{dataset}_{key}.safetensors")


def save_classifier(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        save_weights(model, tmp)


def load_classifier(dataset, data_root, image_size=None, device="cpu"):
    """The classifier of a labelled dataset (shipped, cached, or trained now on its training set and cached);
    None for a dataset without labels."""
    path = classifier_path(dataset, data_root, image_size)
    if not os.path.exists(path):
        images, labels = load_dataset(dataset, data_root, download=False, image_size=image_size)
        if labels is None:
            return None
        save_classifier(fit_classifier(to_model_input(images), labels, device=device), path)
    state = load_file(path)
    model = ImageClassifier(state["features.0.weight"].shape[1], state["head.weight"].shape[0])
    model.load_state_dict(state)
    return model.to(device).eval()
