"""Unsupervised clustering with the AAE (Makhzani et al. 2015, section 7, figure 9): the semi-supervised AAE's
networks and first three phases, with y a softmax over K clusters (--clusters) and no labelled phase. Nothing
tells the clusters which classes they are: the categorical prior makes each one-hot y equally likely, and the
decoder learns to put what y does not say (the style) into z. Evaluation names each cluster by the label of the
training image the encoder puts into it most confidently (metrics.cluster_labels).
"""

from .semi_supervised import SemiSupervisedAAE


class ClusteringAAE(SemiSupervisedAAE):
    needs_labels = decodes_classes = uses_labelled_subset = False
    own_flags = ("clusters", "label_to_discriminator", "marginal_entropy", "vat", "vat_eps",
                 "affine_consistency", "affine_std")
    # The README's recipe (section "Semi-supervised classification and clustering"): the paper's 3000-unit encoder
    # and decoder and 5-D style code; a 1000-unit D_z on (y, z) pairs with dropout 0.5 (with the paper's marginal
    # D_z and 3000-unit D's, D_y won and the encoder put everything into z: 80% error). Adam 1e-3, constant.
    # 30.3% error with 16 clusters on an H200 (the paper: 9.55%).
    recipe = dict(z_dim=5, hidden=3000, disc_hidden=1000, dropout=0.0, disc_dropout=0.5, input_noise=0.3,
                  label_to_discriminator=True, lr_recon=1e-3, lr_reg=1e-3, steps=160000, eval_every=1000)

    @property
    def classes(self):
        return self.config.clusters
