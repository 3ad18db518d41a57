"""The AAE family on one trainer: the vanilla AAE computes bitwise what version 0.1 computed, version 0.1's run
directories still work, the supervised AAE trains and samples by class, and a new variant needs no trainer change."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from aae_dist import AAE, OBJECTIVES, ModelConfig, Phase, Trainer, VanillaAAE
from aae_dist.losses import reconstruction_loss
from aae_dist.networks import decoder, encoder

from conftest import DATA_ROOT, DDP_CPU, REPO, TINY, needs_mnist, run_script, tiny_config
from golden.record import cpu_model

GOLDEN = REPO / "tests" / "golden"
# The golden runs were recorded (tests/golden/record.py) with torch's default threads on a 2-core machine: 2 in one
# process, and 1 per process under `accelerate launch --multi_gpu` (which sets OMP_NUM_THREADS=1). Other thread
# counts round differently.
THREADS, DDP_THREADS = {"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "1"}
LEGACY_RUN = REPO / "tests" / "fixtures" / "legacy_run"  # written by version 0.1 (a41e871): 10 steps, hidden 8


def digests(path):
    return {key: hashlib.sha256(value.contiguous().numpy().tobytes()).hexdigest()
            for key, value in load_file(path).items()}


def assert_matches_golden(run, golden):
    """Bitwise the weights, and exactly the metrics, of the golden run (samples/s aside: it is a timing), on the
    CPU model it was recorded on. Another CPU rounds matrix products differently, and training grows those
    differences: there the sum of the absolute values of every tensor must agree to a relative 1e-3 and the metrics
    to 2e-3 (at 300 steps, an AMD EPYC against an Intel Xeon measured 4e-4 and 5e-4; a signed sum, nearly
    cancelling, drifts by 1%)."""
    expected = json.loads((GOLDEN / golden).read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    records = [{k: v for k, v in r.items() if k != "samples_per_s"} for r in records]
    if cpu_model() == expected["cpu"]:
        assert digests(run / "model.safetensors") == {k: v["sha256"] for k, v in expected["weights"].items()}
        assert "metrics" not in expected or records == expected["metrics"]
        return
    weights = load_file(run / "model.safetensors")
    assert weights.keys() == expected["weights"].keys()
    for key, value in weights.items():
        assert value.double().abs().sum().item() == pytest.approx(expected["weights"][key]["abs_sum"], rel=1e-3), key
    if "metrics" in expected:
        assert records == [pytest.approx(r, rel=2e-3) for r in expected["metrics"]]


# ------------------------------------------------------------------ nothing changes for today's users
@needs_mnist
def test_vanilla_computes_bitwise_what_version_0_1_computed(tmp_path):
    """tests/golden/vanilla_single.json: the README's seed command at 100 steps, recorded with version 0.1."""
    run_script("launch/train.py", "--cpu", "--seed", "0", "--steps", "100", "--log-every", "50", "--data-root",
               DATA_ROOT, "--no-download", "--output-dir", tmp_path, env=THREADS)
    assert_matches_golden(tmp_path, "vanilla_single.json")


@needs_mnist
def test_vanilla_ddp_computes_bitwise_what_version_0_1_computed(tmp_path):
    run_script("launch/train.py", "--cpu", "--seed", "0", "--steps", "100", "--log-every", "50", "--batch-size", "50",
               "--data-root", DATA_ROOT, "--no-download", "--output-dir", tmp_path, launcher=DDP_CPU,
               env={"ACCELERATE_USE_CPU": "1", **DDP_THREADS})
    assert_matches_golden(tmp_path, "vanilla_ddp.json")


