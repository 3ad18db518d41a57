"""The AAE variants, one module each. A variant is an `AAE` subclass (aae_dist/models.py): its networks, priors,
optimizers and phases. Add one here and `--model NAME` trains it; the trainer needs no change."""

from .clustering import ClusteringAAE
from .semi_supervised import SemiSupervisedAAE
from .supervised import SupervisedAAE
from .vanilla import VanillaAAE

OBJECTIVES = {"vanilla": VanillaAAE, "supervised": SupervisedAAE, "semi-supervised": SemiSupervisedAAE,
              "clustering": ClusteringAAE}
