"""What each speed lever of the trainer is worth: the full step with every lever, and with each one undone.

    python benchmarks/levers.py --batch-size 100 --rounds 5 --steps 20

Every variant is the real Trainer with one lever reverted by a patch; the variants are timed round-robin in one
run (rounds x steps each), so that drift of a noisy machine hits them alike. Printed: median step time, its
change against all levers, and samples/s.
"""

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from accelerate.optimizer import AcceleratedOptimizer
from accelerate.state import AcceleratorState
from torch import nn

import aae_dist.networks
from aae_dist import TrainConfig, Trainer
from aae_dist.config import default_data_root

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import device_name, timed  # noqa: E402


def loop_adam(trainer, args):
    """torch's default Adam on the CPU: a Python loop over parameter tensors."""
    for optimizer in trainer.optimizers.values():
        for group in optimizer.param_groups:
            group.update(fused=False, foreach=False)


def bernoulli_dropout(trainer, args):
    """nn.Dropout's bernoulli_ masks instead of uniform < keep."""
    for module in trainer.model.modules():
        if isinstance(module, aae_dist.networks.Dropout):
            module.forward = nn.Dropout.forward.__get__(module)


def accelerate_optimizer_wrapper(trainer, args):
    """Step and zero Accelerate's optimizer wrappers instead of the plain optimizers."""
    for name, optimizer in trainer.optimizers.items():
        trainer.optimizers[name] = AcceleratedOptimizer(optimizer, device_placement=False)


def freed_grads(trainer, args):
    """zero_grad(set_to_none=True) on the CPU too: gradients freed after each phase instead of zero-filled."""
    trainer.free_gradients = True


def discriminator_weight_grads(trainer, args):
    """Generator phase through D (DDP-wrapped if any) with D's weight gradients computed and then dropped."""
    index = next(i for i, phase in enumerate(trainer.phases) if phase.name == "generator")
    trainer.phases[index] = dataclasses.replace(trainer.phases[index], trains=("encoder", "discriminator"), uses=())
    run_phase = trainer.run_phase

    def run_phase_dropping_grads(phase, batch):
        metrics = run_phase(phase, batch)
        trainer.model.discriminator.zero_grad(set_to_none=True)
        return metrics
    trainer.run_phase = run_phase_dropping_grads


def host_sync_every_step(trainer, args):
    """Read the losses on the host every step (as a naive loop logs them)."""
    train_step = trainer.train_step

    def step(batch):
        return {k: v.item() for k, v in train_step(batch).items()}
    trainer.train_step = step


# lever -> (how to undo it, the saving per step at batch 100 predicted before it was built, and why)
LEVERS = {
    "fused Adam": (loop_adam, "17 ms: a 1.8M-parameter Adam step takes 6.7 ms looped, 0.55 ms fused; x3"),
    "dropout masks as uniform < keep (CPU)": (
        bernoulli_dropout, "4 ms: bernoulli_ 0.83 ms vs rand 0.29 ms per 100k units; ~9 masks a step"),
    "plain torch optimizers, not Accelerate's wrapper": (
        accelerate_optimizer_wrapper, "0.7 ms: a profile shows importlib lookups and inspect.signature per step"),
    "gradients zero-filled, not freed (CPU)": (
        freed_grads, "1.5 ms, measured before it was built: undoing the earlier lever zero_grad(set_to_none=True) "
                     "made the step faster; freed gradients page-fault back in"),
    "frozen D in the generator phase": (
        discriminator_weight_grads, "0.3 ms: two 100x500x500 weight-gradient products (and, under DDP, an "
                                    "all-reduce)"),
    "losses read on the host only at log steps": (
        host_sync_every_step, "~0 ms on a CPU (already synchronous); on a GPU it keeps the queue full"),
    "device-resident data": (lambda trainer, args: dataloader_batches(trainer, args),
                             "4 ms: ToTensor and collation of 100 PIL images a step"),
}


def dataloader_batches(trainer, args):
    """The seed's input pipeline: torchvision MNIST, ToTensor, DataLoader (replaces device-resident data)."""
    dataset = torchvision.datasets.MNIST(args.data_root, train=True, download=False,
                                         transform=torchvision.transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    batches = iter(())

    def batch(step):
        nonlocal batches
        images = next(batches, None)
        if images is None:
            batches = iter(loader)
            images = next(batches)
        return {"x": images[0].to(trainer.accelerator.device), "y": images[1].to(trainer.accelerator.device)}
    trainer.batches.batch = batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--data-root", default=default_data_root())
    parser.add_argument("--json", help="also write one record per variant here")
    args = parser.parse_args()

    variants = {}
    for name, (undo, _) in [("all levers", (None, "")), *LEVERS.items()]:
        AcceleratorState._reset_state()
        trainer = Trainer(TrainConfig(data_root=args.data_root, no_download=True, batch_size=args.batch_size,
                                      output_dir=tempfile.mkdtemp(prefix="aae-levers-")))
        if name.endswith("(CPU)") and trainer.accelerator.device.type != "cpu":
            continue  # elsewhere the trainer does not pull that lever: undoing it would time the same step
        if undo:  # undoing a lever patches the trainer (on a GPU before the CUDA graph records its first step)
            undo(trainer, args)
        variants[name] = (trainer, [], iter(range(10**9)))

    def run(trainer, counter, steps, times=None):
        for _ in range(steps):
            step = next(counter)
            seconds = timed(lambda: trainer.train_step(trainer.batch(step)), trainer.accelerator.device)
            if times is not None:
                times.append(seconds)

    for trainer, _, counter in variants.values():
        run(trainer, counter, args.warmup)
    for _ in range(args.rounds):
        for trainer, times, counter in variants.values():
            run(trainer, counter, args.steps, times)

    base = statistics.median(variants["all levers"][1])
    device = trainer.accelerator.device
    records = []
    for name, (_, times, _) in variants.items():
        median = statistics.median(times)
        records.append(dict(lever=name, step_ms_median=median * 1e3, samples_per_s=args.batch_size / median,
                            saving_ms=None if name == "all levers" else (median - base) * 1e3,
                            predicted=LEVERS[name][1] if name in LEVERS else None, batch_size=args.batch_size,
                            threads=torch.get_num_threads(), cuda_graph=trainer.cuda_graph, rounds=args.rounds,
                            steps=args.steps,
                            device=device.type, device_name=device_name(device), torch_version=torch.__version__,
                            date=time.strftime("%Y-%m-%d")))
    print(f"\nbatch {args.batch_size}, {torch.get_num_threads()} threads, {args.rounds} x {args.steps} steps each; "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| lever undone | step ms | what the lever saves (ms) | samples/s | predicted saving |\n|---|---|---|---|---|")
    for r in records:
        if r["saving_ms"] is None:
            print(f"| none (all levers) | {r['step_ms_median']:.1f} | | {r['samples_per_s']:.0f} | |")
        else:
            print(f"| {r['lever']} | {r['step_ms_median']:.1f} | {r['saving_ms']:.1f} | {r['samples_per_s']:.0f} "
                  f"| {r['predicted']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)


if __name__ == "__main__":
    main()
