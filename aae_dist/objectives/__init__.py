"""The AAE variants, one module each. A variant is an `AAE` subclass (aae_dist/models.py) that names itself in its
class statement (`class VanillaAAE(AAE, name="vanilla")`): its networks, priors, optimizers and phases. Add a module
here, import it below, and `--model NAME` trains it; the trainer needs no change."""

from ..models import OBJECTIVES
from .vanilla import VanillaAAE  # in this order: --model's choices are listed as they register
from .supervised import SupervisedAAE
from .semi_supervised import SemiSupervisedAAE
from .clustering import ClusteringAAE
from .dim_reduction import DimReductionAAE

__all__ = ["OBJECTIVES", "ClusteringAAE", "DimReductionAAE", "SemiSupervisedAAE", "SupervisedAAE", "VanillaAAE"]
