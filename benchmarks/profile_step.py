"""Where one training step's time goes: torch.profiler's table of the operators of `--steps` train_steps.

    python benchmarks/profile_step.py --batch-size 100 --steps 20 --data-root ../shared/data
"""

import argparse
import tempfile

from torch.profiler import ProfilerActivity, profile

from aae_dist import TrainConfig, Trainer
from aae_dist.config import default_data_root


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mixed-precision", default="no")
    parser.add_argument("--rows", type=int, default=12, help="operators listed")
    parser.add_argument("--data-root", default=default_data_root())
    args = parser.parse_args()
    trainer = Trainer(TrainConfig(data_root=args.data_root, no_download=True, batch_size=args.batch_size,
                                  mixed_precision=args.mixed_precision, output_dir=tempfile.mkdtemp()))
    for step in range(2 * args.steps):  # the first half warms up, the second half is profiled
        if step == args.steps:
            profiler = profile(activities=[ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if
                                                                   trainer.accelerator.device.type == "cuda" else [])])
            profiler.__enter__()
        trainer.train_step(trainer.batch(step))
    profiler.__exit__(None, None, None)
    print(f"{args.steps} steps at batch {args.batch_size}, {args.mixed_precision}; per step: divide by {args.steps}")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
