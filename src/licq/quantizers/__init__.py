"""Latent quantizers: scalar (SQ, around μ or on a fixed grid), rate-distortion optimised scalar (RDOQ),
trellis-coded (TCQ).

Their header codes, trellis states and scans are in one registry, :data:`.spec.KINDS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Sequence

from .spec import BY_CODE, KINDS, NAMES, QuantizerSpec

if TYPE_CHECKING:  # pragma: no cover
    from .base import Quantizer

#: the quantizer classes and helpers, imported (with PyTorch) on first access: the command line's
#: parser needs only the registry (:mod:`.spec`)
_LAZY = {"QuantizedLatents": "base", "Quantizer": "base", "dequantize": "base", "RdoqQuantizer": "rdoq",
         "ScalarQuantizer": "sq", "FixedGridQuantizer": "sq_grid", "SCANS": "tcq", "TrellisQuantizer": "tcq"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


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
