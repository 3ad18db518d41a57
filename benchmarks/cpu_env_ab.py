"""Do process-wide settings of the CPU's runtime speed the step? The vanilla step at batch 100 in fresh processes,
in turn with the environment as it is and with each setting below (OpenMP and glibc read them at start-up, so each
needs its own process): OpenMP's threads kept spinning between operators, and glibc's malloc kept from handing
freed memory back to the OS (which the next step then page-faults in again).

    python benchmarks/cpu_env_ab.py --rounds 4 --data-root ../shared/data --json benchmarks/results/cpu_env_ab.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = """
import statistics, sys, tempfile, time
from aae_dist import TrainConfig, Trainer
trainer = Trainer(TrainConfig(data_root=sys.argv[1], no_download=True, batch_size=int(sys.argv[2]),
                              output_dir=tempfile.mkdtemp(prefix="aae-env-")))
times = []
for step in range(int(sys.argv[3]) + 10):  # 10 warm-up steps
    start = time.perf_counter()
    trainer.train_step(trainer.batch(step))
    times.append(time.perf_counter() - start)
print(statistics.median(times[10:]) * 1e3)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="processes per setting, the settings in turn")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per process")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--data-root", default=os.environ.get("AAE_DATA_ROOT", "./data"))
    parser.add_argument("--json", help="write the step times here")
    args = parser.parse_args()
    settings = {"as is": {}, "GOMP_SPINCOUNT=infinite": {"GOMP_SPINCOUNT": "infinite"},
                "MALLOC_TRIM_THRESHOLD_=1G MALLOC_MMAP_THRESHOLD_=32M": {
                    "MALLOC_TRIM_THRESHOLD_": str(2**30), "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}}
    step_ms = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, extra in settings.items():
            out = subprocess.run([sys.executable, "-c", CHILD, args.data_root, str(args.batch_size), str(args.steps)],
                                 env={**os.environ, **extra}, capture_output=True, text=True, check=True).stdout
            step_ms[name].append(float(out.split()[-1]))
    for name, times in step_ms.items():
        print(f"{name}: median step {statistics.median(times):.1f} ms over {args.rounds} processes "
              f"({', '.join(f'{t:.1f}' for t in times)})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch_size": args.batch_size, "steps": args.steps, "date": time.strftime("%Y-%m-%d"),
                       "step_ms": step_ms, "median_ms": {k: statistics.median(v) for k, v in step_ms.items()}},
                      f, indent=2)


if __name__ == "__main__":
    main()
