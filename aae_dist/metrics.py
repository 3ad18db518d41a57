"""How good a trained AAE is: reconstruction, Parzen-window likelihood, posterior-vs-prior match, the
discriminator's view, and sample quality through a digit classifier."""

import math

import torch
from einops import rearrange

from .classifier import load_classifier
from .data import load_dataset, to_model_input
from .losses import reconstruction_loss
from .sampling import generate

PARZEN_SIGMAS = torch.logspace(-1, 0, 10).tolist()  # the grid of Goodfellow et al. 2014
PARZEN_VALIDATION = slice(50000, 51000)  # training images that choose sigma, as in their code


def parzen_log_likelihood(x, samples, sigmas, batch_size=250):
    """log p(x) in nats under an isotropic Gaussian Parzen window on `samples`, for each sigma: (len(sigmas), n).

    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log(m) - d log(sigma sqrt(2 pi)), computed in float64.
    """
    samples = samples.double().flatten(1)
    sigmas = torch.tensor(sigmas, dtype=torch.float64, device=samples.device)
    m, d = samples.shape
    out = []
    for batch in x.double().flatten(1).split(batch_size):
        squared = torch.cdist(batch, samples).square()  # (b, m), once for every sigma
        kernel = torch.logsumexp(-squared[None] / (2 * sigmas[:, None, None] ** 2), dim=2)
        out.append(kernel - math.log(m) - d * torch.log(sigmas * math.sqrt(2 * math.pi))[:, None])
    return torch.cat(out, dim=1)


def parzen_evaluation(samples, validation, test, sigmas=PARZEN_SIGMAS):
    """The AAE paper's protocol: sigma maximising the validation likelihood, then mean and standard error of the
    test log-likelihood."""
    validation_ll = parzen_log_likelihood(validation, samples, sigmas).mean(1)
    best = int(validation_ll.argmax())
    test_ll = parzen_log_likelihood(test, samples, [sigmas[best]])[0]
    return {"parzen_ll": test_ll.mean().item(), "parzen_ll_stderr": (test_ll.std() / math.sqrt(len(test_ll))).item(),
            "parzen_sigma": sigmas[best], "parzen_validation_ll": dict(zip(map(str, sigmas), validation_ll.tolist()))}


def frechet_distance(a, b):
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between the Gaussians fitted to rows of a and b."""
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    # tr (S_a S_b)^(1/2) = sum of the square roots of the eigenvalues of the symmetric S_a^(1/2) S_b S_a^(1/2)
    cross = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp(min=0).sqrt().sum()
    return ((a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross).item()


def mmd(a, b):
    """Unbiased MMD^2 with the Gaussian kernel exp(-|x - y|^2 / (2 h^2)), h the median pairwise distance of the
    pooled samples (median heuristic). Returns (mmd2, h)."""
    pooled = torch.cat([a, b]).double()
    distances = torch.cdist(pooled, pooled)
    h = distances[~torch.eye(len(pooled), dtype=torch.bool, device=pooled.device)].median()
    kernel = torch.exp(-distances.square() / (2 * h**2))
    n, m = len(a), len(b)
    k_aa, k_bb, k_ab = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    mmd2 = ((k_aa.sum() - k_aa.trace()) / (n * (n - 1)) + (k_bb.sum() - k_bb.trace()) / (m * (m - 1))
            - 2 * k_ab.mean())
    return mmd2.item(), h.item()


def label_entropy(labels, classes=10):
    """Entropy (nats) of the predicted-label histogram: ln 10 when every class is generated equally often."""
    p = torch.bincount(labels, minlength=classes).double() / len(labels)
    return -(p[p > 0] * p[p > 0].log()).sum().item()


@torch.no_grad()
def evaluate(aae, dataset, data_root, num_samples=10000, seed=0, mmd_samples=2000, batch_size=1000):
    """Every metric of launch/evaluate.py for a trained AAE (in eval mode), as a flat JSON-able dict."""
    device = aae.device
    generator = torch.Generator(device).manual_seed(seed)
    train_images, _ = load_dataset(dataset, data_root, train=True, download=False)
    test_images, test_labels = load_dataset(dataset, data_root, train=False, download=False)
    test_x = to_model_input(test_images).to(device)
    results = {"dataset": dataset, "num_samples": num_samples, "seed": seed}

    # reconstruction of the test set, as in training (BCE per pixel) and per image (nats)
    bce = torch.cat([reconstruction_loss(aae.decoder(aae.encoder(x)), x).reshape(1) * len(x)
                     for x in test_x.split(batch_size)]).sum() / len(test_x)
    results.update(recon_bce_per_pixel=bce.item(), recon_nats_per_image=bce.item() * test_x.shape[1])

    # Parzen-window log-likelihood of the test set under generated samples
    samples = generate(aae, num_samples, batch_size, generator)[0].to(device)
    validation = to_model_input(train_images[PARZEN_VALIDATION]).to(device)
    results.update(parzen_evaluation(samples.flatten(1), validation, test_x))

    # aggregated posterior q(z) of the test set against the prior
    codes = torch.cat([aae.encoder(x) for x in test_x.split(batch_size)]).float()
    prior_z = aae.prior.sample(len(codes), generator).float()
    mmd2, bandwidth = mmd(codes[:mmd_samples], prior_z[:mmd_samples])
    # torch.cov of a (1, n) input is 0-d: keep every covariance a z_dim x z_dim matrix
    (code_mean, code_cov), (prior_mean, prior_cov) = [(z.mean(0), torch.cov(z.T).reshape(z.shape[1], -1))
                                                      for z in (codes, prior_z)]
    results.update(posterior_mean=code_mean.tolist(), prior_mean=prior_mean.tolist(),
                   posterior_cov=code_cov.tolist(), prior_cov=prior_cov.tolist(),
                   mean_gap=(code_mean - prior_mean).norm().item(),
                   cov_gap_frobenius=(code_cov - prior_cov).norm().item(),
                   mmd2=mmd2, mmd_kernel=f"gaussian exp(-|x-y|^2/(2h^2)), h = median pairwise distance = "
                                         f"{bandwidth:.4f}, {min(mmd_samples, len(codes))} samples each")

    # the discriminator's mean probability of "prior sample"
    d_prob = lambda z: torch.cat([torch.sigmoid(aae.discriminator(b).float()) for b in z.split(batch_size)]).mean()
    results.update(d_prior=d_prob(prior_z).item(), d_encoded_test=d_prob(codes).item())

    # sample quality through the digit classifier
    classifier = load_classifier(dataset, data_root, device=device)
    sample_features, sample_labels = classifier.embed(samples)
    test_features, test_predictions = classifier.embed(rearrange(test_x, "n (c h w) -> n c h w", c=1, h=28))
    results.update(classifier_test_accuracy=(test_predictions.cpu() == test_labels).float().mean().item(),
                   frechet_distance=frechet_distance(sample_features, test_features),
                   label_entropy=label_entropy(sample_labels), label_entropy_max=math.log(10),
                   label_histogram=torch.bincount(sample_labels, minlength=10).tolist())
    return results
