"""Hyperprior models: CompressAI's transforms plus the one hook licq needs.

licq subclasses CompressAI's model classes instead of rewriting them, so the
layer names (and therefore state dicts) stay identical to CompressAI's zoo.
What licq adds is :meth:`hyper`, the single place where the hyper-decoder's
output becomes the (mean, scale) pair that both the quantizer and the entropy
model consume; encoder and decoder call exactly this function on the same
tensor, which is what makes the reconstruction bit-exact on one machine.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from .._compressai import MeanScaleHyperprior, ScaleHyperprior
from torch import Tensor

#: Hyper-latents are downsampled 64x relative to the image (g_a 16x, h_a 4x).
STRIDE = 64


#: g_a and g_s change the spatial size by this factor.
LATENT_STRIDE = 16

#: a rectangle of a grid: (row0, row1, col0, col1)
Box = tuple[int, int, int, int]


def tile_boxes(size: tuple[int, int], tile: int, halo: int) -> Iterator[tuple[Box, Box]]:
    """Each tile of an H×W grid: (the box it reads, with ``halo`` of context; the box it owns).

    Boxes are ``(row0, row1, col0, col1)``; the owned boxes partition the grid and
    the halo is clipped at its border. Shared by :func:`tiled` and the encoder's
    latent refinement, which back-propagates through g_s tile by tile.
    """
    H, W = size
    for i0 in range(0, H, tile):
        i1 = min(i0 + tile, H)
        for j0 in range(0, W, tile):
            j1 = min(j0 + tile, W)
            yield (max(0, i0 - halo), min(H, i1 + halo), max(0, j0 - halo), min(W, j1 + halo)), (i0, i1, j0, j1)


def tiled(fn: Callable[[Tensor], Tensor], x: Tensor, tile: int, halo: int, up: int, down: int) -> Tensor:
    """Apply a convolutional transform tile by tile, each tile read with a ``halo`` of context.

    ``fn`` maps an input of size S to an output of size S*up/down (g_a: 1/16,
    g_s: 16). Each tile's output is cropped to the tile's own area, so with a
    halo wider than the transform's receptive field the result equals the
    whole-input result up to floating-point summation order: no seams, and the
    bitstream does not change (the latents stay one tensor, coded as one).
    Tiles and halos are multiples of ``down`` so the grids stay aligned; at the
    input's border the halo is clipped, as the whole-input convolution would be.
    """
    H, W = x.shape[-2:]
    if H <= tile and W <= tile:
        return fn(x)
    out = None
    for (a0, a1, b0, b1), (i0, i1, j0, j1) in tile_boxes((H, W), tile, halo):
        o = fn(x[..., a0:a1, b0:b1])
        if out is None:
            out = o.new_empty(*o.shape[:-2], H * up // down, W * up // down)
        oi, oj = (i0 - a0) * up // down, (j0 - b0) * up // down
        hi, wj = (i1 - i0) * up // down, (j1 - j0) * up // down
        out[..., i0 * up // down:i1 * up // down, j0 * up // down:j1 * up // down] = \
            o[..., oi:oi + hi, oj:oj + wj]
        del o
    return out


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

    def analysis(self, x: Tensor) -> Tensor:
        return tiled(self._g_a, x, self.tile_pixels, self.halo_pixels, 1, LATENT_STRIDE)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        s = LATENT_STRIDE
        return tiled(self._g_s, y_hat, self.tile_pixels // s, self.halo_pixels // s, s, 1)


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
