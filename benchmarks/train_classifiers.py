"""Train the evaluation classifiers that ship with the package (aae_dist/weights/classifier_<dataset>.safetensors),
so that Frechet distances, precision and recall, label consistency and TSTR compare across machines.

    python benchmarks/train_classifiers.py --data-root ../shared/data [--datasets mnist,fashion-mnist]

Run once, on the CPU, with the seed fixed; it prints each classifier's test accuracy.
"""

import argparse
import os

from aae_dist.classifier import SHIPPED, fit_classifier, save_classifier
from aae_dist.config import default_data_root
from aae_dist.data import load_dataset, to_model_input


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=default_data_root())
    parser.add_argument("--datasets", default="mnist,fashion-mnist")
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        images, labels = load_dataset(dataset, args.data_root, download=False)
        model = fit_classifier(to_model_input(images), labels, epochs=args.epochs, seed=0)
        test_images, test_labels = load_dataset(dataset, args.data_root, train=False, download=False)
        accuracy = (model.embed(to_model_input(test_images))[1] == test_labels).float().mean().item()
        path = os.path.join(SHIPPED, f"classifier_{dataset}.safetensors")
        save_classifier(model, path)
        print(f"{dataset}: test accuracy {accuracy:.4f} -> {path}")


if __name__ == "__main__":
    main()
