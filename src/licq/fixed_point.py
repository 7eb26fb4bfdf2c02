"""Fixed-point numbers: the exact arithmetic of everything that decides a coded symbol.

The rANS decoder must pick, for every latent, the very table the encoder picked,
and a fixed grid the very anchor. Both follow from the hyper-decoder's μ and σ;
computed in floating point, they differ in the last bits between CPUs,
instruction sets, thread counts and devices, and a σ a hair across a table
boundary desynchronises the decoder. So μ and σ are fixed-point numbers, integers
times ``2**-FRACTION_BITS`` produced by the integer hyper-decoder
(:mod:`licq.models.integer`), and every decision taken from them here is integer
arithmetic: comparisons against integer thresholds and exact rounded divisions.

Float tensors carry the values between modules: ``v·2**-FRACTION_BITS`` with
``|v| < 2**24`` is exact in float32, and scaling by a power of two is exact, so
:func:`to_fixed` recovers ``v`` on any machine.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Sequence

import torch
from torch import Tensor

#: μ, σ and every activation of the integer hyper-decoder are integers times 2**-FRACTION_BITS
FRACTION_BITS = 12
#: largest magnitude of a fixed-point μ or σ (in units of 2**-FRACTION_BITS) that float32 holds exactly
MAX_FIXED = (1 << 24) - 1


def to_fixed(x: Tensor) -> Tensor:
    """``round(x·2**FRACTION_BITS)`` as int64: exact for the hyper-decoder's outputs, whatever the machine
    (scaling by a power of two is exact in any float format, so no wider type is needed)."""
    return torch.round(x.detach() * (1 << FRACTION_BITS)).to(torch.int64)


def _dyadic(value: float) -> tuple[int, int]:
    """``value`` (a float, hence a dyadic rational) as ``(p, e)`` with ``value = p / 2**e`` exactly."""
    num, den = Fraction(value).as_integer_ratio()
    return num, den.bit_length() - 1


@functools.lru_cache(maxsize=64)
def scale_thresholds(ladder: tuple[float, ...], step: float) -> tuple[int, ...]:
    """``floor(s·Δ·2**FRACTION_BITS)`` for each ladder scale ``s``, computed in exact rationals.

    For an integer ``σ_fixed``, ``σ/Δ ≤ s`` exactly when ``σ_fixed ≤`` this threshold: CompressAI's rule
    (the table of the smallest ladder scale ≥ σ/Δ) as one integer comparison per boundary.
    """
    return tuple(int(Fraction(s) * Fraction(step) * (1 << FRACTION_BITS) // 1) for s in ladder)


def ladder_indexes(scales: Tensor, ladder: Sequence[float], step: float) -> Tensor:
    """Index of the smallest ladder scale ``≥ σ/Δ`` (the last one above the ladder), int32, exactly."""
    thresholds = torch.tensor(scale_thresholds(tuple(float(s) for s in ladder[:-1]), float(step)),
                              dtype=torch.int64, device=scales.device)
    return torch.bucketize(to_fixed(scales), thresholds).int()


def _ratio(means: Tensor, step: float) -> tuple[Tensor, int]:
    """``μ/Δ`` as the exact fraction ``n/d`` (``n`` an int64 tensor, ``d`` a positive int)."""
    p, e = _dyadic(step)
    shift = min(e, FRACTION_BITS)  # cancel the common power of two
    return to_fixed(means) * (1 << (e - shift)), p << (FRACTION_BITS - shift)


def grid_anchor(means: Tensor, step: float) -> tuple[Tensor, Tensor, int]:
    """``k = round(μ/Δ)`` (halves to even, as ``torch.round``), exactly; with ``n/d = μ/Δ`` for offsets."""
    n, d = _ratio(means, step)
    k = torch.div(n, d, rounding_mode="floor")
    twice_rem = 2 * (n - k * d)  # in [0, 2d)
    up = (twice_rem > d) | ((twice_rem == d) & (k % 2 == 1))
    return k + up.to(k.dtype), n, d


def grid_offset_bins(means: Tensor, step: float, bins: int) -> tuple[Tensor, Tensor]:
    """The anchor ``k = round(μ/Δ)`` and the bin ``floor((k − μ/Δ + ½)·bins)`` (0..bins−1) of each latent."""
    k, n, d = grid_anchor(means, step)
    x = 2 * bins * (k * d - n) + bins * d  # (k − n/d + ½)·bins = x / (2d), all integers
    b = torch.div(x, 2 * d, rounding_mode="floor").clamp(0, bins - 1)
    return k, b
