"""Checkpoint directories: checkpoints/step_XXXXXX/ inside a run directory, written under a temporary name and
renamed into place, so that a checkpoint directory with its final name is always complete.

A checkpoint holds each network as NAME.safetensors and each optimizer's state as NAME.bin, under the names the
model gives them (encoder.safetensors, optim_D.bin, ...; with --ema-decay also ema_encoder.safetensors, ...),
Accelerate's RNG states of every process (and the fp16 loss scaler), and trainer_state.json: the step, the training
configuration and the model's. With --keep-best, checkpoints/best is one more, of the best evaluation so far; its
state file adds chosen_by (the metric and its value).
"""

import json
import os
import shutil
import sys
from dataclasses import asdict

import torch
from accelerate.utils import load as accelerate_load
from safetensors.torch import load_file

from .checkpoint_dirs import CHECKPOINTS_DIR, STATE_NAME, is_checkpoint, list_checkpoints, read_state
from .config import RESUME_FIXED, TrainConfig, flag
from .errors import AAEError, one_line
from .files import save_weights
from .models import AAE, ModelConfig

# Version 0.1 named the files by Accelerate's prepare order (the vanilla AAE's only); they still load.
LEGACY_FILES = {"encoder": "model.safetensors", "decoder": "model_1.safetensors",
                "discriminator": "model_2.safetensors", "optim_P": "optimizer.bin", "optim_Q_enc": "optimizer_1.bin",
                "optim_Q_gen": "optimizer_2.bin", "optim_D": "optimizer_3.bin"}


def checkpoint_path(output_dir, step):
    return os.path.join(output_dir, CHECKPOINTS_DIR, f"step_{step:06d}")


def best_path(output_dir):
    """--keep-best: the checkpoint of the best evaluation so far (not a step_N: never pruned nor resumed from)."""
    return os.path.join(output_dir, CHECKPOINTS_DIR, "best")


def best_so_far(output_dir, metric):
    """The value of `metric` that checkpoints/best was kept for, or None (none yet, or kept for another metric)."""
    path = best_path(output_dir)
    chosen = read_state(path).get("chosen_by", {}) if is_checkpoint(path) else {}
    return chosen.get("value") if chosen.get("metric") == metric else None


def temporary_path(path):
    return path + ".tmp"


def finish_publishing(path):
    """Complete a publish() that a kill stopped between discarding the checkpoint at `path` and renaming the new one
    into place: the new one is complete under its temporary name once it holds its state file."""
    tmp = temporary_path(path)
    if not os.path.exists(path) and os.path.isfile(os.path.join(tmp, STATE_NAME)):
        os.rename(tmp, path)


def discard(path):
    shutil.rmtree(path, ignore_errors=True)


def file_of(path, name, suffix):
    """The file holding network or optimizer `name` in checkpoint `path` (a version 0.1 name where that is all
    there is)."""
    file = os.path.join(path, name + suffix)
    legacy = os.path.join(path, LEGACY_FILES.get(name, file))
    return legacy if not os.path.exists(file) and os.path.exists(legacy) else file


def write_training_state(path, networks, optimizers):
    """Each network's plain weights and each optimizer's state into `path` (by the main process)."""
    for name, network in networks.items():
        save_weights(network, os.path.join(path, name + ".safetensors"))
    for name, optimizer in optimizers.items():
        torch.save(optimizer.state_dict(), os.path.join(path, name + ".bin"))


def load_training_state(path, networks, optimizers):
    """The inverse of write_training_state. Each optimizer keeps the hyperparameters it was built with (this run's
    learning rates, and what the device needs, e.g. CUDA-graph capturable): only its state is the checkpoint's."""
    for name, network in networks.items():
        network.load_state_dict(load_file(file_of(path, name, ".safetensors")))
    for name, optimizer in optimizers.items():
        built = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
        optimizer.load_state_dict(accelerate_load(file_of(path, name, ".bin"), map_location="cpu"))
        for group, hyperparameters in zip(optimizer.param_groups, built):
            group.update(hyperparameters)


def publish(path, step, config, model_config, chosen_by=None):
    """Finish the checkpoint being written at temporary_path(path): add its state file (with chosen_by, the metric
    and value checkpoints/best was kept for), then rename it to path."""
    tmp = temporary_path(path)
    state = {"step": step, "config": asdict(config), "model_config": asdict(model_config)}
    with open(os.path.join(tmp, STATE_NAME), "w") as f:
        json.dump({**state, "chosen_by": chosen_by} if chosen_by else state, f, indent=2)
    discard(path)  # the same step saved again (a resumed run that ends where it began)
    os.rename(tmp, path)


