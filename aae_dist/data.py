"""Datasets as uint8 image tensors (N, c, h, w), and the batches each process draws from them.

This module is the only one that knows datasets and their image shapes: the model is built from what it reports.
Datasets: MNIST, Fashion-MNIST, CIFAR-10 and SVHN through torchvision (downloaded when missing), a folder of
images (torchvision's ImageFolder layout: class subfolders become labels; a flat folder has none), and arrays in
an .npz or .pt file (an `images` array, optional `labels`).

Two ways to feed the step, the same batches either way:
- device-resident (the default where the set fits): the whole training set sits on the training device, and a
  batch is an index gather plus one conversion to float. No DataLoader, no per-sample work.
- streamed (`--data-on-device no`, or a set too large for the GPU): DataLoader workers gather each step's uint8
  batch on the CPU (from a memory-mapped cache for folders) and it is copied to the device.

A batch is a dict of tensors: "x", images (n, c, h, w) in [0, 1]; "y", their labels (n,), where the dataset has
them; "x_labelled" and "y_labelled", a mini-batch of the labelled subset, for the models that learn from one
(semi-supervised); and the trainer adds a draw of each of the model's priors (e.g. "z_prior").
"""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torchvision.datasets.folder import IMG_EXTENSIONS

from .errors import AAEError, one_line
from .files import atomic_path, write_json

TORCHVISION_DATASETS = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST,
                        "cifar10": torchvision.datasets.CIFAR10, "svhn": torchvision.datasets.SVHN}
FILE_DATASETS = ("imagefolder", "npz", "pt")
DATASETS = (*TORCHVISION_DATASETS, *FILE_DATASETS)


def cache_dir():
    """Where decoded folders and evaluation classifiers are kept: $AAE_CACHE_DIR, else ~/.cache/aae_dist."""
    return os.environ.get("AAE_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "aae_dist"))


def has_test_split(name):
    return name in TORCHVISION_DATASETS


def load_dataset(name, root, train=True, download=True, image_size=None):
    """(images uint8 (N, c, h, w), labels int64 (N,) or None) of a dataset; `image_size` resizes (shorter side)
    and centre-crops every image to image_size x image_size. The file datasets have one split: `train` is
    ignored for them."""
    if name in TORCHVISION_DATASETS:
        images, labels = _torchvision_dataset(name, root, train, download)
    elif name == "imagefolder":
        images, labels = load_image_folder(root, image_size)
        image_size = None  # done at decoding, once
    else:
        images, labels = load_arrays(root)
    if image_size is not None:
        images = resize_images(images, image_size)
    return images, labels


def _torchvision_dataset(name, root, train, download):
    dataset_class = TORCHVISION_DATASETS[name]
    # where its files go: MNIST/, FashionMNIST/, SVHN/ (ours), CIFAR-10's cifar-10-batches-py/
    folder = os.path.join(root, getattr(dataset_class, "base_folder", dataset_class.__name__))
    new_folder = download and not os.path.exists(folder)
    try:
        if name == "svhn":  # SVHN keeps its files at its root: give it its own folder like the others
            if train and download:  # it fetches one split at a time: the test split too, which evaluation reads
                dataset_class(root=folder, split="test", download=True)
            dataset = dataset_class(root=folder, split="train" if train else "test", download=download)
        else:
            dataset = dataset_class(root=root, train=train, download=download)
    except (RuntimeError, OSError, ValueError) as error:  # missing files, no network, unwritable root, bad checksum
        if not download:
            raise AAEError(f"{name} not found under {folder}; aae-train without --no-download fetches it, or set "
                           f"--data-root (or $AAE_DATA_ROOT) to the folder that holds "
                           f"{os.path.basename(folder)}") from error
        if new_folder:  # no empty (or half-downloaded) folder left behind to be mistaken for the data
            shutil.rmtree(folder, ignore_errors=True)
        raise AAEError(f"could not download {name} into {folder} ({one_line(error)}); copy the files there or set "
                       "--data-root to a folder that has them") from error
    if name == "svhn":  # (N, 3, 32, 32) numpy, labels in .labels
        return torch.from_numpy(dataset.data), torch.as_tensor(dataset.labels, dtype=torch.long)
    images = torch.as_tensor(dataset.data)
    images = images.permute(0, 3, 1, 2) if images.dim() == 4 else images.unsqueeze(1)  # CIFAR: channels last
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.long)


