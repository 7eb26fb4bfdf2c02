"""Latent quantizers: scalar (SQ), rate-distortion optimised scalar (RDOQ), trellis-coded (TCQ); header codes."""

from __future__ import annotations

from typing import Sequence

from ..errors import LicqError
from .base import QuantizedLatents, Quantizer, dequantize
from .rdoq import RdoqQuantizer
from .sq import ScalarQuantizer
from .tcq import SCANS, TrellisQuantizer

#: header code -> (name, scan)
QUANTIZER_CODES: dict[int, tuple[str, str | None]] = {0: ("sq", None), 1: ("tcq", "rows"),
                                                       2: ("tcq", "raster"), 3: ("rdoq", None)}
QUANTIZER_NAMES = ("sq", "tcq", "rdoq")


def make_quantizer(name: str, step: float = 1.0, states: int = 0, tcq_lambda: float = 0.0,
                   scan: str | None = None, weights: Sequence[float] | None = None) -> Quantizer:
    """Build a quantizer from CLI or header parameters (``tcq_lambda`` is λ for TCQ and RDOQ).

    ``weights``: per-channel distortion weights of the TCQ / RDOQ search (encoder only).
    """
    if name == "sq":
        if states or tcq_lambda:
            raise LicqError("scalar quantization takes no trellis states or tcq-lambda")
        if weights is not None:
            raise LicqError("scalar quantization takes no channel weighting (it makes no RD decision)")
        return ScalarQuantizer(step)
    if name == "rdoq":
        if states:
            raise LicqError("RDOQ takes no trellis states")
        return RdoqQuantizer(step, tcq_lambda, weights=weights)
    if name == "tcq":
        return TrellisQuantizer(step=step, states=states, tcq_lambda=tcq_lambda, scan=scan or "rows",
                                weights=weights)
    raise LicqError(f"unknown quantizer {name!r}; known: {', '.join(QUANTIZER_NAMES)}")


def quantizer_from_header(code: int, states: int, step: float, tcq_lambda: float) -> Quantizer:
    name, scan = QUANTIZER_CODES[code]
    return make_quantizer(name, step=step, states=states, tcq_lambda=tcq_lambda, scan=scan)


__all__ = ["QUANTIZER_CODES", "QUANTIZER_NAMES", "SCANS", "QuantizedLatents", "Quantizer", "RdoqQuantizer",
           "ScalarQuantizer", "TrellisQuantizer", "dequantize", "make_quantizer", "quantizer_from_header"]
