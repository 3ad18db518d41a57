"""The phases of one training step: who changes what, and the fp16 loss-scaling logic."""

import pytest
import torch

from aae_dist import Trainer
import aae_dist.objectives.vanilla

from conftest import needs_mnist, no_gradients, tiny_config

pytestmark = needs_mnist


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(module, before):
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before))


def steps_taken(optimizer):
    states = optimizer.state.values()
    return max((int(s["step"]) for s in states), default=0)


def no_grads(trainer):
    return no_gradients(trainer.model.parameters())


def phase(trainer, name):
    return next(p for p in trainer.phases if p.name == name)


@pytest.mark.parametrize("model, flags", [("vanilla", {}), ("supervised", {}),
                                          ("supervised", {"label_to_discriminator": True})])
def test_each_phase_changes_only_its_own_parameters(tmp_path, model, flags):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model=model, **flags))
    Q, P, D = trainer.model.encoder, trainer.model.decoder, trainer.model.discriminator
    batch = trainer.batch(0)
    optimizers = {name.removeprefix("optim_"): o for name, o in trainer.optimizers.items()}
    assert optimizers.keys() == {"P", "Q_enc", "Q_gen", "D"}

    before = [snapshot(m) for m in (Q, P, D)]
    trainer.run_phase(phase(trainer, "reconstruction"), batch)
    assert [changed(m, b) for m, b in zip((Q, P, D), before)] == [True, True, False]
    assert {k: steps_taken(o) for k, o in optimizers.items()} == dict(P=1, Q_enc=1, Q_gen=0, D=0)
    assert no_grads(trainer)

    before = [snapshot(m) for m in (Q, P, D)]
    trainer.run_phase(phase(trainer, "discriminator"), batch)
    assert [changed(m, b) for m, b in zip((Q, P, D), before)] == [False, False, True]
    assert {k: steps_taken(o) for k, o in optimizers.items()} == dict(P=1, Q_enc=1, Q_gen=0, D=1)
    assert no_grads(trainer)

    before = [snapshot(m) for m in (Q, P, D)]
    trainer.run_phase(phase(trainer, "generator"), batch)
    assert [changed(m, b) for m, b in zip((Q, P, D), before)] == [True, False, False]
    assert {k: steps_taken(o) for k, o in optimizers.items()} == dict(P=1, Q_enc=1, Q_gen=1, D=1)
    # D's weights got no gradient at all in the generator phase (none computed, none to all-reduce)
    assert no_grads(trainer)
    assert all(p.requires_grad for p in D.parameters())


def test_the_generator_phase_pulls_codes_towards_the_prior(tmp_path):
    """After generator steps, D takes the encoder's codes for prior samples more often (the encoder is pushed
    towards what D calls real), while D itself stays as it was."""
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), lr_reg=1e-3, dropout=0.0, disc_dropout=0.0))
    generator = phase(trainer, "generator")
    batch = trainer.batch(0)
    d_real = lambda: torch.sigmoid(trainer.model.discriminator(trainer.model.encode(batch["x"]))).mean().item()
    before = d_real()
    for _ in range(5):
        trainer.run_phase(generator, batch)
    assert d_real() > before + 0.01, (before, d_real())


def test_discriminator_phase_uses_eval_mode_codes(tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path)))
    seen = {}
    original = aae_dist.objectives.vanilla.discriminator_loss

    def spy(real_logits, fake_logits):
        seen["encoder_training"] = trainer.model.encoder.training
        seen["fake_requires_grad"] = fake_logits.requires_grad
        return original(real_logits, fake_logits)

    monkeypatch.setattr(aae_dist.objectives.vanilla, "discriminator_loss", spy)
    trainer.run_phase(phase(trainer, "discriminator"), trainer.batch(0))
    assert seen == {"encoder_training": False, "fake_requires_grad": True}  # grad flows into D only
    assert no_gradients(trainer.model.encoder.parameters())


def train(trainer, steps):
    for step in range(steps):
        trainer.train_step(trainer.batch(step))


def use_scaler(trainer, **kwargs):
    """Simulate fp16 training on the CPU: give the accelerator a GradScaler, as Accelerate does on a GPU."""
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", **kwargs)
    return trainer.accelerator.scaler


def record_applied_gradients(trainer):
    """The gradients each optimizer step applies, in order: [(optimizer name, [grads])]."""
    applied = []
    for name, optimizer in trainer.optimizers.items():
        def step(*args, name=name, optimizer=optimizer, original=optimizer.step, **kwargs):
            applied.append((name, [p.grad.clone() for g in optimizer.param_groups for p in g["params"]]))
            return original(*args, **kwargs)
        optimizer.step = step
    return applied


