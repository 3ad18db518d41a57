"""Priors, generation, the evaluation metrics against hand computation, and the generate/evaluate/plot CLIs."""

import json
import math

import numpy as np
import pytest
import torch

from aae_dist import AAE
from aae_dist.metrics import frechet_distance, label_entropy, mmd, parzen_evaluation, parzen_log_likelihood
from aae_dist.priors import GaussianPrior, MixturePrior, SwissRollPrior

from conftest import DATA_ROOT, TINY, needs_mnist, run_script


# ------------------------------------------------------------------ priors
def test_mixture_prior_statistics():
    prior = MixturePrior(components=10, radius=1.4, radial_std=0.5, tangential_std=0.05)
    z = prior.sample(200_000, torch.Generator().manual_seed(0))
    angle = torch.atan2(z[:, 1], z[:, 0])
    component = torch.round(angle / (2 * math.pi / 10)).remainder(10).long()
    assert torch.allclose(torch.bincount(component) / len(z), torch.full((10,), 0.1), atol=0.005)
    # along the radius: N(1.4, 0.5); across it: N(0, 0.05)
    r = z.norm(dim=1)
    assert abs(r.mean() - 1.4) < 0.01 and abs(r.std() - 0.5) < 0.01
    across = r * torch.sin(angle - component * 2 * math.pi / 10)
    assert abs(across[r > 0.7].std() - 0.05) < 0.003


def test_swiss_roll_prior_statistics():
    z = SwissRollPrior(radius=3.0, turns=2.0).sample(100_000, torch.Generator().manual_seed(0))
    r = z.norm(dim=1)
    assert r.max() <= 3.0 + 1e-5 and abs(r.mean() - 2.0) < 0.02  # r = 3 sqrt(u): E r = 2
    # every point lies on the spiral: angle = 2 pi turns r / radius (mod 2 pi)
    gap = torch.remainder(torch.atan2(z[:, 1], z[:, 0]) - 4 * math.pi * r / 3.0, 2 * math.pi)
    assert torch.minimum(gap, 2 * math.pi - gap).max() < 1e-3


def test_the_prior_flags_give_the_model_that_prior():
    """--prior and its flags -> TrainConfig.prior_config -> model_config.json's prior -> the model's prior."""
    from aae_dist import TrainConfig

    for flags, kind, values in [(dict(prior_std=2.0, z_dim=3), GaussianPrior, dict(dim=3, std=2.0)),
                                (dict(prior="mixture", mixture_components=4, mixture_radius=2.0), MixturePrior,
                                 dict(dim=2, components=4, radius=2.0)),
                                (dict(prior="swiss-roll", swiss_roll_turns=1.5), SwissRollPrior,
                                 dict(dim=2, turns=1.5))]:
        prior = AAE(TrainConfig(**flags).model_config(image_shape=(1, 28, 28), num_classes=10)).prior
        assert type(prior) is kind and {name: getattr(prior, name) for name in values} == values, flags


# ------------------------------------------------------------------ metrics against hand computation
def test_parzen_matches_hand_computation():
    x, samples, sigma = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 2.0]]), 0.5
    normal = lambda d2: math.exp(-d2 / (2 * sigma**2)) / (2 * math.pi * sigma**2)  # 2-D isotropic density
    hand = math.log(0.5 * (normal(0.0) + normal(5.0)))
    assert parzen_log_likelihood(x, samples, [sigma])[0, 0].item() == pytest.approx(hand, abs=1e-9)


def test_parzen_protocol_picks_sigma_on_validation():
    generator = torch.Generator().manual_seed(0)
    samples = torch.randn(500, 3, generator=generator) * 0.3
    validation, test = (torch.randn(200, 3, generator=generator) * 0.3 for _ in range(2))
    result = parzen_evaluation(samples, validation, test, sigmas=[0.01, 0.1, 0.2, 1.0])
    scores = result["parzen_validation_ll"]
    assert result["parzen_sigma"] == float(max(scores, key=scores.get))
    ll = parzen_log_likelihood(test, samples, [result["parzen_sigma"]])[0]
    assert result["parzen_ll"] == pytest.approx(ll.mean().item())
    assert result["parzen_ll_stderr"] == pytest.approx(ll.std().item() / math.sqrt(200))


@needs_mnist
def test_parzen_protocol_gives_the_published_value_for_real_data():
    """10,000 training images as the samples: Theis et al. (2016, "A note on the evaluation of generative models")
    report 243 nats for the true distribution under this protocol; ours must agree within its standard error."""
    from aae_dist.data import load_dataset, to_model_input
    from aae_dist.metrics import PARZEN_VALIDATION

    train, test = (to_model_input(load_dataset("mnist", DATA_ROOT, train=split, download=False)[0])
                   for split in (True, False))
    result = parzen_evaluation(train[:10000], train[PARZEN_VALIDATION], test)
    assert abs(result["parzen_ll"] - 243) < 2 * result["parzen_ll_stderr"] + 1, result["parzen_ll"]


