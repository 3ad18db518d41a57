"""Trains each given run through the public API and dumps this rank's parameters and optimizer states (test helper).

    accelerate launch [--multi_gpu --num_processes N] tests/ddp_worker.py OUT_DIR RUNS_JSON

RUNS_JSON maps a name to its train.py flags; run NAME's tensors go to OUT_DIR/NAME/rank{R}.safetensors. One launch
trains every run in turn: the processes start (and import torch) once, not once per run.
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file

from aae_dist import Trainer
from aae_dist.config import load_train_config, parse_train_args


def trained_tensors(argv):
    """Train a run of train.py flags argv; return (its parameters and optimizer states by name, its trainer)."""
    trainer = Trainer(load_train_config(parse_train_args(argv)))
    trainer.fit()
    tensors = {f"param.{k}": v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
    for name, optimizer in trainer.optimizers.items():
        for index, state in optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value).detach().clone().contiguous()
    return tensors, trainer


if __name__ == "__main__":
    out_dir, runs = sys.argv[1], json.loads(sys.argv[2])
    for name, argv in runs.items():
        tensors, trainer = trained_tensors(argv)
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        save_file(tensors, os.path.join(out_dir, name, f"rank{trainer.accelerator.process_index}.safetensors"))
