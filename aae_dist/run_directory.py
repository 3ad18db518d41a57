"""A run directory's files, and starting afresh in one that already holds a run."""

import os
import shutil

from .checkpoints import best_path, list_checkpoints
from .data import LABELLED_SUBSET_NAME
from .files import CONFIG_NAME
from .models import MODEL_CONFIG_NAME, WEIGHTS_NAME
from .tracking import METRICS_NAME, WANDB_ID_NAME

RUN_FILES = ("checkpoints", "samples", "wandb", METRICS_NAME, WANDB_ID_NAME, CONFIG_NAME, WEIGHTS_NAME,
             MODEL_CONFIG_NAME, LABELLED_SUBSET_NAME, "losses.png", "latent_scatter.png", "manifold.png",
             "style_grid.png", "clusters.png", "labelled_codes.png", "representation.png")


def previous_run(path):
    """What shows that `path` holds a run that a fresh start would mix with: its checkpoints (--keep-best's too, which
    a run killed before its first step_N checkpoint may have alone) or its W&B run id."""
    held = [os.path.relpath(p, path) for p in list_checkpoints(path, complete=False)]
    held += [os.path.relpath(best_path(path), path)] if os.path.exists(best_path(path)) else []
    return held + ([WANDB_ID_NAME] if os.path.exists(os.path.join(path, WANDB_ID_NAME)) else [])


def clear(path):
    """Delete the files a run writes into `path` (nothing else there)."""
    for name in RUN_FILES:
        target = os.path.join(path, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
