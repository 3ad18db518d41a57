"""A small CNN digit classifier, trained once per dataset and cached, that judges generated samples.

Its penultimate features give a Frechet distance between samples and test images (FID's recipe with an MNIST
network instead of Inception), and its predicted labels tell whether every class is generated equally often.
"""

import math
import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .data import load_dataset, to_model_input
from .files import atomic_path

FEATURES = 128


def cache_dir():
    return os.environ.get("AAE_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "aae_dist"))


class DigitClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),           # 28 -> 26 -> 13
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),          # 13 -> 11 -> 5
            nn.Flatten(), nn.Linear(64 * 5 * 5, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, 10)

    def forward(self, images):
        return self.head(self.features(images))

    @torch.no_grad()
    def embed(self, images, batch_size=1000):
        """(features (n, 128), predicted labels (n,)) for images (n, 1, 28, 28) in [0, 1]."""
        features = torch.cat([self.features(batch) for batch in images.split(batch_size)])
        return features, self.head(features).argmax(1)


def train_classifier(dataset, data_root, epochs=2.0, batch_size=128, seed=0, device="cpu"):
    """The classifier of `dataset`'s training set; about 99% test accuracy on MNIST."""
    images, labels = load_dataset(dataset, data_root, download=False)
    return fit_classifier(to_model_input(images), labels, epochs, batch_size, seed, device)


@torch.enable_grad()  # also when called from an evaluation under no_grad
def fit_classifier(images, labels, epochs=2.0, batch_size=128, seed=0, device="cpu"):
    """A fresh DigitClassifier trained with Adam on images (n, 1, 28, 28) in [0, 1] and their labels for `epochs`
    (fractions allowed) epochs."""
    torch.manual_seed(seed)
    images, labels = images.to(device), labels.to(device)
    model = DigitClassifier().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [index for _ in range(math.ceil(epochs))
               for index in torch.randperm(len(images), device=device).split(batch_size)]
    for index in batches[:int(epochs * len(images) / batch_size)]:
        loss = nn.functional.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def classifier_path(dataset):
    return os.path.join(cache_dir(), f"classifier_{dataset}.safetensors")


def save_classifier(model, dataset):
    path = classifier_path(dataset)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({k: v.cpu().contiguous() for k, v in model.state_dict().items()}, tmp)


def load_classifier(dataset, data_root, device="cpu"):
    """The cached classifier of `dataset` ($AAE_CACHE_DIR or ~/.cache/aae_dist), trained on first use."""
    path = classifier_path(dataset)
    if not os.path.exists(path):
        save_classifier(train_classifier(dataset, data_root, device=device), dataset)
    model = DigitClassifier()
    model.load_state_dict(load_file(path))
    return model.to(device).eval()
