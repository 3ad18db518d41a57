"""What each speed lever of the trainer is worth: the full step with every lever, and with each one undone.

    python benchmarks/levers.py --batch-size 100 --rounds 5 --steps 20

Every variant is the real Trainer with one lever reverted by a patch; the variants are timed round-robin in one
run (rounds x steps each), so that drift of a noisy machine hits them alike. Printed: median step time, its
change against all levers, and samples/s.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from accelerate.state import AcceleratorState
from torch import nn

import aae_dist.models
import aae_dist.trainer
from aae_dist import TrainConfig, Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import timed  # noqa: E402


def loop_adam(trainer, args):
    """torch's default Adam on the CPU: a Python loop over parameter tensors."""
    for name in ("optim_P", "optim_Q_enc", "optim_Q_gen", "optim_D"):
        for group in getattr(trainer, name).optimizer.param_groups:
            group.update(fused=False, foreach=False)


def bernoulli_dropout(trainer, args):
    """nn.Dropout's bernoulli_ masks instead of uniform < keep."""
    for module in trainer.model.modules():
        if isinstance(module, aae_dist.models.Dropout):
            module.forward = nn.Dropout.forward.__get__(module)


def accelerate_optimizer_wrapper(trainer, args):
    """Step and zero the AcceleratedOptimizer wrappers instead of the plain optimizers."""
    def backward_and_step(loss, *optimizers):
        trainer.accelerator.backward(loss)
        for optimizer in optimizers:
            optimizer.step()
        for optimizer in optimizers:
            optimizer.zero_grad()
    trainer._backward_and_step = backward_and_step


def zero_filled_grads(trainer, args):
    """zero_grad(set_to_none=False): gradients kept and zero-filled instead of freed."""
    def backward_and_step(loss, *optimizers):
        trainer.accelerator.backward(loss)
        for optimizer in optimizers:
            optimizer.optimizer.step()
            optimizer.optimizer.zero_grad(set_to_none=False)
    trainer._backward_and_step = backward_and_step


def discriminator_weight_grads(trainer, args):
    """Generator phase through D (DDP-wrapped if any) with D's weight gradients computed and then dropped."""
    def generator_phase(x):
        trainer.Q.train()
        loss = aae_dist.trainer.generator_loss(trainer.D(trainer.Q(x)))
        trainer._backward_and_step(loss, trainer.optim_Q_gen)
        for p in trainer.model.discriminator.parameters():
            p.grad = None
        return loss.detach()
    trainer.generator_phase = generator_phase


def host_sync_every_step(trainer, args):
    """Read the losses on the host every step (as a naive loop logs them)."""
    train_step = trainer.train_step

    def step(x, z_real):
        metrics = train_step(x, z_real)
        return {k: v.item() for k, v in metrics.items()}
    trainer.train_step = step


# lever -> (how to undo it, the saving per step at batch 100 predicted before it was built, and why)
LEVERS = {
    "fused Adam": (loop_adam, "17 ms: a 1.8M-parameter Adam step takes 6.7 ms looped, 0.55 ms fused; x3"),
    "dropout masks as uniform < keep (CPU)": (
        bernoulli_dropout, "4 ms: bernoulli_ 0.83 ms vs rand 0.29 ms per 100k units; ~9 masks a step"),
    "plain torch optimizers, not Accelerate's wrapper": (
        accelerate_optimizer_wrapper, "0.7 ms: a profile shows importlib lookups and inspect.signature per step"),
    "zero_grad(set_to_none=True)": (zero_filled_grads, "0.3 ms: no memset of 15 MB of gradients"),
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

    def fetch(step):
        nonlocal batches
        images = next(batches, None)
        if images is None:
            batches = iter(loader)
            images = next(batches)
        return images[0].view(images[0].size(0), -1).to(trainer.accelerator.device)
    return fetch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--data-root", default=os.environ.get("AAE_DATA_ROOT", "./data"))
    args = parser.parse_args()

    variants = {}
    for name, (undo, _) in [("all levers", (None, "")), *LEVERS.items()]:
        AcceleratorState._reset_state()
        trainer = Trainer(TrainConfig(data_root=args.data_root, no_download=True, batch_size=args.batch_size,
                                      output_dir=tempfile.mkdtemp(prefix="aae-levers-")))
        # undoing a lever patches the trainer; undoing device-resident data returns another batch source
        fetch = (undo(trainer, args) if undo else None) or trainer.batches.batch
        variants[name] = (trainer, fetch, [], iter(range(10**9)))

    def run(trainer, fetch, counter, steps, times=None):
        for _ in range(steps):
            step = next(counter)
            seconds = timed(lambda: trainer.train_step(fetch(step), trainer.prior_batch(step)),
                            trainer.accelerator.device)
            if times is not None:
                times.append(seconds)

    for trainer, fetch, _, counter in variants.values():
        run(trainer, fetch, counter, args.warmup)
    for _ in range(args.rounds):
        for trainer, fetch, times, counter in variants.values():
            run(trainer, fetch, counter, args.steps, times)

    base = statistics.median(variants["all levers"][2])
    print(f"\nbatch {args.batch_size}, {torch.get_num_threads()} threads, {args.rounds} x {args.steps} steps each; "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| lever undone | step ms | what the lever saves (ms) | samples/s | predicted saving |\n|---|---|---|---|---|")
    for name, (_, _, times, _) in variants.items():
        median = statistics.median(times)
        if name == "all levers":
            print(f"| none (all levers) | {median * 1e3:.1f} | | {args.batch_size / median:.0f} | |")
        else:
            print(f"| {name} | {median * 1e3:.1f} | {(median - base) * 1e3:.1f} | {args.batch_size / median:.0f} "
                  f"| {LEVERS[name][1]} |")


if __name__ == "__main__":
    main()
