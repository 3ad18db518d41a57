"""Runs that survive: kills, signals, broken checkpoints, non-finite losses, W&B outages, dead ranks, bad input,
hostile checkpoints. Real processes and real signals on the CPU."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import aae_dist.objectives.vanilla
from aae_dist import AAEError, Trainer

from conftest import DATA_ROOT, DDP_CPU, REPO, TINY, needs_mnist, run_script, tiny_config

pytestmark = needs_mnist
FLAGS = [*TINY, "--log-every", "5", "--sample-every", "1000"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true"}


def start(*args, launcher=(sys.executable,), env=None):
    """A training run in the background, in its own process group (as a job scheduler starts it)."""
    return subprocess.Popen([*launcher, "launch/train.py", *map(str, args)], cwd=REPO, env={**ENV, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition, process, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f"the run exited ({process.returncode}): {process.communicate()[1][-2000:]}"
        assert time.time() < deadline, "timed out"
        time.sleep(0.002)


def checkpoint_steps(run):
    return sorted(int(p.name[5:]) for p in (run / "checkpoints").glob("step_*") if p.name[5:].isdigit())


def weights(run):
    return load_file(run / "model.safetensors")


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------ kills and signals
def test_sigkill_at_any_moment_loses_nothing(tmp_path, script):
    """SIGKILL at random moments, one of them inside a checkpoint write: --resume ends bitwise where an
    uninterrupted run ends."""
    flags = [*FLAGS, "--steps", "200", "--checkpoint-every", "5"]
    script("launch/train.py", *flags, "--output-dir", tmp_path / "whole")
    run = tmp_path / "killed"
    rng = random.Random(0)
    newest = lambda: max(checkpoint_steps(run), default=0)
    for kill in ("random", "during a checkpoint write", "random"):
        process = start(*flags, "--output-dir", run, *(["--resume"] if newest() else []))
        if kill == "random":  # a random moment a few checkpoints into this attempt
            target = newest() + rng.choice(range(5, 45, 5))
            wait_for(lambda: newest() >= target, process)
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            wait_for(lambda: any((run / "checkpoints").glob("*.tmp")), process)
        assert process.poll() is None, "the run ended before the kill"
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (run / "model.safetensors").exists(), "the run finished before the last kill: kill sooner"
    script("launch/train.py", *flags, "--output-dir", run, "--resume")
    assert_same_weights(weights(tmp_path / "whole"), weights(run))
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == list(
        range(5, 201, 5))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_checkpoint_and_exits(tmp_path, signum, script):
    run = tmp_path / "run"
    process = start(*FLAGS, "--steps", "100000", "--checkpoint-every", "100000", "--output-dir", run)
    wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text(), process)
    sent = time.time()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert time.time() - sent < 15, "took too long to stop"
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "checkpoint in" in stdout
    (step,) = checkpoint_steps(run)
    assert step > 0
    result = script("launch/train.py", "--output-dir", run, "--resume", "--steps", step + 5)
    assert f"resumed at step {step}" in result.stdout


def test_sigterm_under_ddp_checkpoints_and_resumes(tmp_path):
    run = tmp_path / "run"
    process = start(*FLAGS, "--steps", "100000", "--checkpoint-every", "100000", "--output-dir", run,
                    launcher=DDP_CPU, env={"ACCELERATE_USE_CPU": "1"})
    wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text(), process)
    os.killpg(process.pid, signal.SIGTERM)  # what Slurm does: every process of the job gets it
    stdout, stderr = process.communicate(timeout=90)
    assert "checkpoint in" in stdout, stderr[-3000:]
    (step,) = checkpoint_steps(run)
    assert {p.name for p in (run / "checkpoints" / f"step_{step:06d}").iterdir()} >= {
        "random_states_0.pkl", "random_states_1.pkl", "trainer_state.json"}
    result = run_script("launch/train.py", "--output-dir", run, "--resume", "--steps", step + 10,
                        launcher=DDP_CPU, env={"ACCELERATE_USE_CPU": "1"})
    assert f"resumed at step {step}" in result.stdout


def parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_a_dead_rank_ends_the_job(tmp_path):
    run = tmp_path / "run"
    process = start(*FLAGS, "--steps", "100000", "--checkpoint-every", "100000", "--output-dir", run,
                    "--ddp-timeout", "30", launcher=DDP_CPU, env={"ACCELERATE_USE_CPU": "1"})
    wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text(), process)
    workers = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
               if parent(pid) == process.pid and "launch/train.py" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert len(workers) == 2, workers
    killed = time.time()
    os.kill(max(workers), signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode != 0 and time.time() - killed < 60
    time.sleep(1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # no rank left hanging


# ------------------------------------------------------------------ checkpoints
def test_keep_checkpoints(tmp_path, script):
    script("launch/train.py", *FLAGS, "--steps", "30", "--checkpoint-every", "5", "--keep-checkpoints", "2",
               "--output-dir", tmp_path)
    assert checkpoint_steps(tmp_path) == [25, 30]
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_broken_and_foreign_checkpoints_are_named_and_skipped(tmp_path, script, cli):
    script("launch/train.py", *FLAGS, "--steps", "20", "--checkpoint-every", "10", "--output-dir", tmp_path)
    newest = tmp_path / "checkpoints" / "step_000020"
    optimizer = newest / "optim_Q_gen.bin"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])  # truncated
    foreign = tmp_path / "checkpoints" / "step_000030"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a checkpoint")
    result = script("launch/train.py", "--output-dir", tmp_path, "--resume", "--steps", "25")
    assert "skipping checkpoint" in result.stderr and "step_000030" in result.stderr
    assert "optim_Q_gen.bin cannot be loaded safely" in result.stderr
    assert "resumed at step 10" in result.stdout

    for path in (tmp_path / "checkpoints").glob("step_0000[12]*"):
        (path / "decoder.safetensors").write_bytes(b"garbage")
    status, _, err = cli("train.py", "--output-dir", tmp_path, "--resume")
    assert status == 2 and "no usable checkpoint" in err
    assert "decoder.safetensors cannot be loaded safely" in err.strip().splitlines()[-1]


def test_resume_refuses_another_model_or_dataset(tmp_path, script, cli):
    script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", tmp_path)
    for flags, message in [(["--z-dim", "3"], "was trained with --z-dim 2, not --z-dim 3"),
                           (["--dataset", "fashion-mnist"], "--dataset mnist, not --dataset fashion-mnist"),
                           (["--model", "supervised"], "was trained with --model vanilla, not --model supervised"),
                           (["--seed", "3"], "was trained with --seed 0, not --seed 3"),
                           # the training split (and so the data order and the labelled subset) depends on it
                           (["--validation-images", "5000"],
                            "was trained with --validation-images 0, not --validation-images 5000"),
                           (["--ema-decay", "0.99"], "was trained with --ema-decay 0.0, not --ema-decay 0.99")]:
        status, _, err = cli("train.py", "--output-dir", tmp_path, "--resume", "--steps", "20", *flags)
        assert status == 2 and message in err
    # a safe change: more steps, another learning rate
    script("launch/train.py", "--output-dir", tmp_path, "--resume", "--steps", "15", "--lr-reg", "1e-5")


# ------------------------------------------------------------------ non-finite losses
def nan_from_step(monkeypatch, name, first_bad_step):
    calls = {"n": 0}
    original = getattr(aae_dist.objectives.vanilla, name)

    def loss(*args):
        calls["n"] += 1
        value = original(*args)
        return value * float("nan") if calls["n"] >= first_bad_step else value
    monkeypatch.setattr(aae_dist.objectives.vanilla, name, loss)


@pytest.mark.parametrize("log_every", [5, 50])  # caught at a log step, or at a checkpoint between log steps
def test_nonfinite_loss_stops_the_run_before_a_checkpoint(tmp_path, monkeypatch, log_every):
    nan_from_step(monkeypatch, "generator_loss", 7)
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=20, log_every=log_every, checkpoint_every=5))
    with pytest.raises(AAEError, match="non-finite generator loss at step 7;.* Lower --lr-recon/--lr-reg or check"):
        trainer.fit()
    assert checkpoint_steps(tmp_path) == [5]
    assert all(torch.isfinite(v).all() for network in ("encoder", "decoder", "discriminator")
               for v in load_file(tmp_path / f"checkpoints/step_000005/{network}.safetensors").values())


def test_nonfinite_loss_under_fp16_is_skipped_by_the_scaler(tmp_path, monkeypatch):
    nan_from_step(monkeypatch, "reconstruction_loss", 3)
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=6, log_every=3, checkpoint_every=3))
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)  # fp16 as on a GPU
    trainer.fit()
    assert checkpoint_steps(tmp_path) == [3, 6]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.accelerator.scaler.get_scale() == 2.0**4  # backed off at each of the 4 skipped steps


# ------------------------------------------------------------------ W&B outage, secrets, hostile files
def test_wandb_unreachable_training_goes_on(tmp_path):
    run = tmp_path / "run"
    result = run_script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", run, "--wandb", env={
        "WANDB_MODE": "online", "WANDB_API_KEY": "0123456789abcdef0123456789abcdef01234567",
        "WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_INIT_TIMEOUT": "5"})
    assert "W&B could not start" in result.stderr
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run / "model.safetensors").exists()


def test_no_secret_lands_in_the_run(tmp_path):
    secret = "s3cr3t0123456789abcdef0123456789abcdef99"
    run = tmp_path / "run"
    result = run_script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", run, "--wandb",
                        env={"WANDB_MODE": "offline", "WANDB_API_KEY": secret, "MY_TOKEN": secret})
    assert secret not in result.stdout + result.stderr
    for path in run.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


class PlantedPickle:
    """Unpickling this creates a file: the proof that a loader ran code from a checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_every_file_of_a_run_is_as_readable_as_its_config(tmp_path, script):
    """Other machines and users of a shared filesystem read a run: its weights too (safetensors writes 0600)."""
    script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", tmp_path)
    mode = (tmp_path / "config.json").stat().st_mode & 0o777
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "encoder.safetensors" for path in files) and (tmp_path / "model.safetensors") in files
    assert {str(path.relative_to(tmp_path)): oct(path.stat().st_mode & 0o777) for path in files
            if path.stat().st_mode & 0o777 != mode} == {}


