"""Rate-distortion optimised scalar quantization (RDOQ): TCQ's ``D + λ·R`` decision on the SQ grid.

Each latent independently takes, among a few nearby levels of the SQ grid
``ŷ = μ + Δ·v``, the one minimising ``Δ²(t − v)² + λ·(−log2 P(v))`` with
``t = (y−μ)/Δ`` — the TCQ Viterbi branch cost (:func:`licq.quantizers.cells.rd_cost`),
so a λ means the same for both — where ``P(v)`` is the Gaussian mass of v's
cell ``[v−½, v+½]`` at the scale of the table that codes it. Without a trellis
there is no state: the indices are coded with the standard SQ tables and the
decoder is SQ's, which never needs λ (the header keeps it for information).

Candidates: ``round(t)`` (SQ's choice, listed first so that it wins ties and
λ = 0 reproduces SQ exactly), the other neighbour of t, 0, and one level
further toward zero than ``trunc(t)``.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import Tensor

from ..entropy import GaussianModel
from .base import QuantizedLatents, checked_lambda
from .cells import rd_cost, sq_cell_probability
from .weighting import as_weights, expand
from .spec import QuantizerSpec
from .sq import ScalarQuantizer

#: Default λ per Δ², from the sweep of each zoo model's RDOQ against its own SQ Δ-curve (Kodak,
#: results/tcq/README.md, section 4d): λ 0.01 is SQ within 0.2 % (−0.14 to −0.17 % at q2–q4,
#: +0.05 % at q1), where the high-rate slope −dD/dR = (ln 2 / 6)·Δ² ≈ 0.116·Δ² of uniform
#: scalar quantization cost +10 % on unseen photos and 0.05 already 1.25 % at q3.
LAMBDA_PER_STEP2 = 0.01


def default_lambda(step: float) -> float:
    """The λ RDOQ uses when none is given: :data:`LAMBDA_PER_STEP2` · Δ²."""
    return LAMBDA_PER_STEP2 * step ** 2


def candidates(t: Tensor) -> Iterator[Tensor]:
    """Candidate levels for residuals ``t``, SQ's ``round(t)`` first (it wins ties); one at a time (memory)."""
    r = torch.round(t)
    yield r
    yield r + torch.sign(t - r)
    yield torch.zeros_like(t)
    inner = torch.trunc(t)
    yield inner - torch.sign(inner)


class RdoqQuantizer(ScalarQuantizer):
    """SQ whose encoder picks each level by ``D + λ·R``; decoding and its rate model are SQ's."""

    name = "rdoq"

    def __init__(self, step: float = 1.0, rd_lambda: float = 0.0,
                 weights: Sequence[float] | Tensor | None = None) -> None:
        super().__init__(step)
        self.rd_lambda = checked_lambda(rd_lambda)
        #: per-channel distortion weights of the decision (encoder only; :mod:`.weighting`), None = all 1
        self.weights = as_weights(weights)

    @classmethod
    def from_spec(cls, spec: QuantizerSpec, weights: Sequence[float] | None = None) -> "RdoqQuantizer":
        return cls(spec.step, spec.lam, weights=weights)

    def spec(self) -> QuantizerSpec:
        return QuantizerSpec(self.name, self.step, lam=self.rd_lambda)

    def level_cost(self, t: Tensor, v: Tensor, s: Tensor, w: Tensor | None = None) -> Tensor:
        """``w·Δ²(t − v)² + λ·(−log2 P(v))``, ``P`` the SQ cell mass at table scale ``s`` (units of Δ)."""
        return rd_cost(t, v, sq_cell_probability(v, s), self.step, self.rd_lambda, w)

    def decide(self, t: Tensor, s: Tensor, w: Tensor | None = None) -> Tensor:
        """The cheapest candidate level per residual; a later candidate must be strictly cheaper.

        ``w``: distortion weight per residual (None = 1). One candidate at a time, so memory
        stays a few times that of ``t`` (big images).
        """
        cands = candidates(t)
        best = next(cands)
        best_cost = self.level_cost(t, best, s, w)
        for v in cands:
            cost = self.level_cost(t, v, s, w)
            better = cost < best_cost
            best, best_cost = torch.where(better, v, best), torch.where(better, cost, best_cost)
        return best

    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        # the rate is that of the table the coder will use (as in TCQ's search), not of σ itself
        s = self.table_scales(scales, em).to(y.dtype)
        level = self.decide((y - means) / self.step, s, expand(self.weights, y))
        return level, torch.zeros_like(y, dtype=torch.long)

    def encode(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        return self.code_levels(self.levels(y, means, scales, em)[0], means, scales, em)
