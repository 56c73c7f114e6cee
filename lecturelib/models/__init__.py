"""Shared model architectures (the dSprites convolutional VAE used by the beta-VAE, metrics and study
chapters) and the regularisers of the six methods of the Locatello et al. study (:mod:`.regularizers`)."""

from lecturelib.models.dsprites_conv import ConvDecoder, ConvEncoder, dsprites_conv_vae

__all__ = ["ConvEncoder", "ConvDecoder", "dsprites_conv_vae"]
