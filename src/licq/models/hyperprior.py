"""Hyperprior models: CompressAI's transforms plus the one hook licq needs.

licq subclasses CompressAI's model classes instead of rewriting them, so the
layer names (and therefore state dicts) stay identical to CompressAI's zoo.
What licq adds is :meth:`hyper`, the single place where the hyper-decoder's
output becomes the (mean, scale) pair that both the quantizer and the entropy
model consume; encoder and decoder call exactly this function on the same
tensor, which is what makes the reconstruction bit-exact on one machine.
"""

from __future__ import annotations

import torch
from .._compressai import MeanScaleHyperprior, ScaleHyperprior
from torch import Tensor

#: Hyper-latents are downsampled 64x relative to the image (g_a 16x, h_a 4x).
STRIDE = 64


class _FastTransforms:
    """Inference entry points for the two big transforms, in channels-last memory format.

    oneDNN's CPU convolutions are markedly faster on channels-last tensors (about
    a third less time for g_a and g_s on Kodak-sized images). Encoder and decoder
    both go through these methods, so the reconstruction stays bit-identical
    between them; call :meth:`prepare_inference` once after loading weights.
    """

    def prepare_inference(self) -> None:
        self.g_a.to(memory_format=torch.channels_last)
        self.g_s.to(memory_format=torch.channels_last)

    def analysis(self, x: Tensor) -> Tensor:
        return self.g_a(x.contiguous(memory_format=torch.channels_last)).contiguous()

    def synthesis(self, y_hat: Tensor) -> Tensor:
        return self.g_s(y_hat.contiguous(memory_format=torch.channels_last)).contiguous()


class LicqMeanScale(_FastTransforms, MeanScaleHyperprior):
    """Minnen et al. 2018 mean-scale hyperprior (CompressAI ``mbt2018-mean``)."""

    arch = "mbt2018-mean"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mean, scale) of the Gaussian for each latent."""
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return means, scales


class LicqScaleOnly(_FastTransforms, ScaleHyperprior):
    """Ballé et al. 2018 scale hyperprior (CompressAI ``bmshj2018-hyperprior``), mean 0."""

    arch = "bmshj2018-hyperprior"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales = self.h_s(z_hat)
        return torch.zeros_like(scales), scales


ARCHITECTURES: dict[str, type] = {
    LicqMeanScale.arch: LicqMeanScale,
    LicqScaleOnly.arch: LicqScaleOnly,
}
