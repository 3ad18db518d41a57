"""Checkpoint directories: checkpoints/step_XXXXXX/ inside a run directory, written under a temporary name and
renamed into place, so that a checkpoint directory with its final name is always complete.
"""

import json
import os
import re
import shutil

CHECKPOINTS_DIR = "checkpoints"
STATE_NAME = "trainer_state.json"  # written last: its presence marks a complete checkpoint
_NAME = re.compile(r"step_(\d+)")


def checkpoint_path(output_dir, step):
    return os.path.join(output_dir, CHECKPOINTS_DIR, f"step_{step:06d}")


def list_checkpoints(output_dir):
    """Complete checkpoints of a run directory, oldest first."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    names = os.listdir(root) if os.path.isdir(root) else []
    steps = sorted(int(m.group(1)) for m in map(_NAME.fullmatch, names) if m)
    return [path for path in map(lambda s: checkpoint_path(output_dir, s), steps)
            if os.path.isfile(os.path.join(path, STATE_NAME))]


def latest_checkpoint(output_dir):
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def read_state(path):
    with open(os.path.join(path, STATE_NAME)) as f:
        return json.load(f)


def temporary_path(path):
    return path + ".tmp"


def discard(path):
    shutil.rmtree(path, ignore_errors=True)


def publish(path, state):
    """Finish the checkpoint being written at temporary_path(path): add its state file, then rename it to path."""
    tmp = temporary_path(path)
    with open(os.path.join(tmp, STATE_NAME), "w") as f:
        json.dump(state, f, indent=2)
    discard(path)  # the same step saved again (a resumed run that ends where it began)
    os.rename(tmp, path)
