"""The pictures of a run: loss curves, the encoded test set against the prior, the manifold sweep (2-D codes) or
the style grid (class-conditional models), the test images by class or cluster (models with a class head), the
codes of the labelled subset (semi-supervised) and the representation W y + z (dim-reduction)."""

import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .data import LABELLED_SUBSET_NAME, load_reference_set, load_training_set, to_model_input  # noqa: E402
from .files import read_json  # noqa: E402
from .metrics import encode_images, in_batches, predict  # noqa: E402
from .models import AAE  # noqa: E402
from .sampling import manifold_codes, save_grid, style_grid_codes  # noqa: E402
from .tracking import METRICS_NAME, read_records  # noqa: E402


def plot_losses(run_dir, path):
    """The first phase's loss (reconstruction) on the left, every other metric of the phases in the middle, and the
    test error of --eval-every on the right where the run has one."""
    every = read_records(run_dir)
    records = [r for r in every if "samples_per_s" in r]  # training records; --eval-every writes others
    tests = [r for r in every if "test_error" in r]
    steps = [r["step"] for r in records]
    # the learning rates (lr_*) are the schedule's, not the phases' metrics: metrics.jsonl and W&B have them
    first, *others = [key for key in records[0] if key not in ("step", "epoch", "samples_per_s")
                      and not key.startswith("lr_")]
    fig, (recon, adversarial, *test) = plt.subplots(1, 3 if tests else 2, figsize=(16 if tests else 11, 4))
    marker = "o" if len(records) == 1 else None  # one record is a point, not a line
    recon.plot(steps, [r[first] for r in records], marker=marker)
    recon.set(title="reconstruction", xlabel="step", ylabel=first)
    adversarial.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # up to 20 curves, each its own colour
    for key in others:
        adversarial.plot(steps, [r[key] for r in records], label=key, marker=marker)
    adversarial.set(title="regularization", xlabel="step")
    if others:
        adversarial.legend(fontsize="small", ncols=2 if len(others) > 6 else 1)
    if tests:
        test[0].plot([r["step"] for r in tests], [100 * r["test_error"] for r in tests], marker="o")
        test[0].set(title="test error", xlabel="step", ylabel="%")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latent_scatter(codes, labels, prior_samples, path, split="test", title=None, axis="z", marks=None):
    """Codes of real images coloured by class (where there are labels), over prior samples in grey (first two
    latent dimensions); `marks`, points (k, 2) drawn as black crosses (the cluster heads of dim-reduction)."""
    fig, ax = plt.subplots(figsize=(7, 7))
    size = 2 if len(codes) > 1000 else 12  # a labelled subset of 100 stays visible
    ax.scatter(*prior_samples[:, :2].T, s=size, c="lightgrey", label="prior samples")
    if labels is None:
        ax.scatter(*codes[:, :2].T, s=size, c="tab:blue", label=f"{split} images")
    else:
        classes = int(labels.max()) + 1
        points = ax.scatter(*codes[:, :2].T, s=size, c=labels, cmap="tab10" if classes <= 10 else "tab20",
                            vmin=-0.5, vmax=classes - 0.5)
        fig.colorbar(points, ax=ax, ticks=range(classes), label="class")
    if marks is not None:
        ax.scatter(*marks[:, :2].T, s=30, c="black", marker="x", label="cluster heads")
    ax.set(title=title or f"encoded {split} set q(z) against the prior p(z)", xlabel=f"{axis}[0]",
           ylabel=f"{axis}[1]", aspect="equal")
    ax.legend(loc="upper right", markerscale=4)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def plot_representation(aae, images, labels, prior_samples, path, split="test"):
    """The dimensionality-reduction AAE's figure (the AAE paper's figure 11): the representations W q(y|x) + z of
    `images` coloured by class, over those the decoder reads for prior draws (W y + z, y one-hot and balanced) in
    grey, and the cluster heads; an n-D representation (n > 2) on its first two principal components (of the
    images' representations)."""
    codes = in_batches(aae.representation, images)
    heads = aae.cluster_heads.weight.detach().T.float().cpu()
    drawn = aae.decoder_input(prior_samples.to(aae.device), aae.labels_for(len(prior_samples))).float().cpu()
    axis, title = "r", f"the 2-D representation W y + z of the {split} set"
    if codes.shape[1] > 2:
        mean = codes.mean(0)
        components = torch.linalg.svd(codes - mean, full_matrices=False).Vh[:2].T
        codes, heads, drawn = [(points - mean) @ components for points in (codes, heads, drawn)]
        axis, title = "pc", f"{split} set: the {aae.config.z_dim}-D W y + z, principal components"
    plot_latent_scatter(codes, labels, drawn, path, split, title=title, axis=axis, marks=heads)


