"""Unsupervised clustering with the AAE (Makhzani et al. 2015, section 7, figure 9): the semi-supervised AAE's
networks and first three phases, with y a softmax over K clusters (--clusters) and no labelled phase. Nothing
tells the clusters which classes they are: the categorical prior makes each one-hot y equally likely, and the
decoder learns to put what y does not say (the style) into z. Evaluation names each cluster by the label of the
training image the encoder puts into it most confidently (metrics.cluster_labels).
"""

from .semi_supervised import SemiSupervisedAAE


class ClusteringAAE(SemiSupervisedAAE):
    needs_labels = decodes_classes = uses_labelled_subset = False
    own_flags = ("clusters", "label_to_discriminator")
    # The README's recipe (section "Unsupervised clustering"): the paper's 2 x 3000 networks and 5-D style code,
    # trained with Adam.
    recipe = dict(z_dim=5, hidden=3000, disc_hidden=3000, dropout=0.0, disc_dropout=0.0, input_noise=0.3,
                  lr_recon=1e-3, lr_reg=1e-3, steps=30000, eval_every=1000)

    @property
    def classes(self):
        return self.config.clusters
