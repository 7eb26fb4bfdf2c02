"""Bjøntegaard delta rate and PSNR with the ``bjontegaard`` package (Akima interpolation).

Akima interpolation is what the ``bjontegaard`` package recommends over the
classic cubic fit (it does not overshoot between points); the package's own
``pchip`` and ``cubic`` methods can be selected.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import LicqError

#: Minimum overlap of the two curves' quality ranges, as a fraction of the smaller range.
MIN_OVERLAP = 0.5


def sorted_curve(rate, dist) -> tuple[np.ndarray, np.ndarray]:
    """A curve's (rate, distortion) as float arrays in rising rate; malformed curves are refused."""
    try:
        r, d = np.asarray(rate, dtype=float), np.asarray(dist, dtype=float)
    except (TypeError, ValueError):
        raise LicqError("a curve's rates and distortions must be numbers") from None
    if r.ndim != 1 or r.shape != d.shape or len(r) < 2:
        raise LicqError("a curve needs at least two (rate, distortion) points")
    if not (np.isfinite(r).all() and np.isfinite(d).all() and (r > 0).all()):
        raise LicqError("a curve has missing, non-finite or non-positive values")
    order = np.argsort(r)
    if (np.diff(r[order]) == 0).any():
        raise LicqError("a curve has two points with the same rate")
    return r[order], d[order]


def _interpolated(fn, *args, **kwargs) -> float:
    """Call a ``bjontegaard`` function; its interpolators' ValueErrors (two points with the same
    rate or quality, a quality that falls as the rate rises) become a LicqError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(*args, **kwargs))
    except ValueError as exc:
        raise LicqError(f"cannot interpolate the curves: {exc} (repeated or non-monotonic points?)") from None


def overlap(d_a: np.ndarray, d_b: np.ndarray) -> float:
    lo, hi = max(d_a.min(), d_b.min()), min(d_a.max(), d_b.max())
    span = min(np.ptp(d_a), np.ptp(d_b))
    return max(hi - lo, 0.0) / span if span > 0 else 0.0


def bd_rate(rate_a, dist_a, rate_b, dist_b, method: str = "akima") -> float:
    """BD-rate of curve B against anchor A in percent (negative: B needs fewer bits)."""
    import bjontegaard as bd

    ra, da = sorted_curve(rate_a, dist_a)
    rb, db = sorted_curve(rate_b, dist_b)
    ov = overlap(da, db)
    if ov < MIN_OVERLAP:
        raise LicqError(f"curves overlap on {100 * ov:.0f}% of their quality range; "
                        f"BD-rate needs at least {100 * MIN_OVERLAP:.0f}%")
    return _interpolated(bd.bd_rate, ra, da, rb, db, method=method, require_matching_points=False,
                         min_overlap=0.0)


def bd_psnr(rate_a, dist_a, rate_b, dist_b, method: str = "akima") -> float:
    """BD-PSNR (dB) of curve B against anchor A (positive: B is better)."""
    import bjontegaard as bd

    ra, da = sorted_curve(rate_a, dist_a)
    rb, db = sorted_curve(rate_b, dist_b)
    return _interpolated(bd.bd_psnr, ra, da, rb, db, method=method, require_matching_points=False,
                         min_overlap=0.0)
