"""Scalar quantization around the predicted mean with step Δ.

``q = round((y − μ)/Δ)``, ``ŷ = μ + Δ·q``. The cell of index q spans
``[(q−½)Δ, (q+½)Δ)`` around μ, so its probability under N(μ, σ²) is the unit-step
table of the Gaussian with scale σ/Δ: the standard CompressAI tables serve any Δ.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..entropy import GaussianModel
from .base import QuantizedLatents, Quantizer, checked_step
from .cells import rate_bits, sq_cell_probability
from .spec import QuantizerSpec


class ScalarQuantizer(Quantizer):
    name = "sq"

    def __init__(self, step: float = 1.0) -> None:
        self.step = checked_step(step)

    @classmethod
    def from_spec(cls, spec: QuantizerSpec, weights: Sequence[float] | None = None) -> "ScalarQuantizer":
        return cls(spec.step)

    def spec(self) -> QuantizerSpec:
        return QuantizerSpec(self.name, self.step)

    def encode(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        q = torch.round((y - self.centres(means)) / self.step)
        data = em.tables.encode(q.int(), self.table_indexes(scales, em))
        return QuantizedLatents(data, self.dequantize(means, q))

    def decode(self, data: bytes, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        return self.dequantize(means, em.tables.decode(data, self.table_indexes(scales, em)))

    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        return torch.round((y - self.centres(means)) / self.step), torch.zeros_like(y, dtype=torch.long)

    def bits(self, levels: Tensor, qid: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        return rate_bits(sq_cell_probability(levels, self.rate_scales(scales, em)))
