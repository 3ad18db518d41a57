"""The semi-supervised and clustering AAEs (paper sections 6-7): the labelled subset, the categorical prior, who
changes what in each phase, the clustering rule, and a short run that learns to classify."""

import json
import math
import shutil
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from aae_dist import AAE, AAEError, Trainer
from aae_dist.data import labelled_subset, load_reference_set, load_training_set, to_model_input
from aae_dist.losses import consistency_loss, marginal_entropy_gap
from aae_dist.metrics import classification, cluster_labels, majority_cluster_labels, name_clusters
from aae_dist.metrics import test_metrics as eval_every_metrics  # a name pytest does not collect
from aae_dist.models import ModelConfig
from aae_dist.priors import CategoricalPrior

from conftest import DATA_ROOT, TINY, needs_mnist, no_gradients, tiny_config


def test_labelled_subset_is_class_balanced_seeded_and_of_the_training_set():
    labels = torch.arange(1000) % 10
    subset = labelled_subset(labels, 100, seed=0)
    assert len(subset) == len(set(subset.tolist())) == 100 and 0 <= subset.min() and subset.max() < 1000
    assert torch.bincount(labels[subset]).tolist() == [10] * 10
    assert torch.equal(subset, labelled_subset(labels, 100, seed=0))
    assert not torch.equal(subset, labelled_subset(labels, 100, seed=1))
    assert torch.bincount(labels[labelled_subset(labels, 25, seed=0)]).tolist() == [3] * 5 + [2] * 5
    assert torch.equal(labelled_subset(labels, None, seed=0), torch.arange(1000))  # --num-labels all
    with pytest.raises(AAEError, match="--num-labels: class 1 has no training images"):  # labels with a gap
        labelled_subset(torch.tensor([0, 0, 2, 2, 2, 2]), 3, seed=0)


def test_categorical_prior_draws_balanced_one_hot_vectors():
    draws = CategoricalPrior(10).sample(20000, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 10) and set(draws.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(draws.sum(1), torch.ones(20000))
    assert (draws.mean(0) - 0.1).abs().max() < 0.01
    assert torch.equal(draws, CategoricalPrior(10).sample(20000, torch.Generator().manual_seed(0)))


def test_clustering_rule_names_each_cluster_by_its_most_confident_training_image():
    # 3 clusters, 4 training images: cluster 0 is most sure of image 1 (label 7), cluster 1 of image 3 (label 2),
    # cluster 2 of image 0 (label 5)
    probabilities = torch.tensor([[0.1, 0.1, 0.8], [0.9, 0.05, 0.05], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1]])
    assert cluster_labels(probabilities, torch.tensor([5, 7, 2, 2])).tolist() == [7, 2, 5]


def test_majority_labels_name_clusters_by_their_most_frequent_label_and_both_errors_are_logged():
    # 4 clusters, 6 training images; cluster 0 holds images 1, 2, 4, 5 (labels 7, 2, 2, 5) and is most sure of
    # image 1; cluster 3 holds none, and is most sure of image 5 (label 5)
    probabilities = torch.tensor([[0.1, 0.1, 0.8, 0.0], [0.9, 0.05, 0.0, 0.05], [0.5, 0.1, 0.0, 0.4],
                                  [0.2, 0.7, 0.0, 0.1], [0.6, 0.1, 0.0, 0.3], [0.5, 0.0, 0.05, 0.45]])
    train_labels = torch.tensor([5, 7, 2, 2, 2, 5])
    assert cluster_labels(probabilities, train_labels).tolist() == [7, 2, 5, 5]
    assert majority_cluster_labels(probabilities, train_labels).tolist() == [2, 2, 5, 5]  # the empty one: the paper's

    class Hand:  # a clustering model whose q(y|x) is the image's first pixels
        categorical, decodes_classes, device = True, False, "cpu"

        def class_probabilities(self, x):
            return x.flatten(1)[:, :4]

        def reconstruction_logits(self, x, y):
            return torch.zeros_like(x)

    train = (probabilities * 255).round().to(torch.uint8).view(6, 1, 1, 4)
    test = (torch.eye(4) * 255).to(torch.uint8).view(4, 1, 1, 4)  # one image in each cluster
    clusters, labels, majority = name_clusters(Hand(), test, train, train_labels)
    assert clusters.tolist() == [0, 1, 2, 3] and labels.tolist() == [7, 2, 5, 5] and majority.tolist() == [2, 2, 5, 5]
    # test labels 2, 2, 5, 7: the paper's labels get clusters 0 and 3 wrong, the majority labels cluster 3
    record = eval_every_metrics(Hand(), test, torch.tensor([2, 2, 5, 7]), train, train_labels)
    assert record["test_error"] == 0.5 and record["majority_test_error"] == 0.25


