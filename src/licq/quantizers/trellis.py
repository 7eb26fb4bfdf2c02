"""Trellis state machines of dependent quantization and an entropy-constrained Viterbi search.

Two scalar quantizers share step Δ: Q0 with levels ``2kΔ`` and Q1 with levels
``(2k − sgn k)Δ`` (zero and the odd multiples of Δ). The current state selects
the quantizer; the parity of the chosen index k selects the next state.

* 4 states: VVC dependent quantization (VTM ``DepQuant.cpp``: ``32040 >>
  ((state<<2) + ((k&1)<<1)) & 3``); states 0, 1 use Q0, states 2, 3 use Q1.
* 8 states: JVET ECM (``Rom.cpp`` ``g_stateTransTab[2]`` under ``TCQ_8STATES``);
  even states use Q0, odd states Q1.

Both tables were decoded from those sources and are checked by the tests.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor

#: next_state[s][parity]
NEXT_STATE: dict[int, tuple[tuple[int, int], ...]] = {
    4: ((0, 2), (2, 0), (1, 3), (3, 1)),
    8: ((0, 2), (5, 7), (1, 3), (6, 4), (2, 0), (4, 6), (3, 1), (7, 5)),
}
#: quantizer (0 or 1) used in each state
QUANTIZER_OF_STATE: dict[int, tuple[int, ...]] = {
    4: (0, 0, 1, 1),
    8: (0, 1, 0, 1, 0, 1, 0, 1),
}


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run a loop of many small tensor ops on one thread.

    Each step of the trellis touches only a few thousand values; with more
    threads the synchronisation costs more than the work, and on a loaded
    machine thread barriers make it many times slower.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def level_of(k: Tensor, q: Tensor) -> Tensor:
    """Reconstruction level in units of Δ of index ``k`` under quantizer ``q`` (0 or 1)."""
    return 2 * k - q * torch.sign(k)


def index_of_level(v: Tensor, q: int) -> Tensor:
    """Inverse of :func:`level_of` for levels ``v`` (integers, in units of Δ) of quantizer ``q``."""
    if q == 0:
        return torch.div(v, 2, rounding_mode="floor")
    return torch.where(v > 0, (v + 1) / 2, torch.where(v < 0, (v - 1) / 2, v)).round()


def candidates(t: Tensor, q: int) -> Tensor:
    """Candidate levels (units of Δ) for residuals ``t = (y−μ)/Δ``: two on each side and zero.

    Shape ``t.shape + (5,)``. Two per side make both parities available on each
    side, so the per-parity minimum the trellis needs is exact for any rate
    model whose cost grows away from zero on each side.
    """
    if q == 0:
        lo = 2 * torch.floor(t / 2)
        cand = [lo - 2, lo, lo + 2, lo + 4]
    else:
        lo = 2 * torch.floor((t - 1) / 2) + 1  # odd level <= t
        cand = [lo - 2, lo, lo + 2, lo + 4]
    return torch.stack(cand + [torch.zeros_like(t)], dim=-1)


@single_thread()
def viterbi(cost: Tensor, states: int) -> tuple[Tensor, Tensor]:
    """Minimum-cost path through the trellis.

    ``cost[q, p]`` has shape (T, L): the cost of the best index of parity ``p``
    under quantizer ``q`` at each of L positions of T independent trellises.
    Every trellis starts in state 0. Returns (parities (T, L), states (T, L)):
    the parity chosen and the state in which each position was coded.
    """
    nxt = torch.tensor(NEXT_STATE[states])
    qos = torch.tensor(QUANTIZER_OF_STATE[states])
    _, _, T, L = cost.shape
    # incoming[n] = the two (state, parity) pairs that lead to state n
    src_state = torch.empty(states, 2, dtype=torch.long)
    src_par = torch.empty(states, 2, dtype=torch.long)
    fill = [0] * states
    for s in range(states):
        for p in range(2):
            n = int(nxt[s, p])
            src_state[n, fill[n]], src_par[n, fill[n]] = s, p
            fill[n] += 1
    assert fill == [2] * states
    src_q = qos[src_state]  # (S, 2)
    # State-major layout: selecting predecessor states copies whole rows of T values,
    # which is far cheaper on CPU than gathering columns.
    src_flat = src_state.flatten()
    branch_cost = cost[src_q, src_par].permute(3, 0, 1, 2).contiguous()  # (L, S, 2, T)
    acc = torch.full((states, T), float("inf"), dtype=cost.dtype)
    acc[0] = 0
    back = torch.empty(L, states, T, dtype=torch.bool)
    for pos in range(L):
        branch = acc[src_flat].view(states, 2, T) + branch_cost[pos]
        back[pos] = branch[:, 1] < branch[:, 0]
        acc = torch.minimum(branch[:, 0], branch[:, 1])
    state = acc.argmin(dim=0)
    parities = torch.empty(T, L, dtype=torch.long)
    path = torch.empty(T, L, dtype=torch.long)
    for pos in range(L - 1, -1, -1):
        b = back[pos].gather(0, state[None])[0].long()
        prev, par = src_state[state, b], src_par[state, b]
        parities[:, pos], path[:, pos] = par, prev
        state = prev
    return parities, path