def test_resume_with_fewer_steps_than_trained_is_refused_and_changes_nothing(tmp_path, script, cli):
    script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    status, _, err = cli("train.py", "--output-dir", tmp_path, "--resume", "--steps", "5")
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "--steps 5 is fewer than the 10 steps" in err and "pass --steps 10 or more" in err, err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


def test_a_relative_data_root_is_saved_absolute_and_resumes_from_another_directory(tmp_path, script, monkeypatch):
    data = Path(DATA_ROOT).resolve()
    monkeypatch.chdir(data.parent)
    flags = [data.name if flag == DATA_ROOT else flag for flag in FLAGS]
    script("launch/train.py", *flags, "--steps", "5", "--output-dir", tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_root"] == str(data)
    monkeypatch.chdir(tmp_path)
    script("launch/train.py", "--output-dir", tmp_path / "run", "--resume", "--steps", "10")


def test_a_run_stopped_before_its_end_points_to_its_newest_checkpoint(tmp_path, script, cli):
    script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", tmp_path)
    (tmp_path / "model.safetensors").unlink()  # as a run stopped before its last step leaves it
    status, _, err = cli("generate.py", "--checkpoint", tmp_path, "--out", tmp_path / "x.png")
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert f"use its newest checkpoint, {tmp_path / 'checkpoints' / 'step_000010'}, or finish it" in err, err


def test_planted_pickles_are_refused_never_run(tmp_path, script, cli):
    script("launch/train.py", *FLAGS, "--steps", "10", "--output-dir", tmp_path)
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "checkpoints" / "step_000010"
    for name in ("optim_P.bin", "random_states_0.pkl"):
        torch.save(PlantedPickle(marker), checkpoint / name)
    for name in ("pytorch_model.bin", "model.pt", "training_args.bin"):  # bait beside the weights
        torch.save(PlantedPickle(marker), tmp_path / name)

    status, _, err = cli("train.py", "--output-dir", tmp_path, "--resume", "--steps", "20")
    assert status == 2 and "optim_P.bin cannot be loaded safely" in err
    script("launch/generate.py", "--checkpoint", tmp_path, "--num-samples", "4", "--out", tmp_path / "s.npz")
    from aae_dist import AAE
    AAE.from_pretrained(str(tmp_path))
    assert not marker.exists()


# ------------------------------------------------------------------ bad input: one line, exit 2
@pytest.mark.parametrize("script, flags, message", [
    ("train", ["--steps", "0"], "--steps must be a positive integer"),
    ("train", ["--hidden", "-5"], "--hidden must be a positive integer"),
    ("train", ["--lr-recon", "-1"], "--lr-recon must be > 0"),
    ("train", ["--prior", "cauchy"], "invalid choice: 'cauchy'"),
    ("train", ["--preset", "huge"], "invalid choice: 'huge'"),
    ("train", ["--preset", "clusters-30", "--model", "vanilla"], "--preset clusters-30 is the clustering AAE's recipe"),
    ("train", ["--batch-size", "70000"], "exceeds the 60000 training images"),
    ("train", ["--data-root", "/dev/null/data"], "could not download mnist into /dev/null/data/MNIST"),
    ("train", ["--keep-checkpoints", "-1"], "--keep-checkpoints must be a non-negative integer"),
    ("train", ["--code-noise", "-0.5"], "--code-noise must be >= 0"),
    ("train", ["--keep-best", "test_error", "--eval-every", "10", "--validation-images", "5000"],
     "never of the test set"),
    ("train", ["--keep-best", "val_error", "--eval-every", "10"],
     "needs --eval-every N and --validation-images N (MNIST: 5000), the evaluations it chooses among; --keep-best '' "
     "keeps none"),
    ("train", ["--model", "semi-supervised", "--num-labels", "7"], "--num-labels 7 leaves classes without a label"),
    ("train", ["--config", "/nonexistent/config.json"], "/nonexistent/config.json is missing; --config names a run's config.json"),
    ("train", ["--config", str(REPO / "benchmarks" / "results" / "throughput_cpu.json")], "holds no training settings"),
    ("train", ["--config", "config.json", "--resume"], "--config starts a new run from another's settings"),
    ("train", ["--config", str(REPO / "benchmarks" / "results" / "table1_cpu_long" / "constant_ema_step_056000.json")],
     "this evaluation predates the train_config it would hold"),
    ("evaluate", ["--num-samples", "0"], "--num-samples must be an integer > 1"),
])
def test_bad_input_table(tmp_path, cli, script, flags, message):
    base = {"train": ["--data-root", DATA_ROOT, "--output-dir", tmp_path / "r"],
            "evaluate": ["--checkpoint", tmp_path]}[script]
    status, _, err = cli(f"{script}.py", *base, *flags)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and message in lines[0], err


def test_a_torn_config_json_is_named_with_its_fix(tmp_path, cli):
    cli("train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path)
    (tmp_path / "config.json").write_text('{"model": "vanilla", "steps": 1')  # cut off mid-write
    for program, flags, fix in [
            ("train.py", ["--output-dir", tmp_path, "--resume"], "repair it, or start a new --output-dir"),
            ("train.py", ["--output-dir", tmp_path / "new", "--config", tmp_path / "config.json"],
             "--config names a run's config.json"),
            ("evaluate.py", ["--checkpoint", tmp_path, "--num-samples", "100"],
             "repair it from the run's checkpoints/step_N")]:
        status, _, err = cli(program, *flags)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, err
        assert f"{tmp_path / 'config.json'} is not valid JSON (" in lines[0] and fix in lines[0], err


def test_keep_best_killed_while_replacing_its_checkpoint_resumes_with_it(tmp_path, script):
    """A kill between publish()'s removal of the old checkpoints/best and its rename of the new one leaves the new one
    complete as best.tmp: the resumed run puts it in place and keeps comparing with its value."""
    flags = [*FLAGS, "--model", "semi-supervised", "--hidden", "16", "--disc-hidden", "16", "--eval-every", "10",
             "--validation-images", "5000", "--keep-best", "val_recon_bce", "--checkpoint-every", "10"]
    script("launch/train.py", *flags, "--steps", "20", "--output-dir", tmp_path)
    best = tmp_path / "checkpoints" / "best"
    state = json.loads((best / "trainer_state.json").read_text())
    best.rename(tmp_path / "checkpoints" / "best.tmp")
    result = script("launch/train.py", "--output-dir", tmp_path, "--resume", "--steps", "20")
    assert json.loads((best / "trainer_state.json").read_text()) == state
    assert f"lowest val_recon_bce {state['chosen_by']['value']:.4f}" in result.stdout


def test_keep_best_of_a_metric_the_evaluation_lacks_stops_before_the_first_step(tmp_path, cli):
    status, _, err = cli("train.py", "--data-root", DATA_ROOT, "--output-dir", tmp_path / "r", "--model",
                         "semi-supervised", "--hidden", "16", "--disc-hidden", "16", "--steps", "20", "--eval-every",
                         "20", "--log-every", "1", "--validation-images", "5000", "--keep-best", "val_erorr")
    assert status == 2 and "Traceback" not in err, err
    assert ("error: --keep-best val_erorr: the evaluation records no val_erorr; choose one of val_recon_bce, "
            "val_error\n") in err, err
    metrics = tmp_path / "r" / "metrics.jsonl"
    assert not metrics.exists() or '"step"' not in metrics.read_text()  # not one step trained


def test_after_training_outputs_that_cannot_be_written_stop_before_the_work(tmp_path, cli):
    cli("train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path / "run")
    (tmp_path / "file").write_text("")  # a folder that cannot be made: its name is a file's
    for program, flags in [("generate.py", ["--out", tmp_path / "file" / "x.npz"]),
                           ("generate.py", ["--out", tmp_path / "file" / "pngs/"]),
                           ("evaluate.py", ["--json", tmp_path / "file" / "e.json", "--num-samples", "100"])]:
        status, out, err = cli(program, "--checkpoint", tmp_path / "run", "--device", "cpu", *flags)
        assert status == 2 and len(err.strip().splitlines()) == 1 and "cannot write there" in err, err
        assert out == ""  # nothing generated or evaluated first


def test_plot_draws_a_run_without_training_curves_and_refuses_an_empty_manifold(tmp_path, cli):
    cli("train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path)
    status, _, err = cli("plot.py", tmp_path, "--device", "cpu", "--manifold-size", "0")
    assert status == 2 and "--manifold-size must be a positive integer" in err, err
    (tmp_path / "metrics.jsonl").unlink()  # as a model downloaded from the Hub has none
    (tmp_path / "losses.png").unlink()
    status, _, err = cli("plot.py", tmp_path, "--device", "cpu")
    assert status == 0, err
    assert (tmp_path / "manifold.png").exists() and not (tmp_path / "losses.png").exists()


def test_output_dir_that_is_a_file(tmp_path, cli):
    (tmp_path / "file").write_text("")
    status, _, err = cli("train.py", "--data-root", DATA_ROOT, "--output-dir", tmp_path / "file")
    assert status == 2 and "is a file" in err


def test_missing_gpu(tmp_path, cli):
    status, _, err = cli("train.py", "--data-root", DATA_ROOT, "--output-dir", tmp_path,
                         env={"CUDA_VISIBLE_DEVICES": "7"})
    (line,) = err.strip().splitlines()
    assert status == 2 and "CUDA_VISIBLE_DEVICES=7 but torch sees no GPU" in line
    status, _, err = cli("generate.py", "--checkpoint", tmp_path, "--out", tmp_path / "x.npz", "--device", "cuda:3")
    assert status == 2 and "no such GPU" in err


# ------------------------------------------------------------------ runs that would silently go wrong
def test_fp16_overflow_at_every_step_stops_the_run(tmp_path, monkeypatch):
    """A phase whose loss is NaN at every step would skip every update while the scale shrinks to nothing."""
    nan_from_step(monkeypatch, "generator_loss", 3)
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=200, log_every=10, checkpoint_every=100))
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)  # fp16 as on a GPU
    with pytest.raises(AAEError, match="the last 50 updates of the generator phase all overflowed, up to step 52"):
        trainer.fit()
    assert trainer.step == 51


def test_a_fresh_run_refuses_a_directory_that_holds_a_run(tmp_path, cli, script):
    run_script("launch/train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path, "--wandb",
               env={"WANDB_MODE": "offline"})
    assert (tmp_path / "wandb_run_id.txt").exists()
    status, _, err = cli("train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path)
    (line,) = err.strip().splitlines()
    assert status == 2 and "holds a run" in line and "--resume" in line and "--overwrite" in line
    status, _, err = cli("train.py", *FLAGS, "--output-dir", tmp_path, "--resume", "--overwrite")
    assert status == 2 and "pass one of them" in err
    (tmp_path / "notes.txt").write_text("mine")  # not a run file: kept
    (tmp_path / "labelled_subset.json").write_text("{}")  # a semi-supervised run's: the plots would read it
    script("launch/train.py", *FLAGS, "--steps", "10", "--checkpoint-every", "10", "--output-dir", tmp_path,
           "--overwrite")
    assert checkpoint_steps(tmp_path) == [10] and not (tmp_path / "wandb_run_id.txt").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "labelled_subset.json").exists()
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [5, 10]
    script("launch/train.py", "--output-dir", tmp_path, "--resume", "--steps", "15")  # a run made with --overwrite
    assert checkpoint_steps(tmp_path) == [10, 15]
    # a run killed after --keep-best's first checkpoint, before its first step_N: a fresh run would inherit its value
    for step in (10, 15):
        shutil.rmtree(tmp_path / "checkpoints" / f"step_0000{step}")
    (tmp_path / "checkpoints" / "best").mkdir()
    status, _, err = cli("train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path)
    assert status == 2 and "holds a run (checkpoints/best)" in err, err


def test_a_full_disk_while_checkpointing_loses_nothing(tmp_path, monkeypatch, script):
    """The write fails half-way (as safetensors does when the disk is full): the partial checkpoint is removed,
    the previous one stays complete, and the message says how to go on."""
    import aae_dist.files
    from safetensors import SafetensorError

    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=10, checkpoint_every=5))
    real_save = aae_dist.files.save_file

    def full_disk(tensors, path):
        if "step_000010" in str(path):
            Path(path).write_bytes(b"half a file")
            raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")
        real_save(tensors, path)
    monkeypatch.setattr(aae_dist.files, "save_file", full_disk)
    with pytest.raises(AAEError) as error:
        trainer.fit()
    message = str(error.value)
    assert "No space left on device" in message and "--resume" in message and len(message.splitlines()) == 1
    assert checkpoint_steps(tmp_path) == [5] and not list((tmp_path / "checkpoints").glob("*.tmp"))
    monkeypatch.undo()
    script("launch/train.py", "--output-dir", tmp_path, "--resume")  # the intact checkpoint resumes


@pytest.mark.parametrize("broken", ["config.json", "model_config.json", "model.safetensors"])
def test_broken_run_files_are_named_in_one_line(tmp_path, cli, script, broken):
    script("launch/train.py", *FLAGS, "--steps", "5", "--output-dir", tmp_path)
    file = tmp_path / broken
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])  # torn
    commands = [("evaluate.py", "--checkpoint", tmp_path)]  # generate.py does not read config.json; --resume does
    commands.append(("train.py", "--output-dir", tmp_path, "--resume") if broken == "config.json" else
                    ("generate.py", "--checkpoint", tmp_path, "--out", tmp_path / "x.npz"))
    for script, *args in commands:
        status, _, err = cli(script, *args)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and str(file) in lines[0], (script, err)


def test_an_output_dir_that_cannot_be_created(cli):
    status, _, err = cli("train.py", "--data-root", DATA_ROOT, "--output-dir", "/proc/aae-run")
    (line,) = err.strip().splitlines()
    assert status == 2 and "--output-dir /proc/aae-run cannot be created" in line
