"""The AAE variants, one module each. A variant is an `AAE` subclass (aae_dist/models.py): its networks, priors,
optimizers and phases. Add one here and `--model NAME` trains it; the trainer needs no change."""

from .supervised import SupervisedAAE
from .vanilla import VanillaAAE

OBJECTIVES = {"vanilla": VanillaAAE, "supervised": SupervisedAAE}
