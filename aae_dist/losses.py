"""The AAE losses (reconstruction, discriminator, generator) and the consistency and marginal-entropy terms, from
logits in fp32 (binary cross-entropy on logits is safe under autocast, unlike sigmoid + BCE)."""

import math

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed
import torch.nn.functional as F


def reconstruction_loss(image_logits, images, kind="bce"):
    """Between P(Q(x)) and x, averaged over pixels and batch (the lecture's reduction): bce, the lecture's binary
    cross-entropy, or mse, the squared error of the sigmoid image (the AAE paper's "Euclidean cost")."""
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(image_logits.float()), images.float())
    return F.binary_cross_entropy_with_logits(image_logits.float(), images.float())


def real_and_fake_logits(discriminator, real, fake):
    """D's logits (float) of the real and the fake codes, from one forward over [real; fake]: one DDP forward per
    backward, and larger matmuls."""
    return discriminator(torch.cat([real, fake.to(real.dtype)])).float().chunk(2)


def discriminator_loss(real_logits, fake_logits):
    """-mean log D(z_real) - mean log(1 - D(z_fake)): prior samples are real (1), codes Q(x) are fake (0).

    The lecture wrote log D(fake) in the second term, which rewards D for calling codes real.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits):
    """-mean log D(Q(x)): the encoder is rewarded when D takes its codes for prior samples."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def consistency_loss(target_logits, logits):
    """KL(softmax(target_logits) || softmax(logits)), summed over classes and averaged over the batch: how far q(y|x')
    of a perturbed x' is from q(y|x). The target gets no gradient."""
    target = torch.softmax(target_logits.detach().float(), dim=1)
    return F.kl_div(torch.log_softmax(logits.float(), dim=1), target, reduction="batchmean")


def marginal_entropy_gap(probabilities):
    """log K - H(m), m the mean of q(y|x) (n, K) over the global batch: 0 when every class is used equally often.
    Under DDP m is averaged over the processes with a differentiable all-reduce (whose backward sums the gradients
    of every process), so that DDP's averaged gradients are those of one process on the global batch."""
    marginal = probabilities.float().mean(0)
    if dist.is_initialized() and dist.get_world_size() > 1:
        marginal = distributed.all_reduce(marginal) / dist.get_world_size()
    return math.log(marginal.numel()) + (marginal * marginal.clamp_min(1e-12).log()).sum()
