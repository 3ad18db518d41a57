"""Models on the Hugging Face Hub: `resolve` turns a Hub repo id (org/name) into a local folder, `push_to_hub`
shares a run directory (or one of its checkpoints) as a model repo. Everything goes through huggingface_hub (its
cache, HF_HUB_OFFLINE, its login), so this module speaks no HTTP of its own.

    aae = AAE.from_pretrained("org/name")           # resolve() underneath
    push_to_hub(aae, "runs/a", config, "org/name", dry_run="card/")   # what aae-push runs (config: its config.json)
"""

import os
import re
import shutil
import tempfile

import torch
from huggingface_hub import HfApi, ModelCard, ModelCardData, constants, snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

from .errors import AAEError, one_line
from .files import CONFIG_NAME, read_json, write_json
from .sampling import save_grid  # and nothing of models.py, which loads through resolve()

EVALUATION_NAME = "evaluation.json"  # where aae-evaluate --json writes it, by convention, to be pushed
SAMPLES_NAME = "samples.png"
CARD_NAME = "README.md"
# What loading reads (the weights, model_config.json, and config.json for aae-evaluate): the card and the sample
# grid are not downloaded.
LOADED_FILES = ["*.safetensors", "*.json"]
_SAMPLE_GRID = re.compile(r"step_(\d+)\.png")

# The evaluation's headline figures (evaluation.json keys) that the card reports, where present.
HEADLINES = {"parzen_ll": "Parzen-window log-likelihood (nats)", "test_error": "test error",
             "tstr_accuracy": "TSTR accuracy (classifier trained on samples, tested on real data)",
             "label_consistency": "label consistency of the samples",
             "frechet_distance": "Frechet distance (classifier features)", "precision": "precision",
             "recall": "recall", "recon_nats_per_image": "reconstruction (nats per image)"}
# The training settings of the card's recipe (config.json keys), besides each variant's learning rates and flags.
RECIPE = ("preset", "steps", "stop_at", "batch_size", "global_batch_size", "arch", "z_dim", "hidden", "disc_hidden",
          "prior", "optimizer", "lr_schedule", "ema_decay", "world_size", "resolved_mixed_precision", "seed")


def resolve(path_or_repo_id):
    """A local directory as it is; otherwise the local folder of the Hub model repo it names (org/name), downloaded
    into the Hub cache, or found there when offline (HF_HUB_OFFLINE=1)."""
    if os.path.isdir(path_or_repo_id):
        return path_or_repo_id
    repo_id = str(path_or_repo_id)
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise AAEError(f"{repo_id} is neither a directory nor a Hub repo id (org/name); point to a run directory "
                       "or name a model repo") from None
    parent = os.path.dirname(repo_id)  # runs/lecturee is most likely a mistyped run directory under runs/
    where = (f"{repo_id}: no such directory in {parent}/" if os.path.isdir(parent)
             else f"{repo_id} is not a local directory")
    try:
        return snapshot_download(repo_id, allow_patterns=LOADED_FILES, library_name="aae-dist")
    except RepositoryNotFoundError:  # also a private or gated repo without a token that can read it
        raise AAEError(f"{where}, and the Hub has no model repo {repo_id} you can read "
                       "(check the name; for a private one log in: hf auth login)") from None
    except LocalEntryNotFoundError as error:
        if constants.is_offline_mode():
            raise AAEError(f"{where}, nor in the Hub cache ({constants.HF_HUB_CACHE}), "
                           f"and HF_HUB_OFFLINE is set: set HF_HUB_OFFLINE=0, or download it first "
                           f"(hf download {repo_id})") from None
        raise AAEError(f"{where}, and the Hub cannot be reached for it "
                       f"({one_line(error.__cause__ or error, 160)}); check the connection") from None
    except Exception as error:  # what the HTTP client raises varies: still one line, never a traceback
        raise AAEError(f"{repo_id}: the Hub download failed ({one_line(error, 200)})") from None


