"""Per-channel distortion weights: an encoder-side choice of what "distortion" the RD search minimises.

The trellis (TCQ) and RDOQ decide levels by ``D + λ·R``. With ``D`` the latent
squared error, all channels count alike, while the image's squared error through
the synthesis transform g_s weighs them very unequally (per unit latent error,
5x between the 10th and 90th percentile channel on the zoo models). With weights
``w_c`` (image SSE per unit latent SSE of channel c, normalised to mean 1) the
search minimises ``Σ w_c·Δ²(t − v)² + λ·R``, a first-order model of the image error.

The weights of the zoo models are measured once by ``python -m licq.evaluation.calibrate``
(Gaussian perturbations of the rounded latents on image crops; stable across images:
log-correlation ≥ 0.99) and stored in the model's manifest entry with the digest they were
measured on; the codec passes that record here. Normalised to mean 1, they leave λ its meaning
and its defaults. The record also keeps, for reference, the λ the model's training loss
``R + λ_t·255²·MSE`` implies in latent units, ``λ = 3 / (λ_t · 255² · w̄)`` (w̄: the mean raw
weight); on the current zoo it measured about 4x too large (docs/quantizers.md), so the
codec does not use it. Nothing of this reaches the file or the decoder: the bitstream format
and decoding are unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..errors import LicqError

WEIGHTINGS = ("none", "channel")


def channel_weights(record: dict | None, name: str, digest: bytes) -> tuple[list[float], float]:
    """(per-channel weights, mean 1; the λ derived from the training λ) of a model's calibration ``record``
    (its manifest entry's ``channel_weights``).

    Refused for a model without measured weights, or whose weights changed since
    (digest check): weights of another model would silently mis-steer the search.
    """
    if record is None:
        raise LicqError(f"no channel weights for model {name}; measure them with python -m "
                        "licq.evaluation.calibrate, or use --weighting none")
    if record["digest"] != digest.hex():
        raise LicqError(f"the channel weights of {name} were measured on another version of the model")
    return record["weights"], float(record["lambda"])


def as_weights(weights: Sequence[float] | Tensor | None) -> Tensor | None:
    """Validated 1-D float32 weights (finite, positive), or None."""
    if weights is None:
        return None
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if w.numel() == 0 or not bool(torch.isfinite(w).all()) or not bool((w > 0).all()):
        raise LicqError("channel weights must be finite and positive")
    return w


def expand(weights: Tensor | None, y: Tensor) -> Tensor | None:
    """Weights broadcast to ``y`` (B, C, H, W), one per channel; None stays None."""
    if weights is None:
        return None
    if y.dim() != 4 or y.shape[1] != weights.numel():
        raise LicqError(f"{weights.numel()} channel weights for latents of shape {tuple(y.shape)}")
    return weights.to(y.dtype).view(1, -1, 1, 1).expand_as(y)


def encoder_weighting(weighting: str, quantizer: str, name: str, digest: bytes,
                      record: dict | None) -> tuple[list[float] | None, float | None]:
    """(weights, derived λ) for ``--weighting`` on a model with calibration ``record``, or (None, None)
    for ``none``.

    Only TCQ and RDOQ make RD decisions; SQ is refused so that a flag never silently does nothing.
    """
    if weighting not in WEIGHTINGS:
        raise LicqError(f"unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}")
    if weighting == "none":
        return None, None
    if quantizer not in ("tcq", "rdoq"):
        raise LicqError(f"--weighting {weighting} applies to tcq and rdoq, not {quantizer}")
    return channel_weights(record, name, digest)
