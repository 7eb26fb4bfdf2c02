"""A set of quantized CDF tables and the rANS calls that use them.

CompressAI's :class:`~compressai.entropy_models.GaussianConditional` holds its
tables as tensors and converts them to Python lists on every call. licq codes
latents through this small wrapper instead, so that

* the tables are converted once per model, not once per image;
* a quantizer can extend the table set (trellis-coded quantization adds tables
  for its second quantizer) while still using CompressAI's coder;
* symbols and table indexes are plain integer tensors, decoupled from how a
  quantizer produced them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .._compressai import RansDecoder, RansEncoder

from ..errors import LicqError
from ..fixed_point import ladder_indexes


def ints_to_tensor(values: list[int]) -> Tensor:
    """int32 tensor of the coder's output list, several times faster than ``torch.tensor(values)``.

    A decoder's output is one Python int per latent (millions for big images).
    """
    return torch.from_numpy(np.fromiter(values, dtype=np.int32, count=len(values)))


@dataclass(frozen=True)
class CdfTables:
    """Quantized CDFs (16-bit precision) with their lengths and symbol offsets."""

    cdfs: list[list[int]]
    lengths: list[int]
    offsets: list[int]

    def __len__(self) -> int:
        return len(self.cdfs)

    def __add__(self, other: "CdfTables") -> "CdfTables":
        return CdfTables(self.cdfs + other.cdfs, self.lengths + other.lengths,
                         self.offsets + other.offsets)

    @classmethod
    def from_buffers(cls, quantized_cdf: Tensor, cdf_length: Tensor, offset: Tensor) -> "CdfTables":
        """The tables of CompressAI's buffers (``_quantized_cdf``, ``_cdf_length``, ``_offset`` of an entropy
        model or a saved state dict), rows trimmed to their length: the coder converts every table on each call."""
        lengths = cdf_length.reshape(-1).int().tolist()
        cdfs = [row[:n] for row, n in zip(quantized_cdf.tolist(), lengths)]
        return cls(cdfs, lengths, offset.reshape(-1).int().tolist())

    def subset(self, ids: list[int]) -> "CdfTables":
        """Tables ``ids`` only, renumbered 0..len(ids)-1.

        The coder converts every table it is given on each call; a caller that calls it
        often (TCQ, once per step) passes only the tables the call can use.
        """
        return CdfTables([self.cdfs[i] for i in ids], [self.lengths[i] for i in ids],
                         [self.offsets[i] for i in ids])

    def encode(self, symbols: Tensor, indexes: Tensor) -> bytes:
        """rANS-encode integer ``symbols`` with per-symbol table ``indexes`` (same shape)."""
        if symbols.shape != indexes.shape:
            raise ValueError("symbols and indexes must have the same shape")
        return RansEncoder().encode_with_indexes(
            symbols.reshape(-1).int().tolist(), indexes.reshape(-1).int().tolist(),
            self.cdfs, self.lengths, self.offsets)

    def decode(self, data: bytes, indexes: Tensor) -> Tensor:
        """Decode one symbol per entry of ``indexes``; returns an int32 tensor of that shape."""
        try:
            values = RansDecoder().decode_with_indexes(
                data, indexes.reshape(-1).int().tolist(), self.cdfs, self.lengths, self.offsets)
        except Exception as exc:  # noqa: BLE001 - coder errors mean a corrupt stream
            raise LicqError(f"entropy decoding failed: {exc}") from None
        return ints_to_tensor(values).reshape(indexes.shape)


def tables_from_cells(cells: Callable[[Tensor, float], Tensor], ladder: Sequence[float], spacing: float = 1.0,
                      tail_mass: float = 1e-9, precision: int = 16) -> CdfTables:
    """One table per ladder scale ``s``: ``cells(k, s)``, the probability of each symbol ``k`` (float64)
    in ``−K..K``, plus the tail mass as the escape symbol, quantized to ``precision`` bits as
    CompressAI quantizes its own tables. ``K`` covers ``s`` times CompressAI's tail multiplier for
    symbols ``spacing`` units of σ apart, plus one. TCQ and fixed-grid SQ build their tables so."""
    from .._compressai import pmf_to_quantized_cdf

    multiplier = -float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(tail_mass / 2, dtype=torch.float64)))
    cdfs, lengths, offsets = [], [], []
    for s in ladder:
        K = math.ceil(s * multiplier / spacing) + 1
        pmf = cells(torch.arange(-K, K + 1, dtype=torch.float64), s)
        cdf = pmf_to_quantized_cdf(pmf.float().tolist() + [max(1.0 - float(pmf.sum()), 0.0)], precision)
        cdfs.append(list(cdf))
        lengths.append(len(cdf))
        offsets.append(-K)
    return CdfTables(cdfs, lengths, offsets)


@dataclass(frozen=True)
class GaussianModel:
    """Gaussian entropy model: CDF tables for a ladder of scales and the rule picking one.

    ``indexes`` is CompressAI's ``build_indexes`` (the table of the smallest
    ladder scale >= σ/Δ) in exact integer arithmetic (:func:`licq.fixed_point.ladder_indexes`):
    σ is a fixed-point number, and every machine picks the same table.
    """

    tables: CdfTables
    scale_table: Tensor
    scale_bound: float

    def indexes(self, scales: Tensor, step: float = 1.0) -> Tensor:
        """The table of each latent of scale σ (``scales``) coded in units of ``step`` Δ."""
        return ladder_indexes(scales, self.scale_table.tolist(), step)
