"""Write a golden file from a finished run directory: every tensor's digest, sums and shape, the logged metrics
(without samples/s, a timing) and the CPU model, which test_objectives.py compares bitwise on the same CPU.

    python tests/golden/record.py RUN_DIR OUT.json --command "..." --recorded-with "..."

The vanilla files were recorded by version 0.1 (a41e871) in a worktree of that commit, with its own code first on
the path: `git worktree add /tmp/v01 a41e871 && cd /tmp/v01 && PYTHONPATH=/tmp/v01 <the file's command>`.
"""

import argparse
import hashlib
import json
from pathlib import Path

from safetensors.torch import load_file


def cpu_model():  # aae_dist.devices.cpu_model's Linux part: this script may run with version 0.1 first on the path
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")


def golden(run, command, recorded_with):
    weights = {key: dict(sha256=hashlib.sha256(value.contiguous().numpy().tobytes()).hexdigest(),
                         sum=value.double().sum().item(), abs_sum=value.double().abs().sum().item(),
                         shape=list(value.shape))
               for key, value in sorted(load_file(run / "model.safetensors").items())}
    metrics = [{k: v for k, v in json.loads(line).items() if k != "samples_per_s"}
               for line in (run / "metrics.jsonl").read_text().splitlines()]
    return dict(command=command, recorded_with=recorded_with, cpu=cpu_model(), metrics=metrics, weights=weights)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--command", required=True, help="the command that trained the run (data root as DATA)")
    parser.add_argument("--recorded-with", required=True, help="the code and versions that trained it")
    args = parser.parse_args()
    args.out.write_text(json.dumps(golden(args.run, args.command, args.recorded_with), indent=1) + "\n")
