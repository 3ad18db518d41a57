"""aae_dist: Adversarial Autoencoders on one CPU, one GPU, all GPUs or many machines, with Accelerate."""

from .config import TrainConfig, load_train_config
from .errors import AAEError, ConfigError
from .models import AAE, ModelConfig, Phase
from .objectives import OBJECTIVES, ClusteringAAE, DimReductionAAE, SemiSupervisedAAE, SupervisedAAE, VanillaAAE
from .priors import GaussianPrior, MixturePrior, Prior, SwissRollPrior, build_prior
from .trainer import Trainer

__all__ = ["AAE", "AAEError", "ClusteringAAE", "ConfigError", "DimReductionAAE", "GaussianPrior", "MixturePrior", "ModelConfig",
           "OBJECTIVES", "Phase", "Prior", "SemiSupervisedAAE", "SupervisedAAE", "SwissRollPrior", "TrainConfig",
           "Trainer", "VanillaAAE", "build_prior", "load_train_config"]
