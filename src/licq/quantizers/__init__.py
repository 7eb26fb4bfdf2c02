"""Latent quantizers: scalar (SQ) and, by header code, their registry."""

from .base import QuantizedLatents, Quantizer
from .sq import ScalarQuantizer

#: header code -> quantizer class
QUANTIZER_CODES: dict[int, type[Quantizer]] = {ScalarQuantizer.code: ScalarQuantizer}
QUANTIZER_NAMES: dict[str, type[Quantizer]] = {ScalarQuantizer.name: ScalarQuantizer}


def make_quantizer(name: str, step: float = 1.0, states: int = 0, tcq_lambda: float = 0.0) -> Quantizer:
    """Build a quantizer from CLI/header parameters."""
    from ..errors import LicqError

    if name not in QUANTIZER_NAMES:
        raise LicqError(f"unknown quantizer {name!r}; known: {', '.join(QUANTIZER_NAMES)}")
    if name == "sq":
        if states:
            raise LicqError("scalar quantization has no trellis states")
        return ScalarQuantizer(step)
    return QUANTIZER_NAMES[name](step=step, states=states, tcq_lambda=tcq_lambda)


__all__ = ["QUANTIZER_CODES", "QUANTIZER_NAMES", "QuantizedLatents", "Quantizer",
           "ScalarQuantizer", "make_quantizer"]
