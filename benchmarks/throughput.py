"""Throughput of the AAE training step, per phase, against the lecture's loop and against the machine's limit.

    python benchmarks/throughput.py --batch-sizes 100,1000 --precision no,bf16 --seed-baseline --json out.json
    python benchmarks/throughput.py --model supervised ...                           # any variant, the same way
    accelerate launch --multi_gpu --num_processes 2 benchmarks/throughput.py ...   # per-rank and aggregate

It times the library's own Trainer methods (the reconstruction phase, i.e. the model's first; the regularization
phases, i.e. all the others; the full train_step including the batch gather and prior draws) in samples/s per
process, the device synchronised
around each timed region, and reports the median and the interquartile range of the per-step times. All
configurations are built first and then timed round-robin (--rounds x --steps steps each, the floor measured in
every round too), so that the drift of a noisy machine hits them alike and their ratios hold.
--seed-baseline also times benchmarks/seed_baseline.py (the lecture's loop) on the same device, in fp32.

The floor: the time of every matrix product and convolution of one step (forward and backward, recorded from a
real step of the model, so that every variant and architecture has its own; each timed alone on this device at its
shapes, strides and precision) plus the bytes the step's optimizer updates move (Adam: 7 fp32 accesses per
parameter, read param, grad, both moments, write param, both moments) at the bandwidth of a large copy.
floor_fraction = floor time / measured step time, i.e. the share of the machine's limit the step reaches.
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.state import AcceleratorState
from accelerate.utils import gather_object
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

from aae_dist import OBJECTIVES, Trainer
from aae_dist.config import default_data_root, load_train_config
from aae_dist.cuda_graph import CUDAGraphed
from aae_dist.data import StreamedBatches

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import SeedLoop  # noqa: E402

DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
aten = torch.ops.aten


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="vanilla", choices=tuple(OBJECTIVES),
                        help="AAE variant (with its recipe's defaults, as train.py --model)")
    parser.add_argument("--batch-sizes", default="100,1000", help="per-process batch sizes, comma-separated")
    parser.add_argument("--precision", default="no", help="comma-separated subset of no,bf16,fp16")
    parser.add_argument("--compile", nargs="?", const="off,on", default="off",
                        help="torch.compile: off, on, or off,on (the bare flag)")
    parser.add_argument("--cuda-graph", nargs="?", const="off,on", default="off",
                        help="the step (and each timed phase) replayed from a CUDA graph: off, on, or off,on (GPU only)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all configurations (interleaved)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation happens here)")
    parser.add_argument("--floor-reps", type=int, default=20,
                        help="times each of the floor's products is timed, hot and cold, per round (the copy: half "
                             "as many): fewer is faster and noisier")
    parser.add_argument("--seed-baseline", action="store_true", help="also time the lecture's loop (fp32)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--data-root", default=default_data_root())
    parser.add_argument("--dataset", default="mnist", help="as train.py --dataset (npz: --data-root names the file)")
    parser.add_argument("--image-size", type=int, default=None, help="as train.py --image-size")
    parser.add_argument("--arch", default="mlp", choices=("mlp", "conv"), help="as train.py --arch")
    parser.add_argument("--conv-width", type=int, default=64, help="as train.py --conv-width")
    parser.add_argument("--data-on-device", default="auto", choices=("auto", "yes", "no"),
                        help="as train.py: no streams the batches through DataLoader workers")
    parser.add_argument("--workers", type=int, default=2, help="as train.py --workers")
    parser.add_argument("--cpu", action="store_true", help="benchmark the CPU even if a GPU is visible")
    parser.add_argument("--hidden", type=int, default=1000,
                        help="units of Q's and P's hidden layers (the seed loop keeps the lecture's 1000: compare at the default)")
    parser.add_argument("--disc-hidden", type=int, default=500, help="units of D's hidden layers")
    parser.add_argument("--json", help="write one record per configuration here")
    parser.add_argument("--scaling-baseline", metavar="JSON",
                        help="--json of a 1-process run: adds scaling efficiency = aggregate / (N x one process)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.precision = args.precision.split(",")
    args.compile = [{"off": False, "on": True}[c] for c in args.compile.split(",")]
    args.cuda_graph = [{"off": False, "on": True}[c] for c in args.cuda_graph.split(",")]
    if args.floor_reps < 1:
        parser.error(f"--floor-reps must be at least 1, got {args.floor_reps}")
    if not set(args.precision) <= set(DTYPES):
        parser.error(f"--precision: choose from {', '.join(DTYPES)}")
    return args


# ------------------------------------------------------------------ timing
def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run, device):
    """Seconds `run()` takes, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def time_steps(fetch, recon, reg, full, steps, device):
    """Per-step seconds: recon and reg timed around each phase, the full step in a loop of its own, and the batch
    alone (gather or loader, and the prior draws) in a loop of 4 x steps (a streaming loader's prefetched batches
    come at once: the median is its steady rate)."""
    recon_s, reg_s = [], []
    for _ in range(steps):
        batch = fetch()
        recon_s.append(timed(lambda: recon(batch), device))
        reg_s.append(timed(lambda: reg(batch), device))
    full_s = [timed(full, device) for _ in range(steps)]
    return recon_s, reg_s, full_s, [timed(fetch, device) for _ in range(4 * steps)]


