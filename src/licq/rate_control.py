"""Encode to a target instead of a quality: a file size, a bit rate or a PSNR.

Rate and PSNR grow with the quality, so the quality that meets a target is found by bisection:
over the continuous quality of a variable-rate model (:mod:`licq.models.channel`; the header's
resolution of 0.01 bounds the search at about ten encodes), or over the zoo's quality levels.
Every probe is a real encode, so the bytes and PSNR reported are those of the file written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import warnings

import numpy as np

from .codec import EncodeResult, ImageLike, encode_full, model_and_rate
from .container import QUALITY_SCALE
from .errors import LicqError
from .evaluation.metrics import psnr_images
from .imageio import LicqWarning, open_image
from .models.channel import QUALITY_RANGE

#: a bit-rate target counts as met within this relative distance
BPP_TOLERANCE = 0.03


@dataclass(frozen=True)
class Target:
    """What to aim at: exactly one of a bit rate, a PSNR (dB, RGB) or a size bound (bytes)."""

    bpp: float | None = None
    psnr: float | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.bpp, self.psnr, self.max_bytes) if v is not None]
        if len(given) != 1:
            raise LicqError("give exactly one target: a bpp, a PSNR or a maximum size")
        if not all(np.isfinite(v) and v > 0 for v in given):
            raise LicqError(f"a target must be a positive number, got {given[0]}")


@dataclass
class TargetResult:
    result: EncodeResult
    quality: float  #: the quality the file was coded at
    psnr: float  #: of the reconstruction against the input (dB)
    probes: int  #: encodes the search took


def encode_to_target(image: ImageLike, target: Target, model: str | None = None, *, arch: str | None = None,
                     progress: Callable[[int], None] | None = None, **options) -> TargetResult:
    """Encode ``image`` at the quality that meets ``target`` (other keywords as for :func:`encode_full`).

    ``max_bytes`` gives the highest quality whose file fits (a LicqError when not even the lowest
    does); ``psnr`` the lowest quality that reaches it (the highest when none does); ``bpp`` the
    quality whose rate is nearest, stopping as soon as one is within :data:`BPP_TOLERANCE`.
    """
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        image = open_image(image)
    m, rate = model_and_rate(model, None, arch)
    if rate is not None:
        lo, hi = (round(q * QUALITY_SCALE) for q in QUALITY_RANGE)
        candidates = list(range(lo, hi + 1))

        def quality_of(i: int) -> float:
            return candidates[i] / QUALITY_SCALE
    elif model is None:
        from .zoo import qualities

        candidates = qualities()

        def quality_of(i: int) -> float:
            return candidates[i]
    else:
        raise LicqError(f"a target needs a variable-rate model or the zoo; {m.name} has one rate")
    cache: dict[int, tuple[EncodeResult, float]] = {}

    def probe(i: int) -> tuple[EncodeResult, float]:
        if i not in cache:
            res = encode_full(image, model, quality=quality_of(i), arch=arch, **options)
            cache[i] = res, psnr_images(image, res.reconstruction)
            if progress is not None:
                progress(1)
        return cache[i]

    def value(i: int) -> float:
        res, psnr = probe(i)
        return len(res.data) if target.max_bytes is not None else res.bpp if target.bpp is not None else psnr

    goal = float(target.max_bytes or target.bpp or target.psnr)
    # the last index whose value is at most the goal (bisection on a rising function)
    low, high = 0, len(candidates) - 1
    if value(low) > goal:
        if target.max_bytes is not None:
            raise LicqError(f"cannot fit {target.max_bytes} bytes: the lowest quality takes {len(probe(low)[0].data)}")
        best = low
    elif value(high) <= goal:
        best = high
    else:
        while high - low > 1:
            mid = (low + high) // 2
            if target.bpp is not None and abs(value(mid) - goal) <= BPP_TOLERANCE * goal:
                low = high = mid
                break
            if value(mid) <= goal:
                low = mid
            else:
                high = mid
        if target.max_bytes is not None:
            best = low
        elif target.psnr is not None:
            best = low if value(low) >= goal else high
        else:
            best = min((low, high), key=lambda i: abs(value(i) - goal))
    res, psnr = probe(best)
    if target.psnr is not None and psnr < target.psnr:
        warnings.warn(f"PSNR target {target.psnr:g} dB not reached: the highest quality gives {psnr:.2f} dB",
                      LicqWarning, stacklevel=2)
    elif target.bpp is not None and abs(res.bpp - goal) > BPP_TOLERANCE * goal:
        warnings.warn(f"bit-rate target {goal:g} bpp not met within {100 * BPP_TOLERANCE:g} %: the nearest "
                      f"quality gives {res.bpp:.4f} bpp", LicqWarning, stacklevel=2)
    return TargetResult(res, quality_of(best), psnr, len(cache))


__all__ = ["BPP_TOLERANCE", "Target", "TargetResult", "encode_to_target"]
