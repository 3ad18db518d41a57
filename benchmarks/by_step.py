"""A run's validation and test error at every --eval-every record, into a by-step JSON under benchmarks/results/.

    python benchmarks/by_step.py RESULTS.json KEY RUN_DIR --command "aae-train ... --output-dir RUN"

Reads RUN_DIR/metrics.jsonl and writes runs[KEY] of RESULTS.json: the command and the val_error / test_error of
each record that has them, keyed by step. The file's other runs stay, so a screen's seeds are added one by one as
they train (and rewritten as they go on); --what and --machine set the file's description of all its runs.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aae_dist.files import atomic_path  # noqa: E402
from aae_dist.tracking import METRICS_NAME, read_records  # noqa: E402


def errors_by_step(run_dir):
    """{"val_error_by_step": {step: error}, "test_error_by_step": {...}} from the run's metrics.jsonl."""
    path = os.path.join(run_dir, METRICS_NAME)
    if not os.path.isfile(path):
        sys.exit(f"by_step.py: error: {path} does not exist; give the run directory that aae-train wrote")
    found = {"val_error_by_step": {}, "test_error_by_step": {}}
    for record in read_records(run_dir):
        for name in ("val_error", "test_error"):
            if name in record:
                found[f"{name}_by_step"][str(record["step"])] = record[name]
    if not found["test_error_by_step"]:
        sys.exit(f"by_step.py: error: {path} has no test_error record; train with --eval-every N")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="the by-step JSON to write (created if missing)")
    parser.add_argument("key", help="the run's name in the file, e.g. vat1_seed1")
    parser.add_argument("run_dir", help="the run directory aae-train wrote (with metrics.jsonl)")
    parser.add_argument("--command", required=True, help="the command that trained the run, as a user would type it")
    parser.add_argument("--what", help="what the file's runs are (kept from the file when not given)")
    parser.add_argument("--machine", help="where and when they ran (kept from the file when not given)")
    args = parser.parse_args(argv)
    results = json.loads(Path(args.results).read_text()) if os.path.exists(args.results) else {}
    for name in ("what", "machine"):
        results[name] = getattr(args, name) or results.get(name, "")
    results.setdefault("runs", {})[args.key] = {"command": args.command, **errors_by_step(args.run_dir)}
    with atomic_path(args.results) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1) + "\n")
    steps = results["runs"][args.key]["test_error_by_step"]
    print(f"{args.results}: {args.key}, {len(steps)} records, last step {max(map(int, steps))}")


if __name__ == "__main__":
    main()