def test_marginal_entropy_gap_is_zero_for_balanced_use_and_log_k_for_one_class():
    assert marginal_entropy_gap(torch.eye(10)) == pytest.approx(0, abs=1e-6)  # each class once: balanced
    assert marginal_entropy_gap(torch.full((4, 10), 0.1)) == pytest.approx(0, abs=1e-6)
    one_class = torch.nn.functional.one_hot(torch.zeros(5, dtype=torch.long), 10).float()
    assert marginal_entropy_gap(one_class) == pytest.approx(math.log(10))


@needs_mnist
def test_marginal_entropy_joins_the_generator_loss(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="clustering", marginal_entropy=2.0))
    metrics = trainer.train_step(trainer.batch(0))
    assert metrics["marginal_entropy_gap"] > 0
    torch.testing.assert_close(metrics["g_loss"], metrics["g_loss_y"] + metrics["g_loss_z"]
                               + 2.0 * metrics["marginal_entropy_gap"])


@needs_mnist
@pytest.mark.parametrize("weights", [{"vat": 3.0}, {"affine_consistency": 2.0}, {"vat": 3.0, "affine_consistency": 2.0}])
def test_consistency_terms_join_the_generator_loss(tmp_path, weights):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="clustering", **weights))
    metrics = trainer.train_step(trainer.batch(0))
    terms = {"vat": "vat_loss", "affine_consistency": "affine_loss"}
    assert {terms[name] for name in weights} == set(terms.values()) & metrics.keys()  # only the terms asked for
    assert all(metrics[terms[name]] > 0 for name in weights)
    torch.testing.assert_close(metrics["g_loss"], metrics["g_loss_y"] + metrics["g_loss_z"]
                               + sum(w * metrics[terms[name]] for name, w in weights.items()))


@needs_mnist
def test_mean_teacher_takes_the_consistency_target_from_the_moving_average_and_trains_only_the_encoder(tmp_path):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="semi-supervised", num_labels="100", input_noise=0.0,
                                  dropout=0.0, affine_consistency=1.0, batch_size=20, ema_decay=0.9, mean_teacher=True))
    for step in range(3):  # the average now lags the trained weights
        trainer.train_step(trainer.batch(step))
    model, average, batch = trainer.model, trainer.ema, trainer.batch(3)
    loss = model.regularize(SimpleNamespace(**model.networks, ema=average), batch)["affine_loss"]

    def logits(encoder, images):
        return model.split(encoder(images))[0]

    view = model.affine_view(batch["x"], batch["affine_noise"])
    torch.testing.assert_close(loss, consistency_loss(logits(average.encoder, batch["x"]), logits(model.encoder, view)))
    assert not torch.allclose(loss, consistency_loss(logits(model.encoder, batch["x"]), logits(model.encoder, view)))
    (generator,) = [phase for phase in trainer.phases if phase.name == "generator"]
    before = snapshot([average, model.encoder])
    model.zero_grad()
    trainer.run_phase(generator, batch)
    assert changed([average, model.encoder], before) == [False, True]  # the teacher only reads
    assert no_gradients(average.parameters())


def test_affine_view_moves_each_image_by_its_own_transform():
    model = AAE(ModelConfig(model="clustering", affine_consistency=1.0, hidden=16, z_dim=2, image_shape=(1, 12, 12)))
    x = torch.rand(2, 144)
    noise = torch.zeros(2, 6)
    noise[1, 2] = 2 * 3 / 12  # image 1: x shifted by 3 pixels (the grid spans [-1, 1] over 12 pixels); image 0: as is
    view = model.affine_view(x, noise).view(2, 12, 12)
    torch.testing.assert_close(view[0], x[0].view(12, 12))
    torch.testing.assert_close(view[1, :, :-3], x[1].view(12, 12)[:, 3:])  # moved left by 3 pixels
    torch.testing.assert_close(view[1, :, -3:], x[1].view(12, 12)[:, -1:].expand(12, 3))  # the border fills in