def test_frechet_distance_matches_closed_form():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 2, generator=generator) * torch.tensor([1.0, 2.0])
    b = torch.randn(200_000, 2, generator=generator) * torch.tensor([3.0, 1.0]) + torch.tensor([1.0, 0.0])
    # diagonal covariances: |dmu|^2 + sum (s_a - s_b)^2 = 1 + (1 - 3)^2 + (2 - 1)^2 = 6
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_precision_and_recall_by_hand():
    from aae_dist.metrics import precision_recall

    real = torch.arange(10.0)[:, None]                                  # 0..9: 3rd-neighbour radii 2 (ends 3)
    fake = torch.tensor([0.0, 1, 2, 3, 100, 101, 102, 103])[:, None]    # half on the real points, half far away
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 0.5  # 0..3 lie in real balls, 100..103 in none
    assert recall == pytest.approx(0.7)  # the fake balls around 0..3 reach 3 + 3 = 6: real 0..6 covered


def test_mmd_and_label_entropy():
    generator = torch.Generator().manual_seed(0)
    same = mmd(torch.randn(1000, 2, generator=generator), torch.randn(1000, 2, generator=generator))[0]
    shifted = mmd(torch.randn(1000, 2, generator=generator), torch.randn(1000, 2, generator=generator) + 1)[0]
    assert abs(same) < 0.01 < shifted
    assert label_entropy(torch.arange(10).repeat(5)) == pytest.approx(math.log(10))
    assert label_entropy(torch.zeros(50, dtype=torch.long)) == 0


# ------------------------------------------------------------------ a tiny trained run and the CLIs
@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tiny") / "run"
    run_script("launch/train.py", *TINY, "--steps", "30", "--log-every", "10", "--checkpoint-every", "15",
               "--output-dir", run)
    return run


@needs_mnist
def test_generation_shapes_ranges_and_determinism(tiny_run, tmp_path, script):
    out = lambda name: tmp_path / name
    script("launch/generate.py", "--checkpoint", tiny_run, "--num-samples", "50", "--batch-size", "16",
               "--out", out("a.npz"), "--seed", "1")
    script("launch/generate.py", "--checkpoint", tiny_run, "--num-samples", "50", "--out", out("b.npz"),
               "--seed", "1")
    script("launch/generate.py", "--checkpoint", tiny_run, "--num-samples", "50", "--out", out("b2.npz"),
               "--seed", "1")
    script("launch/generate.py", "--checkpoint", tiny_run, "--num-samples", "50", "--out", out("c.pt"),
               "--seed", "2")
    a, b, b2 = np.load(out("a.npz")), np.load(out("b.npz")), np.load(out("b2.npz"))
    c = torch.load(out("c.pt"), weights_only=True)
    assert a["images"].shape == (50, 1, 28, 28) and a["z"].shape == (50, 2)
    assert 0 <= a["images"].min() and a["images"].max() <= 1
    assert np.array_equal(b["images"], b2["images"]) and np.array_equal(b["z"], b2["z"])  # same seed, same bits
    assert np.array_equal(a["z"], b["z"]) and np.allclose(a["images"], b["images"], atol=1e-6)  # any batch size
    assert not np.array_equal(a["z"], c["z"].numpy())
    # the library call gives the same images
    images, z = AAE.from_pretrained(str(tiny_run)).sample(50, torch.Generator().manual_seed(1))
    assert np.allclose(images.numpy(), a["images"], atol=1e-6)


@needs_mnist
def test_generation_from_a_checkpoint(tiny_run, tmp_path, script):
    """A checkpoint directory loads as the weights of its step: the last one holds the run's final weights."""
    *earlier, last = sorted((tiny_run / "checkpoints").glob("step_*"))
    images = {}
    for name, source in (("run", tiny_run), ("last", last), ("earlier", earlier[0])):
        script("launch/generate.py", "--checkpoint", source, "--num-samples", "20", "--out", tmp_path / f"{name}.npz")
        images[name] = np.load(tmp_path / f"{name}.npz")["images"]
    assert np.array_equal(images["run"], images["last"]) and not np.array_equal(images["run"], images["earlier"])


def test_generate_from_a_broken_checkpoint(tmp_path, cli):
    step = tmp_path / "checkpoints" / "step_000010"
    step.mkdir(parents=True)
    (step / "trainer_state.json").write_text('{"step": 10, "config": {}}')  # its weights are missing
    status, _, err = cli("generate.py", "--checkpoint", step, "--out", tmp_path / "x.npz")
    (line,) = err.strip().splitlines()
    assert status == 2 and "is not a complete aae_dist checkpoint" in line


@needs_mnist
def test_lattice_manifold_and_png(tiny_run, tmp_path, script):
    from PIL import Image

    for flags, size in [(["--lattice"], 302), (["--manifold", "5"], 152), (["--num-samples", "16"], 122)]:
        path = tmp_path / f"{flags[0]}.png"
        script("launch/generate.py", "--checkpoint", tiny_run, *flags, "--out", path)
        assert Image.open(path).size == (size, size)


