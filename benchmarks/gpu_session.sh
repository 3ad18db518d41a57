#!/usr/bin/env bash
# One GPU machine for a few minutes, in one command: the GPU checks (gpu_suite.sh without its throughput grids) beside
# the reproduction runs of paper_runs.py, everything bounded in time, the results packed into OUT_DIR.
#   bash benchmarks/gpu_session.sh DATA_ROOT OUT_DIR BUDGET_S RECIPES
# e.g. bash benchmarks/gpu_session.sh data out 420 keil,keil_seed1,keil_ema4,clu16_long,clu30,semi100_aff,semiall_aff
# The rows still short of the paper (issue 27), three seeds each (paper_runs.RECIPES names NAME, NAME_seed1, NAME_seed2):
#   keil,keil_seed1,keil_seed2,semiall_aff,semiall_aff_seed1,semiall_aff_seed2 (as many steps as the budget gives),
#   semiall_final,semiall_final_seed1,semiall_final_seed2 (all labels: --preset semi-all, the final fit on all 60,000
#   labelled images), semiall_ema32k,... (its validation runs: 32,000 steps with --keep-best),
#   semi1000_vat32k,semi1000_vat32k_seed1,semi1000_vat32k_seed2 (1000 labels, --preset semi-1000 with --keep-best:
#   results/NAME_best.json; semi1000_afflab16k and semiall_afflab16k were run on the CPU: no gain), semiall_vat32k
#   (all labels with --vat 1; its CPU screen of one seed: docs/recipes.md)
# BUDGET_S is paper_runs' training budget; evaluation follows (at most 150 s more). OUT_DIR gets gpu_suite.log, the
# suite's JSON, paper_runs.log and paper_tables.tgz (RUNS/results: evaluation JSON, metrics.jsonl of every run).
set -uo pipefail
data=$1 out=$2 budget=$3 recipes=$4
mkdir -p "$out"
runs=$(mktemp -d)
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # aae_dist without an install
nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS on"  # the runs' small kernels overlap where MPS runs
GRIDS=0 timeout $((budget + 150)) bash benchmarks/gpu_suite.sh "$data" "$out" > "$out/gpu_suite.log" 2>&1 &
timeout $((budget + 150)) python benchmarks/paper_runs.py --data-root "$data" --runs "$runs" --budget-s "$budget" \
  --only "$recipes" > "$out/paper_runs.log" 2>&1
tar czf "$out/paper_tables.tgz" -C "$runs" results status.txt
wait
tail -n 3 "$out/gpu_suite.log"
cat "$runs/status.txt"
