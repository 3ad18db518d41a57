"""The lecture's AAE (Makhzani et al. 2015, section 2): encoder Q, decoder P, discriminator D on the code z.

One step, three phases, each stepping only its own optimizers (the lecture's names):
  1. reconstruction   Q, P train; loss BCE(P(Q(x)), x);                      optim_P + optim_Q_enc step
  2. discriminator    Q eval and frozen, z_fake = Q(x); z_real ~ prior;
                      loss BCE(D(z_real), 1) + BCE(D(z_fake), 0);            optim_D steps
  3. generator        Q train; D frozen; loss BCE(D(Q(x)), 1);               optim_Q_gen steps
"""

import torch

from ..losses import discriminator_loss, generator_loss, real_and_fake_logits, reconstruction_loss
from ..models import AAE, Phase
from ..networks import decoder, discriminator, encoder


class VanillaAAE(AAE, name="vanilla"):
    def build_networks(self):
        c = self.config
        return {"encoder": encoder(c, self.code_size),
                "decoder": decoder(c, self.input_size(self.decoder_input)),
                "discriminator": discriminator(self.input_size(self.discriminator_input), c.disc_hidden,
                                               c.disc_dropout)}

    def input_size(self, network_input):
        """The width of what `network_input` (decoder_input or discriminator_input) makes of a code."""
        z = torch.zeros(1, self.config.z_dim)
        return network_input(z, torch.zeros(1, dtype=torch.long)).shape[1]

    def optimizers(self):
        # Q has two: one for reconstruction, one for regularization (they keep separate Adam moments).
        return {"optim_P": (self.decoder, "lr_recon"), "optim_Q_enc": (self.encoder, "lr_recon"),
                "optim_Q_gen": (self.encoder, "lr_reg"), "optim_D": (self.discriminator, "lr_reg")}

    def phases(self):
        discriminator = Phase("discriminator", "d_loss", self.discriminate, ("optim_D",),
                              trains=("discriminator",), uses=("encoder",), eval=("encoder",))
        return [Phase("reconstruction", "recon_loss", self.reconstruct, ("optim_P", "optim_Q_enc"),
                      trains=("encoder", "decoder")),
                *[discriminator] * self.config.discriminator_steps,  # D updates per encoder update
                Phase("generator", "g_loss", self.regularize, ("optim_Q_gen",),
                      trains=("encoder",), uses=("discriminator",))]

    def discriminator_input(self, z, labels):
        """What D reads for codes z of images with `labels`."""
        return z

    def code(self, encoder, x):
        """The training code of x: Q(x), plus Gaussian noise of std code_noise where that is set (a stochastic
        encoder: the decoder learns to decode the whole neighbourhood of each code, and D sees the noisy codes).
        With input_noise, Q reads x plus Gaussian noise of that std (the AAE paper's semi-supervised recipe); a
        Gaussian encoder draws z from its output (training_code)."""
        z = self.training_code(encoder(self.training_input(x)))
        return z + self.config.code_noise * torch.randn_like(z) if self.config.code_noise else z

    def reconstruct(self, nets, batch):
        x = batch["x"]
        logits = nets.decoder(self.decoder_input(self.code(nets.encoder, x), batch.get("y")))
        return {"recon_loss": reconstruction_loss(logits, x, self.config.recon_loss)}

    def discriminate(self, nets, batch):
        z_real, y = batch["z_prior"], batch.get("y")
        z_fake = self.code(nets.encoder, batch["x"]).to(z_real.dtype)
        real, fake = real_and_fake_logits(nets.discriminator, self.discriminator_input(z_real, y),
                                          self.discriminator_input(z_fake, y))
        return {"d_loss": discriminator_loss(real, fake),
                "d_real": torch.sigmoid(real).mean(), "d_fake": torch.sigmoid(fake).mean()}

    def regularize(self, nets, batch):
        z = self.code(nets.encoder, batch["x"])
        return {"g_loss": generator_loss(nets.discriminator(self.discriminator_input(z, batch.get("y"))))}

    @torch.no_grad()
    def discriminator_logits(self, z, labels=None):
        """D's logits for codes z (of images with `labels`): high where it takes them for prior samples."""
        return self.discriminator(self.discriminator_input(z.to(self.device, torch.float32), labels))
