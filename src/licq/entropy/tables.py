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

from dataclasses import dataclass

import torch
from .._compressai import RansDecoder, RansEncoder
from torch import Tensor

from ..errors import LicqError


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
        return torch.tensor(values, dtype=torch.int32).reshape(indexes.shape)


@dataclass(frozen=True)
class GaussianModel:
    """Gaussian entropy model: CDF tables for a ladder of scales and the rule picking one.

    ``indexes`` is CompressAI's ``build_indexes`` (the table of the smallest
    ladder scale >= σ) written as one ``bucketize`` call.
    """

    tables: CdfTables
    scale_table: Tensor
    scale_bound: float

    def indexes(self, scales: Tensor) -> Tensor:
        scales = scales.clamp_min(self.scale_bound)
        return torch.bucketize(scales, self.scale_table[:-1].to(scales.dtype)).int()


def gaussian_model(gaussian_conditional) -> GaussianModel:
    """Tables and scale ladder of an updated CompressAI ``GaussianConditional``."""
    gc = gaussian_conditional
    lengths = gc._cdf_length.reshape(-1).int().tolist()
    # rows trimmed to their length: the coder converts every table on each call
    cdfs = [row[:n] for row, n in zip(gc._quantized_cdf.tolist(), lengths)]
    tables = CdfTables(cdfs, lengths, gc._offset.reshape(-1).int().tolist())
    return GaussianModel(tables, gc.scale_table.clone(), float(gc.lower_bound_scale.bound))
