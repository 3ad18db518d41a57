"""The networks, priors, losses and lattice against the lecture's specification and hand computation."""

import math

import pytest
import torch
from torch import nn

from aae_dist import AAE, GaussianPrior, ModelConfig
from aae_dist.losses import discriminator_loss, generator_loss, reconstruction_loss
from aae_dist.sampling import latent_lattice


def layers(module, kind):
    return [m for m in module if isinstance(m, kind)]


def test_seed_architecture():
    aae = AAE(ModelConfig())
    shapes = lambda net: [(l.in_features, l.out_features) for l in layers(net, nn.Linear)]
    assert shapes(aae.encoder) == [(784, 1000), (1000, 1000), (1000, 2)]
    assert shapes(aae.decoder) == [(2, 1000), (1000, 1000), (1000, 784)]
    assert shapes(aae.discriminator) == [(2, 500), (500, 500), (500, 1)]
    for net, p in [(aae.encoder, 0.25), (aae.decoder, 0.25), (aae.discriminator, 0.2)]:
        kinds = [next(k for k in (nn.Linear, nn.Dropout, nn.ReLU) if isinstance(m, k)) for m in net]
        # dropout then ReLU after both hidden layers (the lecture's P lacked its second ReLU), linear output
        assert kinds == [nn.Linear, nn.Dropout, nn.ReLU, nn.Linear, nn.Dropout, nn.ReLU, nn.Linear]
        assert all(d.p == p for d in layers(net, nn.Dropout))


@pytest.mark.parametrize("p", [0.25, 0.2])
def test_dropout_statistics(p):
    from aae_dist.networks import Dropout

    torch.manual_seed(0)
    x = torch.full((1000, 1000), 3.0)
    y = Dropout(p).train()(x)
    assert abs((y == 0).float().mean().item() - p) < 0.003
    assert torch.allclose(y[y != 0], torch.tensor(3.0 / (1 - p)))
    assert torch.equal(Dropout(p).eval()(x), x)


def test_forward_shapes_and_logits():
    aae = AAE(ModelConfig(z_dim=3, hidden=16, disc_hidden=8)).eval()
    x = torch.rand(5, 1, 28, 28)
    z = aae.encoder(x)
    assert z.shape == (5, 3)
    assert aae.decoder(z).shape == (5, 1, 28, 28)  # image-shaped logits
    d = aae.discriminator(z)
    assert d.shape == (5, 1)
    # D applies its last layer and returns a logit, not a probability: values outside [0, 1] occur
    d = aae.discriminator(100 * torch.randn(1000, 3))
    assert (d < 0).any() or (d > 1).any()
    images, z = aae.sample(7, torch.Generator().manual_seed(0))
    assert images.shape == (7, 1, 28, 28) and z.shape == (7, 3)
    assert images.min() >= 0 and images.max() <= 1


def test_losses_match_hand_computation():
    torch.manual_seed(0)
    logits, target = torch.randn(4, 784), torch.rand(4, 784)
    p = torch.sigmoid(logits)
    hand = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()
    assert torch.allclose(reconstruction_loss(logits, target), hand, atol=1e-6)
    assert torch.allclose(reconstruction_loss(logits, target, "mse"), ((p - target) ** 2).mean(), atol=1e-6)

    real, fake = torch.randn(6, 1), torch.randn(6, 1)
    hand_d = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert torch.allclose(discriminator_loss(real, fake), hand_d, atol=1e-6)
    hand_g = -torch.log(torch.sigmoid(fake)).mean()
    assert torch.allclose(generator_loss(fake), hand_g, atol=1e-6)
    # logits keep the losses finite where sigmoid + log would give inf
    assert torch.isfinite(generator_loss(torch.tensor([[-200.0]])))
    # and bf16 logits are computed in fp32
    assert generator_loss(fake.bfloat16()).dtype == torch.float32


def test_gaussian_prior_statistics():
    z = GaussianPrior(dim=2, std=1.5).sample(200_000, torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 2)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=0.02)
    assert torch.allclose(z.std(0), torch.full((2,), 1.5), atol=0.02)


def test_latent_lattice_is_the_lectures():
    z = latent_lattice(2)
    assert z.shape == (100, 2)
    p, q = [-1, 1, -1, 1], [-1, 1, 1, -1]
    for k in range(100):
        loop, i, j = k // 25, (k % 25) // 5, k % 5
        expected = torch.tensor([(i + 1) * 0.4 * p[loop], (j + 1) * 0.4 * q[loop]])
        assert torch.allclose(z[k], expected)
    assert math.isclose(z.abs().max().item(), 2.0, rel_tol=1e-6)
    assert latent_lattice(5)[:, 2:].abs().sum() == 0


@pytest.mark.parametrize("model", ["vanilla", "semi-supervised"])
def test_a_gaussian_encoder_draws_its_training_code_around_its_mean(model):
    aae = AAE(ModelConfig(model=model, encoder="gaussian", z_dim=3, hidden=16, disc_hidden=8))
    x = torch.rand(1, 1, 28, 28).expand(20000, 1, 28, 28)
    heads = aae.heads if model != "vanilla" else lambda encoder, x: (None, aae.code(encoder, x))
    z = heads(aae.encoder.eval(), x)[1].detach()
    mean = aae.encode(x[:1])
    assert z.shape == (20000, 3) and z.std(0).min() > 0.1  # a draw per image, not the mean
    torch.testing.assert_close(z.mean(0, keepdim=True), mean, atol=0.05, rtol=0)
    assert torch.equal(aae.encode(x[:2]), aae.encode(x[:2]))  # evaluation reads the mean


def test_init_std_draws_every_weight_from_that_normal():
    aae = AAE(ModelConfig(init_std=0.01))
    linears = [m for m in aae.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 9 and all(m.bias.abs().max() == 0 for m in linears)
    assert all(m.weight.std().item() == pytest.approx(0.01, rel=0.1) for m in linears if m.weight.numel() > 1000)
    assert AAE(ModelConfig()).encoder[0].weight.std().item() == pytest.approx(1 / math.sqrt(3 * 784), rel=0.05)


def test_the_package_has_no_import_cycle():
    """No module of aae_dist imports one that imports it back, at the top or inside a function (the variants
    register themselves in models.OBJECTIVES; models.py never imports them)."""
    import ast

    from conftest import REPO

    root = REPO / "aae_dist"
    graph = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                graph[name] |= {base} if node.module else {f"{base}.{alias.name}" for alias in node.names}

    def reaches(start, goal, seen):
        return any(d == goal or (d not in seen and not seen.add(d) and reaches(d, goal, seen))
                   for d in graph.get(start, ()) if d in graph)

    assert [name for name in graph if reaches(name, name, set())] == []