class Configuration:
    """One implementation at one batch size, precision, compile and CUDA-graph setting, and its per-step times so
    far."""

    def __init__(self, impl, batch_size, precision, compile, cuda_graph, device, fetch, recon, reg, full,
                 model="vanilla", arch="mlp", image_shape=(1, 28, 28), data_on_device="yes"):
        self.impl, self.model, self.batch_size, self.precision = impl, model, batch_size, precision
        self.arch, self.image_shape, self.data_on_device = arch, image_shape, data_on_device
        self.compile, self.cuda_graph = compile, cuda_graph
        self.device, self.fetch, self.recon, self.reg, self.full = device, fetch, recon, reg, full
        self.times = ([], [], [], [])

    def warm_up(self, steps):
        for _ in range(steps):
            batch = self.fetch()
            self.recon(batch)
            self.reg(batch)
            self.full()

    def time(self, steps):
        for total, new in zip(self.times, time_steps(self.fetch, self.recon, self.reg, self.full, steps,
                                                     self.device)):
            total.extend(new)


def aae_configuration(args, batch_size, precision, compile, cuda_graph):
    AcceleratorState._reset_state()  # a new Accelerator per configuration (the process group stays)
    trainer = Trainer(load_train_config(dict(
        model=args.model, data_root=args.data_root, dataset=args.dataset, image_size=args.image_size, arch=args.arch,
        conv_width=args.conv_width, data_on_device=args.data_on_device, workers=args.workers, no_download=True,
        batch_size=batch_size,
        mixed_precision=precision, compile=compile, cpu=args.cpu, hidden=args.hidden, disc_hidden=args.disc_hidden,
        cuda_graph="on" if cuda_graph else "off", output_dir=tempfile.mkdtemp(prefix="aae-bench-"))))
    counter = iter(range(10**9))
    scaler = trainer.accelerator.scaler
    reconstruction, *others = trainer.phases

    def fetch():
        return trainer.batch(next(counter))

    def regularization(batch):
        for phase in others:
            trainer.run_phase(phase, batch)
        if scaler is not None:  # as train_step does, once per step
            scaler.update()

    # With a CUDA graph, train_step replays its own; each phase timed alone gets one too.
    graphed = CUDAGraphed if cuda_graph else (lambda fn: fn)
    recon = graphed(lambda batch: trainer.run_phase(reconstruction, batch))
    configuration = Configuration("aae_dist", batch_size, precision, compile, cuda_graph, trainer.accelerator.device,
                                  fetch, recon, graphed(regularization), lambda: trainer.train_step(fetch()),
                                  model=args.model, arch=args.arch, image_shape=trainer.model.config.image_shape,
                                  data_on_device="no" if isinstance(trainer.batches, StreamedBatches) else "yes")
    return configuration, trainer


