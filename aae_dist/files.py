"""The files of a run: written so that a kill at any moment leaves either the old file or the new one, never half
of one, and read with a one-line error that names the file and its fix."""

import json
import os
from contextlib import contextmanager

from safetensors.torch import save_file

from .errors import AAEError, one_line

CONFIG_NAME = "config.json"  # a run directory's training settings (TrainConfig)


@contextmanager
def atomic_path(path):
    """A temporary name beside `path` to write to; renamed onto `path` (atomically) when the block succeeds."""
    stem, suffix = os.path.splitext(path)
    tmp = f"{stem}.tmp{suffix}"  # the same suffix: some writers choose the format from it
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path, fix):
    """The JSON a user's file holds (a run's config.json, an evaluation); a file that is missing, unreadable, torn or
    hand-edited into invalid JSON is an AAEError that names the file and ends with `fix`."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        reason = "is missing"
    except OSError as error:
        reason = f"cannot be read ({error.strerror})"
    except ValueError as error:
        reason = f"is not valid JSON ({one_line(error, 160)})"
    raise AAEError(f"{path} {reason}; {fix}")


def write_json(path, obj):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)


def save_weights(network, path):
    """A network's weights as safetensors, readable as the umask allows like every other file of a run: safetensors
    creates its files owner-only (0600), and a run on a filesystem shared by several machines or users is read by
    them."""
    save_file({k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}, path)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
