"""Dimensionality reduction with the AAE (Makhzani et al. 2015, "Dimensionality Reduction with Adversarial
Autoencoders", figures 10 and 11): the semi-supervised AAE whose decoder reads one n-D representation, not [y, z].

The encoder's y head (a softmax over the m = K classes) and z head (n = z_dim values) are those of the
semi-supervised AAE; the representation is W y + z, W (n x m) holding one learned cluster head per class in its
columns (ClusterHeads, a network of its own: DDP, checkpoints, the moving average and resume treat it as any other).
D_y and D_z, the adversarial phases and the labelled phase are the semi-supervised AAE's; the prior's std
(--prior-std) sets how far a class spreads around its head. A cost keeps the heads apart:
sum over pairs i < j of max(0, eta - ||W_i - W_j||), eta = --head-distance. One step:
  1. reconstruction   Q, P, W train; loss recon(P(W y + z), x) + the heads' cost;     optim_P + optim_Q_enc + optim_W
  2-4.                the semi-supervised AAE's discriminator, generator and classification phases (W takes no part)
The test error is the y head's, as for the semi-supervised AAE; `representation(images)` gives W q(y|x) + z.
"""

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .semi_supervised import SemiSupervisedAAE


class ClusterHeads(nn.Module):
    """W (dim x heads), column k cluster k's head; forward(y) = W y for each row y of (n, heads)."""

    def __init__(self, heads, dim, std):
        super().__init__()
        self.weight = nn.Parameter(std * torch.randn(dim, heads))

    def forward(self, y):
        return F.linear(y, self.weight)

    def distance_penalty(self, eta):
        """sum over pairs of heads i < j of max(0, eta - ||W_i - W_j||): 0 once every two are eta apart."""
        return F.relu(eta - F.pdist(self.weight.T.float())).sum()


class DimReductionAAE(SemiSupervisedAAE, name="dim-reduction"):
    represents = True
    own_flags = (*SemiSupervisedAAE.own_flags, "head_distance")
    # The semi-supervised recipe (docs/recipes.md: its networks, input noise, Adam 1e-3 on a cosine schedule, batch
    # 400), with the paper's figure 11a setting: 1000 labels and a 2-D representation (--z-dim 10: its 10-D one).
    # The heads are kept 3 apart and the style code z has std 0.5 (--prior-std), so that 95% of a class lies within
    # 1 of its head, a third of the distance to the next (our choice, not the paper's figures: we could not read its
    # settings; musyoku/adversarial-autoencoder keeps its heads 1 apart over N(0, 1) style codes, with the cost in
    # a phase of its own that steps W alone).
    recipe = dict(SemiSupervisedAAE.recipe, z_dim=2, num_labels="1000", prior_std=0.5, head_distance=3.0)

    def build_networks(self):
        # built after the semi-supervised networks: the same seed gives them the same weights.
        # Heads drawn from N(0, eta^2 / (2n) I): two of them start about eta apart
        c, networks = self.config, super().build_networks()
        heads = ClusterHeads(self.classes, c.z_dim, c.head_distance / math.sqrt(2 * c.z_dim))
        return {**networks, "cluster_heads": heads}

    @property
    def decoder_size(self):
        return self.config.z_dim

    def optimizers(self):
        return {**super().optimizers(), "optim_W": (self.cluster_heads, "lr_recon")}

    def phases(self):
        # The heads' cost joins the reconstruction phase's loss: that is the one phase that trains W (where the
        # representation is decoded; D_y judges y, D_z judges z and the labelled phase reads the y head, so W takes
        # no part in the others), and the paper learns the heads with the autoencoder by SGD. The cost's gradient
        # reaches W alone; optim_W (its own Adam moments) steps it with the reconstruction's gradient.
        reconstruction, *others = super().phases()
        return [replace(reconstruction, loss="recon_head_loss", optimizers=(*reconstruction.optimizers, "optim_W"),
                        trains=(*reconstruction.trains, "cluster_heads")), *others]

    def decoder_input(self, z, labels, nets=None):
        """W y + z: y one-hot labels (sampling) or q(y|x) (training); W called as the phase's network in training."""
        return (nets or self).cluster_heads(self.class_code(labels, z.dtype)) + z

    def reconstruct(self, nets, batch):
        losses = super().reconstruct(nets, batch)
        # the same W on every process (the plain module shares its parameter with the DDP wrapper called above):
        # each adds the same gradient, and their mean is one process's
        penalty = self.cluster_heads.distance_penalty(self.config.head_distance)
        return {**losses, "head_penalty": penalty, "recon_head_loss": losses["recon_loss"] + penalty}

    @torch.no_grad()
    def representation(self, images):
        """The n-D representation W q(y|x) + z of images (what the decoder reads): the paper's figure 11."""
        y, z = self.posterior(images)
        return self.decoder_input(z, y)
