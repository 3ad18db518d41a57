"""Training configuration: one dataclass, its validation, and the command line built from it.

The dataclass is the single source of the defaults: the CLI, the help text and config.json all read them
from here.
"""

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from .checkpoint_dirs import newest_step
from .data import DATASETS, parse_num_labels
from .errors import ConfigError
from .files import CONFIG_NAME, read_json
from .models import ModelConfig
from .networks import ARCHS
from .objectives import OBJECTIVES
from .priors import PRIORS, TWO_D_PRIORS
from .schedules import SCHEDULES, parse_milestones

# Recipes: values that replace the dataclass defaults. "paper" is the likelihood model of Makhzani et al. 2015 as
# keil555/AAE_paddle trains it, plus a moving average of the weights: the recipe with the highest Parzen number we
# measured (docs/recipes.md lists every recipe tried): the paper's 784-H-H-z encoder, its mirror as
# decoder and an H-H discriminator, here with H = 1200 and dropout 0.2 in all three, z 8, prior N(0, 5^2 I), a
# Gaussian (reparameterized) encoder, Adam 2e-4 / 1e-4, batch 100, binary cross-entropy. At constant rates
# the average (0.999) scored 1.7-4.0 nats above the trained weights wherever both were measured from 10,000 steps on
# (10k-20k and 80k; 340.1 against 338.4 at 80,000 on the CPU; without it 339.0 at 120,000 on an H200).
# The other presets are the rows of the results table (docs/results.md): a variant's recipe (its --model defaults)
# with the flags that row adds, so that each row is one command (docs/recipes.md, "One command per row").
PRESETS = {
    "seed": {},
    "paper": dict(z_dim=8, hidden=1200, disc_hidden=1200, prior_std=5.0, dropout=0.2, disc_dropout=0.2,
                  encoder="gaussian", lr_recon=2e-4, lr_reg=1e-4, recon_loss="bce", steps=120000, ema_decay=0.999),
    # Table 2 at batch 100 with --affine-consistency 1, over three seeds: with 100 labels and 5,000 validation images
    # --marginal-entropy 3 over 16,000 steps (1.82% against the batch-400 recipe's 2.95%); with 1000 labels the
    # weights' moving average and --vat 1 over 32,000 steps at the checkpoint of the lowest validation error
    # (--keep-best; --vat since late 2026-12-05: validation 1.27% against 1.61%, lower on every seed); with all labels
    # the final fit (since 2026-12-06): the moving average trained on all 60,000 labelled images to step 24,000 of the
    # 32,000-step cosine, the step where three runs with 5,000 validation images had their lowest mean validation
    # error (docs/recipes.md)
    "semi-100": dict(model="semi-supervised", num_labels="100", affine_consistency=1.0, marginal_entropy=3.0,
                     batch_size=100, steps=16000, validation_images=5000),
    "semi-1000": dict(model="semi-supervised", num_labels="1000", affine_consistency=1.0, vat=1.0, ema_decay=0.999,
                      batch_size=100, steps=32000, validation_images=5000, eval_every=2000, keep_best="val_error"),
    "semi-all": dict(model="semi-supervised", num_labels="all", affine_consistency=1.0, ema_decay=0.999,
                     batch_size=100, steps=32000, stop_at=24000, eval_every=2000),
    "clusters-16": dict(model="clustering", clusters=16),
    "clusters-30": dict(model="clustering", clusters=30, steps=16000),  # 16,000 steps: the validation split's choice
    "supervised": dict(model="supervised"),
    "dimred-2d": dict(model="dim-reduction", z_dim=2, steps=8000),
    "dimred-10d": dict(model="dim-reduction", z_dim=10, steps=8000),
}
MIXED_PRECISION = ("no", "bf16", "fp16")
OPTIMIZERS = ("adam", "sgd")
CUDA_GRAPH = ("auto", "on", "off")
RECON_LOSSES = ("bce", "mse")
ENCODERS = ("deterministic", "gaussian")


def default_data_root():
    return os.environ.get("AAE_DATA_ROOT", "./data")


