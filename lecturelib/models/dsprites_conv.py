"""The standard convolutional VAE for 64x64 dSprites images (Higgins et al. 2017; Locatello et al. 2019).

Encoder: 4 convolutions (32, 32, 64, 64 channels, kernel 4, stride 2, padding 1, ReLU) taking
``(n, C, 64, 64)`` to ``(n, 64, 4, 4)``, a dense layer of 256 units, then a linear head giving
``(mu, log_var)``, each ``(n, n_latents)``. Decoder, mirrored: dense 256 -> dense 4*4*64 ->
4 transposed convolutions (64, 32, 32, C channels) giving Bernoulli logits ``(n, C, 64, 64)``.
Used with :class:`lecturelib.vae.VAE` and :func:`lecturelib.vae.elbo_loss` by the beta-VAE chapter
(07), the metrics chapter (08), the Locatello study (09) and ``benchmarks/vae_training.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lecturelib.validation import check_int
from lecturelib.vae import VAE

IMAGE_SIZE = 64


class ConvEncoder(nn.Module):
    """``(n, C, 64, 64) -> (mu, log_var)``, each ``(n, n_latents)``."""

    def __init__(self, n_latents: int = 10, n_channels: int = 1):
        super().__init__()
        n_latents, n_channels = check_int(n_latents, "n_latents", minimum=1), check_int(n_channels, "n_channels", minimum=1)
        self.n_channels = n_channels
        self.conv = nn.Sequential(
            nn.Conv2d(n_channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        )
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
                                   nn.Linear(256, 2 * n_latents))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim != 4 or x.shape[1:] != (self.n_channels, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"x must have shape (n_samples, {self.n_channels}, 64, 64), got {tuple(x.shape)}")
        mu, log_var = self.dense(self.conv(x)).chunk(2, dim=-1)
        return mu, log_var


class ConvDecoder(nn.Module):
    """``(n, n_latents) -> logits (n, C, 64, 64)``, the encoder mirrored."""

    def __init__(self, n_latents: int = 10, n_channels: int = 1):
        super().__init__()
        n_latents, n_channels = check_int(n_latents, "n_latents", minimum=1), check_int(n_channels, "n_channels", minimum=1)
        self.dense = nn.Sequential(nn.Linear(n_latents, 256), nn.ReLU(), nn.Linear(256, 64 * 4 * 4), nn.ReLU(),
                                   nn.Unflatten(1, (64, 4, 4)))
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, n_channels, 4, 2, 1),
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.deconv(self.dense(h))


def dsprites_conv_vae(n_latents: int = 10, n_channels: int = 1, *, seed: int | None = None) -> VAE:
    """The standard dSprites VAE (Bernoulli likelihood, diagonal Gaussian q, prior N(0, I))."""
    if seed is not None:
        torch.manual_seed(seed)
    return VAE(ConvEncoder(n_latents, n_channels), ConvDecoder(n_latents, n_channels), n_latents,
               likelihood="bernoulli")