@needs_mnist
def test_affine_labelled_classifies_each_labelled_image_moved_and_draws_the_other_priors_as_before(tmp_path):
    config = dict(output_dir=str(tmp_path), model="semi-supervised", num_labels="100", input_noise=0.0, dropout=0.0,
                  affine_consistency=1.0, batch_size=20)
    plain, trainer = Trainer(tiny_config(**config)).batch(3), Trainer(tiny_config(**config, affine_labelled=True))
    batch, model = trainer.batch(3), trainer.model
    assert batch.keys() - plain.keys() == {"affine_noise_labelled"}
    assert all(torch.equal(batch[key], plain[key]) for key in plain)  # its draw comes after the others
    x, labels, noise = batch["x_labelled"], batch["y_labelled"], batch["affine_noise_labelled"]
    assert noise.shape == (20, 6) and 0.05 < noise.std() < 0.2  # --affine-std 0.1
    loss = model.classify(SimpleNamespace(**model.networks), batch)["class_loss"]

    def cross_entropy(images):
        return torch.nn.functional.cross_entropy(model.split(model.encoder(images))[0].float(), labels)

    torch.testing.assert_close(loss, cross_entropy(model.affine_view(x, noise)))
    assert not torch.allclose(loss, cross_entropy(x))


def test_vat_perturbation_has_norm_eps_and_changes_q_y_more_than_random_ones():
    torch.manual_seed(0)
    model = AAE(ModelConfig(model="clustering", clusters=8, vat=1.0, vat_eps=0.5, hidden=64, z_dim=2, dropout=0.0,
                            image_shape=(1, 10, 10)))
    x = torch.rand(256, 1, 10, 10)
    r = model.adversarial_perturbation(x, torch.randn(256, 100))
    torch.testing.assert_close(r.flatten(1).norm(dim=1), torch.full((256,), 0.5))
    logits = model.split(model.encoder(x))[0].detach()

    def divergence(perturbation):
        return consistency_loss(logits, model.split(model.encoder(x + perturbation))[0]).item()

    random = torch.nn.functional.normalize(torch.randn(256, 100), dim=1).view_as(x) * 0.5
    assert divergence(r) > 5 * divergence(random)
    assert all(p.grad is None for p in model.parameters())  # the power iteration trains nothing


@needs_mnist
@pytest.mark.parametrize("term, weights", [("vat_loss", {"vat": 1.0}), ("affine_loss", {"affine_consistency": 1.0})])
def test_consistency_gradient_of_a_batch_is_the_mean_of_its_halves_gradients(tmp_path, term, weights):
    """What DDP needs: two processes' halves of a global batch (and of its random draws) give its gradient."""
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="clustering", clusters=8, input_noise=0.0,
                                  dropout=0.0, batch_size=50, **weights))
    model, batch = trainer.model, trainer.batch(0)
    nets = SimpleNamespace(**model.networks)

    def gradient(part):
        model.zero_grad()
        model.regularize(nets, {key: value[part] for key, value in batch.items()})[term].backward()
        return model.encoder[0].weight.grad.clone()

    whole, halves = gradient(slice(0, 50)), (gradient(slice(0, 25)) + gradient(slice(25, 50))) / 2
    torch.testing.assert_close(halves, whole, rtol=1e-4, atol=1e-6 * whole.abs().max().item())


def snapshot(modules):
    return [[p.detach().clone() for p in m.parameters()] for m in modules]


def changed(modules, before):
    return [any(not torch.equal(p, b) for p, b in zip(m.parameters(), old)) for m, old in zip(modules, before)]


@needs_mnist
@pytest.mark.parametrize("model, pairs", [("semi-supervised", False), ("semi-supervised", True),
                                         ("clustering", False)])
def test_each_phase_changes_only_its_own_parameters(tmp_path, model, pairs):
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model=model, label_to_discriminator=pairs))
    m = trainer.model
    nets = (m.encoder, m.decoder, m.discriminator_y, m.discriminator_z)
    assert m.discriminator_z[0].in_features == m.config.z_dim + pairs * m.classes  # (y, z) pairs, or z
    batch = trainer.batch(0)
    expected = {"reconstruction": [True, True, False, False], "discriminator": [False, False, True, True],
                "generator": [True, False, False, False], "classification": [True, False, False, False]}
    assert [p.name for p in trainer.phases] == ["reconstruction", "discriminator", "generator",
                                                *(["classification"] if model == "semi-supervised" else [])]
    for phase in trainer.phases:
        before = snapshot(nets)
        trainer.run_phase(phase, batch)
        assert changed(nets, before) == expected[phase.name], phase.name
        assert no_gradients(m.parameters())
    steps = {name: max(int(s["step"]) for s in o.state.values()) for name, o in trainer.optimizers.items()}
    assert steps == dict(optim_P=1, optim_Q_enc=1, optim_D_y=1, optim_D_z=1, optim_Q_gen=1,
                         **({"optim_Q_cls": 1} if model == "semi-supervised" else {}))