def resize_images(images, size):
    """uint8 (N, c, h, w) -> uint8 (N, c, size, size): shorter side to `size` (antialiased), then centre crop."""
    if images.shape[-2:] == (size, size):
        return images
    return torch.cat([TF.center_crop(TF.resize(chunk, size, antialias=True), [size, size])
                      for chunk in images.split(1000)])


# ------------------------------------------------------------------ arrays (.npz, .pt)
def load_arrays(path):
    """`images` (uint8 (N, H, W) or (N, H, W, C), or floats in [0, 1]; (N, C, H, W) also accepted) and optional
    `labels` (N,) from an .npz or .pt file."""
    if not os.path.isfile(path):
        raise AAEError(f"--data-root {path}: no such file; name an .npz or .pt file holding an `images` array")
    try:
        if path.endswith(".pt"):
            arrays = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(arrays, dict):
                raise AAEError(f"{path} holds a {type(arrays).__name__}, not a dict; save it with "
                               "torch.save({'images': images, 'labels': labels}, path)")
        else:
            arrays = dict(np.load(path, allow_pickle=False))
    except AAEError:
        raise
    except Exception as error:  # a foreign or truncated file: what numpy and torch raise varies
        raise AAEError(f"{path} cannot be read as arrays ({one_line(error, 160)})") from error
    if "images" not in arrays:
        raise AAEError(f"{path} has no `images` array (it has: {', '.join(arrays) or 'nothing'}); save the images "
                       "under that name, e.g. np.savez(path, images=images, labels=labels)")
    images = torch.as_tensor(np.asarray(arrays["images"]))
    if images.dim() == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.permute(0, 3, 1, 2)  # channels last -> first
    elif images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise AAEError(f"{path}: `images` has shape {tuple(arrays['images'].shape)}; expected (N, H, W) or "
                       "(N, H, W, C) with C 1 (grayscale) or 3 (RGB)")
    if images.is_floating_point():
        if images.min() < 0 or images.max() > 1:
            raise AAEError(f"{path}: float `images` must be in [0, 1], or save them as uint8 (0-255)")
        images = images.mul(255).round()
    elif images.dtype != torch.uint8 and (images.min() < 0 or images.max() > 255):
        raise AAEError(f"{path}: integer `images` must be in 0-255")
    labels = arrays.get("labels")
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels))
        if labels.shape != (len(images),):
            raise AAEError(f"{path}: `labels` has shape {tuple(labels.shape)} but there are {len(images)} images; "
                           "give one integer label per image")
        if labels.is_floating_point() or labels.is_complex() or (len(labels) and labels.min() < 0):
            raise AAEError(f"{path}: `labels` must be non-negative integers (classes 0, 1, ...)")
        labels = labels.long()
    return images.to(torch.uint8).contiguous(), labels


# ------------------------------------------------------------------ image folders
def list_image_folder(root):
    """(files, labels or None, class names): ImageFolder's layout where `root` has class subfolders, else the
    images directly in `root`, unlabelled."""
    if not os.path.isdir(root):
        raise AAEError(f"--data-root {root}: no such folder; name a folder of images (or of class subfolders)")
    subfolders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    is_image = lambda name: name.lower().endswith(IMG_EXTENSIONS)
    if subfolders:
        files, labels, classes = [], [], []
        for name in subfolders:
            found = sorted(f for f in os.listdir(os.path.join(root, name)) if is_image(f))
            if found:  # as ImageFolder: a subfolder without images is no class
                files += [os.path.join(root, name, f) for f in found]
                labels += [len(classes)] * len(found)
                classes.append(name)
        labels = torch.tensor(labels, dtype=torch.long)
    else:
        files, labels, classes = [os.path.join(root, f) for f in sorted(os.listdir(root)) if is_image(f)], None, []
    if not files:
        raise AAEError(f"--data-root {root} holds no images ({', '.join(IMG_EXTENSIONS)}), directly or in class "
                       "subfolders")
    return files, labels, classes


