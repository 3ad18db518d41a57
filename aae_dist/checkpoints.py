"""Checkpoint directories: checkpoints/step_XXXXXX/ inside a run directory, written under a temporary name and
renamed into place, so that a checkpoint directory with its final name is always complete.
"""

import json
import os
import re
import shutil
import sys

from accelerate.utils import load as accelerate_load
from safetensors.torch import load_file

from .config import RESUME_FIXED, TrainConfig, flag
from .errors import AAEError, one_line
from .models import AAE

CHECKPOINTS_DIR = "checkpoints"
STATE_NAME = "trainer_state.json"  # written last: its presence marks a complete checkpoint
_NAME = re.compile(r"step_(\d+)")
# What Accelerate's save_state writes for our three models and four optimizers.
MODEL_FILES = ("model.safetensors", "model_1.safetensors", "model_2.safetensors")
OPTIMIZER_FILES = ("optimizer.bin", "optimizer_1.bin", "optimizer_2.bin", "optimizer_3.bin")


def checkpoint_path(output_dir, step):
    return os.path.join(output_dir, CHECKPOINTS_DIR, f"step_{step:06d}")


def list_checkpoints(output_dir, complete=True):
    """Checkpoint directories of a run, oldest first: the complete ones (with their state file), or all."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    names = [name for name in (os.listdir(root) if os.path.isdir(root) else []) if _NAME.fullmatch(name)]
    paths = [os.path.join(root, name) for name in sorted(names, key=lambda name: int(name[len("step_"):]))]
    return [p for p in paths if os.path.isfile(os.path.join(p, STATE_NAME))] if complete else paths


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


def prune(output_dir, keep):
    """Delete all but the newest `keep` complete checkpoints."""
    for path in list_checkpoints(output_dir)[:-keep]:
        discard(path)


def is_checkpoint(path):
    return os.path.isfile(os.path.join(path, STATE_NAME))


def load_model(path, device="cpu"):
    """The AAE saved in a checkpoint directory (checkpoints/step_N), in eval mode: to generate from or evaluate
    any point of a run, not only its end."""
    try:  # only the state file and the three weight files: the optimizers' and RNG files are not needed here
        aae = AAE(TrainConfig(**read_state(path)["config"]).model_config())
        for module, name in zip((aae.encoder, aae.decoder, aae.discriminator), MODEL_FILES):  # the Trainer's order
            module.load_state_dict(load_file(os.path.join(path, name)))  # safetensors: no code is ever unpickled
    except Exception as error:  # what a missing, broken or foreign file raises varies, as in problem()
        raise AAEError(f"{path} is not a complete aae_dist checkpoint ({one_line(error, 160)}); name a run "
                       f"directory or one of its {CHECKPOINTS_DIR}/step_N directories") from error
    return aae.to(device).eval()


def problem(path, needs_scaler=False):
    """Why the checkpoint at `path` cannot be resumed from, or None if it can.

    Every file is read the way resuming reads it, and only with loaders that cannot run code: safetensors for
    the weights, torch.load(weights_only=True) for the rest (Accelerate's loader, numpy RNG arrays allowed). A
    truncated file, a foreign directory or a planted pickle is reported here, never executed.
    """
    try:
        int(read_state(path)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable {STATE_NAME}: not a complete aae_dist checkpoint"
    files = [*MODEL_FILES, *OPTIMIZER_FILES, "random_states_0.pkl", *(["scaler.pt"] if needs_scaler else [])]
    files += sorted(f for f in os.listdir(path) if f.startswith("random_states_") and f not in files)
    for name in files:
        file = os.path.join(path, name)
        try:
            load_file(file) if name.endswith(".safetensors") else accelerate_load(file, map_location="cpu")
        except Exception as error:  # what a broken or hostile file raises varies; each is a reason to skip it
            return f"{name} cannot be loaded safely ({type(error).__name__}: {one_line(error, 160)})"
    return None


def choose(output_dir, config, needs_scaler):
    """[path, None] for the newest checkpoint of the run that loads safely (older ones are tried in turn, saying
    so) and was trained with the same model and data as `config`; else [None, the error to report]."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    candidates = list_checkpoints(output_dir, complete=False)
    if not candidates:
        return [None, f"--resume: no checkpoint in {root}; run without --resume to start this run afresh"]
    reasons = []
    for path in reversed(candidates):
        reason = problem(path, needs_scaler)
        if reason is None:
            break
        reasons.append(f"{path}: {reason}")
        print(f"aae_dist: warning: skipping checkpoint {path}: {reason}", file=sys.stderr)
    else:
        return [None, f"--resume: no usable checkpoint in {root} ({'; '.join(reasons)})"]
    if reasons:
        print(f"aae_dist: warning: resuming from the older checkpoint {path}", file=sys.stderr)
    saved = read_state(path).get("config", {})
    changed = [name for name in RESUME_FIXED if name in saved and saved[name] != getattr(config, name)]
    if changed:
        was = " ".join(f"{flag(n)} {saved[n]}" for n in changed)
        now = " ".join(f"{flag(n)} {getattr(config, n)}" for n in changed)
        return [None, f"--resume: {path} was trained with {was}, not {now}; resume with its values or start a new "
                      "--output-dir"]
    return [path, None]
