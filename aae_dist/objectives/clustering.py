"""Unsupervised clustering with the AAE (Makhzani et al. 2015, section 7, figure 9): the semi-supervised AAE's
networks and first three phases, with y a softmax over K clusters (--clusters) and no labelled phase. Nothing
tells the clusters which classes they are: the categorical prior makes each one-hot y equally likely, and the
decoder learns to put what y does not say (the style) into z. Evaluation names each cluster by the label of the
training image the encoder puts into it most confidently (metrics.cluster_labels).
"""

from .semi_supervised import SemiSupervisedAAE


class ClusteringAAE(SemiSupervisedAAE, name="clustering"):
    needs_labels = decodes_classes = uses_labelled_subset = False
    own_flags = ("clusters", "label_to_discriminator", "marginal_entropy", "vat", "vat_eps",
                 "affine_consistency", "affine_std", "mean_teacher")
    # The recipe of docs/recipes.md ("Semi-supervised classification and clustering"): the paper's 5-D style code and
    # input noise, 2 x 1000 units, a 1000-unit D_z on (y, z) pairs with dropout 0.5 (with the paper's marginal D_z,
    # D_y won and the encoder put everything into z: 80% error), Adam 1e-3 on a cosine schedule; and two terms not
    # in the paper: y must not change under small affine transforms (--affine-consistency 5), and every cluster must
    # be used (--marginal-entropy 3; without it clusters die). 6.6, 9.0 and 10.3% error with 16 clusters (seeds 0-2)
    # at 8,000 steps on the CPU (the paper: 9.55%); the paper's 3000 units, constant rate and 160,000 steps gave 30.3%
    # on an H200.
    recipe = dict(z_dim=5, hidden=1000, disc_hidden=1000, dropout=0.0, disc_dropout=0.5, input_noise=0.3,
                  label_to_discriminator=True, marginal_entropy=3.0, affine_consistency=5.0, lr_recon=1e-3,
                  lr_reg=1e-3, lr_schedule="cosine", steps=8000, eval_every=1000)

    @property
    def classes(self):
        return self.config.clusters