def decode_image(path, image_size=None):
    """uint8 (c, h, w) of one image file: grayscale stays 1 channel, colour becomes RGB (alpha dropped)."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "RGB"):  # palette, 1-bit, 16-bit, alpha, CMYK, ...
                image = image.convert("L" if image.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
            tensor = TF.pil_to_tensor(image)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise AAEError(f"{path} is not a readable image ({one_line(error, 120)}); remove or replace it") from error
    return tensor if image_size is None else resize_images(tensor[None], image_size)[0]


class _DecodedFolder(torch.utils.data.Dataset):
    def __init__(self, files, image_size):
        self.files, self.image_size = files, image_size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        try:
            return decode_image(self.files[index], self.image_size), None
        except AAEError as error:  # reported by the main process, in one line
            return None, str(error)


def load_image_folder(root, image_size=None):
    """A folder of images as (uint8 (N, c, h, w), labels or None), decoded once (by DataLoader workers) into a
    memory-mapped uint8 cache in cache_dir() that later runs read instead; a changed folder is decoded again."""
    files, labels, classes = list_image_folder(root)
    stats = [(os.path.relpath(f, root), s.st_size, s.st_mtime_ns) for f, s in zip(files, map(os.stat, files))]
    key = hashlib.sha1(json.dumps([os.path.abspath(root), image_size, stats]).encode()).hexdigest()[:16]
    cached = os.path.join(cache_dir(), "folders", f"{key}.npy")
    if not os.path.isfile(cached):
        images = _decode_all(files, image_size)
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with atomic_path(cached) as tmp:
            np.save(tmp, images.numpy())
        write_json(cached[:-4] + ".json", {"root": os.path.abspath(root), "image_size": image_size,
                                           "classes": classes, "images": len(files)})
    # copy-on-write memory map: pages are read when used and shared by every process that maps the file
    return torch.from_numpy(np.load(cached, mmap_mode="c")), labels


def _decode_all(files, image_size):
    workers = min(8, os.cpu_count() or 1) if len(files) > 2000 else 0
    loader = torch.utils.data.DataLoader(_DecodedFolder(files, image_size), batch_size=256, num_workers=workers,
                                         collate_fn=list, generator=torch.Generator())  # not the global RNG
    images, first = [], None
    for batch in loader:
        for image, error in batch:
            if error:
                raise AAEError(error)
            first = first if first is not None else (image, files[len(images)])
            if image.shape != first[0].shape:
                path, this = files[len(images)], tuple(image.shape)
                what = "channels" if image.shape[0] != first[0].shape[0] else "size"
                fix = ("convert them to one mode (all grayscale or all RGB)" if what == "channels" else
                       "pass --image-size N to resize and centre-crop them all to N x N")
                raise AAEError(f"the folder's images differ in {what}: {first[1]} is {tuple(first[0].shape)} "
                               f"(c, h, w), {path} is {this}; {fix}")
            images.append(image)
    return torch.stack(images)


# ------------------------------------------------------------------ the training set
@dataclass
class TrainingSet:
    images: torch.Tensor         # uint8 (N, c, h, w)
    labels: torch.Tensor | None  # int64 (N,)
    num_classes: int             # 0 without labels
    validation: tuple | None = None  # (images, labels or None) held out of the training split, or None

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])


def load_training_set(name, root, download=True, image_size=None, validation_images=0):
    """The images (and labels) a run learns from: the dataset's training split, but for its last
    `validation_images`, which are held out as `validation`."""
    images, labels = load_dataset(name, root, train=True, download=download, image_size=image_size)
    return hold_out(images, labels, validation_images)


def hold_out(images, labels, validation_images):
    """The TrainingSet of a training split's images (and labels) but for their last `validation_images`, which
    are its `validation`."""
    num_classes = 0 if labels is None else int(labels.max()) + 1
    if not validation_images:
        return TrainingSet(images, labels, num_classes)
    if validation_images >= len(images):
        raise AAEError(f"--validation-images {validation_images} leaves none of the {len(images)} training images "
                       "to train on; hold out fewer (MNIST: 5000 or 10000)")
    cut = len(images) - validation_images
    part = lambda t, s: None if t is None else t[s]
    return TrainingSet(images[:cut], part(labels, slice(cut)), num_classes,
                       validation=(images[cut:], part(labels, slice(cut, None))))


def load_reference_set(name, root, image_size=None):
    """(images, labels or None, split) that evaluation compares with: the test split where the dataset has one,
    else the training set itself."""
    train = not has_test_split(name)
    images, labels = load_dataset(name, root, train=train, download=False, image_size=image_size)
    return images, labels, "train" if train else "test"


def to_model_input(images):
    """uint8 images (n, h, w) or (n, c, h, w) -> float pixels in [0, 1], shape (n, c, h, w)."""
    images = images.unsqueeze(1) if images.dim() == 3 else images
    return images.float().div_(255)


class ShardedBatches:
    """The batch a process trains on at each step, a pure function of (seed, step, rank).

    Each epoch is a permutation of the training set drawn from (seed, epoch); the global batch of step s is the
    s-th contiguous slice of world_size x batch_size indices, and rank r takes the r-th part of it. The ranks'
    shards are disjoint, a 2-process run sees exactly the global batches of a 1-process run with twice the
    batch, and a resumed run needs no sampler state.
    """

    def __init__(self, images, batch_size, rank=0, world_size=1, seed=0, labels=None, stream=0):
        self.images, self.labels, self.batch_size, self.rank, self.seed = images, labels, batch_size, rank, seed
        self.stream = stream  # another stream of the same seed draws other permutations (the labelled subset's)
        self.global_batch_size = batch_size * world_size
        self.steps_per_epoch = len(images) // self.global_batch_size
        if self.steps_per_epoch == 0:
            raise AAEError(f"--batch-size {batch_size} x {world_size} processes exceeds the {len(images)} training "
                           f"images; use --batch-size {len(images) // world_size} or less")
        self._epoch, self._order = None, None

    def epoch_order(self, epoch):
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + self.stream * 2**48)
            self._epoch = epoch
            self._order = torch.randperm(len(self.images), generator=generator).to(self.images.device)
        return self._order

    def raw_batch(self, step):
        """{"x": uint8 images, "y": labels} of this process's part of global batch `step`, where the images are."""
        epoch, index = divmod(step, self.steps_per_epoch)
        start = index * self.global_batch_size + self.rank * self.batch_size
        indices = self.epoch_order(epoch)[start:start + self.batch_size]
        batch = {"x": self.images[indices]}
        if self.labels is not None:
            batch["y"] = self.labels[indices.to(self.labels.device)]
        return batch

    def batch(self, step):
        """{"x": float pixels (batch_size, c, h, w), "y": labels} of this process's part of global batch `step`."""
        batch = self.raw_batch(step)
        batch["x"] = to_model_input(batch["x"])
        return batch


