"""Gaussian mass of quantization cells, its rate in bits and the ``D + λ·R`` cost, shared by all quantizers.

Every quantizer codes a level with the probability of its cell under the
predicted N(μ, σ²); in units of Δ around μ, that is the mass of an interval
under N(0, s²) with ``s = σ/Δ``. SQ and RDOQ cells are ``[|v|−½, |v|+½]``,
TCQ's are given by :func:`licq.quantizers.tcq.cell_bounds`. Keeping the formula,
the rate and the cost in one place keeps λ comparable between the TCQ Viterbi
search and RDOQ, and finetuning's rate consistent with the encoder's decisions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_SQRT2 = math.sqrt(2.0)
#: floor of a cell probability: a level far out in the tail costs at most ~30 bits, never inf
MIN_PROBABILITY = 1e-9


def upper_tail(x: Tensor) -> Tensor:
    """P(X > x) for X ~ N(0, 1); accurate far in the tail, where 1 − Φ(x) would cancel."""
    return 0.5 * torch.erfc(x / _SQRT2)


def interval_probability(a: Tensor, b: Tensor, s: Tensor) -> Tensor:
    """P(a ≤ X ≤ b) for X ~ N(0, s²), as a difference of upper tails (cells are given with b > a ≥ −b)."""
    return upper_tail(a / s) - upper_tail(b / s)


def sq_cell_probability(v: Tensor, s: Tensor) -> Tensor:
    """Probability of the unit cell ``[v−½, v+½]`` of integer level ``v`` (any sign) under N(0, s²)."""
    a = v.abs()
    return interval_probability(a - 0.5, a + 0.5, s)


def rate_bits(p: Tensor) -> Tensor:
    """Bits of a symbol of probability ``p``: ``−log2 p``, with ``p`` floored at :data:`MIN_PROBABILITY`."""
    return -torch.log2(p.clamp_min(MIN_PROBABILITY))


def rd_cost(t: Tensor, v: Tensor, p: Tensor, step: float, lam: float, weight: Tensor | None = None) -> Tensor:
    """``w·Δ²(t − v)² + λ·(−log2 p)``: (weighted) squared error in the latent's units plus λ times the bits.

    ``t = (y−μ)/Δ`` and the level ``v`` are in units of Δ, so the distortion term
    is the squared error of ``ŷ = μ + Δ·v``; the same λ means the same exchange
    rate between distortion and bits for every quantizer. ``weight`` (broadcast
    against ``t``; None = 1, the same floating-point operations as before) is the
    image-domain sensitivity of the latent's channel, normalised to mean 1, so that
    the distortion term approximates the image's squared error (see
    :mod:`licq.quantizers.weighting`). It is an encoder-side choice: decoding ignores it.
    """
    d = (t - v) ** 2 * step ** 2
    if weight is not None:
        d = d * weight
    return d + lam * rate_bits(p)
