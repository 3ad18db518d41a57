"""launch/train.py as users run it: accelerate launch / python, real MNIST, outputs, resume, W&B, bad flags."""

import glob
import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from aae_dist.errors import ConfigError

from conftest import ACCELERATE, DATA_ROOT, TINY, needs_mnist, run_script, tiny_config

METRIC_KEYS = {"step", "epoch", "recon_loss", "d_loss", "g_loss", "d_real", "d_fake", "samples_per_s"}


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@needs_mnist
def test_seed_recipe_learns_on_real_mnist(tmp_path):
    """The lecture's networks and optimizers for 150 steps through `accelerate launch`: every output is written
    and the reconstruction loss falls by at least a third (the golden run's: 0.42 at step 50, 0.25 at 150)."""
    run = tmp_path / "run"
    result = run_script("launch/train.py", "--steps", "150", "--data-root", DATA_ROOT, "--no-download",
                        "--output-dir", run, "--log-every", "10", "--sample-every", "50",
                        "--checkpoint-every", "75", launcher=(*ACCELERATE, "--num_processes", "1"),
                        env={"ACCELERATE_USE_CPU": "1"})
    assert "global batch 100" in result.stdout

    config = json.loads((run / "config.json").read_text())
    assert config["steps"] == 150 and config["hidden"] == 1000 and config["z_dim"] == 2
    assert config["world_size"] == 1 and config["global_batch_size"] == 100
    assert config["cuda_graph"] == "auto" and config["resolved_cuda_graph"] is False  # no GPU: eager steps

    log = records(run)
    assert [r["step"] for r in log] == list(range(10, 151, 10))
    assert all(METRIC_KEYS <= r.keys() for r in log)
    assert all(0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1 and r["samples_per_s"] > 0 for r in log)
    assert log[-1]["recon_loss"] <= log[0]["recon_loss"] * 2 / 3, (log[0], log[-1])

    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_{s:06d}.png" for s in (50, 100, 150)]
    assert Image.open(run / "samples" / "step_000150.png").size == (302, 302)  # 10 x 10 tiles of 28 + padding
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000075", "step_000150"]
    assert {p.name for p in (run / "checkpoints" / "step_000150").iterdir()} == {  # named after the model's names
        "encoder.safetensors", "decoder.safetensors", "discriminator.safetensors", "optim_P.bin", "optim_Q_enc.bin",
        "optim_Q_gen.bin", "optim_D.bin", "random_states_0.pkl", "trainer_state.json"}

    from aae_dist import AAE
    aae = AAE.from_pretrained(str(run))
    weights = load_file(run / "model.safetensors")
    assert weights["decoder.0.weight"].shape == (1000, 2)
    images, z = aae.sample(16, torch.Generator().manual_seed(0))
    assert images.shape == (16, 1, 28, 28) and 0 <= images.min() and images.max() <= 1


@needs_mnist
@pytest.mark.parametrize("model, flags", [("vanilla", []), ("supervised", []),
                                         # without its recipe's --eval-every (whose record ends the first half)
                                         # and cosine schedule (whose horizon is --steps)
                                         # with --affine-labelled: a prior draw of its own
                                         ("dim-reduction", ["--eval-every", "0", "--lr-schedule", "constant",
                                                            "--batch-size", "100", "--affine-labelled"]),
                                         # its recipe's --affine-consistency and --marginal-entropy too, its
                                         # target from the moving average
                                         ("clustering", ["--eval-every", "0", "--lr-schedule", "constant",
                                                         "--ema-decay", "0.9", "--mean-teacher"])])
def test_resume_computes_what_the_uninterrupted_run_would(tmp_path, model, flags, script):
    common = [*TINY, "--model", model, *flags, "--log-every", "5", "--checkpoint-every", "10", "--sample-every", "20"]
    script("launch/train.py", *common, "--steps", "20", "--output-dir", tmp_path / "whole")
    script("launch/train.py", *common, "--steps", "10", "--output-dir", tmp_path / "split")
    with open(tmp_path / "split" / "metrics.jsonl", "a") as f:
        f.write('{"step": 11, "recon_lo')  # a record torn by a kill in mid-write
    # resume takes the run's config.json (hidden 64 ...) and only overrides what is given: here --steps
    result = script("launch/train.py", "--steps", "20", "--output-dir", tmp_path / "split", "--resume")
    assert "resumed at step 10" in result.stdout

    whole, split = (load_file(tmp_path / name / "model.safetensors") for name in ("whole", "split"))
    assert whole.keys() == split.keys()
    for key in whole:  # dropout on: equal only if RNG, data order, prior draws and optimizers all resumed
        assert torch.equal(whole[key], split[key]), key
    assert records(tmp_path / "whole") == [{**r, "samples_per_s": w["samples_per_s"]}
                                           for r, w in zip(records(tmp_path / "split"), records(tmp_path / "whole"))]


@needs_mnist
def test_config_starts_a_run_from_another_runs_settings(tmp_path, cli):
    """--config FILE: a run's config.json, or an evaluation JSON's train_config; the flags given win."""
    status, _, err = cli("train.py", *TINY, "--z-dim", "3", "--seed", "4", "--steps", "5", "--output-dir",
                         tmp_path / "a")
    assert status == 0, err
    first = json.loads((tmp_path / "a" / "config.json").read_text())
    (tmp_path / "evaluation.json").write_text(json.dumps({"test_error": 0.5, "train_config": first}))
    for source in (tmp_path / "a" / "config.json", tmp_path / "evaluation.json"):
        status, _, err = cli("train.py", "--config", source, "--seed", "5", "--output-dir", tmp_path / source.stem)
        assert status == 0, err
        again = json.loads((tmp_path / source.stem / "config.json").read_text())
        # --no-download is this machine's choice, like --data-root (here $AAE_DATA_ROOT, the same folder)
        assert {name for name in first if first[name] != again[name]} == {"config", "seed", "output_dir",
                                                                          "no_download"}
        assert again["seed"] == 5 and again["config"] == str(source) and not again["no_download"]