@needs_mnist
def test_a_version_0_1_run_directory_still_works(tmp_path, script):
    """Its final weights and its checkpoint generate, and --resume continues its checkpoint (files named by
    Accelerate's prepare order) exactly as version 0.1 would have: bitwise its uninterrupted 20-step run."""
    run = tmp_path / "run"
    shutil.copytree(LEGACY_RUN, run)
    for source in (run, run / "checkpoints" / "step_000010"):
        script("launch/generate.py", "--checkpoint", source, "--num-samples", "4", "--out", tmp_path / "s.npz")
        assert np.load(tmp_path / "s.npz")["images"].shape == (4, 1, 28, 28)
    run_script("launch/train.py", "--output-dir", run, "--resume", "--steps", "20", "--data-root", DATA_ROOT,
               env=THREADS)
    assert_matches_golden(run, "legacy_run_20.json")
    assert (run / "checkpoints" / "step_000020" / "encoder.safetensors").exists()  # the new names from here on


def test_optimizers_keep_the_hyperparameters_they_were_built_with(tmp_path):
    """A checkpoint's param_groups (lr, betas, capturable, ...) are not this run's: loading takes only the state."""
    from accelerate.state import AcceleratorState

    Trainer(tiny_config(output_dir=str(tmp_path), steps=5, checkpoint_every=5)).fit()
    file = tmp_path / "checkpoints" / "step_000005" / "optim_Q_gen.bin"
    state = torch.load(file, weights_only=True)
    for group in state["param_groups"]:  # as if written elsewhere: on a GPU, with other settings
        group.update(betas=(0.5, 0.6), capturable=True, lr=3.0)
    torch.save(state, file)
    AcceleratorState._reset_state(reset_partial_state=True)
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), steps=10, resume=True))
    AcceleratorState._reset_state(reset_partial_state=True)
    built = Trainer(tiny_config(output_dir=str(tmp_path / "fresh"), steps=10))
    optim_Q_gen = trainer.optimizers["optim_Q_gen"]
    assert trainer.step == 5 and int(optim_Q_gen.state[trainer.model.encoder[0].weight]["step"]) == 5  # its state
    for name, optimizer in trainer.optimizers.items():
        hyper = lambda o: [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups]
        assert hyper(optimizer) == hyper(built.optimizers[name]), name


# ------------------------------------------------------------------ the supervised AAE
@needs_mnist
def test_supervised_run_generates_the_class_asked_for(tmp_path, script):
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--model", "supervised", "--steps", "30", "--log-every", "10",
           "--checkpoint-every", "30", "--sample-every", "30", "--output-dir", run)
    config = json.loads((run / "model_config.json").read_text())
    assert config["model"] == "supervised" and config["num_classes"] == 10
    assert Image.open(run / "samples" / "step_000030.png").size == (302, 302)  # the style grid: 10 x 10 tiles
    assert Image.open(run / "style_grid.png").size == (302, 302)

    script("launch/generate.py", "--checkpoint", run, "--label", "7", "--num-samples", "20", "--out",
               tmp_path / "sevens.npz")
    script("launch/generate.py", "--checkpoint", run, "--num-samples", "20", "--out", tmp_path / "all.pt")
    sevens, balanced = np.load(tmp_path / "sevens.npz"), torch.load(tmp_path / "all.pt", weights_only=True)
    assert sevens["images"].shape == (20, 1, 28, 28) and (sevens["labels"] == 7).all()
    assert balanced["labels"].tolist() == [i % 10 for i in range(20)]
    # the decoder reads the label: the same codes with another label decode to other images
    assert np.array_equal(sevens["z"], balanced["z"].numpy())
    assert not np.allclose(sevens["images"][:7], balanced["images"][:7].numpy())
    aae = AAE.from_pretrained(str(run))
    images, _ = aae.sample(20, torch.Generator().manual_seed(0), labels=7)
    assert np.allclose(images.numpy(), sevens["images"], atol=1e-6)

    script("launch/generate.py", "--checkpoint", run, "--style-grid", "3", "--out", tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").size == (302, 92)  # 3 rows of styles x 10 classes


def test_supervised_defaults_to_its_recipe():
    from aae_dist.config import load_train_config

    config = load_train_config({"model": "supervised"})
    assert (config.z_dim, config.label_to_discriminator, config.discriminator_steps, config.lr_reg, config.lr_recon,
            config.steps) == (8, True, 3, 2e-4, 3e-4, 20000)
    assert load_train_config({"model": "supervised", "z_dim": 15}).z_dim == 15  # flags given still win
    assert load_train_config({}).z_dim == 2 and load_train_config({}).discriminator_steps == 1  # vanilla: the lecture's


@needs_mnist
def test_discriminator_steps_update_d_that_often(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="supervised", discriminator_steps=3,
                                  label_to_discriminator=True))
    trainer.train_step(trainer.batch(0))
    steps = {name: max(int(s["step"]) for s in o.state.values()) for name, o in trainer.optimizers.items()}
    assert steps == dict(optim_P=1, optim_Q_enc=1, optim_D=3, optim_Q_gen=1)
    assert [phase.name for phase in trainer.phases] == ["reconstruction", *["discriminator"] * 3, "generator"]


