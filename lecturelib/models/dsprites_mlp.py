"""A fully connected VAE for 64x64 dSprites, after Higgins et al. 2017 and Chen et al. 2018.

Both papers train their dSprites β-VAEs with fully connected nets (Chen et al.: encoder
4096-1200-1200, decoder 1200-1200-1200-4096 with tanh). This one keeps their shape at a width
of ``hidden`` units (default 256), which makes a training step several times cheaper than the
convolutional net's (:mod:`lecturelib.models.dsprites_conv`) on a CPU, the budget chapter 7's
recipe search (:mod:`lecturelib.recipe_search`) measures.

Encoder: ``(n, C, 64, 64)`` -> flatten -> ``hidden`` -> ``hidden`` (ReLU) -> linear head
``(mu, log_var)``, each ``(n, n_latents)``. Decoder: ``n_latents`` -> ``hidden`` x 3 (tanh) ->
Bernoulli logits ``(n, C, 64, 64)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lecturelib.models.dsprites_conv import IMAGE_SIZE
from lecturelib.validation import check_int
from lecturelib.vae import VAE


class MLPEncoder(nn.Module):
    """``(n, C, 64, 64) -> (mu, log_var)``, each ``(n, n_latents)``."""

    def __init__(self, n_latents: int = 10, n_channels: int = 1, hidden: int = 256):
        super().__init__()
        n_latents, n_channels, hidden = (check_int(v, name, minimum=1) for v, name in
                                         ((n_latents, "n_latents"), (n_channels, "n_channels"), (hidden, "hidden")))
        self.n_channels = n_channels
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_channels * IMAGE_SIZE**2, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * n_latents))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim != 4 or x.shape[1:] != (self.n_channels, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"x must have shape (n_samples, {self.n_channels}, 64, 64), got {tuple(x.shape)}")
        mu, log_var = self.net(x).chunk(2, dim=-1)
        return mu, log_var


class MLPDecoder(nn.Module):
    """``(n, n_latents) -> logits (n, C, 64, 64)``: three tanh layers of ``hidden`` units."""

    def __init__(self, n_latents: int = 10, n_channels: int = 1, hidden: int = 256):
        super().__init__()
        n_latents, n_channels, hidden = (check_int(v, name, minimum=1) for v, name in
                                         ((n_latents, "n_latents"), (n_channels, "n_channels"), (hidden, "hidden")))
        self.net = nn.Sequential(nn.Linear(n_latents, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_channels * IMAGE_SIZE**2),
                                 nn.Unflatten(1, (n_channels, IMAGE_SIZE, IMAGE_SIZE)))

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


def dsprites_mlp_vae(n_latents: int = 10, n_channels: int = 1, *, hidden: int = 256, seed: int | None = None) -> VAE:
    """The fully connected dSprites VAE (Bernoulli likelihood, diagonal Gaussian q, prior N(0, I))."""
    if seed is not None:
        torch.manual_seed(seed)
    return VAE(MLPEncoder(n_latents, n_channels, hidden), MLPDecoder(n_latents, n_channels, hidden), n_latents,
               likelihood="bernoulli")
