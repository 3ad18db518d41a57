"""A user's own data: image folders and arrays, colour and larger images, convolutional networks, streaming.

The data is made here: a few classes of coloured shapes as PNG files, and arrays in .npz / .pt files.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from aae_dist import AAE
from aae_dist.data import ShardedBatches, StreamedBatches, load_dataset, load_training_set
from aae_dist.models import ModelConfig


SHAPES = ("square", "disk", "bar")


def shape_image(kind, size, rng, channels=3):
    """A shape of a random colour on a dark background of another, at a random place."""
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.15, 0.3)
    mask = {"square": (abs(yy - cy) < r) & (abs(xx - cx) < r),
            "disk": (yy - cy) ** 2 + (xx - cx) ** 2 < r**2,
            "bar": abs(yy - cy) < r / 3}[kind]
    colour, background = rng.uniform(200, 255, channels), rng.uniform(0, 30, channels)
    pixels = np.where(mask[..., None], colour, background).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels)


def write_shapes(folder, per_class=20, size=32, classes=SHAPES, seed=0, sizes=None, channels=3):
    """ImageFolder layout: folder/<shape>/<i>.png; `sizes` cycles image sizes (a folder of mixed sizes)."""
    rng = np.random.default_rng(seed)
    for kind in classes:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            side = sizes[i % len(sizes)] if sizes else size
            shape_image(kind, side, rng, channels).save(folder / kind / f"{i:03d}.png")
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_image_folder_classes_become_labels_and_the_decoding_is_cached(tmp_path, cache, monkeypatch):
    folder = write_shapes(tmp_path / "shapes", per_class=4)
    data = load_training_set("imagefolder", str(folder))
    assert data.images.dtype == torch.uint8 and data.image_shape == (3, 32, 32)
    assert data.num_classes == 3 and data.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # sorted folder names
    with Image.open(folder / "disk" / "002.png") as image:
        expected = np.asarray(image).transpose(2, 0, 1)
    assert np.array_equal(data.images[6].numpy(), expected)  # pixels as in the file, channels first
    assert len(list(cache.glob("folders/*.npy"))) == 1

    import aae_dist.data

    def no_decoding(*args):
        raise AssertionError("decoded again")
    monkeypatch.setattr(aae_dist.data, "decode_image", no_decoding)
    assert torch.equal(load_training_set("imagefolder", str(folder)).images, data.images)  # from the cache
    shape_image("bar", 32, np.random.default_rng(1)).save(folder / "bar" / "new.png")
    with pytest.raises(AssertionError, match="decoded again"):  # a changed folder is decoded afresh
        load_training_set("imagefolder", str(folder))


def test_a_flat_folder_is_unlabelled_and_image_size_resizes_mixed_sizes(tmp_path, cache):
    rng = np.random.default_rng(0)
    (tmp_path / "flat").mkdir()
    for i, side in enumerate([32, 48, 40, 64]):
        shape_image("disk", side, rng, channels=1).save(tmp_path / "flat" / f"{i}.png")
    images, labels = load_dataset("imagefolder", str(tmp_path / "flat"), image_size=28)
    assert labels is None and images.shape == (4, 1, 28, 28)


def test_arrays_channels_last_with_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=images, labels=np.arange(10) % 2)
    loaded, labels = load_dataset("npz", str(tmp_path / "a.npz"))
    assert loaded.shape == (10, 3, 16, 16) and torch.equal(loaded.permute(0, 2, 3, 1), torch.from_numpy(images))
    assert labels.tolist() == [0, 1] * 5
    torch.save({"images": torch.from_numpy(images[..., 0])}, tmp_path / "a.pt")  # grayscale (N, H, W), no labels
    loaded, labels = load_dataset("pt", str(tmp_path / "a.pt"))
    assert loaded.shape == (10, 1, 16, 16) and labels is None


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_conv_networks_take_and_give_the_image_shape(size, channels):
    aae = AAE(ModelConfig(arch="conv", conv_width=8, image_shape=(channels, size, size), z_dim=4))
    x = torch.rand(5, channels, size, size)
    assert aae.encoder(x).shape == (5, 4)
    assert aae.decoder(aae.encoder(x)).shape == (5, channels, size, size)
    assert any(isinstance(m, torch.nn.Conv2d) for m in aae.encoder.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in aae.decoder.modules())


def one_line_error(cli, tmp_path, *flags):
    status, _, err = cli("train.py", "--output-dir", tmp_path / "run", "--steps", "2", *flags)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    return lines[0]


def test_bad_input_gives_one_line(tmp_path, cache, cli):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    assert "holds no images" in one_line_error(cli, tmp_path, "--dataset", "imagefolder", "--data-root",
                                               tmp_path / "empty")

    mixed = write_shapes(tmp_path / "mixed", per_class=2, classes=("square",))
    shape_image("disk", 32, np.random.default_rng(0), channels=1).save(mixed / "square" / "gray.png")
    line = one_line_error(cli, tmp_path, "--dataset", "imagefolder", "--data-root", mixed)
    assert "differ in channels" in line and "gray.png" in line

    sizes = write_shapes(tmp_path / "sizes", per_class=2, classes=("square",), sizes=[32, 40])
    line = one_line_error(cli, tmp_path, "--dataset", "imagefolder", "--data-root", sizes)
    assert "differ in size" in line and "--image-size" in line

    corrupt = write_shapes(tmp_path / "corrupt", per_class=2, classes=("square",))
    (corrupt / "square" / "broken.png").write_bytes(b"\x89PNG not really")
    line = one_line_error(cli, tmp_path, "--dataset", "imagefolder", "--data-root", corrupt)
    assert "broken.png is not a readable image" in line

    line = one_line_error(cli, tmp_path, "--dataset", "imagefolder", "--data-root", sizes, "--image-size", "30",
                          "--arch", "conv")
    assert "--arch conv takes square images" in line and "30x30" in line

    np.savez(tmp_path / "x.npz", pictures=np.zeros((4, 8, 8), np.uint8))
    line = one_line_error(cli, tmp_path, "--dataset", "npz", "--data-root", tmp_path / "x.npz")
    assert "has no `images` array (it has: pictures)" in line

    np.savez(tmp_path / "y.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(3))
    line = one_line_error(cli, tmp_path, "--dataset", "npz", "--data-root", tmp_path / "y.npz")
    assert "`labels` has shape (3,) but there are 4 images" in line

    np.savez(tmp_path / "z.npz", images=np.zeros((4, 8, 8), np.uint8))
    line = one_line_error(cli, tmp_path, "--dataset", "npz", "--data-root", tmp_path / "z.npz", "--model",
                          "supervised")
    assert "needs labelled data" in line


@pytest.mark.parametrize("start", [0, 7])
def test_streaming_gives_the_batches_of_the_device_path(start):
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(50) % 5
    for rank in range(2):
        resident = ShardedBatches(images, 6, rank, 2, seed=3, labels=labels)
        streamed = StreamedBatches(images, 6, rank, 2, seed=3, labels=labels, workers=2, steps=start + 12)
        for step in range(start, start + 12):  # crosses epoch boundaries (4 steps per epoch)
            a, b = resident.batch(step), streamed.batch(step)
            assert a.keys() == b.keys() == {"x", "y"}
            assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"]), step


def train(script, tmp_path, name, *flags):
    script("launch/train.py", "--output-dir", tmp_path / name, "--log-every", "5", "--sample-every", "100", *flags)
    return tmp_path / name


def test_resume_is_exact_on_the_streaming_path(tmp_path, cache, script):
    np.savez(tmp_path / "d.npz", images=np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8))
    flags = ["--dataset", "npz", "--data-root", tmp_path / "d.npz", "--data-on-device", "no", "--workers", "1",
             "--hidden", "32", "--disc-hidden", "16", "--batch-size", "10", "--checkpoint-every", "5"]
    whole = train(script, tmp_path, "whole", *flags, "--steps", "10")
    part = train(script, tmp_path, "part", *flags, "--steps", "5")
    script("launch/train.py", "--output-dir", part, "--resume", "--steps", "10")
    a, b = load_file(whole / "model.safetensors"), load_file(part / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((whole / "config.json").read_text())["data_on_device"] == "no"


def test_conv_run_on_a_colour_folder_learns_and_generates_png_files(tmp_path, cache, script):
    folder = write_shapes(tmp_path / "shapes", per_class=40)
    run = train(script, tmp_path, "run", "--dataset", "imagefolder", "--data-root", folder, "--arch", "conv",
                "--conv-width", "16", "--model", "supervised", "--z-dim", "4", "--steps", "150", "--batch-size", "30",
                "--lr-recon", "1e-3", "--disc-hidden", "32", "--dropout", "0", "--log-every", "10")
    losses = [json.loads(line)["recon_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] * 2 / 3, losses  # reconstruction falls by a third
    for picture in ("style_grid.png", "latent_scatter.png", "losses.png"):
        assert (run / picture).stat().st_size > 1000

    script("launch/generate.py", "--checkpoint", run, "--label", "all", "--num-samples", "9", "--out",
               tmp_path / "synthetic/")
    files = sorted(p.relative_to(tmp_path / "synthetic").as_posix() for p in (tmp_path / "synthetic").rglob("*.png"))
    assert files[:2] == ["0/000000.png", "0/000003.png"] and len(files) == 9  # a subfolder per class
    with Image.open(tmp_path / "synthetic" / files[0]) as image:
        assert image.size == (32, 32) and image.mode == "RGB"

    result = script("launch/evaluate.py", "--checkpoint", run, "--num-samples", "60", "--tstr-samples", "60",
                        "--json", tmp_path / "eval.json")
    r = json.loads((tmp_path / "eval.json").read_text())
    assert r["reference_split"] == "train" and "parzen_ll" not in r  # Parzen is for 28x28 grayscale data
    for key in ("frechet_distance", "precision", "recall", "label_consistency", "tstr_accuracy"):
        assert 0 <= r[key] < float("inf"), key
    assert "precision" in result.stdout


def test_a_labelled_model_evaluated_on_unlabelled_data_is_one_line_and_on_noise_a_warning(tmp_path, cache, script, cli):
    images = np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8)
    np.savez(tmp_path / "labelled.npz", images=images, labels=np.arange(64) % 2)
    np.savez(tmp_path / "unlabelled.npz", images=images)
    run = train(script, tmp_path, "run", "--dataset", "npz", "--data-root", tmp_path / "labelled.npz", "--model",
                "supervised", "--hidden", "16", "--disc-hidden", "16", "--batch-size", "16", "--steps", "2")
    # labels that are noise: the classifier of the sample metrics learns nothing, and the user is told
    result = script("launch/evaluate.py", "--checkpoint", run, "--num-samples", "20", "--tstr-samples", "20")
    assert "classifier accuracy on the train images 0.5000" in result.stdout
    assert "warning: the classifier is near chance (0.50)" in result.stdout
    status, _, err = cli("evaluate.py", "--checkpoint", run, "--data-root", tmp_path / "unlabelled.npz",
                         "--num-samples", "20", "--tstr-samples", "20")
    (line,) = err.strip().splitlines()
    assert status == 2 and "has no labels; point --data-root at the labelled data" in line, err
