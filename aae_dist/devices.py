"""The Accelerator of a run, after the checks that keep a run from silently training on the wrong device."""

import os
import platform
from datetime import timedelta

import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, InitProcessGroupKwargs

from .errors import ConfigError


def check_visible_gpus(config):
    """CUDA_VISIBLE_DEVICES naming a GPU that is not there would make Accelerate train on the CPU without a word."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    wants_cpu = config.cpu or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if visible not in (None, "", "-1") and not wants_cpu and not torch.cuda.is_available():
        raise ConfigError(f"CUDA_VISIBLE_DEVICES={visible} but torch sees no GPU; name a GPU that exists "
                          "(nvidia-smi lists them) or pass --cpu")


def make_accelerator(config):
    check_visible_gpus(config)
    accelerator = Accelerator(
        cpu=config.cpu, mixed_precision=config.mixed_precision, log_with="wandb" if config.wandb else None,
        # a rank that died leaves the others waiting in a collective: fail the job after this long
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout)),
                         # Each forward is its own autocast region, so caching cast weights saves nothing;
                         # under a CUDA graph the cache would hold memory the graph has freed.
                         AutocastKwargs(cache_enabled=False)])
    if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ConfigError("fp16 needs a GPU (on the CPU Accelerate would silently train in fp32); "
                          "use --mixed-precision bf16 or no")
    share_cpu_cores(accelerator)
    return accelerator


def cpu_model():
    """The CPU's name. Each model's kernels round matrix products their own way (an Intel Xeon's unlike an AMD
    EPYC's, both with AVX-512), so a CPU run repeats bitwise only on the same model and at the same thread count."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:  # not Linux
        return platform.processor() or "unknown"


def share_cpu_cores(accelerator):
    """On the CPU, the threads of each of a machine's processes: OMP_NUM_THREADS where it is set (by the user, or by
    accelerate launch and torchrun), else the cores this process may run on shared among the machine's processes,
    so that a launcher that sets nothing (srun, mpirun, a script) never runs N processes x all cores threads."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
    if accelerator.device.type == "cpu" and processes > 1 and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // processes))