@needs_mnist
def test_only_the_labelled_phase_reads_labels_and_only_those_of_the_subset(tmp_path):
    """The same step with every batch label scrambled changes nothing: the classification phase reads the labelled
    mini-batch, which comes from the subset alone."""
    trainer = Trainer(tiny_config(output_dir=str(tmp_path), model="semi-supervised", num_labels="20"))
    subset = set(trainer.labelled.tolist())
    assert len(subset) == 20
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batch = trainer.batch(0)
    # the labelled mini-batch: the subset's images with their labels (batch 100 from 20 images: each 5 times)
    data = load_training_set("mnist", DATA_ROOT, download=False)
    subset_x = to_model_input(data.images[trainer.labelled]).flatten(1)
    match = (batch["x_labelled"].flatten(1)[:, None] == subset_x[None]).all(2)  # (100, 20)
    assert match.any(1).all() and match.sum(0).tolist() == [5] * 20
    assert torch.equal(batch["y_labelled"], data.labels[trainer.labelled][match.int().argmax(1)])
    weights = []
    for scramble in (False, True):
        trainer.model.load_state_dict(initial)
        for o in trainer.optimizers.values():
            o.state.clear()
        b = dict(batch, y=torch.randint(10, batch["y"].shape)) if scramble else batch
        torch.manual_seed(0)
        trainer.train_step(b)
        weights.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@needs_mnist
def test_a_short_semi_supervised_run_with_100_labels_classifies_far_above_chance(tmp_path, script, cli):
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--hidden", "128", "--model", "semi-supervised", "--num-labels", "100",
           "--batch-size", "100", "--lr-schedule", "constant", "--steps", "400", "--eval-every", "200",
           "--log-every", "50", "--checkpoint-every", "400", "--sample-every", "400", "--output-dir", run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    errors = [r["test_error"] for r in records if "test_error" in r]
    assert len(errors) == 2 and errors[-1] < 0.5, errors  # chance: 0.9
    assert Image.open(run / "losses.png").size == (1600, 400)  # with the test error's panel
    assert Image.open(run / "labelled_codes.png").size == (700, 700)  # the paper's figure 8: the subset's codes
    assert Image.open(run / "clusters.png").size == (302, 302)  # 10 classes x 10 test images
    subset = json.loads((run / "labelled_subset.json").read_text())
    assert subset["num_labels"] == 100 and len(subset["indices"]) == 100
    test_images, test_labels, _ = load_reference_set("mnist", DATA_ROOT)
    result = classification(AAE.from_pretrained(run), test_images, test_labels, None)  # no clusters to name
    assert result["test_error"] == pytest.approx(errors[-1])
    confusion = torch.tensor(result["confusion_matrix"])
    assert confusion.sum() == 10000 and confusion.trace() == round((1 - errors[-1]) * 10000)
    (run / "labelled_subset.json").write_text('{"num_labels": 100, "ind')  # torn: aae-plot says so in one line
    status, _, err = cli("plot.py", run, "--data-root", DATA_ROOT)
    (line,) = err.strip().splitlines()
    assert status == 2 and f"{run / 'labelled_subset.json'} is not valid JSON" in line, err


@needs_mnist
def test_a_clustering_run_logs_and_evaluates_the_error_by_both_namings(tmp_path):
    Trainer(tiny_config(output_dir=str(tmp_path), model="clustering", clusters=16, steps=20, eval_every=20)).fit()
    (record,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                 if "test_error" in line]
    assert 0 < record["test_error"] < 1 and 0 < record["majority_test_error"] < 1  # on a part of the training set
    aae = AAE.from_pretrained(str(tmp_path))
    test_images, test_labels, _ = load_reference_set("mnist", DATA_ROOT)
    train = load_training_set("mnist", DATA_ROOT, download=False)
    result = classification(aae, test_images, test_labels, train)
    train_images, train_labels = train.images, train.labels
    clusters, labels, majority = name_clusters(aae, test_images, train_images, train_labels)
    assert result["test_error"] == pytest.approx((labels[clusters] != test_labels).float().mean().item())
    assert result["majority_test_error"] == pytest.approx((majority[clusters] != test_labels).float().mean().item())
    assert result["majority_cluster_labels"] == majority.tolist() and sum(result["cluster_sizes"]) == 10000


