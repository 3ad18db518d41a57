"""What every AAE variant is: named networks, priors, named optimizers and an ordered list of phases.

A variant (aae_dist/objectives/) subclasses `AAE` and fills in those four. The Trainer runs the phases and knows
nothing else about the model; generate.py and evaluate.py use the methods below (decode, encode, sample), which
work for every variant. A trained model is a run directory's model.safetensors and model_config.json.
"""

import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from safetensors.torch import load_file
from torch import nn

from .errors import AAEError, one_line
from .files import atomic_path, save_weights, write_json
from .hub import resolve
from .networks import Dropout
from .priors import build_prior
from .sampling import generate, latent_lattice, style_grid_codes

WEIGHTS_NAME = "model.safetensors"
MODEL_CONFIG_NAME = "model_config.json"

# The variants by --model name. A variant registers itself here by naming itself in its class statement
# (`class VanillaAAE(AAE, name="vanilla")`); aae_dist/__init__ imports aae_dist/objectives, so all are here once
# the package is imported, and this module never imports them.
OBJECTIVES: dict[str, type] = {}


def conditional_models():
    """The variants whose decoder reads a class or cluster, by name, for messages ("supervised, semi-supervised,
    ...")."""
    return ", ".join(name for name, objective in OBJECTIVES.items() if objective.conditional)


@dataclass(frozen=True)
class Phase:
    """One update of a training step.

    `compute(nets, batch)` returns the metrics to log, a dict of scalar tensors; the metric that `loss` names is
    minimised by stepping `optimizers` (each unscaled once under fp16, all skipped if any gradient overflowed). `nets` holds
    the phase's networks by name: those in `trains` are called through their DDP wrapper (in train mode), those
    in `uses` as plain modules with their weights frozen (gradients still flow through them, none into them),
    in eval mode if also in `eval`; `nets.ema` is the weights' moving average (an AAE in eval mode, no
    gradients) with --ema-decay, else None.
    """

    name: str
    loss: str
    compute: Callable[..., dict]
    optimizers: tuple[str, ...]
    trains: tuple[str, ...]
    uses: tuple[str, ...] = ()
    eval: tuple[str, ...] = ()


@dataclass
class ModelConfig:
    """Everything needed to rebuild a trained model (model_config.json)."""

    model: str = "vanilla"
    arch: str = "mlp"
    conv_width: int = 64
    z_dim: int = 2
    hidden: int = 1000
    disc_hidden: int = 500
    dropout: float = 0.25
    disc_dropout: float = 0.2
    image_shape: tuple = (1, 28, 28)
    num_classes: int = 10
    recon_loss: str = "bce"
    label_to_discriminator: bool = False
    code_noise: float = 0.0
    input_noise: float = 0.0
    input_dropout: float = 0.0
    encoder: str = "deterministic"
    init_std: float = 0.0
    clusters: int = 16
    marginal_entropy: float = 0.0
    vat: float = 0.0
    vat_eps: float = 2.0
    affine_consistency: float = 0.0
    affine_std: float = 0.1
    affine_labelled: bool = False
    mean_teacher: bool = False
    head_distance: float = 3.0
    discriminator_steps: int = 1
    prior: dict = field(default_factory=lambda: {"name": "gaussian", "std": 1.0})

    @classmethod
    def from_dict(cls, values):
        """From model_config.json, including those of version 0.1 (no model or image_shape; x_dim 784)."""
        values = dict(values)
        x_dim = values.pop("x_dim", None)
        if x_dim is not None and "image_shape" not in values and x_dim != 784:
            raise ValueError(f"x_dim {x_dim} without an image_shape")
        values["image_shape"] = tuple(values.get("image_shape", (1, 28, 28)))
        return cls(**values)