def seed_configuration(args, batch_size, device):
    loop = SeedLoop(args.data_root, device, batch_size)
    return Configuration("seed", batch_size, "no", False, False, device, loop.next_batch, loop.reconstruction_phase,
                         loop.regularization_phase, loop.train_step)


# ------------------------------------------------------------------ the machine's limit
PRODUCTS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default, aten.convolution.default,
            aten.convolution_backward.default}
# the fp32 accesses of one parameter's update: Adam reads param, grad, both moments and writes param, both moments;
# SGD with momentum reads param, grad, momentum and writes param, momentum
OPTIMIZER_BYTES_PER_PARAM = {"Adam": 7 * 4, "SGD": 5 * 4}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple
    stride: tuple
    dtype: torch.dtype
    device: torch.device


def describe(value):
    return (TensorSpec(tuple(value.shape), value.stride(), value.dtype, value.device)
            if isinstance(value, torch.Tensor) else value)


def materialize(value):
    """A random tensor of a TensorSpec's shape, strides (transposed and broadcast views included) and dtype."""
    if not isinstance(value, TensorSpec):
        return value
    size = 1 + sum((n - 1) * s for n, s in zip(value.shape, value.stride))
    return torch.randn(size, device=value.device).to(value.dtype).as_strided(value.shape, value.stride)