def push_to_hub(aae, run_dir, config, repo_id, private=False, dry_run=None):
    """Upload the finished run (or checkpoint) `run_dir`, whose model `aae` is and whose training settings `config`
    are, as a Hub model repo: its weights (safetensors only: nothing pickled), model_config.json, the training
    config.json, evaluation.json where the folder has one, a sample grid and a model card README.md. With
    dry_run=DIR, write exactly that folder to DIR (new or empty) and upload nothing. Returns DIR, or the repo's URL."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise AAEError(f"'{repo_id}' is not a Hub repo id ({one_line(error)}); name it org/name") from None
    if dry_run is not None:
        if os.path.isdir(dry_run) and os.listdir(dry_run):
            raise AAEError(f"{dry_run} is not empty: name a new or empty folder for the dry run")
        write_folder(aae, run_dir, config, repo_id, dry_run)
        return dry_run
    with tempfile.TemporaryDirectory() as folder:
        write_folder(aae, run_dir, config, repo_id, folder)
        api = HfApi(library_name="aae-dist")
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder,
                              commit_message=f"aae-push {os.path.basename(os.path.normpath(run_dir))}")
        except Exception as error:  # no login, no write access, no network: huggingface_hub's words, one line
            raise AAEError(f"uploading to {repo_id} failed ({one_line(error, 200)}); check the connection and "
                           "that you are logged in with write access (hf auth login, or set HF_TOKEN)") from None
    return str(url)


def write_folder(aae, run_dir, config, repo_id, folder):
    """The repo's files, into folder."""
    evaluation_path = os.path.join(run_dir, EVALUATION_NAME)
    evaluation = read_json(evaluation_path, "repair or remove it") if os.path.isfile(evaluation_path) else None
    aae.save_pretrained(folder)  # model.safetensors and model_config.json
    write_json(os.path.join(folder, CONFIG_NAME), without_local_paths(config, repo_id))
    if evaluation is not None:  # it holds the run's settings too (train_config, and some under run)
        settings = {key: without_local_paths(evaluation[key], repo_id) for key in ("run", "train_config")
                    if key in evaluation}
        write_json(os.path.join(folder, EVALUATION_NAME), {**evaluation, **settings})
    grid = newest_sample_grid(run_dir)
    if grid:
        shutil.copyfile(grid, os.path.join(folder, SAMPLES_NAME))
    else:  # a run directory copied without its samples/: draw a grid
        images, _ = aae.sample(64, torch.Generator().manual_seed(0))
        save_grid(images, os.path.join(folder, SAMPLES_NAME), nrow=8)
    model_card(aae, config, evaluation, repo_id).save(os.path.join(folder, CARD_NAME))


def without_local_paths(settings, repo_id):
    """The training settings as published: those that are paths on this machine (a home folder names its user, and
    they mean nothing where the model is downloaded) become the default data root and the repo's name."""
    local = {"data_root": "./data", "output_dir": repo_id, "config": ""}
    return {**settings, **{key: value for key, value in local.items() if settings.get(key)}}


def newest_sample_grid(run_dir):
    """The run's samples/step_N.png of the largest N, or None."""
    folder = os.path.join(run_dir, "samples")
    steps = {int(m.group(1)): name for name in (os.listdir(folder) if os.path.isdir(folder) else ())
             if (m := _SAMPLE_GRID.fullmatch(name))}
    return os.path.join(folder, steps[max(steps)]) if steps else None


def model_card(aae, config, evaluation, repo_id):
    """The card of a model trained with config (config.json) and evaluated as evaluation says (None: not): front
    matter for the Hub (library, tags), then the model, how to use it, its recipe and its evaluation."""
    variant, dataset, shape = aae.config.model, config.get("dataset", "unknown"), aae.config.image_shape
    data = ModelCardData(library_name="aae-dist", pipeline_tag="unconditional-image-generation",
                         tags=["aae", "adversarial-autoencoder", variant, dataset, "pytorch", "safetensors"])
    # each variant's own learning rates and flags, besides the settings every run has
    keys = [*RECIPE, *sorted({field for _, field in aae.optimizers().values()}), *aae.own_flags]
    recipe = "\n".join(f"| {key} | {config[key]} |" for key in dict.fromkeys(keys) if key in config)
    label = min(7, aae.classes - 1) if aae.conditional else None  # one of this model's classes
    labels = (f"\nThe decoder is class-conditional: `aae.sample(16, labels={label})` draws one class, "
              f"`aae-generate ... --label {label}` too.\n" if aae.conditional else "")
    body = f"""
# {repo_id}

An adversarial autoencoder (Makhzani et al. 2015, [arXiv:1511.05644](https://arxiv.org/abs/1511.05644)),
variant `{variant}` (`aae-train --model {variant}`), trained with aae-dist on **{dataset}**: images of shape
{" x ".join(map(str, shape))} (channels x height x width), a code z of {aae.config.z_dim} dimensions \
with a {aae.config.prior["name"]} prior. The weights are safetensors; nothing here is pickled.

![samples decoded from the prior]({SAMPLES_NAME})

## Use

```python
from aae_dist import AAE
aae = AAE.from_pretrained("{repo_id}")
images, z = aae.sample(16)  # (16, {", ".join(map(str, shape))}) in [0, 1], and their codes
```

```bash
aae-generate --checkpoint {repo_id} --num-samples 64 --out grid.png
```
{labels}
## Recipe

From the training's {CONFIG_NAME}:

| setting | value |
| --- | --- |
{recipe}
{evaluation_section(evaluation)}"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def evaluation_section(evaluation):
    """The card's table of the evaluation's headline figures ("" without an evaluation.json)."""
    if evaluation is None:
        return ""
    rows = []
    for key, name in HEADLINES.items():
        if isinstance(evaluation.get(key), (int, float)):
            value = f"{evaluation[key]:.4g}"
            if key == "parzen_ll" and "parzen_ll_stderr" in evaluation:
                value += f" +- {evaluation['parzen_ll_stderr']:.1f}"
            elif key == "test_error":
                value = f"{100 * evaluation[key]:.2f}%"
            rows.append(f"| {name} | {value} |")
    steps = evaluation.get("run", {}).get("trained_steps")
    of = f" of the weights after {steps} steps" if steps else ""
    return (f"\n## Evaluation\n\nBy `aae-evaluate`{of}; every number is in {EVALUATION_NAME}.\n\n"
            "| metric | value |\n| --- | --- |\n" + "\n".join(rows) + "\n")
