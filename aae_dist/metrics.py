"""How good a trained AAE is: reconstruction, Parzen-window likelihood (28x28 grayscale data), posterior-vs-prior
match, the discriminator's view, and sample quality in the feature space of the dataset's classifier (Frechet
distance, precision and recall); for class-conditional models, whether the samples are of the class asked for,
and whether they teach a classifier (train on synthetic, test on real)."""

import math

import torch
from .classifier import fit_classifier, load_classifier
from .data import hold_out, load_dataset, load_reference_set, to_model_input
from .errors import AAEError
from .losses import reconstruction_loss
from .sampling import generate

PARZEN_SIGMAS = torch.logspace(-1, 0, 10).tolist()  # the grid of Goodfellow et al. 2014
PARZEN_VALIDATION = slice(50000, 51000)  # training images that choose sigma, as in their code
PRECISION_RECALL_K = 3  # Kynkaanniemi et al. 2019


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


def precision_recall(real, fake, k=PRECISION_RECALL_K, batch_size=1000):
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of balls around
    its points reaching their k-th nearest neighbour in the set; precision is the share of fake points inside the
    real manifold, recall the share of real points inside the fake one."""
    def radii(points):  # distance to the k-th nearest other point (the 0th is the point itself)
        return torch.cat([torch.cdist(b, points).kthvalue(k + 1, dim=1).values for b in points.split(batch_size)])

    def covered(points, centres, centre_radii):
        return torch.cat([(torch.cdist(b, centres) <= centre_radii).any(1) for b in points.split(batch_size)])

    real, fake = real.float(), fake.float()
    return (covered(fake, real, radii(real)).float().mean().item(),
            covered(real, fake, radii(fake)).float().mean().item())


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


def error_rate(predicted, labels):
    """The fraction of predicted labels that are wrong."""
    return (predicted.cpu() != labels.cpu()).float().mean().item()


def class_accuracy(predicted, labels, classes):
    """(overall accuracy, accuracy of each class) of predicted labels."""
    right = (predicted.cpu() == labels.cpu()).float()
    per_class = [right[labels.cpu() == c].mean().item() for c in range(classes)]
    return right.mean().item(), per_class


def cluster_labels(train_probabilities, train_labels):
    """The AAE paper's rule (section 7): each cluster takes the label of the training image with the highest
    q(y = cluster | x). train_probabilities (n, clusters) -> (clusters,) labels."""
    return train_labels[train_probabilities.argmax(0).cpu()]


def majority_cluster_labels(train_probabilities, train_labels):
    """A diagnostic beside the paper's rule: each cluster takes the most frequent label of the training images it
    holds (argmax q(y|x)); an empty cluster keeps the paper's label. The error by these labels measures how pure the
    clusters are; its gap to the paper's error is what naming a cluster after one image costs."""
    clusters = train_probabilities.argmax(1).cpu()
    counts = torch.zeros(train_probabilities.shape[1], int(train_labels.max()) + 1, dtype=torch.long)
    counts.index_put_((clusters, train_labels), torch.ones_like(clusters), accumulate=True)
    return torch.where(counts.sum(1) > 0, counts.argmax(1), cluster_labels(train_probabilities, train_labels))


def in_batches(method, images, batch_size=1000):
    """method(model inputs) of uint8 images, in batches on the method's model's device, as fp32 on the CPU."""
    return torch.cat([method(to_model_input(x).to(method.__self__.device)).float().cpu()
                      for x in images.split(batch_size)])


def predict(aae, images, batch_size=1000):
    """q(y|x) (n, classes) of uint8 images."""
    return in_batches(aae.class_probabilities, images, batch_size)


def encode_images(aae, images, batch_size=1000):
    """The codes z (n, z_dim) of uint8 images."""
    return in_batches(aae.encode, images, batch_size)


def name_clusters(aae, test_images, train_images, train_labels, batch_size=1000):
    """A clustering model's cluster of each test image (the argmax of q(y|x)), and the clusters' labels from the
    training images by the paper's rule and by majority: (clusters, paper's labels, majority labels)."""
    train_probabilities = predict(aae, train_images, batch_size)
    clusters = predict(aae, test_images, batch_size).argmax(1)
    return (clusters, cluster_labels(train_probabilities, train_labels),
            majority_cluster_labels(train_probabilities, train_labels))


