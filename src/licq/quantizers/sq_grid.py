"""Scalar quantization on a fixed grid: ``ŷ = Δ·round(y/Δ)``, whatever μ is (generation loss, issue 15).

SQ rounds around the predicted mean, ``ŷ = μ + Δ·round((y − μ)/Δ)``, so its grid moves
with μ, hence with the hyper-latent ``ẑ``. Re-encoding a decoded image finds almost
the same latents but a slightly different ``ẑ`` (it is rounded too), and every latent
whose μ moved is re-rounded on a shifted grid: most of the quality lost per
generation (``results/reliability/README.md``). On a fixed grid a changed μ changes
only the probabilities, never the reconstruction, so a decoded image re-encodes to
(nearly) its own latents.

The level is coded relative to the grid point nearest μ, ``a = Δ·round(μ/Δ)``
(:func:`~licq.quantizers.base.grid_index`). Its cell, ``[a + (q−½)Δ, a + (q+½)Δ)``,
lies off-centre from μ by ``o = (a − μ)/Δ`` ∈ [−½, ½]; the zero-centred SQ tables
would ignore that and cost about 0.5 % more latent rate on Kodak (2.6 % on its flattest
image, where σ is small; results/reliability/sq-grid-tables.json). The coder therefore uses tables per offset bin and
ladder scale, each the Gaussian mass of the cells shifted by its bin's centre
(:data:`OFFSET_BINS` bins of width Δ/8). Anchors and bins are computed exactly from the
fixed-point μ (:mod:`licq.fixed_point`); the entropy-model check hashes both with the tables.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..entropy import CdfTables, GaussianModel, ladder_tables, tables_from_cells
from ..fixed_point import grid_offset_bins
from .base import grid_index
from .cells import rate_bits, upper_tail
from .sq import ScalarQuantizer

#: bins of the anchor's offset from μ, each with its own tables (the last bin's offset is < ½·Δ/8 off)
OFFSET_BINS = 8


def offset_bins(means: Tensor, step: float) -> Tensor:
    """Bin of ``o = round(μ/Δ) − μ/Δ`` ∈ [−½, ½] of each latent, 0..OFFSET_BINS−1 (int32), exactly."""
    return grid_offset_bins(means, step, OFFSET_BINS)[1].int()


def bin_offsets(bins: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """The offset each bin's tables assume: its centre."""
    return (bins.to(dtype) + 0.5) / OFFSET_BINS - 0.5


def shifted_cell_probability(v: Tensor, o: Tensor, s: Tensor) -> Tensor:
    """P(v + o − ½ ≤ X ≤ v + o + ½) for X ~ N(0, s²): the cell of level ``v`` around an anchor ``o``
    (units of Δ) from the mean; computed on the side of the mean where the tails do not cancel."""
    a, b = v + o - 0.5, v + o + 0.5
    flip = (a + b) < 0
    a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
    return upper_tail(a / s) - upper_tail(b / s)


@functools.lru_cache(maxsize=4)
def grid_tables(ladder: tuple[float, ...]) -> CdfTables:
    """Tables per offset bin and ladder scale: the shipped ones (:mod:`licq.entropy.stored`), or built
    here (:func:`build_grid_tables`) for a ladder none shipped."""
    return ladder_tables("sq-grid", ladder, lambda: build_grid_tables(ladder))


def build_grid_tables(ladder: tuple[float, ...], tail_mass: float = 1e-9, precision: int = 16) -> CdfTables:
    """Table ``bin·n + i`` codes levels at ladder scale ``i`` (σ/Δ, n scales) around an anchor in offset ``bin``.

    One symbol more on each side than SQ's tables: the cells are shifted by up to ½."""
    tables = CdfTables([], [], [])
    for b in range(OFFSET_BINS):
        o = bin_offsets(torch.tensor(b), torch.float64)
        tables = tables + tables_from_cells(
            lambda k, s, o=o: shifted_cell_probability(k, o, torch.tensor(s, dtype=torch.float64)),
            ladder, 1.0, tail_mass, precision)
    return tables


class FixedGridQuantizer(ScalarQuantizer):
    """SQ whose levels lie on the fixed grid Δ·k, coded with tables per anchor offset; SQ's coding steps."""

    name = "sq-grid"
    fixed_grid = True

    def coding_tables(self, em: GaussianModel) -> CdfTables:
        """Tables per offset bin and ladder scale (:func:`grid_tables`)."""
        return grid_tables(tuple(em.scale_table.tolist()))

    def coding_indexes(self, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """The table of each latent: its offset bin's block of the scale ladder."""
        return offset_bins(means, self.step) * len(em.scale_table) + self.table_indexes(scales, em)

    def check_indexes(self, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """The table of each latent (offset bin and scale), then its anchor in steps, ``round(μ/Δ)``."""
        idx = self.coding_indexes(means, scales, em).flatten()
        return torch.cat([idx, grid_index(means, self.step).flatten().to(idx.dtype)])

    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        """Levels around the anchors; the "quantizer id" of each is its offset bin, which picks its cells."""
        return self.rounded_levels(y, means), offset_bins(means, self.step).long()

    def bits(self, levels: Tensor, qid: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """Bits of each level in its offset bin's cells (``qid`` from :meth:`levels`) at the table's scale."""
        return rate_bits(shifted_cell_probability(levels, bin_offsets(qid, levels.dtype),
                                                  self.rate_scales(scales, em)))