@dataclass
class TrainConfig:
    model: str = field(default="vanilla", metadata=dict(
        help="AAE variant: vanilla (the lecture's), supervised (class-conditional: the decoder reads the label), "
             "semi-supervised (a class head trained on --num-labels labels), clustering (--clusters) or "
             "dim-reduction (the semi-supervised AAE whose decoder reads one --z-dim representation W y + z, W the "
             "classes' learned cluster heads); each but vanilla has its own recipe of defaults (docs/recipes.md)",
        choices=OBJECTIVES.keys()))  # a live view
    config: str = field(default="", metadata=dict(
        help="start from the settings of another run: its config.json, or a JSON of aae-evaluate (its train_config), "
             "e.g. one committed under benchmarks/results/ to reproduce its number; flags given still win, and "
             "--output-dir, --data-root and --no-download are never taken from it", metavar="FILE"))
    preset: str = field(default="seed", metadata=dict(
        help="recipe whose values replace the defaults (flags given still win): seed = the lecture's, paper = the "
             "AAE paper's likelihood model (Table 1) as keil555/AAE_paddle trains it (z 8, 2 x 1200, dropout 0.2, "
             "prior std 5, Gaussian encoder, Adam 2e-4 / 1e-4, 120,000 steps, --ema-decay 0.999); each other one is a "
             "row of the results table, its variant's recipe with that row's flags: semi-100, semi-1000, semi-all "
             "(the paper's Table 2), clusters-16, clusters-30 (Table 3), supervised, dimred-2d, dimred-10d "
             "(docs/training.md)",
        choices=tuple(PRESETS)))
    # data
    data_root: str = field(default_factory=default_data_root, metadata=dict(
        help="where the data is: the folder of torchvision's datasets, the image folder (--dataset imagefolder) or "
             "the .npz/.pt file; $AAE_DATA_ROOT sets the default"))
    dataset: str = field(default="mnist", metadata=dict(
        help="training set: torchvision's (downloaded when missing), imagefolder (class subfolders become labels), "
             "or npz/pt (an `images` array, optional `labels`)", choices=DATASETS))
    no_download: bool = field(default=False, metadata=dict(help="fail instead of downloading missing data"))
    image_size: int | None = field(default=None, metadata=dict(
        help="resize (shorter side) and centre-crop every image to N x N once, at load", type=int))
    data_on_device: str = field(default="auto", metadata=dict(
        help="keep the training set on the training device (yes), or stream it through DataLoader workers (no); "
             "auto = on the device where it takes at most a quarter of the free GPU memory (always on a CPU)",
        choices=("auto", "yes", "no")))
    workers: int = field(default=2, metadata=dict(help="DataLoader workers per process when the data streams"))
    validation_images: int = field(default=0, metadata=dict(
        help="hold out the last N training images as a validation split: never trained on, nor labelled, nor used "
             "to name clusters; --eval-every and evaluate.py report the model's error on them (val_error, "
             "validation_error), so that checkpoints and settings are chosen without the test set (MNIST: 5000 or "
             "10000); 0: train on every image"))
    # schedule
    steps: int = field(default=5000, metadata=dict(help="training steps (each runs every phase of the model once)"))
    stop_at: int = field(default=0, metadata=dict(
        help="end this command after step N of the --steps schedule, saving the run as at its end (weights, "
             "checkpoint, pictures); --resume goes on to --steps (to N if cut short before it). E.g. the step a "
             "validation split chose in a longer schedule, or a long run in pieces under a job's time limit; 0: run "
             "to --steps", metavar="N"))
    batch_size: int = field(default=100, metadata=dict(help="batch per process; the global batch is this x processes"))
    # model
    arch: str = field(default="mlp", metadata=dict(
        help="encoder and decoder: mlp (the lecture's, any image size) or conv (DCGAN-style, square images of "
             "16, 28, 32, 64, ... pixels)", choices=ARCHS))
    conv_width: int = field(default=64, metadata=dict(
        help="--arch conv: channels of the first convolution (doubled at every halving of the image)"))
    z_dim: int = field(default=2, metadata=dict(help="latent dimension"))
    hidden: int = field(default=1000, metadata=dict(help="units in each of the two hidden layers of Q and P"))
    disc_hidden: int = field(default=500, metadata=dict(help="units in each of the two hidden layers of D"))
    dropout: float = field(default=0.25, metadata=dict(help="dropout after the hidden layers of Q and P"))
    disc_dropout: float = field(default=0.2, metadata=dict(help="dropout after the hidden layers of D"))
    prior: str = field(default="gaussian", metadata=dict(help="prior p(z); mixture and swiss-roll are 2-D",
                                                         choices=tuple(PRIORS)))
    prior_std: float = field(default=1.0, metadata=dict(help="standard deviation of the Gaussian prior N(0, std^2 I)"))
    mixture_components: int = field(default=10, metadata=dict(help="mixture prior: number of Gaussians"))
    mixture_radius: float = field(default=1.4, metadata=dict(help="mixture prior: distance of each mean from 0"))
    mixture_radial_std: float = field(default=0.5, metadata=dict(help="mixture prior: std along the radius"))
    mixture_tangential_std: float = field(default=0.05, metadata=dict(help="mixture prior: std across the radius"))
    swiss_roll_radius: float = field(default=3.0, metadata=dict(help="swiss-roll prior: outer radius"))
    swiss_roll_turns: float = field(default=2.0, metadata=dict(help="swiss-roll prior: turns of the spiral"))
    label_to_discriminator: bool = field(default=False, metadata=dict(
        help="supervised: D judges (code, label) pairs, so that the code cannot tell the classes apart; "
             "semi-supervised and clustering: D_z judges (y, z) pairs, so that z is independent of y"))
    num_labels: str = field(default="100", metadata=dict(
        help="semi-supervised and dim-reduction: the size of the labelled subset (class-balanced, fixed by --seed; "
             "saved in the run as labelled_subset.json), or all"))
    clusters: int = field(default=16, metadata=dict(help="clustering: the number of clusters (categories of y)"))
    marginal_entropy: float = field(default=0.0, metadata=dict(
        help="semi-supervised, clustering and dim-reduction: weight of a generator-phase term log K - H(the batch's "
             "mean q(y|x)) that pushes the encoder to use every class or cluster equally often; 0: none"))
    vat: float = field(default=0.0, metadata=dict(
        help="semi-supervised, clustering and dim-reduction: weight of virtual adversarial training in the "
             "generator phase, KL(q(y|x) || q(y|x + r)) with r of norm --vat-eps in the direction that changes q(y|x) "
             "most (Miyato et al. 2018; IMSAT, Hu et al. 2017); 0: none"))
    vat_eps: float = field(default=2.0, metadata=dict(
        help="--vat: the L2 norm of the perturbation r, in pixels of [0, 1] (MNIST: 2, as in the VAT paper)"))
    affine_consistency: float = field(default=0.0, metadata=dict(
        help="semi-supervised, clustering and dim-reduction: weight of a generator-phase term KL(q(y|x) || "
             "q(y|A(x))), A a random small affine transform of each image (rotation, scale, shear, shift; "
             "--affine-std): y should not change when a digit moves or tilts a little; 0: none"))
    affine_std: float = field(default=0.1, metadata=dict(
        help="--affine-consistency and --affine-labelled: std of the random affine matrix's entries around the "
             "identity, in the image's coordinates of [-1, 1] (0.1: about 6 degrees, a tenth of the size, 1.4 pixels "
             "of shift on 28 x 28)"))
    affine_labelled: bool = field(default=False, metadata=dict(
        help="semi-supervised and dim-reduction: the classification phase reads each labelled image moved by its "
             "own small affine transform (--affine-std), drawn anew every step: the labelled subset augmented"))
    mean_teacher: bool = field(default=False, metadata=dict(
        help="semi-supervised, clustering and dim-reduction: the target of --affine-consistency and --vat is the "
             "moving average's q(y|x) (--ema-decay) instead of the trained encoder's own: a mean teacher (Tarvainen & "
             "Valpola 2017)"))
    head_distance: float = field(default=3.0, metadata=dict(
        help="dim-reduction: eta, the distance below which two cluster heads are pushed apart (a reconstruction-"
             "phase cost, the sum over pairs of max(0, eta - their distance)); with --prior-std it sets how far "
             "apart the classes lie in the representation"))
    input_noise: float = field(default=0.0, metadata=dict(
        help="std of Gaussian noise added to the encoder's input in training"))
    input_dropout: float = field(default=0.0, metadata=dict(
        help="dropout on the encoder's input in training: each pixel zeroed with this probability, the others "
             "scaled by 1 / (1 - p)"))
    encoder: str = field(default="deterministic", metadata=dict(
        help="the encoder's code: deterministic (z = Q(x)) or gaussian (Q gives a mean and a log-std, and z is drawn "
             "from them in training, reparameterized; evaluation and pictures use the mean)", choices=ENCODERS))
    init_std: float = field(default=0.0, metadata=dict(
        help="initialise every weight from N(0, std^2) and every bias to 0; 0: torch's default initialisation"))
    code_noise: float = field(default=0.0, metadata=dict(
        help="std of Gaussian noise added to the encoder's codes in training (the decoder and D see the noisy codes)"))
    discriminator_steps: int = field(default=1, metadata=dict(
        help="updates of D on each step's batch (the discriminator phase repeated), before the generator phase"))
    # optimisation
    recon_loss: str = field(default="bce", metadata=dict(
        help="reconstruction loss: bce (the lecture's) or mse (the squared error of the sigmoid image, the AAE "
             "paper's)", choices=RECON_LOSSES))
    optimizer: str = field(default="adam", metadata=dict(
        help="the optimizer of every phase: adam (the lecture's) or sgd (with --momentum-recon/--momentum-reg/"
             "--momentum-cls)",
        choices=OPTIMIZERS))
    lr_recon: float = field(default=1e-4, metadata=dict(help="lr of the reconstruction phase (optim_P, optim_Q_enc)"))
    lr_reg: float = field(default=5e-5, metadata=dict(help="lr of the regularization phase (optim_D, optim_Q_gen)"))
    lr_cls: float = field(default=1e-3, metadata=dict(
        help="semi-supervised and dim-reduction: lr of the classification phase (optim_Q_cls)"))
    momentum_recon: float = field(default=0.9, metadata=dict(help="--optimizer sgd: momentum of the reconstruction "
                                                                  "phase's optimizers"))
    momentum_reg: float = field(default=0.1, metadata=dict(help="--optimizer sgd: momentum of the regularization "
                                                                "phase's optimizers"))
    momentum_cls: float = field(default=0.9, metadata=dict(help="--optimizer sgd: momentum of the classification "
                                                              "phase's optimizer"))
    lr_schedule: str = field(default="constant", metadata=dict(
        help="every learning rate over the steps: constant, step (x --lr-gamma at each of --lr-milestones) or cosine "
             "(from the rate down to 0 at --steps)", choices=SCHEDULES))
    lr_milestones: str = field(default="", metadata=dict(
        help="--lr-schedule step: comma-separated steps at which the rates are multiplied by --lr-gamma"))
    lr_gamma: float = field(default=0.1, metadata=dict(help="--lr-schedule step: the factor at each milestone"))
    ema_decay: float = field(default=0.0, metadata=dict(
        help="keep an exponential moving average of the weights (each step: average = decay x average + (1 - decay) "
             "x weights; e.g. 0.999): evaluation, samples, model.safetensors and a checkpoint's model for "
             "generate/evaluate are the average's; 0: none"))
    seed: int = field(default=0, metadata=dict(help="seed of initialisation, data order, prior samples and dropout"))
    mixed_precision: str | None = field(default=None, metadata=dict(
        help="no|bf16|fp16; default: what `accelerate launch --mixed_precision` set, else no", choices=MIXED_PRECISION))
    cpu: bool = field(default=False, metadata=dict(help="train on the CPU even if a GPU is visible"))
    compile: bool = field(default=False, metadata=dict(help="torch.compile Q, P and D (slow to start; see "
                                                            "Performance)"))
    cuda_graph: str = field(default="auto", metadata=dict(
        help="replay each training step from one CUDA graph (4-8x faster at batch 100 on an H200, same results): "
             "auto = wherever it applies (one GPU, precision no or bf16)", choices=CUDA_GRAPH))
    # outputs
    output_dir: str | None = field(default=None, metadata=dict(help="run directory (default: runs/<timestamp>)"))
    log_every: int = field(default=50, metadata=dict(help="steps between metrics.jsonl / W&B records"))
    eval_every: int = field(default=0, metadata=dict(
        help="steps between evaluations on the test split (test_error of the models with a class head, "
             "test_recon_bce) in metrics.jsonl and W&B; 0: none (the recipes of the models with a class head: "
             "1000)"))
    sample_every: int = field(default=500, metadata=dict(
        help="steps between preview images (samples/step_N.png: the latent lattice, or the style grid)"))
    checkpoint_every: int = field(default=1000, metadata=dict(help="steps between checkpoints"))
    keep_checkpoints: int = field(default=0, metadata=dict(help="keep only the newest K checkpoints (0: all)"))
    keep_best: str = field(default="", metadata=dict(
        help="with --eval-every: keep the weights of the evaluation with the lowest METRIC of the validation split "
             "(e.g. val_error; needs --validation-images) in checkpoints/best, never pruned: early stopping "
             "without the test set. Evaluate it with aae-evaluate --checkpoint RUN/checkpoints/best",
        metavar="METRIC"))
    resume: bool = field(default=False, metadata=dict(help="continue from the newest checkpoint in --output-dir"))
    overwrite: bool = field(default=False, metadata=dict(
        help="start afresh in an --output-dir that holds a run, deleting its checkpoints, metrics, samples and W&B "
             "run id"))
    ddp_timeout: int = field(default=600, metadata=dict(
        help="seconds a process waits for the others in a collective before the job fails"))
    # W&B
    wandb: bool = field(default=False, metadata=dict(help="log to Weights & Biases (offline with WANDB_MODE=offline)"))
    wandb_project: str = field(default="aae-dist", metadata=dict(help="W&B project"))
    wandb_entity: str | None = field(default=None, metadata=dict(help="W&B entity (user or team)"))
    run_name: str | None = field(default=None, metadata=dict(help="W&B run name (default: the output dir's name)"))

    def __post_init__(self):
        # config.json keeps where the data is, whatever directory a later aae-evaluate, aae-plot or --resume runs in
        self.data_root = os.path.abspath(os.path.expanduser(self.data_root))
        self.validate()

    def validate(self):
        for name in ("steps", "batch_size", "z_dim", "hidden", "disc_hidden", "discriminator_steps", "conv_width",
                     "log_every", "sample_every", "checkpoint_every", "ddp_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{flag(name)} must be a positive integer, got {value!r}")
        for name in ("stop_at", "keep_checkpoints", "workers", "eval_every", "validation_images"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{flag(name)} must be a non-negative integer, got {value!r}")
        if self.stop_at > self.steps:
            raise ConfigError(f"--stop-at {self.stop_at} is past the end of the schedule (--steps {self.steps}); "
                              f"pass --stop-at {self.steps} or less")
        if self.image_size is not None and not (isinstance(self.image_size, int) and self.image_size > 0):
            raise ConfigError(f"--image-size must be a positive integer, got {self.image_size!r}")
        for name in ("code_noise", "input_noise", "init_std", "marginal_entropy", "vat",
                     "affine_consistency"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{flag(name)} must be >= 0, got {getattr(self, name)!r}")
        if not (isinstance(self.clusters, int) and self.clusters >= 2):
            raise ConfigError(f"--clusters must be an integer >= 2, got {self.clusters!r}")
        parse_num_labels(self.num_labels)  # one line if it is neither a positive integer nor all
        for name in ("momentum_recon", "momentum_reg", "momentum_cls", "dropout", "disc_dropout", "input_dropout",
                     "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be in [0, 1), got {getattr(self, name)!r}")
        milestones = parse_milestones(self.lr_milestones)  # one line if they are not positive integers
        if self.lr_schedule == "step" and not milestones:
            raise ConfigError("--lr-schedule step needs --lr-milestones, e.g. --lr-milestones 30000,60000")
        for name in ("lr_recon", "lr_reg", "lr_cls", "prior_std", "lr_gamma", "vat_eps", "affine_std",
                     "head_distance", "mixture_components", "mixture_radius", "mixture_radial_std",
                     "mixture_tangential_std", "swiss_roll_radius", "swiss_roll_turns"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{flag(name)} must be > 0, got {getattr(self, name)!r}")
        for f in dataclasses.fields(self):  # a hand-edited config.json can bypass the parser's choices
            value, choices = getattr(self, f.name), f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                raise ConfigError(f"unknown {flag(f.name)} {value!r}; choose one of {', '.join(choices)}")
        if self.prior in TWO_D_PRIORS and self.z_dim != 2:
            raise ConfigError(f"--prior {self.prior} is 2-D: use --z-dim 2 (got {self.z_dim})")
        if self.keep_best:
            if not self.keep_best.startswith("val_"):
                raise ConfigError(f"--keep-best {self.keep_best}: choose by a metric of the validation split "
                                  f"(val_error, val_recon_bce), never of the test set")
            if not (self.eval_every and self.validation_images):
                raise ConfigError(f"--keep-best {self.keep_best} needs --eval-every N and --validation-images N "
                                  f"(MNIST: 5000), the evaluations it chooses among; --keep-best '' keeps none")
        if self.resume and self.output_dir is None:
            raise ConfigError("--resume needs --output-dir naming the run to continue")
        if self.resume and self.overwrite:
            raise ConfigError("--resume continues the run in --output-dir, --overwrite deletes it: pass one of them")
        if self.resume and self.config:
            raise ConfigError("--config starts a new run from another's settings; --resume continues the run in "
                              "--output-dir with its own: pass one of them")
        for name in {name for objective in OBJECTIVES.values() for name in objective.own_flags}:
            # a variant's own flags mean nothing to the others
            owners = [model for model, objective in OBJECTIVES.items() if name in objective.own_flags]
            if self.model not in owners and getattr(self, name) != TrainConfig.__dataclass_fields__[name].default:
                raise ConfigError(f"{flag(name)} applies to --model {', '.join(owners)} only (this run is "
                                  f"--model {self.model})")
        if self.mean_teacher and not (self.ema_decay and (self.affine_consistency or self.vat)):
            raise ConfigError("--mean-teacher sets the target of the consistency terms from the moving average: give "
                              "--ema-decay (e.g. 0.999) and --affine-consistency or --vat")

    def model_config(self, image_shape, num_classes):
        """The networks and prior this configuration trains on images of `image_shape` in `num_classes` classes:
        every ModelConfig field of the same name, the data's shape and classes, and the prior's description."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelConfig)
                  if f.name not in ("image_shape", "num_classes", "prior")}
        return ModelConfig(**shared, image_shape=tuple(image_shape), num_classes=num_classes,
                           prior=self.prior_config())

    def prior_config(self):
        """The prior's description for models.ModelConfig (and model_config.json)."""
        if self.prior == "mixture":
            return dict(name="mixture", components=self.mixture_components, radius=self.mixture_radius,
                        radial_std=self.mixture_radial_std, tangential_std=self.mixture_tangential_std)
        if self.prior == "swiss-roll":
            return dict(name="swiss-roll", radius=self.swiss_roll_radius, turns=self.swiss_roll_turns)
        return dict(name="gaussian", std=self.prior_std)


# What a checkpoint's weights and data order depend on: a resumed run may not change these.
RESUME_FIXED = ("model", "optimizer", "ema_decay", "dataset", "validation_images", "image_size", "arch", "conv_width",
                "seed", "num_labels", "clusters", "encoder", "label_to_discriminator", "z_dim", "hidden", "disc_hidden",
                "prior", "prior_std", "mixture_components", "mixture_radius", "mixture_radial_std",
                "mixture_tangential_std", "swiss_roll_radius", "swiss_roll_turns")


# Every field that a variant's recipe or a preset sets.
RECIPE_FIELDS = {name for recipe in [*PRESETS.values(), *(o.recipe for o in OBJECTIVES.values())] for name in recipe}


def flag(name):
    return "--" + name.replace("_", "-")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (not the usage block) and exits with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# --help's sections, each from its first field on (in TrainConfig's order)
HELP_SECTIONS = {"model": "what to train", "data_root": "data", "steps": "schedule", "arch": "networks and prior",
                 "label_to_discriminator": "the variants' own terms", "input_noise": "noise and regularization",
                 "recon_loss": "optimisation", "seed": "seed, precision and devices",
                 "output_dir": "outputs, checkpoints and logging"}


def train_parser(prog=None):
    """The command line of aae-train; `prog` (default: the name it was started by) heads its usage."""
    parser = OneLineParser(prog=prog, description="Train an Adversarial Autoencoder (Makhzani et al. 2015: "
                           "--model vanilla, supervised, semi-supervised, clustering or dim-reduction) with "
                           "Accelerate: `aae-train [flags]`, or on several GPUs `accelerate launch -m aae_dist.train "
                           "[flags]`.",
                           argument_default=argparse.SUPPRESS)
    group = parser
    for f in dataclasses.fields(TrainConfig):
        if f.name in HELP_SECTIONS:
            group = parser.add_argument_group(HELP_SECTIONS[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f.metadata["help"]
        if f.type is bool:  # a flag that a recipe turns on can also be turned off (--no-label-to-discriminator)
            action = argparse.BooleanOptionalAction if f.name in RECIPE_FIELDS else "store_true"
            group.add_argument(flag(f.name), action=action, help=help_text)
            continue
        if default not in (None, ""):
            help_text += f" (default: {default})"
        kind = f.metadata.get("type") or {int: int, float: float}.get(type(default), str)
        choices = f.metadata.get("choices")
        group.add_argument(flag(f.name), type=kind, help=help_text, choices=choices,
                            metavar=None if choices else f.metadata.get("metavar", f.name.upper()))
    return parser


def parse_train_args(argv=None):
    """The flags given on the command line, as a dict of TrainConfig field names (defaults left out).

    Leaving the defaults out lets `--resume` take the rest from the run's saved config.json.
    """
    return vars(train_parser().parse_args(argv))


def saved_settings(saved, leave_out):
    """The TrainConfig values of a saved configuration, but for the names in `leave_out`."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - set(leave_out)
    return {name: value for name, value in saved.items() if name in names}


def settings_of(path):
    """--config FILE: the TrainConfig values of a run's config.json or of an aae-evaluate JSON (its train_config),
    but for where that run lived (--output-dir, --data-root, --no-download) and what its command did with its
    directory."""
    saved = read_json(path, "--config names a run's config.json or an aae-evaluate --json file")
    if isinstance(saved, dict) and "reference_split" in saved and "train_config" not in saved:
        raise ConfigError(f"--config {path}: this evaluation predates the train_config it would hold, so its run's "
                          "settings are unknown; name that run's config.json, or an evaluation with a train_config")
    saved = saved.get("train_config", saved) if isinstance(saved, dict) else None
    if not isinstance(saved, dict) or "steps" not in saved:  # every config.json has steps (version 0.1 no model)
        raise ConfigError(f"--config {path}: holds no training settings; name a run's config.json or an "
                          "aae-evaluate --json file (its train_config)")
    # where the data is and whether it may be downloaded are this machine's, not the run's
    return saved_settings(saved, {"output_dir", "data_root", "no_download", "resume", "overwrite", "config"})


def per_process_batch(global_batch):
    """The --batch-size that keeps a resumed run's global batch under this launch's number of processes (WORLD_SIZE,
    as accelerate launch and torchrun set it), so that it continues as the uninterrupted run would have."""
    processes = int(os.environ.get("WORLD_SIZE", 1))
    if global_batch % processes:
        raise ConfigError(f"--resume: the run's global batch of {global_batch} does not split over {processes} "
                          "processes; resume it with a number of processes that divides it, or pass --batch-size N "
                          "(per process) to go on with another global batch")
    return global_batch // processes


def load_train_config(flags):
    """TrainConfig from the given flags; with --resume, flags not given come from the run's saved config.json, and
    with --config FILE from that file."""
    if flags.get("config") and not flags.get("resume"):
        flags = {**settings_of(flags["config"]), **flags}
    if flags.get("resume") and flags.get("output_dir"):
        path = os.path.join(flags["output_dir"], CONFIG_NAME)
        if os.path.isfile(path):
            saved = read_json(path, "repair it, or start a new --output-dir")
            # what the run was trained with; not what its last command did with the directory (--overwrite), nor
            # where that command ended once the run is there (--stop-at): a command cut short before its --stop-at
            # (a signal, a job's time limit) resumes to it, e.g. --preset semi-all's step 24,000
            reached = saved.get("stop_at", 0) <= newest_step(flags["output_dir"])
            kept = saved_settings(saved, {"overwrite", "stop_at"} if reached else {"overwrite"})
            if "batch_size" not in flags and "global_batch_size" in saved:  # resumed by another number of processes
                kept["batch_size"] = per_process_batch(saved["global_batch_size"])
            flags = {**kept, **flags}
    if not flags.get("resume"):  # a resumed run's config.json already holds its model's and preset's values
        name = flags.get("preset", "seed")
        preset = PRESETS.get(name, {})  # TrainConfig rejects unknown names
        model = flags.get("model", preset.get("model", "vanilla"))
        if model != preset.get("model", model):
            raise ConfigError(f"--preset {name} is the {preset['model']} AAE's recipe, not --model {model}: drop "
                              "--model, or choose another --preset")
        recipe = getattr(OBJECTIVES.get(model), "recipe", {})
        flags = {**recipe, **preset, **flags}
    try:
        return TrainConfig(**flags)
    except TypeError as error:  # e.g. a value of the wrong type in a hand-edited config.json
        raise ConfigError(f"bad configuration: {error}") from error