def test_the_models_default_to_their_recipes():
    from aae_dist.config import load_train_config, parse_train_args

    semi = load_train_config({"model": "semi-supervised"})
    assert (semi.z_dim, semi.hidden, semi.input_noise, semi.label_to_discriminator, semi.lr_schedule, semi.batch_size,
            semi.steps, semi.eval_every, semi.num_labels) == (10, 1000, 0.3, False, "cosine", 400, 35000, 1000, "100")
    clustering = load_train_config({"model": "clustering"})
    assert (clustering.z_dim, clustering.hidden, clustering.disc_hidden, clustering.disc_dropout,
            clustering.label_to_discriminator, clustering.clusters, clustering.marginal_entropy,
            clustering.affine_consistency, clustering.lr_schedule, clustering.steps) == (
                5, 1000, 1000, 0.5, True, 16, 3.0, 5.0, "cosine", 8000)
    assert load_train_config({"model": "semi-supervised", "z_dim": 4}).z_dim == 4  # flags given still win
    off = parse_train_args(["--model", "clustering", "--no-label-to-discriminator"])
    assert load_train_config(off).label_to_discriminator is False  # a flag a recipe turns on can be turned off


def test_input_dropout_zeroes_pixels_of_the_encoders_training_input():
    model = AAE(ModelConfig(input_dropout=0.2, hidden=8, image_shape=(1, 10, 10)))
    dropped = model.training_input(torch.ones(1000, 1, 10, 10))
    assert set(dropped.unique().tolist()) == {0.0, 1.25}  # zeroed, or scaled by 1 / (1 - 0.2)
    assert abs(dropped.eq(0).float().mean().item() - 0.2) < 0.01
    assert not torch.equal(dropped[0], dropped[1])  # a mask for each image
    assert torch.equal(AAE(ModelConfig(hidden=8, image_shape=(1, 10, 10))).training_input(torch.ones(2, 1, 10, 10)),
                       torch.ones(2, 1, 10, 10))


