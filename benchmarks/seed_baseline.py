"""Lecture 54's training loop, transcribed faithfully (bugs and all) as the throughput benchmark's baseline.

What is the lecture's: torchvision MNIST with ToTensor through a DataLoader (batch 100, shuffled), its three
networks (D without lin3, P without its second ReLU, sigmoid outputs), its four Adam optimizers with default
settings, one zero_grad per step, its phase order and losses (log D(fake) in D's loss, z_fake not detached).
What is left out, because it is display and not training: the per-step decode of the 100 test points and the
matplotlib redraw of the figure. `Variable` is gone (a no-op since torch 0.4); `to_var` moves to the benchmark's
device instead of `.cuda()`.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision.datasets as dsets
import torchvision.transforms as transforms


# Encoder
class Q_net(nn.Module):
    def __init__(self, X_dim, N, z_dim):
        super(Q_net, self).__init__()
        self.lin1 = nn.Linear(X_dim, N)
        self.lin2 = nn.Linear(N, N)
        self.lin3gauss = nn.Linear(N, z_dim)

    def forward(self, x):
        x = F.dropout(self.lin1(x), p=0.25, training=self.training)
        x = F.relu(x)
        x = F.dropout(self.lin2(x), p=0.25, training=self.training)
        x = F.relu(x)
        xgauss = self.lin3gauss(x)
        return xgauss


# Decoder
class P_net(nn.Module):
    def __init__(self, X_dim, N, z_dim):
        super(P_net, self).__init__()
        self.lin1 = nn.Linear(z_dim, N)
        self.lin2 = nn.Linear(N, N)
        self.lin3 = nn.Linear(N, X_dim)

    def forward(self, x):
        x = F.dropout(self.lin1(x), p=0.25, training=self.training)
        x = F.relu(x)
        x = F.dropout(self.lin2(x), p=0.25, training=self.training)
        x = self.lin3(x)
        return torch.sigmoid(x)


# Discriminator
class D_net_gauss(nn.Module):
    def __init__(self, N, z_dim):
        super(D_net_gauss, self).__init__()
        self.lin1 = nn.Linear(z_dim, N)
        self.lin2 = nn.Linear(N, N)
        self.lin3 = nn.Linear(N, 1)

    def forward(self, x):
        x = F.dropout(self.lin1(x), p=0.2, training=self.training)
        x = F.relu(x)
        x = F.dropout(self.lin2(x), p=0.2, training=self.training)
        x = F.relu(x)
        return torch.sigmoid(x)


class SeedLoop:
    """The lecture's loop split where the benchmark times it: data, reconstruction, regularization."""

    def __init__(self, data_root, device, batch_size=100):
        self.device = device
        dataset = dsets.MNIST(root=data_root, train=True, transform=transforms.ToTensor(), download=False)
        self.data_loader = torch.utils.data.DataLoader(dataset=dataset, batch_size=batch_size, shuffle=True)
        self.z_red_dims = 2
        self.Q = self.to_cuda(Q_net(784, 1000, self.z_red_dims))
        self.P = self.to_cuda(P_net(784, 1000, self.z_red_dims))
        self.D_gauss = self.to_cuda(D_net_gauss(500, self.z_red_dims))
        gen_lr = 0.0001
        reg_lr = 0.00005
        # encode/decode optimizers
        self.optim_P = optim.Adam(self.P.parameters(), lr=gen_lr)
        self.optim_Q_enc = optim.Adam(self.Q.parameters(), lr=gen_lr)
        # regularizing optimizers
        self.optim_Q_gen = optim.Adam(self.Q.parameters(), lr=reg_lr)
        self.optim_D = optim.Adam(self.D_gauss.parameters(), lr=reg_lr)
        self.iter_per_epoch = len(self.data_loader)
        self.step = 0

    def to_cuda(self, x):
        return x.to(self.device)

    to_var = to_cuda

    def next_batch(self):
        # Reset the data_iter
        if self.step % self.iter_per_epoch == 0:
            self.data_iter = iter(self.data_loader)
        self.step += 1
        # Fetch the images and labels and convert them to variables
        images, labels = next(self.data_iter)
        images, labels = self.to_var(images.view(images.size(0), -1)), self.to_var(labels)
        return images

    def reconstruction_phase(self, images):
        P, Q, D_gauss = self.P, self.Q, self.D_gauss
        # reconstruction loss
        P.zero_grad()
        Q.zero_grad()
        D_gauss.zero_grad()

        z_sample = Q(images)  # encode to z
        X_sample = P(z_sample)  # decode to X reconstruction
        recon_loss = F.binary_cross_entropy(X_sample, images)
        recon_loss.backward()

        self.optim_P.step()
        self.optim_Q_enc.step()

    def regularization_phase(self, images):
        Q, D_gauss = self.Q, self.D_gauss
        # Discriminator
        ## true prior is random normal (randn)
        ## this is constraining the Z-projection to be normal!
        Q.eval()
        z_real_gauss = self.to_var(torch.randn(images.size()[0], self.z_red_dims))
        D_real_gauss = D_gauss(z_real_gauss)

        z_fake_gauss = Q(images)
        D_fake_gauss = D_gauss(z_fake_gauss)

        D_loss = -torch.mean(torch.log(D_real_gauss) + torch.log(D_fake_gauss))

        D_loss.backward()
        self.optim_D.step()

        # Generator
        Q.train()
        z_fake_gauss = Q(images)
        D_fake_gauss = D_gauss(z_fake_gauss)

        G_loss = -torch.mean(torch.log(D_fake_gauss))

        G_loss.backward()
        self.optim_Q_gen.step()

    def train_step(self):
        images = self.next_batch()
        self.reconstruction_phase(images)
        self.regularization_phase(images)