def save_cluster_grid(aae, images, path, columns=10):
    """Row k: the first `columns` of `images` (uint8) whose most probable class (cluster) is k; blank where fewer."""
    x, assigned = to_model_input(images), predict(aae, images).argmax(1)
    grid = torch.ones(aae.classes, columns, *x.shape[1:])
    for k in range(aae.classes):
        members = x[assigned == k][:columns]
        grid[k, :len(members)] = members
    save_grid(grid.flatten(0, 1), path, nrow=columns)


@torch.no_grad()
def make_pictures(run_dir, dataset, data_root, device="cpu", manifold_size=20, image_size=None):
    """Write losses.png, latent_scatter.png, style_grid.png (class-conditional models) or manifold.png (2-D
    latents), clusters.png (models with a class head), labelled_codes.png (runs with a labelled subset) and
    representation.png (dim-reduction) into run_dir; returns their paths."""
    aae = AAE.from_pretrained(run_dir, device=device)
    generator = torch.Generator(device).manual_seed(0)
    paths = {}
    if os.path.isfile(os.path.join(run_dir, METRICS_NAME)):  # a model from the Hub has no training curves
        paths["losses"] = os.path.join(run_dir, "losses.png")
        plot_losses(run_dir, paths["losses"])

    images, labels, split = load_reference_set(dataset, data_root, image_size)
    images, labels = images[:10000], None if labels is None else labels[:10000]
    codes = encode_images(aae, images)
    paths["latent_scatter"] = os.path.join(run_dir, "latent_scatter.png")
    plot_latent_scatter(codes, labels, aae.prior.sample(len(codes), generator).cpu(), paths["latent_scatter"], split)

    subset_path = os.path.join(run_dir, LABELLED_SUBSET_NAME)
    if os.path.isfile(subset_path):  # the AAE paper's figure 8: the style codes of the labelled images, by class
        indices = torch.tensor(read_json(subset_path, "repair it, or move it away to draw the other "
                                                      "pictures")["indices"])
        train = load_training_set(dataset, data_root, download=False, image_size=image_size)
        subset_codes = encode_images(aae, train.images[indices])
        paths["labelled_codes"] = os.path.join(run_dir, "labelled_codes.png")
        plot_latent_scatter(subset_codes, train.labels[indices], aae.prior.sample(len(indices), generator).cpu(),
                            paths["labelled_codes"], "labelled")

    if aae.represents:  # the AAE paper's figure 11: dim-reduction's W q(y|x) + z, by class
        paths["representation"] = os.path.join(run_dir, "representation.png")
        plot_representation(aae, images, labels, aae.prior.sample(len(images), generator), paths["representation"],
                            split)
    if aae.categorical:  # the AAE paper's figure 9: each row the test images the encoder puts in one class/cluster
        paths["clusters"] = os.path.join(run_dir, "clusters.png")
        save_cluster_grid(aae, images, paths["clusters"])
    if aae.conditional:
        paths["style_grid"] = os.path.join(run_dir, "style_grid.png")
        save_grid(aae.decode(*style_grid_codes(aae.prior, 10, aae.classes, generator)),
                  paths["style_grid"], nrow=aae.classes)
    elif aae.prior.dim == 2:
        paths["manifold"] = os.path.join(run_dir, "manifold.png")
        save_grid(aae.decode(manifold_codes(aae.prior, manifold_size, generator)), paths["manifold"],
                  nrow=manifold_size)
    return paths
