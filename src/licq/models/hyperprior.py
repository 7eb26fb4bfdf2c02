"""Hyperprior models: CompressAI's transforms plus the one hook licq needs.

licq subclasses CompressAI's model classes instead of rewriting them, so the
layer names (and therefore state dicts) stay identical to CompressAI's zoo.
What licq adds is :meth:`hyper`, the single place where the hyper-decoder's
output becomes the (mean, scale) pair that both the quantizer and the entropy
model consume; encoder and decoder call exactly this function on the same
tensor. It runs h_s in integer arithmetic (:mod:`.integer`), so μ and σ, and with
them every table choice, are the same on every machine.
"""

from __future__ import annotations

import torch
from .._compressai import MeanScaleHyperprior, ScaleHyperprior
from torch import Tensor

from .integer import ExactHyperDecoder
from .tiling import tiled

#: Hyper-latents are downsampled 64x relative to the image (g_a 16x, h_a 4x).
STRIDE = 64


#: g_a and g_s change the spatial size by this factor.
LATENT_STRIDE = 16


class _FastTransforms:
    """Inference entry points for the two big transforms: channels-last, tiled on big images.

    oneDNN's CPU convolutions are markedly faster on channels-last tensors (about
    a third less time for g_a and g_s on Kodak-sized images). Images larger than
    ``tile_pixels`` on a side are transformed in overlapping tiles (see
    :func:`tiled`) so that memory stays bounded (a 4096x4096 image needs about
    6 GB of activations in one piece). The tiling depends only on the image
    size, so encoder and decoder tile identically and the reconstruction stays
    bit-identical between them; call :meth:`prepare_inference` once after
    loading weights.
    """

    #: side of a tile in image pixels (a multiple of 16)
    tile_pixels: int = 1024
    #: context read around each tile, in image pixels (a multiple of 16): wider than the
    #: receptive fields of g_a (about 30 px) and g_s (about 3 latents = 48 px)
    halo_pixels: int = 64

    def prepare_inference(self) -> None:
        self.g_a.to(memory_format=torch.channels_last)
        self.g_s.to(memory_format=torch.channels_last)

    def _g_a(self, x: Tensor) -> Tensor:
        return self.g_a(x.contiguous(memory_format=torch.channels_last)).contiguous()

    def _g_s(self, y_hat: Tensor) -> Tensor:
        return self.g_s(y_hat.contiguous(memory_format=torch.channels_last)).contiguous()

    def exact_h_s(self, z_hat: Tensor) -> Tensor:
        """h_s in exact integer arithmetic (:mod:`.integer`): the same μ and σ on every machine.

        With gradients enabled (training, finetuning, the encoder's refinement) the value is the
        exact one and the gradient the float h_s's (straight-through).
        """
        exact = self.__dict__.get("_exact_h_s")
        if exact is None:
            exact = self.__dict__["_exact_h_s"] = ExactHyperDecoder()
        return exact(self.h_s, z_hat)

    def analysis(self, x: Tensor) -> Tensor:
        return tiled(self._g_a, x, self.tile_pixels, self.halo_pixels, 1, LATENT_STRIDE)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        s = LATENT_STRIDE
        return tiled(self._g_s, y_hat, self.tile_pixels // s, self.halo_pixels // s, s, 1)


class LicqMeanScale(_FastTransforms, MeanScaleHyperprior):
    """Minnen et al. 2018 mean-scale hyperprior (CompressAI ``mbt2018-mean``)."""

    arch = "mbt2018-mean"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mean, scale) of the Gaussian for each latent, exact fixed-point numbers."""
        scales, means = self.exact_h_s(z_hat).chunk(2, 1)
        return means, scales


class LicqScaleOnly(_FastTransforms, ScaleHyperprior):
    """Ballé et al. 2018 scale hyperprior (CompressAI ``bmshj2018-hyperprior``), mean 0."""

    arch = "bmshj2018-hyperprior"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales = self.exact_h_s(z_hat)
        return torch.zeros_like(scales), scales