@contextmanager
def evaluating(module):
    """`module` in eval mode inside the block, and its submodules' modes as they were after it."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


class AAE(nn.Module):
    """Base of every variant: its networks are submodules (state_dict keys "encoder.0.weight", ...).

    >>> aae = AAE.from_pretrained("runs/a")        # any variant, from a run directory written by the trainer
    >>> aae = AAE.from_pretrained("org/name")      # or from the Hub (a repo written by aae-push)
    >>> images, z = aae.sample(64)                  # (64, 1, 28, 28) in [0, 1], and the prior samples
    """

    conditional = False  # whether the decoder takes a label (sample(labels=...), generate.py --label)
    needs_labels = False  # whether training needs labelled data
    decodes_classes = False  # whether the labels a conditional decoder reads are the data's classes (not clusters)
    categorical = False  # whether the encoder has a class head q(y|x) (class_probabilities)
    represents = False   # whether the decoder reads one learned representation of (y, z) (representation(images))
    uses_labelled_subset = False  # whether batches carry a labelled mini-batch (x_labelled, y_labelled; --num-labels)
    own_flags = ()       # TrainConfig fields that only this variant reads (refused for the others)
    recipe = {}          # TrainConfig values that replace the defaults for this variant (flags still win)

    def __init_subclass__(cls, name=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            OBJECTIVES[name] = cls

    def __new__(cls, config: ModelConfig):
        if cls is AAE:  # AAE(config) builds the variant that config.model names
            cls = OBJECTIVES[config.model]
        return super().__new__(cls)

    def __init__(self, config: ModelConfig):
        super().__init__()
        if self.needs_labels and config.num_classes < 1:
            raise AAEError(f"--model {config.model} needs labelled data, and this data has no labels: use class "
                           "subfolders (--dataset imagefolder) or a `labels` array (npz/pt), or --model vanilla")
        self.config = config
        self.prior = build_prior({**config.prior, "dim": config.z_dim})
        for name, network in self.build_networks().items():  # built in order: the seed fixes their weights
            self.add_module(name, network)
        if config.init_std:  # weights N(0, init_std^2) and zero biases, in place of torch's default
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.normal_(module.weight, std=config.init_std)
                    nn.init.zeros_(module.bias)

    # ------------------------------------------------------------ what a variant defines
    def build_networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, tuple[nn.Module, str]]:
        """Optimizer name -> (the network it updates, the TrainConfig field holding its learning rate)."""
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def priors(self) -> dict[str, object]:
        """Batch key -> prior: the trainer adds to every batch a draw of each, a pure function of (seed, step)."""
        return {"z_prior": self.prior}

    def decoder_input(self, z, labels):
        """What the decoder reads for codes z (and labels, for conditional variants)."""
        return z

    def preview(self):
        """(latent codes, labels or None, images per row) decoded into samples/step_N.png during training: for a
        conditional model the style grid (10 rows of style codes, the same prior draws at every step, one column
        per class; the paper's figures 6 and 8), else the lecture's 10 x 10 lattice."""
        if self.conditional:
            z, labels = style_grid_codes(self.prior, 10, self.classes, torch.Generator().manual_seed(0))
            return z, labels, self.classes
        return latent_lattice(self.config.z_dim), None, 10

    # ------------------------------------------------------------ the code z, for every variant
    @property
    def code_size(self):
        """The encoder's outputs for z: z_dim, or for a Gaussian encoder a mean and a log-std of z_dim each."""
        return self.config.z_dim * (2 if self.config.encoder == "gaussian" else 1)

    def training_input(self, x):
        """What the encoder reads in training: x with dropout input_dropout (the AAE paper's clustering model), plus
        Gaussian noise of std input_noise (its semi-supervised one), where those are set."""
        if self.config.input_dropout:
            x = Dropout(self.config.input_dropout)(x)
        return x + self.config.input_noise * torch.randn_like(x) if self.config.input_noise else x

    def training_code(self, out):
        """z in training from the encoder's code outputs: themselves, or for a Gaussian encoder a draw
        mean + std * noise (reparameterized: gradients reach both)."""
        if self.config.encoder != "gaussian":
            return out
        mean, log_std = out.chunk(2, dim=1)
        return mean + log_std.exp() * torch.randn_like(mean)

    # ------------------------------------------------------------ using a trained model
    @property
    def networks(self):
        return dict(self.named_children())

    @property
    def device(self):
        return next(self.parameters()).device

    @property
    def classes(self):
        """How many labels a conditional decoder reads: the data's classes (clusters, for clustering)."""
        return self.config.num_classes

    def labels_for(self, n, labels=None):
        """The n labels a conditional variant decodes: `labels` (one class, or one per sample), by default balanced
        (0, 1, ..., K-1, 0, 1, ...). None for the others."""
        if not self.conditional:
            if labels is not None:
                raise AAEError(f"labels (--label) need a class-conditional model (--model "
                               f"{conditional_models()}); this one is {self.config.model}")
            return None
        if labels is None:
            return torch.arange(n, device=self.device) % self.classes
        labels = torch.as_tensor(labels, device=self.device).long()
        if labels.lt(0).any() or labels.ge(self.classes).any():
            raise AAEError(f"labels must be classes 0..{self.classes - 1}")
        return labels.expand(n) if labels.dim() == 0 else labels

    @torch.no_grad()
    def decode(self, z, labels=None):
        """Images in [0, 1], shape (n, c, h, w), for latent codes z (n, z_dim) (and labels (n,) if conditional)."""
        if self.conditional and labels is None:
            raise ValueError("this model is class-conditional: pass labels")
        z = z.to(self.device, torch.float32)
        labels = None if labels is None else torch.as_tensor(labels, device=self.device).long()
        return torch.sigmoid(self.decoder(self.decoder_input(z, labels)).float())

    @torch.no_grad()
    def encode(self, images):
        """The codes z (n, z_dim) of images (a Gaussian encoder's mean): what the prior is matched against."""
        return self.encoder(images.to(self.device, torch.float32))[:, :self.config.z_dim]

    @torch.no_grad()
    def reconstruction_logits(self, images, labels=None):
        """The decoder's logits for images encoded (conditional variants: with their labels)."""
        return self.decoder(self.decoder_input(self.encode(images), labels))

    @torch.no_grad()
    def class_probabilities(self, images):
        """q(y|x) (n, classes) of the variants with a class head (`categorical`)."""
        raise NotImplementedError

    def sample(self, n, generator=None, labels=None):
        """n synthetic images decoded from prior samples, in batches (sampling.generate); returns (images, z) on the
        CPU. A conditional model decodes `labels` (one class, or one per sample; by default balanced over the
        classes)."""
        images, z, _ = generate(self, n, generator=generator, labels=labels)
        return images, z

    def save_pretrained(self, directory):
        """Write model.safetensors and model_config.json, each atomically (temporary name, then rename)."""
        os.makedirs(directory, exist_ok=True)
        weights = os.path.join(directory, WEIGHTS_NAME)
        with atomic_path(weights) as tmp:
            save_weights(self, tmp)
        write_json(os.path.join(directory, MODEL_CONFIG_NAME), asdict(self.config))

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        """Load a run directory's weights, or those of a Hub model repo (directory "org/name", written by aae-push;
        downloaded into the Hub cache, or read from it offline), as the variant it was trained as, in eval mode
        (safetensors: no code is ever unpickled)."""
        folder = resolve(directory)
        weights = os.path.join(folder, WEIGHTS_NAME)
        config_path = os.path.join(folder, MODEL_CONFIG_NAME)
        if not (os.path.isfile(weights) and os.path.isfile(config_path)):
            raise AAEError(f"{directory} has no {WEIGHTS_NAME} and {MODEL_CONFIG_NAME}; "
                           "point to a run directory whose training finished")
        try:
            with open(config_path) as f:
                model = AAE(ModelConfig.from_dict(json.load(f)))
        except (ValueError, TypeError, KeyError) as error:  # broken JSON, foreign or hand-edited fields
            raise AAEError(f"{config_path} is not a model configuration ({one_line(error, 160)})") from error
        try:
            model.load_state_dict(load_file(weights))
        except Exception as error:  # a truncated or foreign file: what safetensors and torch raise varies
            raise AAEError(f"{weights} cannot be loaded ({one_line(error, 160)})") from error
        return model.to(device).eval()
