#!/usr/bin/env bash
# The GPU checks and the GPU rows of docs/performance.md, in one go (about 4 minutes on one H200):
#   bash benchmarks/gpu_suite.sh DATA_ROOT OUT_DIR
# 1. the throughput grid (batch 100 and 4096, fp32 and bf16, CUDA graph off/on, the lecture's loop beside it);
# 2. the CUDA training paths: fp32, bf16, fp16 (loss scaling), a GPU chosen by CUDA_VISIBLE_DEVICES, `accelerate
#    launch`, --cuda-graph on/off (the same losses; vanilla, supervised, conv nets, SGD
#    with a step schedule, semi-supervised, clustering, --vat, --affine-consistency), conv nets in fp16, streamed
#    batches, tests that need a GPU, generation and evaluation on the GPU; conv nets' throughput at 32x32;
# 3. each variant's step at batch 100 (fp32, bf16, graph off/on), the lever table (benchmarks/levers.py), then the grid
#    again with torch.compile on (last: compiling takes minutes).
# GRIDS=0 skips the throughput grids (1, 3 and the conv nets' timing): the checks alone, e.g. beside other runs.
# Every check runs; the script exits non-zero if any of them failed (and says which).
set -uo pipefail
data=$1 out=$2
mkdir -p "$out"
runs=$(mktemp -d)  # run directories and samples stay out of OUT_DIR, which gets the JSON records
export PYTHONUNBUFFERED=1 AAE_CACHE_DIR="$runs/cache"
failed=()
check() { "$@"; local rc=$?; (( rc )) && failed+=("exit $rc: $*"); return 0; }  # remember a failed check (124: timed out)
nvidia-smi -L
python -c "import torch, accelerate; print('torch', torch.__version__, 'accelerate', accelerate.__version__)"

grid="benchmarks/throughput.py --batch-sizes 100,4096 --precision no,bf16 --steps 50 --rounds 3 --data-root $data"
grids=${GRIDS:-1}
(( grids )) && check timeout 240 python $grid --cuda-graph off,on --seed-baseline --json "$out/throughput_gpu.json"

train="launch/train.py --data-root $data --no-download --steps 300 --log-every 50 --sample-every 300 --checkpoint-every 300"
for precision in no bf16 fp16; do
  check bash -o pipefail -c "CUDA_VISIBLE_DEVICES=0 timeout 120 python $train --mixed-precision $precision \
    --output-dir $runs/$precision 2>&1 | tail -n 2"
done
check bash -o pipefail -c "timeout 120 accelerate launch --num_processes 1 $train --output-dir $runs/launched 2>&1 | tail -n 2"
check bash -o pipefail -c "timeout 120 python $train --arch conv --mixed-precision fp16 --output-dir $runs/conv-fp16 \
  2>&1 | tail -n 2"
check bash -o pipefail -c "timeout 120 python $train --data-on-device no --output-dir $runs/streamed 2>&1 | tail -n 2"
declare -A variant_flags=([vanilla]="--model vanilla" [supervised]="--model supervised" [conv]="--arch conv"
  [schedule]="--optimizer sgd --lr-recon 0.01 --lr-reg 0.01 --lr-schedule step --lr-milestones 100,200"
  [semi]="--model semi-supervised" [clustering]="--model clustering --hidden 1000 --disc-hidden 1000"
  [vat]="--model semi-supervised --vat 1"  # --vat: torch.autograd.grad inside the captured step
  [affine]="--model semi-supervised --affine-consistency 1"  # affine_grid and grid_sample in the captured step
  [dimred]="--model dim-reduction")
for model in vanilla supervised conv schedule semi clustering vat affine dimred; do  # the graphed run must follow the eager run's losses
  for graph in off on; do
    check bash -o pipefail -c "timeout 120 python $train ${variant_flags[$model]} --cuda-graph $graph \
      --output-dir $runs/$model-graph-$graph 2>&1 | tail -n 2"
  done
  check python - "$runs" "$model" <<'PY'
import json, math, sys
runs, model = sys.argv[1:]
# Conv nets: on an H200 (2026-11-26) graph and eager drifted apart by up to 2e-5 relative within 100 steps (MLPs:
# equal to the last digit). cuDNN's convolution kernels are not bitwise reproducible by default, which we take to be
# the cause (eager against eager was not run); 1e-3 still catches a replay that skips an update or a rate.
# --vat normalises a gradient, which grows rounding (to 3% in 20 steps between DDP and one process on the CPU).
tolerance = 1e-3 if model in ("conv", "vat") else 1e-5
read = lambda name: [record for line in open(f"{runs}/{model}-graph-{name}/metrics.jsonl")
                     if "samples_per_s" in (record := json.loads(line))]  # training records, not --eval-every's
for eager, graphed in zip(read("off"), read("on"), strict=True):
    print(model, "step", eager["step"], {k: f"{eager[k]:.6f} vs {graphed[k]:.6f}" for k in ("recon_loss", "d_loss", "g_loss")})
    assert all(math.isclose(eager[k], graphed[k], rel_tol=tolerance) for k in ("recon_loss", "d_loss", "g_loss")), "graph != eager"
PY
done
check bash -o pipefail -c "AAE_DATA_ROOT=$data timeout 120 python -m pytest -q tests/test_step.py -k cuda_graph 2>&1 | tail -n 1"
check timeout 60 python launch/generate.py --checkpoint "$runs/no" --num-samples 10000 --out "$runs/samples.npz" --device cuda
check bash -o pipefail -c "timeout 150 python launch/evaluate.py --checkpoint $runs/no --data-root $data --json $out/eval_gpu.json | tail -n 12"

(( grids )) && check timeout 240 python benchmarks/throughput.py --arch conv --image-size 32 --batch-sizes 100,1000 --precision no,bf16 \
  --cuda-graph off,on --steps 50 --rounds 3 --data-root $data --json "$out/throughput_gpu_conv32.json"
for model in supervised semi-supervised clustering dim-reduction; do  # each variant's step against its own floor
  (( grids )) && check timeout 150 python benchmarks/throughput.py --model $model --batch-sizes 100 --precision no,bf16 \
    --cuda-graph off,on --steps 50 --rounds 3 --data-root $data --json "$out/throughput_gpu_$model.json"
done
(( grids )) && check timeout 150 python benchmarks/levers.py --data-root $data --rounds 5 --steps 50 \
  --json "$out/levers_gpu.json"  # the lever table: each lever undone in turn, under the CUDA graph
(( grids )) && check timeout 200 python $grid --compile on --cuda-graph off,on --json "$out/throughput_gpu_compile.json"
if (( ${#failed[@]} )); then
  printf 'gpu_suite: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "gpu_suite: every check passed"
