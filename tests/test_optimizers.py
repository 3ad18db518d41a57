"""The optimizer of every phase (--optimizer adam|sgd, momentum per phase group), learning-rate schedules and the
weights' moving average (--ema-decay)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from aae_dist import Trainer
from aae_dist.checkpoints import load_model
from aae_dist.schedules import lr_factor
from aae_dist.tracking import read_records

from conftest import TINY, needs_mnist, tiny_config


@needs_mnist
def test_sgd_has_the_momentum_of_each_phase_group(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), optimizer="sgd", momentum_recon=0.9, momentum_reg=0.1,
                                  lr_recon=0.01, lr_reg=0.1))
    groups = {name: o.param_groups[0] for name, o in trainer.optimizers.items()}
    assert all(isinstance(o, torch.optim.SGD) for o in trainer.optimizers.values())
    assert {name: (g["lr"], g["momentum"]) for name, g in groups.items()} == {
        "optim_P": (0.01, 0.9), "optim_Q_enc": (0.01, 0.9), "optim_Q_gen": (0.1, 0.1), "optim_D": (0.1, 0.1)}
    before = [p.clone() for p in trainer.model.parameters()]
    trainer.train_step(trainer.batch(0))
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_schedules():
    assert [lr_factor("step", s, 100, [3, 6], 0.5) for s in (0, 2, 3, 5, 6, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert lr_factor("cosine", 0, 100) == 1 and lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 100, 100) == pytest.approx(0) and lr_factor("constant", 7, 10) == 1


@needs_mnist
@pytest.mark.parametrize("model", [["--model", "vanilla"], ["--model", "semi-supervised", "--num-labels", "20"]],
                         ids=["vanilla", "semi-supervised"])
def test_resume_is_exact_with_a_schedule(tmp_path, script, model):
    flags = [*TINY, *model, "--optimizer", "sgd", "--lr-recon", "0.01", "--lr-reg", "0.01", "--lr-schedule", "step",
             "--lr-milestones", "4,8", "--lr-gamma", "0.5", "--log-every", "1", "--checkpoint-every", "5",
             "--sample-every", "100"]
    script("launch/train.py", *flags, "--steps", "10", "--output-dir", tmp_path / "whole")
    script("launch/train.py", *flags, "--steps", "5", "--output-dir", tmp_path / "part")
    script("launch/train.py", "--output-dir", tmp_path / "part", "--resume", "--steps", "10")
    whole, part = (load_file(tmp_path / run / "model.safetensors") for run in ("whole", "part"))
    assert all(torch.equal(whole[k], part[k]) for k in whole)
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr_optim_P"] for r in records if "lr_optim_P" in r] == pytest.approx(
        [0.01] * 4 + [0.005] * 4 + [0.0025] * 2)


@needs_mnist
def test_stop_at_ends_a_command_inside_the_schedule_and_resume_finishes_it(tmp_path, script, cli):
    flags = [*TINY, "--lr-schedule", "cosine", "--log-every", "1", "--checkpoint-every", "100", "--sample-every", "100"]
    script("launch/train.py", *flags, "--steps", "10", "--output-dir", tmp_path / "whole")
    part = tmp_path / "part"
    stopped = script("launch/train.py", *flags, "--steps", "10", "--stop-at", "6", "--output-dir", part)
    assert "stopped at --stop-at 6 of 10 steps" in stopped.stdout
    assert (part / "checkpoints" / "step_000006").is_dir()  # a checkpoint at the stop, whatever --checkpoint-every
    script("launch/evaluate.py", "--checkpoint", part, "--num-samples", "60", "--tstr-samples", "60",
           "--json", tmp_path / "eval.json")
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["run"]["trained_steps"] == 6 and evaluation["train_config"]["stop_at"] == 6
    rates = [r["lr_optim_P"] for r in read_records(tmp_path / "whole") if "lr_optim_P" in r]
    assert [r["lr_optim_P"] for r in read_records(part) if "lr_optim_P" in r] == rates[:6]  # the 10-step cosine's
    status, _, err = cli("train.py", "--output-dir", part, "--resume", "--stop-at", "4")
    assert status == 2 and "--stop-at 4 is not after the 6 steps" in err, err
    script("launch/train.py", "--output-dir", part, "--resume", "--stop-at", "8")
    shutil.rmtree(part / "checkpoints" / "step_000008")  # as if cut short after step 6: resumes to its --stop-at
    assert "stopped at --stop-at 8 of 10 steps" in script("launch/train.py", "--output-dir", part, "--resume").stdout
    script("launch/train.py", "--output-dir", part, "--resume")  # --stop-at reached: not carried over
    whole, resumed = (load_file(tmp_path / run / "model.safetensors") for run in ("whole", "part"))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    status, _, err = cli("train.py", *flags, "--steps", "10", "--stop-at", "11", "--output-dir", tmp_path / "x")
    assert status == 2 and "--stop-at 11 is past the end of the schedule (--steps 10)" in err, err


@needs_mnist
def test_the_moving_average_follows_the_trained_weights(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), ema_decay=0.9))
    start = [p.clone() for p in trainer.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(start, trainer.ema.parameters()))  # it starts at the weights
    trainer.train_step(trainer.batch(0))
    for before, after, average in zip(start, trainer.model.parameters(), trainer.ema.parameters()):
        torch.testing.assert_close(average, 0.9 * before + 0.1 * after)
    assert not any(p.requires_grad for p in trainer.ema.parameters())


@needs_mnist
def test_a_run_with_a_moving_average_saves_evaluates_and_resumes_it(tmp_path, script, cli):
    flags = [*TINY, "--ema-decay", "0.9", "--log-every", "5", "--checkpoint-every", "5", "--sample-every", "100",
             "--eval-every", "5"]
    script("launch/train.py", *flags, "--steps", "10", "--output-dir", tmp_path / "whole")
    script("launch/train.py", *flags, "--steps", "5", "--output-dir", tmp_path / "part")
    script("launch/train.py", "--output-dir", tmp_path / "part", "--resume", "--steps", "10")
    whole, part = (load_file(tmp_path / run / "model.safetensors") for run in ("whole", "part"))
    assert all(torch.equal(whole[k], part[k]) for k in whole)  # the average resumed exactly
    checkpoint = tmp_path / "whole" / "checkpoints" / "step_000010"
    average, trained = (load_file(checkpoint / name) for name in ("ema_decoder.safetensors", "decoder.safetensors"))
    assert not torch.equal(average["0.weight"], trained["0.weight"])
    assert torch.equal(whole["decoder.0.weight"], average["0.weight"])  # model.safetensors is the average
    assert torch.equal(load_model(checkpoint).decoder[0].weight, average["0.weight"])  # so is a checkpoint's model
    assert torch.equal(load_model(checkpoint, average=False).decoder[0].weight, trained["0.weight"])
    status, _, err = cli("evaluate.py", "--checkpoint", tmp_path / "whole", "--trained-weights")
    assert status == 2 and "keeps only the moving average" in err and "checkpoints/step_N" in err
    evaluation = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()
                  if "test_recon_bce" in line][-1]
    assert evaluation["test_recon_bce"] != evaluation["raw_test_recon_bce"]  # the average's, and the weights'


@pytest.mark.parametrize("flags, message", [
    (["--lr-schedule", "step"], "--lr-schedule step needs --lr-milestones"),
    (["--lr-milestones", "10,x"], "--lr-milestones must be positive step numbers"),
    (["--optimizer", "sgd", "--momentum-reg", "1.5"], "--momentum-reg must be in [0, 1)"),
    (["--ema-decay", "1"], "--ema-decay must be in [0, 1)"),
])
def test_bad_schedules_give_one_line(tmp_path, cli, flags, message):
    status, _, err = cli("train.py", "--output-dir", tmp_path, *flags)
    (line,) = err.strip().splitlines()
    assert status == 2 and message in line, err
