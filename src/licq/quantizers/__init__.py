"""Latent quantizers: scalar (SQ, around μ or on a fixed grid), rate-distortion optimised scalar (RDOQ),
trellis-coded (TCQ).

Their header codes, trellis states and scans are in one registry, :data:`.spec.KINDS`.
"""

from __future__ import annotations

from typing import Sequence

from .base import QuantizedLatents, Quantizer, dequantize
from .rdoq import RdoqQuantizer
from .spec import BY_CODE, KINDS, NAMES, QuantizerSpec
from .sq import ScalarQuantizer
from .sq_grid import FixedGridQuantizer
from .tcq import SCANS, TrellisQuantizer

#: header code -> (name, scan), read from the registry
QUANTIZER_CODES: dict[int, tuple[str, str | None]] = {c: (k.name, s) for c, (k, s) in BY_CODE.items()}
QUANTIZER_NAMES = NAMES


def make_quantizer(name: str, step: float = 1.0, states: int = 0, tcq_lambda: float = 0.0,
                   scan: str | None = None, weights: Sequence[float] | None = None) -> Quantizer:
    """Build a quantizer from CLI parameters (``tcq_lambda`` is λ for TCQ and RDOQ): a :class:`QuantizerSpec`.

    ``weights``: per-channel distortion weights of the TCQ / RDOQ search (encoder only).
    """
    return QuantizerSpec(name, step, states, tcq_lambda, scan).build(weights)


def quantizer_from_header(code: int, states: int, step: float, tcq_lambda: float) -> Quantizer:
    """The decoder's quantizer, from the header's fields (checked by :meth:`QuantizerSpec.from_header`)."""
    return QuantizerSpec.from_header(code, states, step, tcq_lambda).build()


__all__ = ["KINDS", "QUANTIZER_CODES", "QUANTIZER_NAMES", "SCANS", "FixedGridQuantizer", "QuantizedLatents", "Quantizer",
           "QuantizerSpec", "RdoqQuantizer", "ScalarQuantizer", "TrellisQuantizer", "dequantize", "make_quantizer",
           "quantizer_from_header"]