def test_loss_scaling_matches_unscaled_training(tmp_path):
    """Each optimizer applies gradients unscaled once, with the scale they were scaled by, even as the scale grows
    after every step (Accelerate's own optimizer wrapper would update the scale between optim_P and optim_Q_enc).
    The gradients are compared, not only the weights: Adam would hide a gradient off by a constant factor."""
    config = tiny_config(output_dir=str(tmp_path), dropout=0.0, disc_dropout=0.0)
    reference = Trainer(config)
    reference_grads = record_applied_gradients(reference)
    train(reference, 6)
    scaled = Trainer(config)
    scaler = use_scaler(scaled, init_scale=2.0**4, growth_interval=1)
    scaled_grads = record_applied_gradients(scaled)
    train(scaled, 6)
    assert scaler.get_scale() == 2.0**10  # grew after every one of the 6 steps
    assert [name for name, _ in scaled_grads] == [name for name, _ in reference_grads] and len(scaled_grads) == 24
    for (name, expected), (_, got) in zip(reference_grads, scaled_grads):
        for a, b in zip(expected, got):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7, msg=name)
    for a, b in zip(reference.model.parameters(), scaled.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("phase", ["reconstruction", "discriminator", "generator"])
def test_overflow_skips_exactly_the_affected_phase(tmp_path, monkeypatch, phase):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path)))
    scaler = use_scaler(trainer, init_scale=2.0**8)
    train(trainer, 1)
    loss_name = {"reconstruction": "reconstruction_loss", "discriminator": "discriminator_loss",
                 "generator": "generator_loss"}[phase]
    original = getattr(aae_dist.objectives.vanilla, loss_name)
    monkeypatch.setattr(aae_dist.objectives.vanilla, loss_name, lambda *a: original(*a) * float("inf"))

    owners = {"reconstruction": {"P", "Q_enc"}, "discriminator": {"D"}, "generator": {"Q_gen"}}[phase]
    optimizers = {name.removeprefix("optim_"): o for name, o in trainer.optimizers.items()}
    before = {k: steps_taken(o) for k, o in optimizers.items()}
    params_before = [snapshot(m) for m in (trainer.model.encoder, trainer.model.decoder, trainer.model.discriminator)]
    train_step_metrics = trainer.train_step(trainer.batch(1))

    after = {k: steps_taken(o) for k, o in optimizers.items()}
    assert {k for k in optimizers if after[k] == before[k]} == owners  # only the overflowing phase skipped
    assert scaler.get_scale() == 2.0**7  # backed off once
    assert no_grads(trainer)
    for module, b in zip((trainer.model.encoder, trainer.model.decoder, trainer.model.discriminator), params_before):
        assert all(torch.isfinite(p).all() for p in module.parameters())
    skipped_P = phase == "reconstruction"
    assert changed(trainer.model.decoder, params_before[1]) != skipped_P
    assert not torch.isfinite(train_step_metrics[{"reconstruction": "recon_loss", "discriminator": "d_loss",
                                                  "generator": "g_loss"}[phase]])


def test_fp16_on_cpu_is_refused(tmp_path):
    from aae_dist import ConfigError

    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        Trainer(tiny_config(output_dir=str(tmp_path), mixed_precision="fp16", cpu=True))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_bf16_step_runs_in_bf16(tmp_path, arch):
    """bf16 asked for: every network's layers compute in bf16 (autocast active) and the losses stay finite."""
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), mixed_precision="bf16", arch=arch, conv_width=8))
    seen = {}

    def note_dtype(name, output):
        seen.setdefault(name, output.dtype)
    for name, network in trainer.networks.items():
        network[0].register_forward_hook(lambda module, inputs, output, name=name: note_dtype(name, output))
    metrics = trainer.train_step(trainer.batch(0))
    assert seen == dict.fromkeys(("encoder", "decoder", "discriminator"), torch.bfloat16)
    assert all(torch.isfinite(v) for v in metrics.values())
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights stay fp32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (CI has none; benchmarks/gpu_suite.sh runs it)")
@pytest.mark.parametrize("precision", ["no", "bf16"])
@pytest.mark.parametrize("model, arch, flags", [
    ("vanilla", "mlp", {}), ("supervised", "mlp", {}), ("vanilla", "conv", {}), ("semi-supervised", "mlp", {}),
    ("semi-supervised", "mlp", dict(vat=1.0, affine_consistency=1.0, mean_teacher=True))],
    ids=["vanilla", "supervised", "conv", "semi-supervised", "semi-supervised-consistency"])
def test_a_cuda_graph_replays_the_eager_steps(tmp_path, precision, model, arch, flags):
    """Replayed from a CUDA graph (3 eager warm-up steps, then capture and replays), training computes what the
    eager steps compute, dropout included: the graph draws from the same Philox stream; the weights' moving
    average (--ema-decay), updated inside the step, is recorded with it; so are the consistency terms' draws and
    --vat's power iteration (a gradient inside the step)."""
    from accelerate.state import AcceleratorState

    metrics, averages = {}, {}
    for mode in ("off", "on"):
        AcceleratorState._reset_state(reset_partial_state=True)
        trainer = Trainer(tiny_config(output_dir=str(tmp_path / mode), cuda_graph=mode, mixed_precision=precision,
                                      model=model, arch=arch, conv_width=8, ema_decay=0.9, **flags))
        assert trainer.cuda_graph == (mode == "on")
        # each step's outputs are read at once: a replay overwrites the graph's output tensors
        metrics[mode] = [[float(v) for v in trainer.train_step(trainer.batch(step)).values()] for step in range(8)]
        averages[mode] = [p.detach().clone() for p in trainer.ema.parameters()]
    torch.testing.assert_close(metrics["on"], metrics["off"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(averages["on"], averages["off"], rtol=1e-4, atol=1e-5)