def predicted_classes(aae, test_images, train_images, train_labels, batch_size=1000):
    """The class each test image is given, its argmax of q(y|x) or, for clustering, its cluster's label by the
    paper's rule; and for clustering (clusters, the clusters' labels, by majority), else None."""
    if aae.decodes_classes:
        return predict(aae, test_images, batch_size).argmax(1), None
    clusters, labels, majority = name_clusters(aae, test_images, train_images, train_labels, batch_size)
    return labels[clusters], (clusters, labels, majority)


def reconstruction_bce(aae, x_batches, y_batches):
    """Mean BCE per pixel of the reconstructions of image batches (y_batches: their labels, which a conditional
    decoder reads, or Nones)."""
    total = sum(reconstruction_loss(aae.reconstruction_logits(x, y), x) * len(x) for x, y in zip(x_batches, y_batches))
    return total.item() / sum(map(len, x_batches))


def batches_of(x, labels, batch_size=1000):
    """(batches of the model inputs x, batches of their labels on x's device, or Nones)."""
    x_batches = x.split(batch_size)
    y_batches = [None] * len(x_batches) if labels is None else labels.to(x.device).split(batch_size)
    return x_batches, y_batches


@torch.no_grad()
def test_metrics(aae, test_images, test_labels, train_images=None, train_labels=None, batch_size=1000):
    """The fast evaluation of --eval-every, in batches: the reconstruction of the test images (BCE per pixel) and,
    for the models with a class head and labelled data, the test error (a fraction; for clustering also the error
    by majority labels)."""
    test_x = to_model_input(test_images).to(aae.device)
    record = {"test_recon_bce": reconstruction_bce(aae, *batches_of(test_x, test_labels, batch_size))}
    if aae.categorical and test_labels is not None and (aae.decodes_classes or train_labels is not None):
        predicted, clustering = predicted_classes(aae, test_images, train_images, train_labels, batch_size)
        record["test_error"] = error_rate(predicted, test_labels)
        if clustering:
            clusters, _, majority = clustering
            record["majority_test_error"] = error_rate(majority[clusters], test_labels)
    return record


def train_on_synthetic(aae, test_images, test_labels, n, seed, batch_size=1000):
    """TSTR: a fresh classifier of the evaluation classifier's architecture and recipe trained on n generated
    samples balanced over the classes, tested on the real test set. Returns its test accuracy."""
    generator = torch.Generator(aae.device).manual_seed(seed + 1)  # other draws than the evaluated samples'
    images, _, labels = generate(aae, n, batch_size, generator)
    classifier = fit_classifier(images, labels, device=aae.device)
    return (classifier.embed(test_images)[1].cpu() == test_labels).float().mean().item()


def classification(aae, test_images, test_labels, training, batch_size=1000):
    """The models with a class head: the test error (a fraction), the accuracy of each class and the confusion
    matrix (rows: true classes, columns: predicted); for clustering also the clusters' labels and sizes, and the
    error and labels by majority (the clusters named on the images of the TrainingSet `training`)."""
    train = (None, None) if training is None else (training.images, training.labels)  # clustering's only
    predicted, clustering = predicted_classes(aae, test_images, *train, batch_size)
    classes = int(test_labels.max()) + 1
    _, per_class = class_accuracy(predicted, test_labels, classes)
    confusion = torch.bincount(test_labels * classes + predicted, minlength=classes * classes).view(classes, classes)
    results = {"test_error": error_rate(predicted, test_labels), "test_accuracy_per_class": per_class,
               "confusion_matrix": confusion.tolist()}
    if clustering:
        clusters, labels, majority = clustering
        results.update(cluster_labels=labels.tolist(),
                       cluster_sizes=torch.bincount(clusters, minlength=aae.classes).tolist(),
                       majority_test_error=error_rate(majority[clusters], test_labels),
                       majority_cluster_labels=majority.tolist())
    return results


