"""The supervised AAE (Makhzani et al. 2015, section 5, figures 6 and 7): the decoder reads [z, one-hot(y)], so
the label carries the class and the code z, regularized towards the prior as in the vanilla AAE, only the style.
Samples of a chosen class: decode prior draws with that label.

Nothing in the losses forces z to leave the class to y: a code large enough to hold the class lets the decoder
ignore the label. With `label_to_discriminator`, D judges (code, label) pairs, so the encoder is pushed to give
every class the prior's distribution: a code that tells the class apart is caught.
"""

import torch
import torch.nn.functional as F

from .vanilla import VanillaAAE


class SupervisedAAE(VanillaAAE, name="supervised"):
    conditional = needs_labels = decodes_classes = True
    own_flags = ("label_to_discriminator",)
    # The recipe of docs/recipes.md's run: a conditional D that is stronger than the vanilla AAE's (three updates per
    # step at 4x the lecture's rate), an 8-D code, small enough to leave the class to the label, and a
    # reconstruction rate 3x the lecture's (sharper samples sooner: what a classifier trained on them needs).
    recipe = dict(z_dim=8, label_to_discriminator=True, discriminator_steps=3, lr_reg=2e-4, lr_recon=3e-4,
                  steps=20000)

    def with_label(self, z, labels):
        return torch.cat([z, F.one_hot(labels, self.classes).to(z.dtype)], dim=1)

    def decoder_input(self, z, labels):
        return self.with_label(z, labels)

    def discriminator_input(self, z, labels):
        return self.with_label(z, labels) if self.config.label_to_discriminator else z