@pytest.mark.parametrize("flags, message", [
    (["--num-samples", "0", "--out", "x.npz"], "must be positive"),
    (["--out", "x.jpg"], "unknown suffix"),
])
def test_generate_bad_input(tmp_path, cli, flags, message):
    status, _, err = cli("generate.py", "--checkpoint", tmp_path, *flags)
    assert status == 2 and message in err


def test_generate_from_a_dir_without_weights(tmp_path, cli):
    status, _, err = cli("generate.py", "--checkpoint", tmp_path, "--out", tmp_path / "x.npz")
    (line,) = err.strip().splitlines()
    assert status == 2 and "has no model.safetensors" in line


@needs_mnist
def test_classifier_trains_inside_an_evaluation(tmp_path):
    """evaluate() runs under no_grad and trains classifiers (TSTR, other datasets'): training must have grads."""
    from aae_dist.classifier import fit_classifier

    images, labels = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
    with torch.no_grad():
        model = fit_classifier(images, labels, epochs=1, batch_size=16)
    untrained = fit_classifier(images, labels, epochs=0)
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), untrained.parameters()))


@needs_mnist
def test_evaluate_cli(tiny_run, tmp_path, script):
    out = tmp_path / "eval.json"
    result = script("launch/evaluate.py", "--checkpoint", tiny_run, "--data-root", DATA_ROOT, "--num-samples",
                        "500", "--json", out)
    assert "Parzen log-likelihood" in result.stdout and "classifier accuracy on the test images" in result.stdout
    assert "near chance" not in result.stdout
    r = json.loads(out.read_text())
    for key in ("recon_bce_per_pixel", "recon_nats_per_image", "parzen_ll", "parzen_ll_stderr", "parzen_sigma",
                "mean_gap", "cov_gap_frobenius", "mmd2", "d_prior", "d_encoded_test", "frechet_distance",
                "label_entropy", "classifier_test_accuracy", "precision", "recall"):
        assert math.isfinite(r[key]), key
    assert any(abs(r["parzen_sigma"] - s) < 1e-9 for s in torch.logspace(-1, 0, 10).tolist())
    assert r["recon_nats_per_image"] == pytest.approx(784 * r["recon_bce_per_pixel"])
    assert 0 <= r["label_entropy"] <= math.log(10) + 1e-9 and sum(r["label_histogram"]) == 500
    assert r["classifier_test_accuracy"] > 0.98  # the classifier that ships with the package
    assert len(r["posterior_cov"]) == 2 and len(r["prior_mean"]) == 2


@needs_mnist
def test_training_writes_pictures_and_plot_cli_redraws_them(tiny_run, script):
    for name in ("losses.png", "latent_scatter.png", "manifold.png"):
        (tiny_run / name).unlink()
    script("launch/plot.py", tiny_run, "--data-root", DATA_ROOT)
    for name in ("losses.png", "latent_scatter.png", "manifold.png"):
        assert (tiny_run / name).stat().st_size > 1000


@needs_mnist
@pytest.mark.parametrize("prior", ["mixture", "swiss-roll"])
def test_training_with_a_paper_prior(tmp_path, prior, script):
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--steps", "10", "--log-every", "5", "--prior", prior, "--output-dir", run)
    aae = AAE.from_pretrained(str(run))
    assert aae.prior.name == prior  # generation and evaluation use the prior the run trained with
    assert json.loads((run / "config.json").read_text())["prior"] == prior


def test_paper_preset_and_its_overrides(tmp_path, cli):
    from aae_dist.config import load_train_config

    config = load_train_config({"preset": "paper"})
    assert (config.z_dim, config.hidden, config.disc_hidden, config.prior_std, config.dropout, config.disc_dropout,
            config.encoder, config.lr_recon, config.lr_reg, config.recon_loss, config.steps, config.ema_decay) == (
        8, 1200, 1200, 5.0, 0.2, 0.2, "gaussian", 2e-4, 1e-4, "bce", 120000, 0.999)
    assert load_train_config({"preset": "paper", "z_dim": 4}).z_dim == 4
    status, _, err = cli("train.py", "--prior", "mixture", "--z-dim", "3", "--output-dir", tmp_path)
    assert status == 2 and "--prior mixture is 2-D" in err


def test_a_table_row_preset_is_its_variants_recipe_with_the_rows_flags(tmp_path, script):
    from aae_dist.config import load_train_config
    from aae_dist.objectives import OBJECTIVES

    config = load_train_config({"preset": "clusters-30"})
    assert (config.model, config.clusters, config.steps) == ("clustering", 30, 16000)
    assert all(getattr(config, k) == v for k, v in OBJECTIVES["clustering"].recipe.items() if k != "steps")
    assert load_train_config({"preset": "clusters-30", "steps": 50}).steps == 50  # flags still win
    run = tmp_path / "run"  # the CLI: the run's config.json records the preset and what it set
    script("launch/train.py", "--preset", "dimred-10d", *TINY, "--steps", "2", "--log-every", "1", "--eval-every", "0",
           "--output-dir", run)
    saved = json.loads((run / "config.json").read_text())
    assert (saved["preset"], saved["model"], saved["z_dim"], saved["num_labels"]) == ("dimred-10d", "dim-reduction", 10,
                                                                                       "1000")