@needs_mnist
def test_evaluate_reports_label_consistency_and_tstr(tmp_path, script):
    script("launch/train.py", *TINY, "--model", "supervised", "--steps", "20", "--log-every", "10",
           "--output-dir", tmp_path / "run")
    result = script("launch/evaluate.py", "--checkpoint", tmp_path / "run", "--data-root", DATA_ROOT,
                        "--num-samples", "500", "--tstr-samples", "500", "--json", tmp_path / "eval.json")
    r = json.loads((tmp_path / "eval.json").read_text())
    assert "label consistency" in result.stdout and r["model"] == "supervised" and r["tstr_samples"] == 500
    assert 0 <= r["label_consistency"] <= 1 and 0 <= r["tstr_accuracy"] <= 1
    assert len(r["label_consistency_per_class"]) == 10
    assert r["trtr_accuracy"] == r["classifier_test_accuracy"] > 0.8
    assert r["run"]["trained_steps"] == 20 and r["run"]["model"] == "supervised"  # the run beside its figures
    assert {key: r["train_config"][key] for key in ("model", "seed", "steps", "preset", "hidden")} == dict(
        model="supervised", seed=0, steps=20, preset="seed", hidden=64)  # every setting it trained with


@pytest.mark.parametrize("script, flags, message", [
    ("train", ["--label-to-discriminator"],
     "--label-to-discriminator applies to --model supervised, semi-supervised, clustering, dim-reduction only"),
    ("train", ["--model", "semi"], "invalid choice: 'semi'"),
    ("train", ["--num-labels", "1000"], "--num-labels applies to --model semi-supervised, dim-reduction only"),
    ("train", ["--marginal-entropy", "1"],
     "--marginal-entropy applies to --model semi-supervised, clustering, dim-reduction only"),
    ("train", ["--model", "semi-supervised", "--num-labels", "ten"], "--num-labels must be a positive integer or all"),
    ("train", ["--model", "semi-supervised", "--num-labels", "70000"], "--num-labels 70000 exceeds the 60000 training"),
    ("train", ["--model", "clustering", "--clusters", "1"], "--clusters must be an integer >= 2"),
    ("train", ["--model", "clustering", "--vat", "1", "--vat-eps", "0"], "--vat-eps must be > 0, got 0.0"),
    ("train", ["--model", "clustering", "--affine-std", "-1"], "--affine-std must be > 0, got -1.0"),
    ("train", ["--model", "semi-supervised", "--affine-consistency", "1", "--mean-teacher"],
     "--mean-teacher sets the target of the consistency terms from the moving average: give --ema-decay"),
    ("train", ["--mean-teacher"], "--mean-teacher applies to --model semi-supervised, clustering, dim-reduction only"),
    ("generate", ["--label", "seven"], "--label seven: name a class"),
])
def test_objective_flags_give_one_clear_line(tmp_path, cli, script, flags, message):
    base = {"train": ["--data-root", DATA_ROOT, "--output-dir", tmp_path / "r"],
            "generate": ["--checkpoint", LEGACY_RUN, "--out", tmp_path / "x.npz"]}[script]
    status, _, err = cli(f"{script}.py", *base, *flags)
    (line,) = err.strip().splitlines()
    assert status == 2 and message in line, err