@needs_mnist
def test_validation_images_are_held_out_and_choose_without_the_test_set(tmp_path, script):
    """--validation-images 5000: the last 5000 training images are neither trained on nor labelled; --eval-every
    logs the error on them (val_error) and aae-evaluate reports the same figure (validation_error)."""
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--model", "semi-supervised", "--num-labels", "100", "--steps", "20",
           "--eval-every", "20", "--validation-images", "5000", "--output-dir", run)
    config = json.loads((run / "config.json").read_text())
    assert config["steps_per_epoch"] == 55000 // config["batch_size"]
    assert max(json.loads((run / "labelled_subset.json").read_text())["indices"]) < 55000
    (record,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_error" in line]
    training = load_training_set("mnist", DATA_ROOT, download=False, validation_images=5000)
    every = load_training_set("mnist", DATA_ROOT, download=False)
    assert torch.equal(training.validation[0], every.images[55000:]) and len(training.images) == 55000
    expected = classification(AAE.from_pretrained(run), *training.validation, training)["test_error"]
    assert record["val_error"] == pytest.approx(expected) and record["val_error"] != record["test_error"]
    script("launch/evaluate.py", "--checkpoint", run, "--data-root", DATA_ROOT, "--num-samples", "200",
           "--tstr-samples", "200", "--json", tmp_path / "eval.json")
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["validation_error"] == pytest.approx(expected) and result["validation_images"] == 5000
    assert "parzen_ll" in result and "frechet_distance" in result  # the split takes no other figure away
    assert result["train_config"]["validation_images"] == 5000
    # another split at evaluation: the last 10,000 (a clustering run, which reads no labels, is validated so)
    script("launch/evaluate.py", "--checkpoint", run, "--data-root", DATA_ROOT, "--num-samples", "200",
           "--tstr-samples", "200", "--validation-images", "10000", "--json", tmp_path / "eval10k.json")
    result = json.loads((tmp_path / "eval10k.json").read_text())
    wider = load_training_set("mnist", DATA_ROOT, download=False, validation_images=10000)
    assert result["validation_images"] == 10000 and result["validation_error"] == pytest.approx(
        classification(AAE.from_pretrained(run), *wider.validation, wider)["test_error"])


@needs_mnist
def test_keep_best_keeps_the_weights_of_the_lowest_validation_error_through_pruning_and_resume(tmp_path, script):
    """--keep-best val_error: checkpoints/best holds the weights of the evaluation with the lowest val_error (here
    step 40 of 60, measured), pruning leaves it, a resumed run remembers it, and aae-evaluate reports its figure."""
    flags = [*TINY, "--model", "semi-supervised", "--num-labels", "100", "--steps", "60", "--eval-every", "10",
             "--validation-images", "5000", "--keep-best", "val_error", "--checkpoint-every", "10",
             "--lr-recon", "0.003", "--lr-reg", "0.003", "--lr-cls", "0.003"]
    every, pruned = tmp_path / "every", tmp_path / "pruned"
    script("launch/train.py", *flags, "--output-dir", every)
    errors = {record["step"]: record["val_error"] for record in map(json.loads, (every / "metrics.jsonl").open())
              if "val_error" in record}
    best_step = min(errors, key=errors.get)
    assert 10 < best_step < 50, f"the test needs its lowest val_error inside the run, got {errors}"
    state = json.loads((every / "checkpoints" / "best" / "trainer_state.json").read_text())
    assert state["step"] == best_step and state["chosen_by"] == {"metric": "val_error", "value": errors[best_step]}
    for name in ("encoder", "decoder"):  # the same bytes as the checkpoint of that step
        assert (every / "checkpoints" / "best" / f"{name}.safetensors").read_bytes() == (
            every / "checkpoints" / f"step_{best_step:06d}" / f"{name}.safetensors").read_bytes()
    # the newest two checkpoints only; then the run resumes from step 50 and evaluates a worse step 60 again
    script("launch/train.py", *flags, "--keep-checkpoints", "2", "--output-dir", pruned)
    shutil.rmtree(pruned / "checkpoints" / "step_000060")
    script("launch/train.py", "--output-dir", pruned, "--resume")
    assert sorted(path.name for path in (pruned / "checkpoints").iterdir()) == ["best", "step_000050", "step_000060"]
    assert json.loads((pruned / "checkpoints" / "best" / "trainer_state.json").read_text())["step"] == best_step
    script("launch/evaluate.py", "--checkpoint", pruned / "checkpoints" / "best", "--data-root", DATA_ROOT,
           "--num-samples", "200", "--tstr-samples", "200", "--json", tmp_path / "eval.json")
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["run"]["trained_steps"] == best_step and result["run"]["chosen_by"] == state["chosen_by"]
    assert result["validation_error"] == pytest.approx(errors[best_step])
    final = script("launch/evaluate.py", "--checkpoint", pruned, "--data-root", DATA_ROOT, "--num-samples", "200",
                   "--tstr-samples", "200")  # the last step's weights, and where the chosen ones are
    assert f"lowest val_error (step {best_step}) in {pruned / 'checkpoints' / 'best'}" in final.stdout


@needs_mnist
def test_validation_images_must_leave_training_images():
    with pytest.raises(AAEError, match="--validation-images 60000 leaves none of the 60000"):
        load_training_set("mnist", DATA_ROOT, download=False, validation_images=60000)


@needs_mnist
def test_a_validation_split_at_evaluation_leaves_the_test_error_alone(tmp_path, script):
    """aae-evaluate --validation-images N on a clustering run that trained on every image: the clusters that
    classify the test set are still named on all training images, those that classify the split on the others."""
    run = tmp_path / "run"
    script("launch/train.py", *TINY, "--model", "clustering", "--steps", "20", "--output-dir", run)
    results = []
    for flags in ([], ["--validation-images", "50000"]):  # clusters named on 10,000 images would differ
        script("launch/evaluate.py", "--checkpoint", run, "--data-root", DATA_ROOT, "--num-samples", "200", *flags,
               "--json", tmp_path / "eval.json")
        results.append(json.loads((tmp_path / "eval.json").read_text()))
    assert results[1]["test_error"] == results[0]["test_error"] and "validation_error" not in results[0]
    split = load_training_set("mnist", DATA_ROOT, download=False, validation_images=50000)
    assert results[1]["validation_error"] == pytest.approx(
        classification(AAE.from_pretrained(run), *split.validation, split)["test_error"])
