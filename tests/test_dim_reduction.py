"""The dimensionality-reduction AAE (the AAE paper's figures 10-11): the representation W y + z, the cluster heads'
cost and where it goes, who changes what in each phase, and a short run that trains, saves, loads and evaluates.
Its DDP case is in test_ddp.py, its resume case in test_train_cli.py."""

import json

import pytest
import torch
from PIL import Image

from aae_dist import AAE, ConfigError, TrainConfig, Trainer
from aae_dist.data import load_reference_set
from aae_dist.metrics import classification
from aae_dist.models import ModelConfig
from aae_dist.objectives import DimReductionAAE

from conftest import DATA_ROOT, needs_mnist, no_gradients, tiny_config
from test_semi_supervised import changed, snapshot


def small_model(**config):
    return AAE(ModelConfig(**{**dict(model="dim-reduction", hidden=16, disc_hidden=8, z_dim=3,
                                     image_shape=(1, 10, 10)), **config}))


def test_the_representation_is_w_y_plus_z_and_the_decoder_reads_it():
    torch.manual_seed(0)
    model = small_model().eval()
    assert isinstance(model, DimReductionAAE) and model.cluster_heads.weight.shape == (3, 10)  # W: n x m
    assert model.decoder[0].in_features == 3  # the n-D representation, not [y, z]
    x = torch.rand(6, 1, 10, 10)
    y, z = model.posterior(x)
    expected = y @ model.cluster_heads.weight.T + z
    torch.testing.assert_close(model.representation(x), expected)
    assert (model.representation(x) - z).abs().min() > 0  # W y is there
    # sampling: class k decodes W's column k plus the style code
    codes, labels = torch.randn(4, 3), torch.tensor([0, 3, 3, 9])
    torch.testing.assert_close(model.decoder_input(codes, labels), model.cluster_heads.weight.T[labels] + codes)
    torch.testing.assert_close(model.reconstruction_logits(x), model.decoder(expected))


def test_the_heads_cost_is_zero_for_heads_eta_apart_and_their_shortfall_otherwise():
    model = small_model(z_dim=2, num_classes=3)
    heads = model.cluster_heads
    with torch.no_grad():
        heads.weight.copy_(torch.tensor([[0.0, 4.0, 0.0], [0.0, 0.0, 5.0]]))  # distances 4, 5, sqrt(41)
    assert heads.distance_penalty(3.0).item() == 0  # every two further apart than eta
    assert heads.distance_penalty(4.5).item() == pytest.approx(0.5)  # only the pair 4 apart, by 0.5
    assert heads.distance_penalty(5.5).item() == pytest.approx(1.5 + 0.5)
    with torch.no_grad():
        heads.weight[:, 1] = torch.tensor([1.0, 0.0])  # head 1 now 1 from head 0
    penalty = heads.distance_penalty(3.0)
    assert penalty.item() == pytest.approx(2.0)
    penalty.backward()  # and its gradient pushes the two apart: a descent step moves head 1 away from head 0
    assert heads.weight.grad[0, 1] < 0 < heads.weight.grad[0, 0] and heads.weight.grad[:, 2].abs().max() == 0


@needs_mnist
def test_the_heads_cost_joins_the_reconstruction_loss(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="dim-reduction", head_distance=4.0))
    heads = trainer.model.cluster_heads
    before = heads.distance_penalty(4.0).detach()
    assert before > 0  # the heads start about eta apart: some pairs closer
    metrics = trainer.run_phase(trainer.phases[0], trainer.batch(0))
    assert trainer.phases[0].loss == "recon_head_loss"
    torch.testing.assert_close(metrics["head_penalty"], before)
    torch.testing.assert_close(metrics["recon_head_loss"], metrics["recon_loss"] + metrics["head_penalty"])
    assert heads.distance_penalty(4.0) < before  # the phase's step moved the heads apart


@needs_mnist
def test_each_phase_changes_only_its_own_networks(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="dim-reduction"))
    names = ["encoder", "decoder", "discriminator_y", "discriminator_z", "cluster_heads"]
    nets = [trainer.networks[name] for name in names]
    expected = {"reconstruction": {"encoder", "decoder", "cluster_heads"},
                "discriminator": {"discriminator_y", "discriminator_z"}, "generator": {"encoder"},
                "classification": {"encoder"}}
    assert [p.name for p in trainer.phases] == list(expected)
    batch = trainer.batch(0)
    for phase in trainer.phases:
        before = snapshot(nets)
        trainer.run_phase(phase, batch)
        assert {name for name, moved in zip(names, changed(nets, before)) if moved} == expected[phase.name], phase.name
        assert no_gradients(trainer.model.parameters())
    steps = {name: max(int(s["step"]) for s in o.state.values()) for name, o in trainer.optimizers.items()}
    assert steps == dict(optim_P=1, optim_Q_enc=1, optim_D_y=1, optim_D_z=1, optim_Q_gen=1, optim_Q_cls=1, optim_W=1)


@needs_mnist
def test_a_short_run_trains_saves_loads_and_evaluates(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="dim-reduction", num_labels="100", steps=30,
                                  eval_every=30, checkpoint_every=30, sample_every=30))
    start = trainer.model.cluster_heads.weight.detach().clone()
    trainer.fit()
    assert not torch.equal(start, trainer.model.cluster_heads.weight)  # W learns
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    (record,) = [r for r in records if "test_error" in r]
    assert record["test_error"] < 0.6  # chance: 0.9 (0.31 and 0.34 measured, seeds 0 and 1)
    assert "head_penalty" in records[0] and Image.open(tmp_path / "representation.png").size == (700, 700)
    aae = AAE.from_pretrained(str(tmp_path))
    assert isinstance(aae, DimReductionAAE)
    assert torch.equal(aae.cluster_heads.weight, trainer.model.cluster_heads.weight)
    test_images, test_labels, _ = load_reference_set("mnist", DATA_ROOT)
    result = classification(aae, test_images, test_labels, None)  # aae-evaluate's: the y head's
    assert result["test_error"] == pytest.approx(record["test_error"])
    images, z = aae.sample(20, labels=4)
    assert images.shape == (20, 1, 28, 28) and 0 <= images.min() and images.max() <= 1


def test_the_recipe_and_the_flag():
    from aae_dist.config import load_train_config

    config = load_train_config({"model": "dim-reduction"})
    assert (config.z_dim, config.num_labels, config.head_distance, config.prior_std, config.hidden,
            config.batch_size, config.lr_schedule) == (2, "1000", 3.0, 0.5, 1000, 400, "cosine")
    assert load_train_config({"model": "dim-reduction", "z_dim": 10}).z_dim == 10  # flags given still win
    with pytest.raises(ConfigError, match="--head-distance must be > 0"):
        TrainConfig(model="dim-reduction", head_distance=0.0)
    with pytest.raises(ConfigError, match="--head-distance applies to --model dim-reduction only"):
        TrainConfig(model="semi-supervised", head_distance=2.0)
    assert TrainConfig(model="dim-reduction", head_distance=2.0).model_config((1, 28, 28), 10).head_distance == 2.0