@needs_mnist
def test_resume_takes_new_learning_rates(tmp_path):
    """The optimizers' saved state holds their learning rates; --lr-recon/--lr-reg given on resume must win."""
    from accelerate.state import AcceleratorState

    from aae_dist import Trainer

    Trainer(tiny_config(output_dir=str(tmp_path), steps=5, checkpoint_every=5)).fit()
    AcceleratorState._reset_state(reset_partial_state=True)
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=10, resume=True, lr_recon=1e-5, lr_reg=2e-6))
    lrs = {name: {group["lr"] for group in optimizer.param_groups} for name, optimizer in trainer.optimizers.items()}
    assert trainer.step == 5 and lrs == dict(optim_P={1e-5}, optim_Q_enc={1e-5}, optim_Q_gen={2e-6}, optim_D={2e-6})


def test_resume_keeps_the_global_batch_under_another_number_of_processes(tmp_path, monkeypatch):
    """A run trained by 2 processes of batch 100 (global 200) resumes on 1 process at batch 200, the computation it
    continues (DDP equals one process on the global batch); a --batch-size given still wins."""
    from aae_dist import load_train_config

    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 100, "world_size": 2, "global_batch_size": 200}))
    resume = {"output_dir": str(tmp_path), "resume": True}
    assert load_train_config(resume).batch_size == 200
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert load_train_config(resume).batch_size == 50
    assert load_train_config({**resume, "batch_size": 30}).batch_size == 30
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match="global batch of 200 does not split over 3 processes"):
        load_train_config(resume)


@needs_mnist
def test_bf16_run(tmp_path, script):
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--steps", "60", "--log-every", "10", "--mixed-precision", "bf16",
           "--output-dir", run)
    assert json.loads((run / "config.json").read_text())["resolved_mixed_precision"] == "bf16"
    log = records(run)
    assert all(torch.isfinite(torch.tensor(r["recon_loss"])) for r in log)
    assert log[-1]["recon_loss"] < log[0]["recon_loss"]


@needs_mnist
def test_wandb_offline_logs_metrics_images_and_config(tmp_path):
    run = tmp_path / "run"
    run_script("launch/train.py", *TINY, "--steps", "20", "--log-every", "10", "--sample-every", "10",
               "--output-dir", run, "--wandb", "--wandb-project", "aae-test", env={"WANDB_MODE": "offline"})
    (offline_run,) = glob.glob(str(run / "wandb" / "offline-run-*"))
    (log_file,) = glob.glob(offline_run + "/run-*.wandb")
    data = open(log_file, "rb").read()
    for key in METRIC_KEYS - {"step"} | {"global_batch_size", "world_size", "aae-test"}:
        assert key.encode() in data, key
    assert len(glob.glob(offline_run + "/files/media/images/samples/lattice_*.png")) == 2
    assert len(records(run)) == 2  # metrics.jsonl is written as well


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--z-dim", "-1"], "--z-dim must be a positive integer, got -1"),
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--lr-reg", "0"], "--lr-reg must be > 0"),
    (["--steps", "ten"], "invalid int value: 'ten'"),
    (["--resume"], "--resume: no checkpoint in"),
    (["--mixed-precision", "fp16", "--cpu"], "fp16 needs a GPU"),
    (["--cuda-graph", "on", "--cpu"], "--cuda-graph on needs a GPU; use --cuda-graph auto (or off)"),
])
def test_bad_flags_give_one_clear_line(tmp_path, cli, flags, message):
    status, _, err = cli("train.py", "--data-root", DATA_ROOT, "--output-dir", tmp_path / "r", *flags)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and message in lines[0], err


def test_a_hand_edited_config_is_checked_like_the_flags(tmp_path, cli):
    """--resume takes its values from config.json, past the parser's choices: the config checks them itself."""
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"recon_loss": "l1", "data_root": DATA_ROOT}))
    status, _, err = cli("train.py", "--output-dir", run, "--resume")
    (line,) = err.strip().splitlines()
    assert status == 2 and "unknown --recon-loss 'l1'; choose one of bce, mse" in line


def test_a_bad_flag_as_a_process(tmp_path):
    """The same from a real process: one line on stderr, status 2, no traceback."""
    result = run_script("launch/train.py", "--batch-size", "0", "--output-dir", tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "train.py: error: --batch-size must be a positive integer, got 0"]


def test_resume_without_output_dir(cli):
    status, _, err = cli("train.py", "--resume")
    assert status == 2 and "--resume needs --output-dir" in err


def test_missing_data_offline_names_root_and_fix(tmp_path, cli):
    status, _, err = cli("train.py", "--data-root", tmp_path / "nowhere", "--no-download", "--output-dir",
                         tmp_path / "r")
    (line,) = err.strip().splitlines()
    assert status == 2 and str(tmp_path / "nowhere") in line and "--no-download" in line


def test_help_states_every_default(cli):
    status, out, _ = cli("train.py", "--help", env={"COLUMNS": "200"})
    assert status == 0
    for text in ["--steps", "(default: 5000)", "(default: 100)", "(default: 0.0001)", "(default: 5e-05)",
                 "--wandb-project", "--mixed-precision", "--resume", "runs/<timestamp>"]:
        assert text in out, text