def test_label_and_style_grid_need_a_conditional_model(tmp_path, cli):
    for flags in (["--label", "3"], ["--style-grid"]):
        status, _, err = cli("generate.py", "--checkpoint", LEGACY_RUN, "--out", tmp_path / "x.png", *flags)
        (line,) = err.strip().splitlines()
        assert status == 2 and "need a class-conditional model (--model supervised" in line, err


@needs_mnist
def test_supervised_bf16_runs_in_bf16(tmp_path):
    """bf16 asked for: the networks' matmuls run in bf16 (autocast active), the master weights stay fp32."""
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="supervised", mixed_precision="bf16"))
    seen = set()
    for network in trainer.networks.values():
        network[0].register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
    metrics = trainer.train_step(trainer.batch(0))
    assert seen == {torch.bfloat16}
    assert all(torch.isfinite(v) for v in metrics.values())
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


# ------------------------------------------------------------------ a new variant needs no trainer change
class PlainAutoencoder(AAE):
    """A variant defined outside the library: an autoencoder with one phase and no adversary."""

    def build_networks(self):
        c = self.config
        return {"encoder": encoder(c), "decoder": decoder(c, c.z_dim)}

    def optimizers(self):
        return {"optim_AE": (self, "lr_recon")}

    def phases(self):
        return [Phase("reconstruction", "recon_loss", self.reconstruct, ("optim_AE",), trains=("encoder", "decoder"))]

    def reconstruct(self, nets, batch):
        return {"recon_loss": reconstruction_loss(nets.decoder(nets.encoder(batch["x"])), batch["x"])}

    def preview(self):
        return torch.zeros(4, self.config.z_dim), None, 2


@needs_mnist
def test_a_new_variant_trains_without_touching_the_trainer(tmp_path, monkeypatch):
    monkeypatch.setitem(OBJECTIVES, "autoencoder", PlainAutoencoder)  # what adding it to objectives/ does
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="autoencoder", steps=20, checkpoint_every=20))
    model = trainer.fit()
    assert isinstance(model, PlainAutoencoder) and list(trainer.optimizers) == ["optim_AE"]
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert set(log[0]) == {"step", "recon_loss", "epoch", "samples_per_s"}
    assert log[-1]["recon_loss"] < log[0]["recon_loss"]
    assert {"encoder.safetensors", "decoder.safetensors", "optim_AE.bin"} <= {
        p.name for p in (tmp_path / "checkpoints" / "step_000020").iterdir()}
    assert isinstance(AAE.from_pretrained(str(tmp_path)), PlainAutoencoder)


@needs_mnist
@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_fit_returns_the_saved_model_ready_to_sample(tmp_path, ema_decay):
    """Trainer.fit() gives what model.safetensors holds (with --ema-decay the moving average), in eval mode."""
    model = Trainer(tiny_config(output_dir=str(tmp_path), steps=10, ema_decay=ema_decay)).fit()
    saved = AAE.from_pretrained(str(tmp_path))
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(value.cpu(), saved.state_dict()[name]) for name, value in model.state_dict().items())
    images = model.sample(3, torch.Generator().manual_seed(0))[0]
    assert torch.equal(images, model.sample(3, torch.Generator().manual_seed(0))[0])  # no dropout


def test_aae_of_a_config_is_its_variant():
    assert type(AAE(ModelConfig())) is VanillaAAE
    assert type(AAE(ModelConfig(model="supervised"))).__name__ == "SupervisedAAE"
