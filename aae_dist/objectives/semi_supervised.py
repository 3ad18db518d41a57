"""The semi-supervised AAE (Makhzani et al. 2015, section 6, figure 8).

The encoder q(y, z | x) has two heads on one trunk (one last layer of K + z_dim outputs): y, a softmax over the K
classes, and z, the style code. The decoder reads [y, z]. Two discriminators: D_y teaches q(y) to look like the
categorical prior (one-hot vectors), D_z teaches q(z) to look like the Gaussian prior. One step, four phases:
  1. reconstruction   Q, P train; loss recon(P([y, z]), x);                             optim_P + optim_Q_enc
  2. discriminator    Q eval and frozen; D_y on (one-hot samples, y), D_z on (prior, z)
                      (with label_to_discriminator on (y, z) pairs);                   optim_D_y + optim_D_z
  3. generator        Q train; D_y, D_z frozen; loss -log D_y(y) - log D_z(z);           optim_Q_gen
                      (with marginal_entropy w, + w (log K - H(the batch's mean y)));
                      (with vat w, + w KL(q(y|x) || q(y|x + r)), r virtual adversarial;
                       with affine_consistency w, + w KL(q(y|x) || q(y|A(x))), A a random affine transform;
                       with mean_teacher, the target q(y|x) is the moving average's, the trainer's nets.ema)
  4. classification   Q train on a mini-batch of the labelled subset (--num-labels);
                      loss cross-entropy of y;                                           optim_Q_cls
                      (with affine_labelled, each labelled image moved by a random affine transform)
Phases 1-3 see every training image, without its label; only phase 4 reads labels, those of the subset.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange

from ..losses import (consistency_loss, discriminator_loss, generator_loss, marginal_entropy_gap, real_and_fake_logits,
                      reconstruction_loss)
from ..models import AAE, Phase
from ..networks import decoder, discriminator, encoder
from ..priors import CategoricalPrior, GaussianPrior


class SemiSupervisedAAE(AAE, name="semi-supervised"):
    conditional = needs_labels = decodes_classes = categorical = uses_labelled_subset = True
    own_flags = ("num_labels", "lr_cls", "momentum_cls", "label_to_discriminator", "marginal_entropy", "vat", "vat_eps",
                 "affine_consistency", "affine_std", "affine_labelled", "mean_teacher")
    # The recipe of docs/recipes.md ("Semi-supervised classification and clustering"): the paper's networks (2 x 1000
    # everywhere, a 10-D style code, input noise of std 0.3, no dropout) and its two marginal discriminators, trained
    # with Adam on a cosine schedule at batch 400. On an H200 the test error with 100 labels was 2.7-3.3% (3 seeds)
    # at 25,000 steps; at batch 100 it stayed above 4.4% after 70,000, and D_z on (y, z) pairs (better in the
    # first 3,000 steps) ended worse (5.8%), though its samples keep their class far better (--label-to-discriminator).
    recipe = dict(z_dim=10, hidden=1000, disc_hidden=1000, dropout=0.0, disc_dropout=0.0, input_noise=0.3,
                  lr_recon=1e-3, lr_reg=1e-3, lr_cls=1e-3, lr_schedule="cosine", batch_size=400, steps=35000,
                  eval_every=1000)

    def build_networks(self):
        c, k = self.config, self.classes
        return {"encoder": encoder(c, k + self.code_size), "decoder": decoder(c, self.decoder_size),
                "discriminator_y": discriminator(k, c.disc_hidden, c.disc_dropout),
                "discriminator_z": discriminator(c.z_dim + k * c.label_to_discriminator, c.disc_hidden,
                                                 c.disc_dropout)}

    def priors(self):
        # the random draws of --vat (the power iteration's start) and --affine-consistency and --affine-labelled (each
        # image's transform) are drawn with the priors: a pure function of (seed, step, rank), so that DDP equals one
        # process; each after those drawn before it, so that a run without it draws what it always drew
        c = self.config
        vat = {"vat_direction": GaussianPrior(math.prod(c.image_shape))} if c.vat else {}
        affine = {"affine_noise": GaussianPrior(6, c.affine_std)} if c.affine_consistency else {}
        labelled = {"affine_noise_labelled": GaussianPrior(6, c.affine_std)} if c.affine_labelled else {}
        return {"z_prior": self.prior, "y_prior": CategoricalPrior(self.classes), **vat, **affine, **labelled}

    def optimizers(self):
        return {"optim_P": (self.decoder, "lr_recon"), "optim_Q_enc": (self.encoder, "lr_recon"),
                "optim_Q_gen": (self.encoder, "lr_reg"), "optim_D_y": (self.discriminator_y, "lr_reg"),
                "optim_D_z": (self.discriminator_z, "lr_reg"),
                **({"optim_Q_cls": (self.encoder, "lr_cls")} if self.uses_labelled_subset else {})}

    def phases(self):
        discriminator = Phase("discriminator", "d_loss", self.discriminate, ("optim_D_y", "optim_D_z"),
                              trains=("discriminator_y", "discriminator_z"), uses=("encoder",), eval=("encoder",))
        return [Phase("reconstruction", "recon_loss", self.reconstruct, ("optim_P", "optim_Q_enc"),
                      trains=("encoder", "decoder")),
                *[discriminator] * self.config.discriminator_steps,
                Phase("generator", "g_loss", self.regularize, ("optim_Q_gen",), trains=("encoder",),
                      uses=("discriminator_y", "discriminator_z")),
                *([Phase("classification", "class_loss", self.classify, ("optim_Q_cls",), trains=("encoder",))]
                  if self.uses_labelled_subset else [])]

    # ------------------------------------------------------------ the phases
    def split(self, out):
        """(class logits, code outputs) of the encoder's output."""
        return out[:, :self.classes], out[:, self.classes:]

    def heads(self, encoder, x):
        """(class logits, style code z) of x in training (training_input, training_code)."""
        logits, code = self.split(encoder(self.training_input(x)))
        return logits, self.training_code(code)

    def code_pair(self, y, z):
        """What D_z judges: z, or with label_to_discriminator the pair (y, z), so that matching the prior makes
        z independent of y (the class cannot hide in z)."""
        return torch.cat([y.to(z.dtype), z], dim=1) if self.config.label_to_discriminator else z

    @property
    def decoder_size(self):
        """The width of what the decoder reads (decoder_input): K + z_dim."""
        return self.classes + self.config.z_dim

    def class_code(self, labels, dtype):
        """y as the decoder reads it: one-hot vectors of labels (sampling), or q(y|x) itself (training: pass the
        probabilities as `labels`)."""
        return (labels if labels.is_floating_point() else F.one_hot(labels, self.classes)).to(dtype)

    def decoder_input(self, z, labels, nets=None):
        """[y, z] (class_code). `nets`: the phase's networks in training, where a variant whose decoder input has
        weights of its own (dim-reduction's cluster heads) calls them (through DDP); otherwise unused."""
        return torch.cat([self.class_code(labels, z.dtype), z], dim=1)

    def reconstruct(self, nets, batch):
        x = batch["x"]
        logits, z = self.heads(nets.encoder, x)
        y = torch.softmax(logits.float(), dim=1)
        reconstruction = nets.decoder(self.decoder_input(z, y, nets))
        return {"recon_loss": reconstruction_loss(reconstruction, x, self.config.recon_loss)}

    def discriminate(self, nets, batch):
        logits, z = self.heads(nets.encoder, batch["x"])
        losses = {}
        y = torch.softmax(logits.float(), 1)
        for key, d, real, fake in (("y", nets.discriminator_y, batch["y_prior"], y),
                                   ("z", nets.discriminator_z, self.code_pair(batch["y_prior"], batch["z_prior"]),
                                    self.code_pair(y, z))):
            real_logits, fake_logits = real_and_fake_logits(d, real, fake)
            losses[f"d_loss_{key}"] = discriminator_loss(real_logits, fake_logits)
            losses[f"d_fake_{key}"] = torch.sigmoid(fake_logits).mean()
        return {"d_loss": losses["d_loss_y"] + losses["d_loss_z"], **losses}

    def regularize(self, nets, batch):
        x = self.training_input(batch["x"])
        views = {}  # name of its loss: (weight, a perturbed view of x whose q(y|.) should stay q(y|x))
        if self.config.vat:
            views["vat_loss"] = self.config.vat, x + self.adversarial_perturbation(x, batch["vat_direction"])
        if self.config.affine_consistency:
            views["affine_loss"] = (self.config.affine_consistency,
                                    self.training_input(self.affine_view(batch["x"], batch["affine_noise"])))
        # x and its views in one DDP forward (one forward per backward)
        logits, code = self.split(nets.encoder(torch.cat([x, *(view for _, view in views.values())])))
        logits, *view_logits = logits.chunk(1 + len(views))
        z = self.training_code(code[:len(x)])
        y = torch.softmax(logits.float(), 1)
        g_y = generator_loss(nets.discriminator_y(y))
        g_z = generator_loss(nets.discriminator_z(self.code_pair(y, z)))
        losses = {"g_loss": g_y + g_z, "g_loss_y": g_y, "g_loss_z": g_z}
        if self.config.marginal_entropy:  # the adversarial D_y alone left clusters empty
            gap = marginal_entropy_gap(y)
            losses.update(g_loss=losses["g_loss"] + self.config.marginal_entropy * gap, marginal_entropy_gap=gap)
        target = logits
        if self.config.mean_teacher:  # the weights' moving average (in eval mode) sets the target
            with torch.no_grad():
                target = self.split(nets.ema.encoder(x))[0]
        for (name, (weight, _)), perturbed_logits in zip(views.items(), view_logits):
            loss = consistency_loss(target, perturbed_logits)
            losses.update(g_loss=losses["g_loss"] + weight * loss, **{name: loss})
        return losses

    def affine_view(self, x, noise):
        """x with each image moved by its own small affine transform: the identity plus `noise` (n, 6) as a 2 x 3
        matrix in the image's coordinates of [-1, 1]; the border pixels fill what moves in."""
        images = x.reshape(len(x), *self.config.image_shape).float()
        theta = torch.eye(2, 3, device=x.device) + rearrange(noise.float(), "n (row col) -> n row col", row=2)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, padding_mode="border", align_corners=False).view_as(x).to(x.dtype)

    def adversarial_perturbation(self, x, direction):
        """r of norm vat_eps per image in the direction d that changes q(y|x) most: one power iteration from the
        random `direction`, d = grad_d KL(q(y|x) || q(y|x + xi d)) (Miyato et al. 2018). It runs on the plain encoder
        and takes the gradient of d alone: no parameter gets a gradient, so DDP has nothing to reduce."""
        d = F.normalize(direction, dim=1).view_as(x).requires_grad_()
        with torch.no_grad():
            target = self.split(self.encoder(x))[0]
        # a finite step xi = 1: VAT's 1e-6 is lost to rounding in fp32 (the gradient is noise), and IMSAT's 10,
        # far beyond vat_eps, found a direction half as good on a small network
        divergence = consistency_loss(target, self.split(self.encoder(x + d))[0])
        (gradient,) = torch.autograd.grad(divergence, d)
        return self.config.vat_eps * F.normalize(gradient.flatten(1).float(), dim=1).view_as(x).to(x.dtype)

    def classify(self, nets, batch):
        x = batch["x_labelled"]
        if self.config.affine_labelled:
            x = self.affine_view(x, batch["affine_noise_labelled"])
        logits, _ = self.heads(nets.encoder, x)
        logits, labels = logits.float(), batch["y_labelled"]
        return {"class_loss": F.cross_entropy(logits, labels),
                "class_accuracy": (logits.argmax(1) == labels).float().mean()}

    # ------------------------------------------------------------ using a trained model
    @torch.no_grad()
    def posterior(self, images):
        """(q(y|x), the code z: a Gaussian encoder's mean) of images, from one pass of the encoder."""
        logits, code = self.split(self.encoder(images.to(self.device, torch.float32)))
        return torch.softmax(logits.float(), 1), code[:, :self.config.z_dim]

    def encode(self, images):
        return self.posterior(images)[1]

    def class_probabilities(self, images):
        return self.posterior(images)[0]

    @torch.no_grad()
    def reconstruction_logits(self, images, labels=None):
        """P([q(y|x), z]): the decoder reads the encoder's class probabilities, as in training (`labels` unused)."""
        y, z = self.posterior(images)
        return self.decoder(self.decoder_input(z, y))

    @torch.no_grad()
    def discriminator_logits(self, z, labels=None):
        """D_z's logits for codes z; with label_to_discriminator paired with `labels` (classes; for clustering, or
        without labels, balanced one-hot vectors)."""
        z = z.to(self.device, torch.float32)
        y = self.class_code(self.labels_for(len(z), labels if self.decodes_classes else None), z.dtype)
        return self.discriminator_z(self.code_pair(y, z))