class RecordProducts(TorchDispatchMode):
    """Every matrix product and convolution run inside the block (autograd's backward too), as (op, the metadata of
    its arguments)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in PRODUCTS:
            self.calls.append((func, tree_map(describe, (args, kwargs))))
        return func(*args, **kwargs)


def step_products(trainer):
    """The products of one real train_step of an eager trainer, and the bytes its optimizer updates move (each
    phase's optimizers, as often as the phase runs)."""
    with RecordProducts() as recorder:
        trainer.train_step(trainer.batch(0))
    optimizer_bytes = 0
    for phase in trainer.phases:
        for name in phase.optimizers:
            optimizer = trainer.optimizers[name]
            optimizer_bytes += OPTIMIZER_BYTES_PER_PARAM[type(optimizer).__name__] * sum(
                p.numel() for group in optimizer.param_groups for p in group["params"])
    return recorder.calls, optimizer_bytes


def time_alone(func, arguments, device, flush, reps):
    """(median seconds, median seconds with cold caches, FLOPs) of one recorded product, run alone on fresh tensors
    of its shapes: repeated (its operands stay in the caches), and after flush() evicts them (as in a real step,
    where each weight is read once between the other layers' traffic)."""
    args, kwargs = tree_map(materialize, arguments)
    run = lambda: func(*args, **kwargs)
    with FlopCounterMode(display=False) as counter:
        run()
    for _ in range(2):
        run()
    hot = statistics.median(timed(run, device) for _ in range(reps))
    cold = []
    for _ in range(reps):
        flush()
        cold.append(timed(run, device))
    return hot, statistics.median(cold), counter.get_total_flops()


def copy_bandwidth(device, reps, megabytes=256):
    src = torch.ones(megabytes * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / statistics.median(timed(lambda: dst.copy_(src), device) for _ in range(reps))


def floor(products, optimizer_bytes, device, bandwidth, reps, flush_megabytes=128):
    """The step's limit on this device: its products timed alone (each distinct one once) plus its optimizer
    bytes at the bandwidth of a large copy; and the same with every product's operands evicted first (cold_floor:
    what the products cost where nothing else runs but caches are as cold as a step leaves them)."""
    junk = torch.empty(flush_megabytes * 2**20 // 4, device=device)
    cache = {}  # repr of (op, operand shapes) -> its timing: a product that recurs in the step is timed once
    for call in products:
        if repr(call) not in cache:
            cache[repr(call)] = time_alone(*call, device, junk.zero_, reps)
    timings = [cache[repr(call)] for call in products]
    matmul_s, cold_s, flops = (sum(t[i] for t in timings) for i in range(3))
    adam_s = optimizer_bytes / bandwidth
    return dict(floor_s=matmul_s + adam_s, cold_floor_s=cold_s + adam_s, matmul_s=matmul_s, adam_s=adam_s,
                flops=flops, matmul_flops_per_s=flops / matmul_s)


# ------------------------------------------------------------------ report
def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.processor()


def summarize(seconds, batch_size):
    p25, median, p75 = statistics.quantiles(seconds, n=4)
    return dict(samples_per_s=batch_size / median, ms_median=median * 1e3, ms_p25=p25 * 1e3, ms_p75=p75 * 1e3)


def record(configuration, accelerator, limit):
    """One configuration's record on the main process: each rank's samples/s and their sum (aggregate)."""
    c, batch_size = configuration, configuration.batch_size
    per_rank = gather_object([[summarize(t, batch_size) for t in c.times]])
    if not accelerator.is_main_process:
        return None
    device = accelerator.device
    rec = dict(impl=c.impl, model=c.model, device=device.type, device_name=device_name(device), torch_version=torch.__version__,
               threads=torch.get_num_threads(), world_size=accelerator.num_processes, batch_size=batch_size,
               precision=c.precision, compile=c.compile, cuda_graph=c.cuda_graph, arch=c.arch,
               image_shape=list(c.image_shape), data_on_device=c.data_on_device)
    for i, phase in enumerate(("recon", "reg", "step", "batch")):
        rec[f"{phase}_samples_per_s"] = sum(rank[i]["samples_per_s"] for rank in per_rank)
        rec[f"{phase}_ms_median"] = per_rank[0][i]["ms_median"]
        rec[f"{phase}_ms_iqr"] = [per_rank[0][i]["ms_p25"], per_rank[0][i]["ms_p75"]]
        rec[f"{phase}_samples_per_s_per_rank"] = [rank[i]["samples_per_s"] for rank in per_rank]
    step_s = rec["step_ms_median"] / 1e3
    rec.update(floor_fraction=limit["floor_s"] / step_s, cold_floor_fraction=limit["cold_floor_s"] / step_s,
               cold_floor_ms=limit["cold_floor_s"] * 1e3, step_flops=limit["flops"], achieved_flops_per_s=limit["flops"] / step_s,
               floor_samples_per_s=batch_size / limit["floor_s"], floor_ms=limit["floor_s"] * 1e3,
               matmul_flops_per_s=limit["matmul_flops_per_s"], copy_bytes_per_s=limit["copy_bytes_per_s"])
    return rec


def config_key(r):
    return r["impl"], r["batch_size"], r["precision"], r["compile"], r.get("cuda_graph", False), r["threads"]


def markdown(records):
    head = ("| impl | arch | data | batch | precision | compile | graph | world | recon samples/s | reg samples/s "
            "| step samples/s | step ms (IQR) | batch samples/s | GFLOP/s | floor samples/s | floor fraction "
            "| cold floor fraction | ours/seed recon, reg, step |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    seeds = {r["batch_size"]: r for r in records if r["impl"] == "seed"}
    for r in records:
        seed = seeds.get(r["batch_size"]) if r["impl"] == "aae_dist" else None
        ratios = ", ".join(f"{r[f'{p}_samples_per_s'] / seed[f'{p}_samples_per_s']:.2f}x"
                           for p in ("recon", "reg", "step")) if seed else ""
        low, high = r["step_ms_iqr"]
        floor = (f"{r['achieved_flops_per_s'] / 1e9:.0f} | {r['floor_samples_per_s']:.0f} | {r['floor_fraction']:.2f} "
                 f"| {r['cold_floor_fraction']:.2f}")
        lines.append(
            f"| {r['impl']} | {r.get('arch', 'mlp')} | {'stream' if r.get('data_on_device') == 'no' else 'device'} "
            f"| {r['batch_size']} | {r['precision']} | {'on' if r['compile'] else 'off'} "
            f"| {'on' if r['cuda_graph'] else 'off'} "
            f"| {r['world_size']} | {r['recon_samples_per_s']:.0f} | {r['reg_samples_per_s']:.0f} "
            f"| {r['step_samples_per_s']:.0f} | {r['step_ms_median']:.1f} ({low:.1f}-{high:.1f}) "
            f"| {r['batch_samples_per_s']:.0f} | {floor} | {ratios} |")
    efficiencies = [f"{r['impl']} batch {r['batch_size']} {r['precision']}: {r['scaling_efficiency']:.2f}"
                    for r in records if "scaling_efficiency" in r]
    if efficiencies:
        lines.append(f"\nscaling efficiency (aggregate / (N x one process)): {'; '.join(efficiencies)}")
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Every configuration stays alive for the round-robin; compiled ones share Sequential.forward's code cache.
    torch._dynamo.config.recompile_limit = torch._dynamo.config.accumulated_recompile_limit = 1000

    configurations, floors = [], {}  # floors: (batch size, precision) -> the products of one eager step
    for batch_size in args.batch_sizes:
        eager = {}  # precision -> a configuration's trainer without compile or graph, whose step is recorded
        for precision in args.precision:
            for compile in args.compile:
                for cuda_graph in args.cuda_graph:
                    configuration, trainer = aae_configuration(args, batch_size, precision, compile, cuda_graph)
                    configurations.append(configuration)
                    if not (compile or cuda_graph):
                        eager[precision] = trainer
        # the seed loop's floor is that of our step in fp32
        for precision in args.precision + (["no"] if args.seed_baseline and "no" not in args.precision else []):
            recorded = eager.get(precision) or aae_configuration(args, batch_size, precision, False, False)[1]
            floors[batch_size, precision] = step_products(recorded)
        if args.seed_baseline:
            configurations.append(seed_configuration(args, batch_size, trainer.accelerator.device))
    accelerator = trainer.accelerator
    for configuration in configurations:  # compilation happens here
        configuration.warm_up(args.warmup)
    # Rounds: each configuration and each floor measurement in turn, so that a noisy machine's drift hits all.
    measured = {key: [] for key in floors}
    for _ in range(args.rounds):
        for configuration in configurations:
            configuration.time(args.steps)
        bandwidth = copy_bandwidth(accelerator.device, max(1, args.floor_reps // 2))
        for key, (products, optimizer_bytes) in floors.items():
            measured[key].append({**floor(products, optimizer_bytes, accelerator.device, bandwidth, args.floor_reps),
                                  "copy_bytes_per_s": bandwidth})
    limits = {key: {name: statistics.median(m[name] for m in measurements) for name in measurements[0]}
              for key, measurements in measured.items()}
    records = [record(c, accelerator, limits.get((c.batch_size, c.precision))) for c in configurations]
    if not accelerator.is_main_process:
        return
    first = limits[args.batch_sizes[0], args.precision[0]]
    machine = (f"; matmul {first['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s at the step's shapes, copy "
               f"{first['copy_bytes_per_s'] / 1e9:.1f} GB/s")
    print(f"\n{records[0]['device_name']} ({records[0]['device']}), torch {torch.__version__}, "
          f"{records[0]['threads']} threads, {records[0]['world_size']} process(es); model {args.model}, arch "
          f"{args.arch}, images {'x'.join(map(str, records[0]['image_shape']))}, {args.workers} loader workers; "
          f"{time.strftime('%Y-%m-%d')}{machine}\n")
    if args.scaling_baseline:
        with open(args.scaling_baseline) as f:
            single = {config_key(r): r for r in json.load(f)}
        for r in records:
            if config_key(r) in single:
                r["scaling_efficiency"] = r["step_samples_per_s"] / (
                    r["world_size"] * single[config_key(r)]["step_samples_per_s"])
    print(markdown(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)


if __name__ == "__main__":
    main()
