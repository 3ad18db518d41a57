"""The Hugging Face Hub without a network: aae-push's folder and model card (--dry-run), the upload's calls with
HfApi replaced, and models loaded by repo id from a Hub cache built here, offline (HF_HUB_OFFLINE=1)."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants
from PIL import Image
from safetensors.torch import load_file

from aae_dist import AAE, AAEError, Trainer, hub
from aae_dist.cli import evaluate, read_run

from conftest import needs_mnist, reset_accelerate_state, tiny_config

PUSHED = ["README.md", "config.json", "model.safetensors", "model_config.json", "samples.png"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny finished run (10 steps, a sample grid, a checkpoint with its pickled RNG states) for the file."""
    run = tmp_path_factory.mktemp("hub") / "run"
    Trainer(tiny_config(output_dir=str(run))).fit()
    reset_accelerate_state()
    return run


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hub cache, offline. huggingface_hub reads both variables once, when imported: its constants are
    what it uses, so they change too (the environment for anything that reads it again)."""
    cache = tmp_path / "hub_cache"
    for name, value, text in (("HF_HUB_OFFLINE", True, "1"), ("HF_HUB_CACHE", str(cache), str(cache))):
        monkeypatch.setattr(constants, name, value)
        monkeypatch.setenv(name, text)
    return cache


def files(folder):
    return {name: (Path(folder) / name).read_bytes() for name in os.listdir(folder)}


@needs_mnist
def test_dry_run_writes_exactly_the_repo_and_a_card_whose_snippet_works(run, tmp_path, script, cli):
    out = tmp_path / "card"
    script("launch/push.py", run, "org/name", "--dry-run", out)
    assert sorted(os.listdir(out)) == PUSHED  # no checkpoints, no pickle: only what loading and the card need
    for name in ("model.safetensors", "model_config.json"):
        assert (out / name).read_bytes() == (run / name).read_bytes()
    # config.json: the run's settings without this machine's paths (a home folder names its user)
    pushed, trained = (json.loads((folder / "config.json").read_text()) for folder in (out, run))
    assert pushed == {**trained, "data_root": "./data", "output_dir": "org/name"}
    assert str(run) not in (out / "config.json").read_text()
    assert (out / "samples.png").read_bytes() == (run / "samples" / "step_000010.png").read_bytes()
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "aae-dist" and {"aae", "vanilla", "mnist", "pytorch"} <= set(card.data.tags)
    assert "1 x 28 x 28" in card.text and "| hidden | 64 |" in card.text
    assert "| steps | 10 |" in card.text and "| stop_at | 0 |" in card.text  # 0: it trained to --steps
    assert "aae-generate --checkpoint org/name --num-samples 64 --out grid.png" in card.text
    # the card's three lines of Python, run against the local run
    (snippet,) = re.findall(r"```python\n(.*?)```", card.text, re.S)
    assert 'AAE.from_pretrained("org/name")' in snippet
    names = {}
    exec(snippet.replace("org/name", str(run)), names)
    assert names["images"].shape == (16, 1, 28, 28)
    status, _, err = cli("push.py", run, "org/name", "--dry-run", out)  # never into a used folder
    assert status == 2 and "not empty" in err


@needs_mnist
def test_card_reports_the_evaluation_and_a_run_without_samples_gets_a_drawn_grid(run, tmp_path):
    bare = tmp_path / "run"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("samples", "checkpoints"))
    evaluation = {"parzen_ll": 123.456, "parzen_ll_stderr": 1.5, "frechet_distance": 42.25, "test_error": 0.0312,
                  "num_samples": 500, "run": {"trained_steps": 10, "output_dir": str(bare)},
                  "train_config": {"data_root": str(tmp_path / "data"), "output_dir": str(bare), "seed": 0}}
    (bare / "evaluation.json").write_text(json.dumps(evaluation))
    hub.push_to_hub(AAE.from_pretrained(str(bare)), str(bare), read_run(str(bare))[0], "org/name", dry_run=str(tmp_path / "card"))
    assert sorted(os.listdir(tmp_path / "card")) == sorted([*PUSHED, "evaluation.json"])
    # the figures, without this machine's paths
    pushed = json.loads((tmp_path / "card" / "evaluation.json").read_text())
    assert pushed["train_config"] == {"data_root": "./data", "output_dir": "org/name", "seed": 0}
    assert pushed["run"] == {"trained_steps": 10, "output_dir": "org/name"} and pushed["parzen_ll"] == 123.456
    text = (tmp_path / "card" / "README.md").read_text()
    assert "| Parzen-window log-likelihood (nats) | 123.5 +- 1.5 |" in text and "| 42.25 |" in text
    assert "| test error | 3.12% |" in text and "after 10 steps" in text
    assert Image.open(tmp_path / "card" / "samples.png").size == (242, 242)  # 8 x 8 images of 28 + 2 px padding


@needs_mnist
def test_a_model_in_the_hub_cache_loads_by_repo_id_offline(run, offline_cache, tmp_path, script):
    repo = offline_cache / "models--org--name"  # the layout a download leaves
    hub.push_to_hub(AAE.from_pretrained(str(run)), str(run), read_run(str(run))[0], "org/name", dry_run=str(repo / "snapshots" / COMMIT))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    draw = lambda aae: aae.sample(8, torch.Generator().manual_seed(0))[0]
    assert torch.equal(draw(AAE.from_pretrained("org/name")), draw(AAE.from_pretrained(str(run))))
    script("launch/generate.py", "--checkpoint", "org/name", "--num-samples", "4", "--out", tmp_path / "grid.png",
           "--device", "cpu")
    assert Image.open(tmp_path / "grid.png").size == (62, 62)  # 2 x 2 images
    # aae-evaluate's --checkpoint is the snapshot folder from the start: its config.json is the run's
    args = evaluate.build_parser().parse_args(["--checkpoint", "org/name"])
    assert os.path.samefile(args.checkpoint, repo / "snapshots" / COMMIT)
    assert read_run(args.checkpoint)[0]["steps"] == 10


@pytest.mark.parametrize("program, checkpoint, message", [
    ("generate.py", "org/missing", "HF_HUB_OFFLINE is set: set HF_HUB_OFFLINE=0, or download it first"),
    ("evaluate.py", "org/missing", "HF_HUB_OFFLINE is set: set HF_HUB_OFFLINE=0, or download it first"),
    ("generate.py", "no/such/dir", "neither a directory nor a Hub repo id"),
])
def test_a_model_neither_here_nor_in_the_cache_is_one_line(offline_cache, tmp_path, cli, program, checkpoint,
                                                          message):
    status, _, err = cli(program, "--checkpoint", checkpoint, "--out", tmp_path / "x.png")
    (line,) = err.strip().splitlines()
    assert status == 2 and message in line and checkpoint in line
    with pytest.raises(AAEError, match=re.escape(message)):
        AAE.from_pretrained(checkpoint)


def test_the_card_of_a_two_class_model_names_one_of_its_classes():
    from aae_dist.models import ModelConfig

    aae = AAE(ModelConfig(model="supervised", num_classes=2, hidden=8, disc_hidden=8))
    text = str(hub.model_card(aae, {"dataset": "imagefolder"}, None, "org/name"))
    assert "aae.sample(16, labels=1)" in text and "--label 1`" in text
    assert aae.sample(4, labels=1)[0].shape == (4, 1, 28, 28)


def test_a_mistyped_run_directory_is_named_as_one(offline_cache, tmp_path, cli, monkeypatch):
    """runs/lecturee reads as a Hub repo id too; where runs/ is here, the message says first that it is not in it."""
    (tmp_path / "runs" / "lecture").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    status, _, err = cli("generate.py", "--checkpoint", "runs/lecturee", "--out", tmp_path / "x.png")
    (line,) = err.strip().splitlines()
    assert status == 2 and "runs/lecturee: no such directory in runs/, nor in the Hub cache" in line, err


@needs_mnist
@pytest.mark.parametrize("flags, private", [([], False), (["--private"], True)])
def test_push_uploads_the_dry_run_folder(run, tmp_path, script, monkeypatch, flags, private):
    calls = {}

    class FakeApi:  # HfApi's two calls, recorded: nothing reaches the network
        def __init__(self, **kwargs):
            pass

        def create_repo(self, repo_id, **kwargs):
            calls["create_repo"] = {"repo_id": repo_id, **kwargs}
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, **kwargs):
            calls["upload_folder"] = kwargs
            calls["files"] = files(kwargs["folder_path"])  # read now: the folder is temporary

    monkeypatch.setattr(hub, "HfApi", FakeApi)
    result = script("launch/push.py", run, "org/name", *flags)
    assert calls["create_repo"] == {"repo_id": "org/name", "private": private, "exist_ok": True}
    assert calls["upload_folder"]["repo_id"] == "org/name" and "https://huggingface.co/org/name" in result.stdout
    hub.push_to_hub(AAE.from_pretrained(str(run)), str(run), read_run(str(run))[0], "org/name", dry_run=str(tmp_path / "dry"))
    assert calls["files"] == files(tmp_path / "dry")


@needs_mnist
def test_push_of_a_checkpoint_uploads_its_weights_and_the_runs_settings(tmp_path, script):
    """RUN/checkpoints/best (what --keep-best chose) or step_N: its moving average, the run's training settings."""
    run = tmp_path / "run"
    Trainer(tiny_config(output_dir=str(run), steps=10, checkpoint_every=5, ema_decay=0.9)).fit()
    reset_accelerate_state()
    checkpoint = run / "checkpoints" / "step_000005"
    script("launch/push.py", checkpoint, "org/name", "--dry-run", tmp_path / "card")
    assert sorted(os.listdir(tmp_path / "card")) == PUSHED
    pushed, average = (load_file(path) for path in (tmp_path / "card" / "model.safetensors",
                                                    checkpoint / "ema_decoder.safetensors"))
    assert torch.equal(pushed["decoder.0.weight"], average["0.weight"])  # the step-5 average, not the last step's
    assert not torch.equal(pushed["decoder.0.weight"], load_file(run / "model.safetensors")["decoder.0.weight"])
    config = json.loads((tmp_path / "card" / "config.json").read_text())
    assert config["steps"] == 10 and config["ema_decay"] == 0.9 and config["hidden"] == 64


@needs_mnist
def test_push_refuses_an_unfinished_run(run, tmp_path, cli):
    unfinished = tmp_path / "run"
    shutil.copytree(run, unfinished, ignore=shutil.ignore_patterns("model.safetensors"))
    status, _, err = cli("push.py", unfinished, "org/name", "--dry-run", tmp_path / "card")
    (line,) = err.strip().splitlines()
    assert status == 2 and "has no model.safetensors" in line and not (tmp_path / "card").exists()


def test_push_names_a_bad_repo_id_and_the_whole_reason(run, tmp_path, cli):
    status, _, err = cli("push.py", run, "not a repo id", "--dry-run", tmp_path / "card")
    (line,) = err.strip().splitlines()
    assert status == 2 and "'not a repo id' is not a Hub repo id (Repo id must" in line, line
    assert re.search(r"maximum length is \d+.*\); name it org/name$", line), line  # the reason is not cut short
