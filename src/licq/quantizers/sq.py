"""Scalar quantization around the predicted mean with step Δ.

``q = round((y − μ)/Δ)``, ``ŷ = μ + Δ·q``. The cell of index q spans
``[(q−½)Δ, (q+½)Δ)`` around μ, so its probability under N(μ, σ²) is the unit-step
table of the Gaussian with scale σ/Δ: the standard CompressAI tables serve any Δ.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..entropy import CdfTables, GaussianModel
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

    def coding_tables(self, em: GaussianModel) -> CdfTables:
        """The tables the coder uses: CompressAI's, one per ladder scale."""
        return em.tables

    def coding_indexes(self, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """Which of :meth:`coding_tables` codes each latent."""
        return self.table_indexes(scales, em)

    def rounded_levels(self, y: Tensor, means: Tensor) -> Tensor:
        """``round((y − centre)/Δ)``: the nearest level of the grid."""
        return torch.round((y - self.centres(means)) / self.step)

    def code_levels(self, q: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        """Entropy-code chosen levels ``q``; the reconstruction is the decoder's."""
        data = self.coding_tables(em).encode(q.int(), self.coding_indexes(means, scales, em))
        return QuantizedLatents(data, self.dequantize(means, q))

    def encode(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        return self.code_levels(self.rounded_levels(y, means), means, scales, em)

    def decode(self, data: bytes, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        return self.dequantize(means, self.coding_tables(em).decode(data, self.coding_indexes(means, scales, em)))

    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        return self.rounded_levels(y, means), torch.zeros_like(y, dtype=torch.long)

    def bits(self, levels: Tensor, qid: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        return rate_bits(sq_cell_probability(levels, self.rate_scales(scales, em)))