@torch.no_grad()
def evaluate(aae, dataset, data_root, num_samples=10000, seed=0, mmd_samples=2000, batch_size=1000,
             tstr_samples=60000, image_size=None, held_out=0, validation_images=0):
    """Every metric of launch/evaluate.py for a trained AAE (in eval mode), as a flat JSON-able dict. Real images
    are the test split where the dataset has one, else the training set (`reference_split`); Parzen is for
    MNIST-like 28x28 grayscale data, the classifier's metrics for labelled data. The models with a class head also
    get their error on the last `validation_images` training images (`validation_error`, clusters named on the
    others); `held_out`: the last training images the run never saw, whose labels name no cluster."""
    device = aae.device
    generator = torch.Generator(device).manual_seed(seed)
    real_images, real_labels, split = load_reference_set(dataset, data_root, image_size)
    if aae.needs_labels and real_labels is None:
        raise AAEError(f"the {aae.config.model} AAE is evaluated against labelled data, and {data_root} has no labels; "
                       "point --data-root at the labelled data it was trained on")
    real_x = to_model_input(real_images).to(device)
    results = {"dataset": dataset, "model": aae.config.model, "num_samples": num_samples, "seed": seed,
               "reference_split": split}
    x_batches, y_batches = batches_of(real_x, real_labels, batch_size)

    # reconstruction of the real images, as in training (BCE per pixel) and per image (nats)
    bce = reconstruction_bce(aae, x_batches, y_batches)
    results.update(recon_bce_per_pixel=bce, recon_nats_per_image=bce * real_x[0].numel())
    classifies = aae.categorical and real_labels is not None
    parzen = aae.config.image_shape == (1, 28, 28) and split == "test"  # the test set's Parzen log-likelihood
    if classifies or parzen:  # both read the training split: loaded once
        train_images, train_labels = load_dataset(dataset, data_root, train=True, download=False,
                                                  image_size=image_size)
    if classifies:
        results.update(classification(aae, real_images, real_labels, hold_out(train_images, train_labels, held_out),
                                      batch_size))
        if validation_images:
            training = hold_out(train_images, train_labels, validation_images)
            results.update(validation_images=validation_images, validation_error=classification(
                aae, *training.validation, training, batch_size)["test_error"])

    samples, _, sample_requested = generate(aae, num_samples, batch_size, generator)
    samples = samples.to(device)
    if parzen:
        validation = to_model_input(train_images[PARZEN_VALIDATION]).to(device)
        results.update(parzen_evaluation(samples.flatten(1), validation, real_x))

    # aggregated posterior q(z) of the real images against the prior
    codes = torch.cat([aae.encode(x) for x in x_batches]).float()
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

    # the discriminator's mean probability of "prior sample" (codes paired with the real labels, as in training)
    d_prob = lambda z: torch.cat([torch.sigmoid(aae.discriminator_logits(b, y).float())
                                  for b, y in zip(z.split(batch_size), y_batches)]).mean()
    results.update(d_prior=d_prob(prior_z).item(), d_encoded_test=d_prob(codes).item())

    # sample quality in the feature space of the dataset's classifier (labelled data only)
    classifier = load_classifier(dataset, data_root, image_size, device=device)
    if classifier is None:
        return results
    classes = classifier.head.out_features
    sample_features, sample_labels = classifier.embed(samples)
    real_features, real_predictions = classifier.embed(real_x)
    precision, recall = precision_recall(real_features[:num_samples], sample_features)
    results.update(classifier_test_accuracy=(real_predictions.cpu() == real_labels).float().mean().item(),
                   frechet_distance=frechet_distance(sample_features, real_features),
                   precision=precision, recall=recall, precision_recall_k=PRECISION_RECALL_K,
                   label_entropy=label_entropy(sample_labels, classes), label_entropy_max=math.log(classes),
                   label_histogram=torch.bincount(sample_labels, minlength=classes).tolist())

    if aae.decodes_classes:  # are the samples of the class asked for, and do they teach a classifier?
        consistency, per_class = class_accuracy(sample_labels, sample_requested, classes)
        results.update(label_consistency=consistency, label_consistency_per_class=per_class,
                       tstr_samples=tstr_samples,
                       tstr_accuracy=train_on_synthetic(aae, real_x, real_labels, tstr_samples, seed),
                       trtr_accuracy=results["classifier_test_accuracy"])
    return results
