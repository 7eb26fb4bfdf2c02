"""Entropy-constrained trellis-coded quantization (TCQ) with state-dependent entropy coding.

Scan: one trellis per latent channel *row*, running along the width; all
C·H trellises are searched in parallel (vectorised Viterbi) and decoded in
parallel, so decoding takes W sequential steps of C·H symbols each. The
``raster`` scan (one trellis per channel over the whole H·W plane) is kept
for comparison; it costs H·W sequential decoder steps.

Entropy model: index k of quantizer Q_j is coded with the probability of its
level's cell under N(μ, σ²) - Q0's cells are ``[2k−1, 2k+1]Δ``, Q1's are the
Voronoi cells of ``{0, ±Δ, ±3Δ, ...}`` - from 16-bit tables built once for
CompressAI's scale ladder (σ/Δ picks the table) and coded with CompressAI's
rANS coder. The decoder tracks the trellis state to know which quantizer's
tables the next index uses.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from .._compressai import RansDecoder
from ..entropy import CdfTables, GaussianModel, ladder_tables, tables_from_cells
from ..errors import LicqError
from .base import QuantizedLatents, Quantizer, checked_lambda, checked_step
from .cells import interval_probability, rate_bits, rd_cost
from .weighting import as_weights, expand
from .spec import BY_NAME, QuantizerSpec
from .trellis import (NEXT_STATE, QUANTIZER_OF_STATE, candidates, index_of_level, level_of,
                      single_thread, viterbi)

SCANS = BY_NAME["tcq"].scans  # the registry's: rows, raster


def cell_bounds(v: Tensor, q: int) -> tuple[Tensor, Tensor]:
    """Cell [a, b] (units of Δ) of non-negative levels ``v`` of quantizer ``q``."""
    if q == 0:
        return v - 1, v + 1
    a = torch.where(v > 0, torch.clamp(v - 1, min=0.5), torch.full_like(v, -0.5))
    b = torch.where(v > 0, v + 1, torch.full_like(v, 0.5))
    return a, b


def cell_probability(v: Tensor, q: int, s: Tensor) -> Tensor:
    """Probability of level ``v`` (units of Δ, any sign) under N(0, s²) (s in units of Δ)."""
    a, b = cell_bounds(v.abs(), q)
    return interval_probability(a, b, s)


@functools.lru_cache(maxsize=4)
def tcq_tables(ladder: tuple[float, ...]) -> CdfTables:
    """Tables 0..n-1 for Q0 and n..2n-1 for Q1, one per ladder scale (σ/Δ): the shipped ones (see
    :mod:`licq.entropy.stored`), or built here (:func:`build_tcq_tables`) for a ladder none shipped."""
    return ladder_tables("tcq", ladder, lambda: build_tcq_tables(ladder))


def build_tcq_tables(ladder: tuple[float, ...], tail_mass: float = 1e-9, precision: int = 16) -> CdfTables:
    """Tables 0..n-1 for Q0 and n..2n-1 for Q1, one per ladder scale (σ/Δ); indices k are 2Δ apart."""
    def cells(q: int):
        return lambda k, s: cell_probability(level_of(k, torch.tensor(float(q), dtype=torch.float64)), q,
                                             torch.tensor(s, dtype=torch.float64))

    return (tables_from_cells(cells(0), ladder, 2.0, tail_mass, precision)
            + tables_from_cells(cells(1), ladder, 2.0, tail_mass, precision))


def step_tables(ladder: Tensor, tables: CdfTables, n: int) -> tuple[Tensor, list[CdfTables]]:
    """The tables each decoding step can use, prepared once before the sequential loop.

    ``ladder`` (L steps, T symbols per step) holds the ladder index (0..n−1) of every
    latent; the table of a symbol is that ladder index in Q0's or Q1's half of ``tables``,
    chosen by the trellis state at decoding time. The coder converts every table it is
    given on each call, so step ``l`` gets only the Q0 and Q1 tables of the ladder indexes
    present in its column, renumbered: returns (each symbol's index among its step's
    ladder indexes, (L, T) int32; per step, the subset: its Q0 tables, then its Q1 tables).
    Which tables code which symbol is unchanged, and so is the bitstream.
    """
    L = ladder.shape[0]
    wide = ladder.long()
    present = torch.zeros(L, n, dtype=torch.bool).scatter_(1, wide, True)
    local = (present.cumsum(1, dtype=torch.int32) - 1).gather(1, wide)
    used = present.nonzero()[:, 1].tolist()  # row-major: the ladder indexes of step 0, then 1, ...
    subsets, start = [], 0
    for count in present.sum(1).tolist():
        ids = used[start:start + count]
        start += count
        subsets.append(tables.subset(ids + [n + i for i in ids]))
    return local, subsets


class TrellisQuantizer(Quantizer):
    """Dependent (trellis-coded) quantization with an entropy-constrained Viterbi encoder."""

    name = "tcq"

    def __init__(self, step: float = 0.6, states: int = 8, tcq_lambda: float = 0.05,
                 scan: str = "rows", weights: Sequence[float] | Tensor | None = None) -> None:
        if states not in NEXT_STATE:
            raise LicqError(f"TCQ supports 4 or 8 states, got {states}")
        if scan not in SCANS:
            raise LicqError(f"unknown scan {scan!r}")
        self.step, self.tcq_lambda = checked_step(step), checked_lambda(tcq_lambda)
        self.states, self.scan = states, scan
        #: per-channel distortion weights of the search (encoder only; :mod:`.weighting`), None = all 1
        self.weights = as_weights(weights)

    @classmethod
    def from_spec(cls, spec: QuantizerSpec, weights: Sequence[float] | Tensor | None = None) -> "TrellisQuantizer":
        return cls(step=spec.step, states=spec.states, tcq_lambda=spec.lam, scan=spec.scan, weights=weights)

    def spec(self) -> QuantizerSpec:
        return QuantizerSpec(self.name, self.step, self.states, self.tcq_lambda, self.scan)

    # -- layout: (B, C, H, W) <-> (T trellises, L positions)
    def _to_trellis(self, x: Tensor) -> Tensor:
        W = x.shape[-1]
        return x.reshape(-1, W) if self.scan == "rows" else x.reshape(x.shape[0] * x.shape[1], -1)

    def _tables(self, em: GaussianModel) -> CdfTables:
        return tcq_tables(tuple(em.scale_table.tolist()))

    def search(self, t: Tensor, s: Tensor, w: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Viterbi search on residuals ``t = (y−μ)/Δ`` of shape (T, L) with table scales ``s = σ/Δ``.

        Returns (levels in units of Δ, quantizer used at each position), minimising
        ``Σ w·Δ²(t − level)² + λ_tcq · bits(level)`` over all paths from state 0
        (``w``: distortion weight per position, shaped like ``t``; None = 1).
        """
        T, L = t.shape
        cost = torch.empty(2, 2, T, L, dtype=t.dtype)
        best = torch.empty(2, 2, T, L, dtype=t.dtype)
        for q in (0, 1):
            v = candidates(t, q)
            j = self.level_cost(t[..., None], v, q, s[..., None], None if w is None else w[..., None])
            par = index_of_level(v, q).long() & 1
            for p in (0, 1):
                cost[q, p], arg = torch.where(par == p, j, torch.inf).min(dim=-1)
                best[q, p] = v.gather(-1, arg[..., None])[..., 0]
        parities, path = viterbi(cost, self.states)
        qpos = torch.tensor(QUANTIZER_OF_STATE[self.states])[path]
        level = best.reshape(4, T, L).gather(0, (2 * qpos + parities)[None])[0]
        return level, qpos

    def level_cost(self, t: Tensor, v: Tensor, q: int, s: Tensor, w: Tensor | None = None) -> Tensor:
        """``w·Δ²(t − v)² + λ_tcq·(−log2 P(v))``: Viterbi branch cost of level ``v`` of quantizer ``q``."""
        return rd_cost(t, v, cell_probability(v, q, s), self.step, self.tcq_lambda, w)

    def _decide(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel):
        """The trellis search on ``y``: (levels, quantizer ids, table ladder indexes), trellis-shaped."""
        # float32 search: levels are small integers, path costs stay far inside float32 precision
        t = self._to_trellis((y - means) / self.step)
        ladder_idx = self._to_trellis(self.table_indexes(scales, em)).long()
        w = expand(self.weights, y)
        level, qpos = self.search(t, em.scale_table.to(t.dtype)[ladder_idx],
                                  None if w is None else self._to_trellis(w))
        return level, qpos, ladder_idx

    def levels(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> tuple[Tensor, Tensor]:
        level, qpos, _ = self._decide(y, means, scales, em)
        return level.to(y.dtype).reshape(y.shape), qpos.reshape(y.shape)

    def bits(self, levels: Tensor, qid: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        s = self.rate_scales(scales, em)
        return rate_bits(torch.where(qid == 0, cell_probability(levels, 0, s), cell_probability(levels, 1, s)))

    def encode(self, y: Tensor, means: Tensor, scales: Tensor, em: GaussianModel) -> QuantizedLatents:
        level, qpos, ladder_idx = self._decide(y, means, scales, em)
        k = torch.where(qpos == 0, index_of_level(level, 0), index_of_level(level, 1)).int()
        table = (qpos * len(em.scale_table) + ladder_idx).int()
        # position-major order: the decoder reads position l of every trellis, then l+1
        data = self._tables(em).encode(k.T.contiguous(), table.T.contiguous())
        y_hat = self.dequantize(means, level)
        return QuantizedLatents(data, y_hat)

    @single_thread()
    def decode(self, data: bytes, means: Tensor, scales: Tensor, em: GaussianModel) -> Tensor:
        """W sequential steps (rows scan), each decoding one position of every trellis.

        Only the state-dependent part runs per step: everything that can be known before
        decoding (tables per step, index layout) is prepared once by :func:`step_tables`.
        """
        n = len(em.scale_table)
        ladder = self._to_trellis(self.table_indexes(scales, em)).T  # (L, T): position-major, as coded
        local, subsets = step_tables(ladder, self._tables(em), n)
        L, T = ladder.shape
        # numpy for the per-step bookkeeping: on a few thousand values its per-call cost is lower
        nxt = np.array(NEXT_STATE[self.states]).reshape(-1)  # next state = nxt[2·state + parity]
        qos = np.array(QUANTIZER_OF_STATE[self.states], dtype=np.int32)
        local_np = local.numpy()
        dec = RansDecoder()
        dec.set_stream(data)
        state = np.zeros(T, dtype=np.int64)
        k_all = np.empty((L, T), dtype=np.int32)
        q_all = np.empty((L, T), dtype=np.int8)  # the quantizer (0, 1) of each symbol
        for pos, sub in enumerate(subsets):
            q = qos[state]
            table = (q * (len(sub) // 2) + local_np[pos]).tolist()
            try:
                k = dec.decode_stream(table, sub.cdfs, sub.lengths, sub.offsets)
            except Exception as exc:  # noqa: BLE001 - coder errors mean a corrupt stream
                raise LicqError(f"entropy decoding failed: {exc}") from None
            k_all[pos] = k
            q_all[pos] = q
            state = nxt[2 * state + (k_all[pos] & 1)]
        k_all, q_all = torch.from_numpy(k_all), torch.from_numpy(q_all)
        level = level_of(k_all, q_all).T.float()  # (T, L)
        return self.dequantize(means, level)
