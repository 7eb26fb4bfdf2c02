"""Convolutional transforms applied tile by tile, so that memory stays bounded on big images."""

from __future__ import annotations

from typing import Callable, Iterator

from torch import Tensor

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
