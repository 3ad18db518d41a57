"""The benchmarks run on the CPU at tiny sizes and report every field (their numbers are not tested here)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

from conftest import DATA_ROOT, REPO, needs_mnist, run_script

sys.path.insert(0, str(REPO / "benchmarks"))

FIELDS = {"impl", "device", "device_name", "torch_version", "threads", "world_size", "batch_size", "precision",
          "compile", "cuda_graph", "recon_samples_per_s", "reg_samples_per_s", "step_samples_per_s", "floor_fraction"}


@needs_mnist
def test_throughput_writes_a_record_per_configuration(tmp_path):
    out = tmp_path / "bench.json"
    result = run_script("benchmarks/throughput.py", "--batch-sizes", "8,16", "--precision", "no,bf16", "--steps",
                        "3", "--rounds", "1", "--warmup", "1", "--hidden", "16", "--disc-hidden", "8", "--seed-baseline",
                        "--floor-reps", "2", "--data-root", DATA_ROOT, "--json", out)
    records = json.loads(out.read_text())
    configs = [(r["impl"], r["batch_size"], r["precision"]) for r in records]
    assert configs == [("aae_dist", 8, "no"), ("aae_dist", 8, "bf16"), ("seed", 8, "no"),
                       ("aae_dist", 16, "no"), ("aae_dist", 16, "bf16"), ("seed", 16, "no")]
    for r in records:
        assert FIELDS <= r.keys()
        assert r["device"] == "cpu" and r["world_size"] == 1 and r["compile"] is False
        assert all(r[f"{p}_samples_per_s"] > 0 for p in ("recon", "reg", "step")) and r["floor_fraction"] > 0
    assert "| aae_dist | mlp | device | 8 | bf16 | off | off | 1 |" in result.stdout  # the Markdown table
    assert result.stdout.count("x, ") >= 8  # our/seed ratios on the aae_dist rows


@needs_mnist
@pytest.mark.parametrize("model", ["supervised", "semi-supervised"])
def test_throughput_times_any_variant(tmp_path, model):
    out = tmp_path / "bench.json"
    result = run_script("benchmarks/throughput.py", "--model", model, "--batch-sizes", "8", "--steps", "2",
                        "--rounds", "1", "--warmup", "1", "--hidden", "16", "--disc-hidden", "8", "--floor-reps", "2",
                        "--data-root", DATA_ROOT, "--json", out)
    (record,) = json.loads(out.read_text())
    assert record["model"] == model and record["step_samples_per_s"] > 0 and f"model {model}" in result.stdout
    assert record["floor_fraction"] > 0  # every variant has its own floor, recorded from its step


def test_throughput_refuses_no_floor_repetitions_in_one_line():
    result = run_script("benchmarks/throughput.py", "--floor-reps", "0", check=False)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "throughput.py: error: --floor-reps must be at least 1, got 0")


def linear_macs(sizes, rows, skip_first=False):
    return rows * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))  - (rows * sizes[0] * sizes[1] if skip_first else 0)


@needs_mnist
def test_the_floor_counts_every_product_of_the_vanilla_step_forward_and_backward(tmp_path):
    out = tmp_path / "bench.json"
    run_script("benchmarks/throughput.py", "--batch-sizes", "8", "--steps", "2", "--rounds", "1", "--warmup", "0",
               "--hidden", "16", "--disc-hidden", "8", "--floor-reps", "2", "--data-root", DATA_ROOT, "--json", out)
    (record,) = json.loads(out.read_text())
    Q, P, D, b = [784, 16, 16, 2], [2, 16, 16, 784], [2, 8, 8, 1], 8
    # recon: Q and P forward, weight gradients, input gradients but Q's first (the images need none);
    # discriminator: Q forward (frozen), D on 2b codes forward, weight and input gradients but its first;
    # generator: Q and D forward, D's input gradients only (frozen), Q's weight and input gradients but its first
    macs = (2 * (linear_macs(Q, b) + linear_macs(P, b)) + linear_macs(Q, b, True) + linear_macs(P, b)
            + linear_macs(Q, b) + 2 * linear_macs(D, 2 * b) + linear_macs(D, 2 * b, True)
            + 2 * linear_macs(Q, b) + linear_macs(Q, b, True) + 2 * linear_macs(D, b))
    assert record["step_flops"] == 2 * macs


def test_throughput_of_conv_nets_on_streamed_colour_images(tmp_path):
    import numpy as np

    np.savez(tmp_path / "rgb.npz", images=np.zeros((64, 32, 32, 3), np.uint8))
    out = tmp_path / "bench.json"
    result = run_script("benchmarks/throughput.py", "--dataset", "npz", "--data-root", tmp_path / "rgb.npz",
                        "--arch", "conv", "--conv-width", "4", "--data-on-device", "no", "--workers", "1",
                        "--batch-sizes", "8", "--steps", "2", "--rounds", "1", "--warmup", "1", "--disc-hidden", "8",
                        "--floor-reps", "2", "--json", out)
    (record,) = json.loads(out.read_text())
    assert record["arch"] == "conv" and record["image_shape"] == [3, 32, 32] and record["data_on_device"] == "no"
    assert record["batch_samples_per_s"] > 0 and record["floor_fraction"] > 0  # convolutions timed alone too
    assert "| aae_dist | conv | stream | 8 | no |" in result.stdout


@needs_mnist
def test_levers_table(tmp_path):
    result = run_script("benchmarks/levers.py", "--batch-size", "8", "--rounds", "1", "--steps", "2", "--warmup",
                        "1", "--data-root", DATA_ROOT)
    for lever in ("none (all levers)", "fused Adam", "device-resident data", "frozen D in the generator phase"):
        assert f"| {lever} |" in result.stdout


def test_seed_baseline_has_the_lectures_networks():
    from seed_baseline import D_net_gauss, P_net, Q_net

    shapes = lambda net: [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]
    assert shapes(Q_net(784, 1000, 2)) == [(784, 1000), (1000, 1000), (1000, 2)]
    assert shapes(P_net(784, 1000, 2)) == [(2, 1000), (1000, 1000), (1000, 784)]
    assert shapes(D_net_gauss(500, 2)) == [(2, 500), (500, 500), (500, 1)]
    # bugs and all: D never applies lin3, so it returns 500 sigmoid units per sample
    import torch
    assert D_net_gauss(500, 2)(torch.randn(3, 2)).shape == (3, 500)


def test_paper_runs_evaluates_likelihood_checkpoints_as_they_come_and_final_weights_at_the_end(tmp_path):
    import paper_runs
    from aae_dist.checkpoints import STATE_NAME

    class Pool:  # records what would be evaluated
        def __init__(self):
            self.submitted = []

        def submit(self, function, checkpoint, json_path, args):
            self.submitted.append((Path(checkpoint).name, Path(json_path).name))

    args = SimpleNamespace(runs=str(tmp_path))
    (tmp_path / "results").mkdir()
    for name in ("keil", "semi100"):
        (tmp_path / name / "checkpoints" / "step_000500").mkdir(parents=True)
        (tmp_path / name / "checkpoints" / "step_000500" / STATE_NAME).write_text("{}")
        (tmp_path / name / "metrics.jsonl").write_text('{"step": 500}\n')
    (tmp_path / "keil" / "checkpoints" / "step_001000").mkdir()  # being written: no state file yet
    pool, started = Pool(), set()
    paper_runs.collect(["keil", "semi100"], args, pool, started)
    paper_runs.collect(["keil", "semi100"], args, pool, started)  # nothing is evaluated twice
    assert pool.submitted == [("step_000500", "keil_step_000500.json")]
    assert (tmp_path / "results" / "semi100.metrics.jsonl").read_text() == '{"step": 500}\n'
    (tmp_path / "semi100" / "checkpoints" / "best").mkdir()  # --keep-best's checkpoint: evaluated at the end too
    (tmp_path / "semi100" / "checkpoints" / "best" / STATE_NAME).write_text("{}")
    paper_runs.collect(["keil", "semi100"], args, pool, started, final=True)
    assert pool.submitted[1:] == [("keil", "keil.json"), ("semi100", "semi100.json"), ("best", "semi100_best.json")]


@needs_mnist
def test_cpu_env_ab_times_each_setting_in_its_own_processes(tmp_path):
    out = tmp_path / "env.json"
    result = run_script("benchmarks/cpu_env_ab.py", "--rounds", "1", "--steps", "2", "--batch-size", "8",
                        "--data-root", DATA_ROOT, "--json", out)
    record = json.loads(out.read_text())
    assert len(record["median_ms"]) == 3 and "as is" in record["median_ms"] and all(
        len(times) == 1 and times[0] > 0 for times in record["step_ms"].values())
    assert "GOMP_SPINCOUNT=infinite: median step" in result.stdout


def test_paper_runs_resumes_only_the_runs_still_training_and_never_past_their_length(tmp_path, monkeypatch):
    """After the calibration: a failed run is dropped, one that finished (a short recipe on a fast GPU) is left as it
    is, and the others are stopped and resumed with the steps the budget allows, at most their recipe's length."""
    import paper_runs

    class Process:
        def __init__(self, name, resumed):
            self.name, self.code = name, 0 if resumed else {"short": 0, "broken": 1}.get(name)

        def poll(self):
            return self.code

        def send_signal(self, signum):
            self.code = -signum

        def wait(self):
            return self.code

    calls = []

    def train(name, flags, args, resume_steps=None):
        calls.append((name, resume_steps))
        return Process(name, resume_steps is not None)

    recipes = {"fixed": ("", 16000), "sized": ("", None), "short": ("", 100), "broken": ("", 100)}
    monkeypatch.setattr(paper_runs, "RECIPES", recipes)
    commands = []
    monkeypatch.setattr(paper_runs.subprocess, "Popen", lambda command, **kwargs: commands.append(command))
    for name in ("fixed", "sized"):
        paper_runs.train(name, "", SimpleNamespace(runs=str(tmp_path), data_root="d"))
    assert [command[command.index("--steps") + 1] for command in commands] == ["16000", "10000000"]
    evaluated = []
    monkeypatch.setattr(paper_runs, "collect", lambda names, args, pool, started, final=False:
                        final and evaluated.extend(names))
    monkeypatch.setattr(paper_runs, "train", train)
    monkeypatch.setattr(paper_runs, "newest_step", lambda run: 10000)  # the step each stopped at
    monkeypatch.setattr(paper_runs.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(sys, "argv", ["paper_runs.py", "--data-root", "d", "--runs", str(tmp_path), "--budget-s",
                                      "100000", "--calibrate-s", "1"])
    paper_runs.main()
    assert calls[:4] == [(name, None) for name in recipes]  # each started with its recipe's own length
    assert sorted(calls[4:]) == [("fixed", 16000), ("sized", calls[5][1])] and calls[5][1] > 16000
    assert evaluated == ["fixed", "sized", "short"]


def test_every_paper_runs_recipe_is_a_valid_training_configuration():
    """The GPU session trains these commands unattended: a stale flag or value would cost its device time."""
    import paper_runs

    from aae_dist import load_train_config
    from aae_dist.config import parse_train_args

    for name, (flags, _) in paper_runs.RECIPES.items():
        config = load_train_config(parse_train_args([*flags.split(), "--data-root", DATA_ROOT, "--output-dir", name]))
        assert config.seed == (int(name.rsplit("_seed", 1)[1]) if "_seed" in name else 0), name


def test_parzen_table_reports_the_checkpoint_of_the_best_validation_ll_never_the_best_test_ll(tmp_path):
    for step, test_ll, validation_ll in ((1000, 330.0, 341.0), (2000, 335.0, 339.0)):
        (tmp_path / f"run_step_{step:06d}.json").write_text(json.dumps(
            {"parzen_ll": test_ll, "parzen_validation_ll": {"0.1": validation_ll - 5, "0.2": validation_ll}}))
    table = run_script("benchmarks/parzen_table.py", tmp_path).stdout
    assert "| run | 330.0 | 335.0 | 330.0 at 1k (validation 341.0) |" in table


def test_by_step_adds_a_runs_errors_to_its_file_and_keeps_the_others(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = [{"step": 50, "recon_loss": 0.2}, {"step": 100, "val_error": 0.03, "test_error": 0.04},
               {"step": 200, "val_error": 0.02, "test_error": 0.025}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 2')  # torn line
    out = tmp_path / "by_step.json"
    out.write_text(json.dumps({"what": "screens", "machine": "cpu", "runs": {"seed0": {"command": "old"}}}))
    run_script("benchmarks/by_step.py", out, "seed1", run, "--command", "aae-train --seed 1")
    written = json.loads(out.read_text())
    assert written["what"] == "screens" and written["runs"]["seed0"] == {"command": "old"}
    assert written["runs"]["seed1"] == {"command": "aae-train --seed 1",
                                        "val_error_by_step": {"100": 0.03, "200": 0.02},
                                        "test_error_by_step": {"100": 0.04, "200": 0.025}}
    import by_step
    with pytest.raises(SystemExit, match="nowhere/metrics.jsonl does not exist; give the run directory"):
        by_step.main([str(out), "seed2", str(tmp_path / "nowhere"), "--command", "x"])
