"""The interface between the codec and a latent quantizer.

A quantizer turns latents ``y`` into a byte string given the hyper-decoder's
prediction (mean μ and scale σ per latent) and back. It owns the choice of
integer indices *and* of the probability table each index is coded with,
because for trellis-coded quantization the table depends on the trellis state
that earlier indices produced. The codec never looks inside: adding a quantizer
means implementing this class and adding one line to the registry
(:data:`licq.quantizers.spec.KINDS`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from torch import Tensor

from ..entropy import GaussianModel
from ..errors import LicqError
from ..fixed_point import grid_anchor
from .spec import LAMBDA_RANGE, STEP_RANGE, QuantizerSpec


def header_float(value: float) -> float:
    """``value`` rounded to float32, the precision the header stores: both sides use this number."""
    return float(np.float32(value))


def checked_step(step: float) -> float:
    """A valid quantization step, rounded to header precision."""
    lo, hi = STEP_RANGE
    if not (math.isfinite(step) and lo <= step <= hi):
        raise LicqError(f"step must be in [{lo:g}, {hi:g}], got {step}")
    return header_float(step)


def checked_lambda(lam: float) -> float:
    """A valid rate weight λ (TCQ, RDOQ), rounded to header precision: encoder and header agree."""
    lo, hi = LAMBDA_RANGE
    if not (math.isfinite(lam) and lo <= lam <= hi):
        raise LicqError(f"tcq-lambda must be in [{lo:g}, {hi:g}], got {lam}")
    return header_float(lam)


def dequantize(means: Tensor, step: float, levels: Tensor) -> Tensor:
    """``ŷ = μ + Δ·level``, shaped like ``means``: the one reconstruction rule of every quantizer.

    Encoder, decoder and finetuning all reconstruct through it, so the latents a
    decoder is trained on are bit for bit those the codec decodes.
    """
    return means + step * levels.to(means.dtype).reshape(means.shape)


def grid_index(means: Tensor, step: float) -> Tensor:
    """``round(μ/Δ)``: the index k of the fixed grid's point ``Δ·k`` nearest μ, the anchor of a
    fixed-grid quantizer (:mod:`.sq_grid`). Levels are coded relative to it, so ``ŷ`` is a multiple
    of Δ whatever μ is. Exact (:func:`licq.fixed_point.grid_anchor`): the anchor decides symbols."""
    return grid_anchor(means, step)[0].to(means.dtype)


def level_centres(means: Tensor, step: float, fixed_grid: bool) -> Tensor:
    """Where level 0 lies: μ itself, or on a fixed grid the grid point nearest μ, ``Δ·round(μ/Δ)``.
    Shared by the quantizers (:meth:`Quantizer.centres`) and the encoder's refinement."""
    return step * grid_index(means, step) if fixed_grid else means


@dataclass(frozen=True)
class QuantizedLatents:
    """What the encoder side of a quantizer produces."""

    data: bytes  #: entropy-coded indices
    y_hat: Tensor  #: reconstruction, bit-identical to what :meth:`Quantizer.decode` returns


class Quantizer(ABC):
    """Quantize + entropy-code latents around a predicted Gaussian."""

    name: str
    step: float
    #: whether levels lie on the fixed grid Δ·k (:func:`grid_index`) instead of around μ
    fixed_grid: bool = False

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: QuantizerSpec, weights: Sequence[float] | None = None) -> "Quantizer":
        """Build from a checked spec (:meth:`QuantizerSpec.build` is the way in)."""

    @abstractmethod
    def spec(self) -> QuantizerSpec:
        """The parameters the header stores: the decoder rebuilds this quantizer from them."""

    @property
    def code(self) -> int:
        """The one-byte code stored in the file header."""
        return self.spec().header_code

    def table_indexes(self, scales: Tensor, em: GaussianModel) -> Tensor:
        """Which CDF table codes each latent: the ladder scale of σ/Δ (indices are in units of Δ).

        The single place this choice is made: the quantizers code with it and the
        container's entropy-model check hashes it.
        """
        return em.indexes(scales, self.step)

    def rate_scales(self, scales: Tensor, em: GaussianModel) -> Tensor:
        """σ/Δ as the coder sees it: the ladder scale of its table, with the gradient of σ/Δ.

        The coder uses the table of the smallest ladder scale ≥ σ/Δ; rating levels at
        that scale makes :meth:`bits` the size of the coded stream (up to the tables'
        16-bit precision), while the straight-through term keeps it differentiable in σ
        for finetuning (its value is exactly the table's scale).
        """
        s = (scales / self.step).clamp_min(em.scale_bound)
        return self.table_scales(scales, em).to(s.dtype) + (s - s.detach())

    def table_scales(self, scales: Tensor, em: GaussianModel) -> Tensor:
        """The ladder scale (units of Δ) of the table that codes each latent: the scale at which
        an encoder's rate decision must price levels to agree with the coder."""
        return em.scale_table.to(scales.dtype)[self.table_indexes(scales, em).long()]

    @property
    def refine_step(self) -> float:
        """Δ of the scalar grid the encoder's latent refinement (:mod:`licq.refine`) anneals onto:
        the quantizer's own grid. For TCQ that is the union of Q0 and Q1, Δ·k around μ, the levels
        the trellis chooses from and its finetuned decoders were trained on (refining TCQ on the
        model's Δ = 1 grid instead made effort 1 with TCQ-8 and its decoders 3.1 % worse in BD-rate
        than no refinement on Kodak; on Δ it is 0.5 % better, results/refine/README.md)."""
        return self.step

    def centres(self, means: Tensor) -> Tensor:
        """Where level 0 lies: μ itself, or the fixed grid's point nearest μ (:attr:`fixed_grid`)."""
        return level_centres(means, self.step, self.fixed_grid)

    def dequantize(self, means: Tensor, levels: Tensor) -> Tensor:
        """:func:`dequantize` around μ with this quantizer's Δ; on a fixed grid ``Δ·(round(μ/Δ) + level)``,
        the grid index times Δ, so the same ŷ comes out bit for bit whatever μ it was coded around."""
        if self.fixed_grid:
            return self.step * (grid_index(means, self.step) + levels.to(means.dtype).reshape(means.shape))
        return dequantize(means, self.step, levels)

    def check_indexes(self, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """The integers the decoder derives from its float μ and σ and must get exactly as the
        encoder did: here the table of each latent; a fixed grid adds its anchors (:mod:`.sq_grid`).
        The container's entropy-model check hashes them."""
        return self.table_indexes(scales, em).flatten()

    @abstractmethod
    def encode(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        """Quantize ``y`` and entropy-code the indices."""

    @abstractmethod
    def decode(self, data: bytes, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """Inverse of :meth:`encode`: return ``y_hat``."""

    @abstractmethod
    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        """The quantization decision without entropy coding, for training on real quantized latents.

        Returns (levels in units of Δ, so ``ŷ = centre + Δ·levels``; the cell structure used at each
        position: TCQ's quantizer Q0/Q1, a fixed grid's offset bin, 0 for SQ), both shaped like ``y``
        (any batch size). Not differentiable.
        """

    @abstractmethod
    def bits(self, levels: Tensor, qid: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """Bits of each level at its table's scale (:meth:`rate_scales`), differentiable in ``scales``: the
        rate of finetuning, which sums to the coded stream's size within 1 % (tests/test_latents.py)."""

    def header_params(self) -> tuple[int, float, float]:
        """(states, step, tcq_lambda) as stored in the header."""
        return self.spec().to_header()[1:]
