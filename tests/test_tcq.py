"""Trellis-coded quantization: state machines, optimality against brute force, exact coding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import licq
from licq import container
from licq.errors import LicqError
from licq._compressai import RansDecoder
from licq.quantizers import TrellisQuantizer
from licq.quantizers.trellis import NEXT_STATE, QUANTIZER_OF_STATE, index_of_level, level_of
from licq.models import resolve

from .conftest import smooth_image


@pytest.mark.parametrize("states", [4, 8])
def test_state_tables_are_valid_trellises(states):
    nxt = NEXT_STATE[states]
    for p in (0, 1):  # each parity permutes the states: every state has one predecessor per parity
        assert sorted(nxt[s][p] for s in range(states)) == list(range(states))
    for s in range(states):
        assert nxt[s][0] != nxt[s][1]
    assert sorted(QUANTIZER_OF_STATE[states]) == [0] * (states // 2) + [1] * (states // 2)


def test_vvc_four_state_table_matches_packed_constant():
    # VTM DepQuant.cpp: next = (32040 >> ((state << 2) + ((k & 1) << 1))) & 3
    for s in range(4):
        for p in (0, 1):
            assert NEXT_STATE[4][s][p] == (32040 >> ((s << 2) + (p << 1))) & 3


def test_ecm_eight_state_table_matches_packed_constant():
    # ECM Rom.cpp g_stateTransTab[2]; next = (tab >> ((state << 3) + ((k & 1) << 2))) & 15
    tab = 6274468666787591456
    for s in range(8):
        for p in (0, 1):
            assert NEXT_STATE[8][s][p] == (tab >> ((s << 3) + (p << 2))) & 15


def test_levels_and_indices_are_inverse():
    k = torch.arange(-6, 7, dtype=torch.float64)
    assert level_of(k, torch.tensor(0.0)).tolist() == (2 * k).tolist()
    assert level_of(k, torch.tensor(1.0)).tolist() == [-11, -9, -7, -5, -3, -1, 0, 1, 3, 5, 7, 9, 11]
    for q in (0, 1):
        assert torch.equal(index_of_level(level_of(k, torch.tensor(float(q))), q), k)


def _all_path_costs(tq, t, s, ks, w=None):
    """Cost of every index sequence in ``ks`` (P, L) following the state machine from state 0 (weights ``w``)."""
    nxt = torch.tensor(NEXT_STATE[tq.states])
    qos = torch.tensor(QUANTIZER_OF_STATE[tq.states])
    state = torch.zeros(ks.shape[0], dtype=torch.long)
    total = torch.zeros(ks.shape[0], dtype=torch.float64)
    for pos in range(ks.shape[1]):
        q = qos[state]
        k = ks[:, pos]
        v = level_of(k.double(), q.double())
        wp = None if w is None else w[pos]
        c0 = tq.level_cost(t[pos], v, 0, s[pos], wp)
        c1 = tq.level_cost(t[pos], v, 1, s[pos], wp)
        total += torch.where(q == 0, c0, c1)
        state = nxt[state, k & 1]
    return total


def _indices_of_levels(tq, levels):
    """Recover the index sequence of a level path by following the state machine."""
    state, ks = 0, []
    for v in levels:
        q = QUANTIZER_OF_STATE[tq.states][state]
        k = int(index_of_level(v.reshape(1), q)[0])
        assert float(level_of(torch.tensor(float(k)), torch.tensor(float(q)))) == float(v), "level not in quantizer"
        ks.append(k)
        state = NEXT_STATE[tq.states][state][k & 1]
    return torch.tensor([ks])


@pytest.mark.parametrize("states", [4, 8])
@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_viterbi_equals_brute_force(states, lam):
    gen = torch.Generator().manual_seed(states + int(10 * lam))
    tq = TrellisQuantizer(step=0.7, states=states, tcq_lambda=lam)
    L, trials = 4, 12
    t = torch.randn(trials, L, generator=gen, dtype=torch.float64) * 2.5
    s = torch.rand(trials, L, generator=gen, dtype=torch.float64) * 3 + 0.2
    levels, _ = tq.search(t, s)
    every = torch.tensor(list(itertools.product(range(-6, 7), repeat=L)))
    for i in range(trials):
        best = float(_all_path_costs(tq, t[i], s[i], every).min())
        found = float(_all_path_costs(tq, t[i], s[i], _indices_of_levels(tq, levels[i]))[0])
        assert found == pytest.approx(best, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("states", [4, 8])
@pytest.mark.parametrize("scan", ["rows", "raster"])
def test_tcq_roundtrip_exact(tiny_model, states, scan):
    arr = smooth_image(70, 90, seed=states)
    res = licq.encode_full(arr, tiny_model, quantizer="tcq", states=states, step=0.6,
                           tcq_lambda=0.05, scan=scan)
    header, _ = container.unpack(res.data)
    assert header.states == states and header.quantizer == (1 if scan == "rows" else 2)
    out = licq.decode(res.data, tiny_model)
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))


def test_tcq_roundtrip_with_trained_model_and_gain_over_plain_rounding():
    """With the shipped model, TCQ is exact and its reconstruction lies on the TCQ lattice."""
    arr = smooth_image(64, 128, seed=5)
    res = licq.encode_full(arr, quantizer="tcq", states=8, step=0.6, tcq_lambda=0.02)
    assert np.array_equal(np.asarray(licq.decode(res.data)), np.asarray(res.reconstruction))


def test_eight_state_file_does_not_decode_as_four(tiny_model, image):
    data = bytearray(licq.encode(image, tiny_model, quantizer="tcq", states=8, step=0.6))
    header, _ = container.unpack(bytes(data))
    pos = 7 + len(header.writer) + len(header.model_name) + 8 + 1
    assert data[pos] == 8
    data[pos] = 4
    with pytest.raises(LicqError, match="CRC mismatch"):
        licq.decode(bytes(data), tiny_model)


def test_invalid_state_count_refused(tiny_model, image):
    with pytest.raises(LicqError, match="4 or 8 states"):
        licq.encode(image, tiny_model, quantizer="tcq", states=6)
    header_data = licq.encode(image, tiny_model, quantizer="tcq", states=4)
    header, streams = container.unpack(header_data)
    header.states = 6
    with pytest.raises(LicqError, match="trellis states"):
        licq.decode(container.pack(header, streams), tiny_model)


def _decode_with_all_tables(tq, data, means, scales, em):
    """Reference decoder: every step hands the coder all 2 × 64 tables (the original loop)."""
    tables = tq._tables(em)
    ladder = tq._to_trellis(tq.table_indexes(scales, em)).long()
    T, L = ladder.shape
    nxt, qos = torch.tensor(NEXT_STATE[tq.states]), torch.tensor(QUANTIZER_OF_STATE[tq.states])
    dec = RansDecoder()
    dec.set_stream(data)
    state, level = torch.zeros(T, dtype=torch.long), torch.empty(T, L)
    for pos in range(L):
        q = qos[state]
        k = torch.tensor(dec.decode_stream((q * len(em.scale_table) + ladder[:, pos]).tolist(),
                                           tables.cdfs, tables.lengths, tables.offsets))
        level[:, pos] = level_of(k, q).float()
        state = nxt[state, k & 1]
    return means + tq.step * level.reshape(means.shape)


@pytest.mark.parametrize("scan", ["rows", "raster"])
def test_per_step_tables_decode_like_all_tables(tiny_model, scan):
    em = resolve(tiny_model, arch="mbt2018-mean").entropy
    gen = torch.Generator().manual_seed(11)
    shape = (1, 12, 5, 9)
    means = torch.randn(shape, generator=gen)
    scales = torch.exp(torch.randn(shape, generator=gen) * 1.5)  # many ladder scales, columns differ
    y = means + scales * torch.randn(shape, generator=gen)
    tq = TrellisQuantizer(step=0.6, states=8, tcq_lambda=0.05, scan=scan)
    ql = tq.encode(y, means, scales, em)
    out = tq.decode(ql.data, means, scales, em)
    assert torch.equal(out, ql.y_hat)
    assert torch.equal(out, _decode_with_all_tables(tq, ql.data, means, scales, em))


@pytest.mark.parametrize("states", [4, 8])
def test_weighted_viterbi_equals_brute_force(states):
    """With a distortion weight per position the search still finds the minimum of Σ w·D + λ·R."""
    gen = torch.Generator().manual_seed(40 + states)
    tq = TrellisQuantizer(step=0.7, states=states, tcq_lambda=0.3)
    L, trials = 4, 12
    t = torch.randn(trials, L, generator=gen, dtype=torch.float64) * 2.5
    s = torch.rand(trials, L, generator=gen, dtype=torch.float64) * 3 + 0.2
    # the zoo's normalised weights span 0.2 .. 4; at λ/(w·Δ²) much above 1 the candidate set (two levels
    # each side of t, and 0) can miss a level further toward zero, weighted or not
    w = torch.rand(trials, L, generator=gen, dtype=torch.float64) * 3.5 + 0.5
    levels, _ = tq.search(t, s, w)
    every = torch.tensor(list(itertools.product(range(-6, 7), repeat=L)))
    for i in range(trials):
        best = float(_all_path_costs(tq, t[i], s[i], every, w[i]).min())
        found = float(_all_path_costs(tq, t[i], s[i], _indices_of_levels(tq, levels[i]), w[i])[0])
        assert found == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert not torch.equal(levels, tq.search(t, s)[0])  # the weights do change decisions


def _spread_latents(model_path, shape=(1, 6, 4, 9), seed=21):
    em = resolve(model_path, arch="mbt2018-mean").entropy
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(shape, generator=gen)
    scales = torch.exp(torch.randn(shape, generator=gen))
    return means + scales * torch.randn(shape, generator=gen), means, scales, em


def test_no_weights_and_unit_weights_give_the_same_bytes(tiny_model):
    """Weighting off is the unweighted search bit for bit; weights of 1 change nothing."""
    y, means, scales, em = _spread_latents(tiny_model)
    plain = TrellisQuantizer(step=0.6, states=8, tcq_lambda=0.1).encode(y, means, scales, em)
    ones = TrellisQuantizer(step=0.6, states=8, tcq_lambda=0.1, weights=[1.0] * 6).encode(y, means, scales, em)
    assert plain.data == ones.data and torch.equal(plain.y_hat, ones.y_hat)
    img = smooth_image(40, 56)
    a = licq.encode(img, tiny_model, quantizer="tcq", states=8, step=0.6, tcq_lambda=0.1)
    b = licq.encode(img, tiny_model, quantizer="tcq", states=8, step=0.6, tcq_lambda=0.1, weighting="none")
    assert a == b


def test_heavier_channel_gets_less_distortion_and_decodes_exactly(tiny_model):
    y, means, scales, em = _spread_latents(tiny_model, shape=(1, 4, 8, 16))
    w = [1.0, 1.0, 30.0, 1.0]
    plain = TrellisQuantizer(step=0.7, states=8, tcq_lambda=0.5)
    heavy = TrellisQuantizer(step=0.7, states=8, tcq_lambda=0.5, weights=w)
    err = {k: ((q.encode(y, means, scales, em).y_hat - y)[0, 2] ** 2).sum() for k, q in
           (("plain", plain), ("heavy", heavy))}
    assert err["heavy"] < err["plain"]
    ql = heavy.encode(y, means, scales, em)
    assert torch.equal(plain.decode(ql.data, means, scales, em), ql.y_hat)  # the decoder needs no weights
    with pytest.raises(LicqError, match="channel weights"):
        TrellisQuantizer(weights=[1.0, 2.0]).encode(y, means, scales, em)
    with pytest.raises(LicqError, match="finite and positive"):
        TrellisQuantizer(weights=[1.0, 0.0, 1.0, 1.0])


def test_channel_weighting_with_a_zoo_model_roundtrips():
    arr = smooth_image(64, 128, seed=6)
    res = licq.encode_full(arr, quantizer="tcq", states=8, weighting="channel")
    assert np.array_equal(np.asarray(licq.decode(res.data)), np.asarray(res.reconstruction))
    with pytest.raises(LicqError, match="tcq and rdoq"):
        licq.encode_full(arr, quantizer="sq", weighting="channel")
    with pytest.raises(LicqError, match="unknown weighting"):
        licq.encode_full(arr, quantizer="tcq", weighting="image")
