"""Learning-rate schedules: the factor every base learning rate is multiplied by at a step.

A pure function of the step, so that a resumed run needs no scheduler state and computes the rates the
uninterrupted run would have. The trainer writes the rates into the optimizers before each step; under a CUDA
graph each rate is a device tensor that it fills in place (a rate captured as a number would be replayed forever).
"""

import math

from .errors import ConfigError

SCHEDULES = ("constant", "step", "cosine")


def parse_milestones(text):
    """"30000,60000" -> [30000, 60000]."""
    try:
        milestones = sorted(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        milestones = [0]
    if any(m <= 0 for m in milestones):
        raise ConfigError(f"--lr-milestones must be positive step numbers separated by commas, got {text!r}")
    return milestones


def lr_factor(schedule, step, steps, milestones=(), gamma=0.1):
    """The factor of the base rates at `step` (0-based) of a run of `steps` steps."""
    if schedule == "step":
        return gamma ** sum(step >= milestone for milestone in milestones)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    return 1.0