def prune(output_dir, keep):
    """Delete all but the newest `keep` complete checkpoints."""
    for path in list_checkpoints(output_dir)[:-keep]:
        discard(path)


def model_config_of(state):
    """The ModelConfig of a checkpoint's state (version 0.1 saved only the training configuration: MNIST)."""
    if "model_config" in state:
        return ModelConfig.from_dict(state["model_config"])
    return TrainConfig(**state["config"]).model_config(image_shape=(1, 28, 28), num_classes=10)


def load_model(path, device="cpu", average=True):
    """The AAE saved in a checkpoint directory (checkpoints/step_N), in eval mode: to generate from or evaluate
    any point of a run, not only its end. A run with --ema-decay gives its moving average (ema_NAME), as its
    model.safetensors does, or with average=False the trained weights."""
    try:  # only the state file and the weight files: the optimizers' and RNG files are not needed here
        aae = AAE(model_config_of(read_state(path)))
        for name, network in aae.networks.items():
            averaged = file_of(path, f"ema_{name}", ".safetensors")
            weights = averaged if average and os.path.exists(averaged) else file_of(path, name, ".safetensors")
            network.load_state_dict(load_file(weights))  # no code is ever unpickled
    except Exception as error:  # what a missing, broken or foreign file raises varies, as in problem()
        raise AAEError(f"{path} is not a complete aae_dist checkpoint ({one_line(error, 160)}); name a run "
                       f"directory or one of its {CHECKPOINTS_DIR}/step_N directories") from error
    return aae.to(device).eval()


def problem(path, networks, optimizers, needs_scaler):
    """Why the checkpoint at `path` cannot be resumed from, or None if it can.

    Every file is read the way resuming reads it, and only with loaders that cannot run code: safetensors for
    the weights, torch.load(weights_only=True) for the rest (Accelerate's loader, numpy RNG arrays allowed). A
    truncated file, a foreign directory or a planted pickle is reported here, never executed.
    """
    try:
        int(read_state(path)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable {STATE_NAME}: not a complete aae_dist checkpoint"
    files = [file_of(path, name, ".safetensors") for name in networks]
    files += [file_of(path, name, ".bin") for name in optimizers]
    files += [os.path.join(path, name) for name in ["random_states_0.pkl", *(["scaler.pt"] if needs_scaler else [])]]
    files += sorted(os.path.join(path, f) for f in os.listdir(path) if f.startswith("random_states_"))
    for file in dict.fromkeys(files):
        try:
            load_file(file) if file.endswith(".safetensors") else accelerate_load(file, map_location="cpu")
        except Exception as error:  # what a broken or hostile file raises varies; each is a reason to skip it
            return f"{os.path.basename(file)} cannot be loaded safely ({type(error).__name__}: {one_line(error, 160)})"
    return None


def choose(output_dir, config, networks, optimizers, needs_scaler):
    """[path, None] for the newest checkpoint of the run that loads safely (older ones are tried in turn, saying
    so) and was trained with the same model and data as `config`; else [None, the error to report]."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    candidates = list_checkpoints(output_dir, complete=False)
    if not candidates:
        return [None, f"--resume: no checkpoint in {root}; run without --resume to start this run afresh"]
    reasons = []
    for path in reversed(candidates):
        error = changed_settings(path, config)  # before the files: another setting can need other files (--ema-decay)
        if error:
            return [None, error]
        reason = problem(path, networks, optimizers, needs_scaler)
        if reason is None:
            break
        reasons.append(f"{path}: {reason}")
        print(f"aae_dist: warning: skipping checkpoint {path}: {reason}", file=sys.stderr)
    else:
        return [None, f"--resume: no usable checkpoint in {root} ({'; '.join(reasons)})"]
    if reasons:
        print(f"aae_dist: warning: resuming from the older checkpoint {path}", file=sys.stderr)
    return [path, None]


def changed_settings(path, config):
    """The error naming what `config` changes of the settings checkpoint `path` was trained with that a resumed run
    may not change (RESUME_FIXED), or None; None too where its state cannot be read (problem() says so)."""
    try:
        saved = read_state(path).get("config", {})
    except (OSError, ValueError, AttributeError):
        return None
    saved = {name: saved.get(name, TrainConfig.__dataclass_fields__[name].default) for name in RESUME_FIXED}
    changed = [name for name in RESUME_FIXED if saved[name] != getattr(config, name)]
    if not changed:
        return None
    was = " ".join(f"{flag(n)} {saved[n]}" for n in changed)
    now = " ".join(f"{flag(n)} {getattr(config, n)}" for n in changed)
    return f"--resume: {path} was trained with {was}, not {now}; resume with its values or start a new --output-dir"
