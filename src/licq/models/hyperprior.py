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


class LicqMeanScale(MeanScaleHyperprior):
    """Minnen et al. 2018 mean-scale hyperprior (CompressAI ``mbt2018-mean``)."""

    arch = "mbt2018-mean"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mean, scale) of the Gaussian for each latent."""
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return means, scales


class LicqScaleOnly(ScaleHyperprior):
    """Ballé et al. 2018 scale hyperprior (CompressAI ``bmshj2018-hyperprior``), mean 0."""

    arch = "bmshj2018-hyperprior"

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales = self.h_s(z_hat)
        return torch.zeros_like(scales), scales


ARCHITECTURES: dict[str, type] = {
    LicqMeanScale.arch: LicqMeanScale,
    LicqScaleOnly.arch: LicqScaleOnly,
}
