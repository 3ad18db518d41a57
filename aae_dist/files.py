"""Writing files so that a kill at any moment leaves either the old file or the new one, never half of one."""

import json
import os
from contextlib import contextmanager


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


def write_json(path, obj):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
