"""Which checkpoints a run has, which are complete and how far it has trained: its checkpoints/ folder read,
nothing loaded.

Apart from checkpoints.py (which writes and loads checkpoints, and imports the configuration), so that the
configuration can ask how far a run has trained (--resume with --stop-at) without an import cycle.
"""

import json
import os
import re

CHECKPOINTS_DIR = "checkpoints"
STATE_NAME = "trainer_state.json"  # written last: its presence marks a complete checkpoint
_NAME = re.compile(r"step_(\d+)")


def list_checkpoints(output_dir, complete=True):
    """Checkpoint directories of a run, oldest first: the complete ones (with their state file), or all."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    names = [name for name in (os.listdir(root) if os.path.isdir(root) else []) if _NAME.fullmatch(name)]
    paths = [os.path.join(root, name) for name in sorted(names, key=lambda name: int(name[len("step_"):]))]
    return [p for p in paths if is_checkpoint(p)] if complete else paths


def newest_step(output_dir):
    """The step of the run's newest complete checkpoint; 0 without one."""
    complete = list_checkpoints(output_dir)
    return read_state(complete[-1])["step"] if complete else 0


def read_state(path):
    with open(os.path.join(path, STATE_NAME)) as f:
        return json.load(f)


def is_checkpoint(path):
    return os.path.isfile(os.path.join(path, STATE_NAME))
