"""docs/recipes.md's table of the Parzen log-likelihood over training, from evaluate.py's JSON files.

    python benchmarks/parzen_table.py benchmarks/results/paper_preset

Reads RUN_step_NNNNNN.json (launch/evaluate.py --json of runs/RUN/checkpoints/step_NNNNNN) and prints one row per
run, one column per step, each cell the Parzen log-likelihood in nats (its standard error is about 1.7). The last
column is the checkpoint a user reports: the one of the highest validation LL (training images 50,000-50,999, at
the sigma they chose), never chosen by the test set.
"""

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder of RUN_step_NNNNNN.json files")
    args = parser.parse_args()
    cells, validation = defaultdict(dict), defaultdict(dict)
    for path in Path(args.folder).glob("*_step_*.json"):
        run, step = re.fullmatch(r"(.+)_step_(\d+)\.json", path.name).groups()
        evaluation = json.loads(path.read_text())
        cells[run][int(step)] = evaluation["parzen_ll"]
        validation[run][int(step)] = max(evaluation["parzen_validation_ll"].values())
    steps = sorted({step for row in cells.values() for step in row})
    print("| run | " + " | ".join(f"{step / 1000:g}k" for step in steps) + " | chosen by validation LL |")
    print("|---" * (len(steps) + 2) + "|")
    for run, row in sorted(cells.items()):
        chosen = max(validation[run], key=validation[run].get)
        print(f"| {run} | " + " | ".join(f"{row[step]:.1f}" if step in row else "" for step in steps)
              + f" | {row[chosen]:.1f} at {chosen / 1000:g}k (validation {validation[run][chosen]:.1f}) |")


if __name__ == "__main__":
    main()