class _StepBatches(torch.utils.data.Dataset):
    """Item s: the uint8 batch of step s (what a DataLoader worker gathers on the CPU)."""

    def __init__(self, batches):
        self.batches = batches

    def __getitem__(self, step):
        return self.batches.raw_batch(step)


class StreamedBatches:
    """The batches of ShardedBatches over images kept on the CPU, gathered ahead by DataLoader workers and copied
    to `device`: for training sets that do not fit on the device. `batch(step)` returns what ShardedBatches would;
    the loader starts (again) at whatever step is asked for, so a resumed run needs no loader state."""

    def __init__(self, images, batch_size, rank=0, world_size=1, seed=0, labels=None, device="cpu", workers=2,
                 steps=None, stream=0):
        self.sharded = ShardedBatches(images, batch_size, rank, world_size, seed, labels, stream)
        self.global_batch_size, self.steps_per_epoch = self.sharded.global_batch_size, self.sharded.steps_per_epoch
        self.device, self.workers, self.steps = torch.device(device), workers, steps
        self._next_step, self._iterator = None, None

    def _start(self, step):
        end = self.steps if self.steps is not None else step + 10**9
        # Its own generator: a DataLoader draws its workers' seed from the global RNG otherwise, and a resumed run
        # (which starts a loader mid-run) would then draw different dropout masks than the uninterrupted one.
        loader = torch.utils.data.DataLoader(
            _StepBatches(self.sharded), batch_size=None, sampler=range(step, max(end, step + 1)),
            num_workers=self.workers, pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers else None, generator=torch.Generator().manual_seed(step))
        self._iterator, self._next_step = iter(loader), step

    def batch(self, step):
        if step != self._next_step:
            self._start(step)
        batch = next(self._iterator)
        self._next_step = step + 1
        batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
        batch["x"] = to_model_input(batch["x"])
        return batch


