"""Shared model architectures for 64x64 dSprites and the regularisers of the six methods of the
Locatello et al. study (:mod:`.regularizers`).

Two architectures: the convolutional VAE of Burgess et al. 2018 and Locatello et al. 2019
(:mod:`.dsprites_conv`, the metrics and study chapters) and a fully connected one after Higgins
et al. 2017 and Chen et al. 2018 (:mod:`.dsprites_mlp`, chapter 7's recipe). :func:`dsprites_vae`
builds either by name.
"""

from __future__ import annotations

from lecturelib.models.dsprites_conv import ConvDecoder, ConvEncoder, dsprites_conv_vae
from lecturelib.models.dsprites_mlp import MLPDecoder, MLPEncoder, dsprites_mlp_vae
from lecturelib.vae import VAE

ARCHITECTURES: tuple[str, ...] = ("conv", "mlp")
"""Names accepted by :func:`dsprites_vae`."""


def dsprites_vae(architecture: str = "conv", n_latents: int = 10, n_channels: int = 1, *,
                 seed: int | None = None) -> VAE:
    """The dSprites VAE named ``architecture`` (one of :data:`ARCHITECTURES`)."""
    if architecture == "conv":
        return dsprites_conv_vae(n_latents, n_channels, seed=seed)
    if architecture == "mlp":
        return dsprites_mlp_vae(n_latents, n_channels, seed=seed)
    raise ValueError(f"architecture={architecture!r} is not known; expected one of: {', '.join(ARCHITECTURES)}")


__all__ = ["ARCHITECTURES", "ConvEncoder", "ConvDecoder", "MLPEncoder", "MLPDecoder", "dsprites_conv_vae",
           "dsprites_mlp_vae", "dsprites_vae"]
