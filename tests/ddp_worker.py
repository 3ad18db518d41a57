"""Trains through the public API and dumps this rank's parameters and optimizer states (test helper).

    accelerate launch [--multi_gpu --num_processes N] tests/ddp_worker.py OUT_DIR --batch-size B [train flags]
"""

import os
import sys

import torch
from safetensors.torch import save_file

from aae_dist import Trainer
from aae_dist.config import load_train_config, parse_train_args

out_dir, argv = sys.argv[1], sys.argv[2:]
trainer = Trainer(load_train_config(parse_train_args(argv)))
trainer.fit()
tensors = {f"param.{k}": v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
for name, optimizer in trainer.optimizers.items():
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value).detach().clone().contiguous()
os.makedirs(out_dir, exist_ok=True)
save_file(tensors, os.path.join(out_dir, f"rank{trainer.accelerator.process_index}.safetensors"))