def fits_on_device(images, device, share=0.25):
    """Whether a uint8 training set should sit on `device`: always on the CPU (it is in memory already, or
    memory-mapped), on a GPU if it takes at most `share` of the free memory."""
    device = torch.device(device)
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= share * free


def make_batches(data, batch_size, rank, world_size, seed, device, on_device="auto", workers=2, steps=None,
                 labelled=None, stream=0):
    """ShardedBatches on `device`, or StreamedBatches where `on_device` is "no" (or "auto" and the set does not
    fit); with `labelled` (indices of the labelled subset), LabelledBatches over those and that subset's."""
    if labelled is not None:  # the subset repeated to fill a global batch where it is smaller
        repeated = labelled.repeat(-(-batch_size * world_size // len(labelled)))
        subset = TrainingSet(data.images[repeated], data.labels[repeated], data.num_classes)
        make = lambda data, stream: make_batches(data, batch_size, rank, world_size, seed, device, on_device, workers,
                                                 steps, stream=stream)
        return LabelledBatches(make(data, 0), make(subset, 1))
    if on_device == "yes" or (on_device == "auto" and fits_on_device(data.images, device)):
        labels = None if data.labels is None else data.labels.to(device)
        return ShardedBatches(data.images.to(device), batch_size, rank, world_size, seed, labels, stream)
    return StreamedBatches(data.images, batch_size, rank, world_size, seed, data.labels, device, workers, steps,
                           stream)


# ------------------------------------------------------------------ the labelled subset (semi-supervised)
def parse_num_labels(value):
    """--num-labels: a positive integer, or None for all."""
    if str(value) == "all":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise AAEError(f"--num-labels must be a positive integer or all, got {value!r}")
    return number


LABELLED_SUBSET_NAME = "labelled_subset.json"  # the subset's indices, in the run directory


def labelled_subset(labels, num_labels, seed):
    """The sorted indices of a class-balanced labelled subset of `num_labels` images (all of them for None): an
    equal share of each class (the first classes one more where it does not divide), drawn by `seed`."""
    if labels is None:
        raise AAEError("--num-labels needs labelled data: use class subfolders (--dataset imagefolder) or a `labels` "
                       "array (npz/pt)")
    if num_labels is None:
        return torch.arange(len(labels))
    classes = int(labels.max()) + 1
    if num_labels < classes:
        raise AAEError(f"--num-labels {num_labels} leaves classes without a label: use at least one per class "
                       f"(--num-labels {classes} or more)")
    if num_labels > len(labels):
        raise AAEError(f"--num-labels {num_labels} exceeds the {len(labels)} training images; use at most "
                       f"{len(labels)}, or all")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        share = num_labels // classes + (c < num_labels % classes)
        if not len(members):
            raise AAEError(f"--num-labels: class {c} has no training images (labels 0..{classes - 1} without gaps "
                           "make a class-balanced subset possible); renumber the labels or use --num-labels all")
        if share > len(members):
            raise AAEError(f"--num-labels {num_labels}: class {c} has only {len(members)} images, fewer than its "
                           f"share {share}; use --num-labels {len(members) * classes} or less")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:share]])
    return torch.cat(chosen).sort().values


class LabelledBatches:
    """The batches of `batches`, each with a mini-batch of the labelled subset added ("x_labelled", "y_labelled",
    the same size), from `labelled`: its own permutations, also a pure function of (seed, step, rank)."""

    def __init__(self, batches, labelled):
        self.batches, self.labelled = batches, labelled
        self.global_batch_size, self.steps_per_epoch = batches.global_batch_size, batches.steps_per_epoch

    def batch(self, step):
        extra = self.labelled.batch(step)
        return {**self.batches.batch(step), "x_labelled": extra["x"], "y_labelled": extra["y"]}
