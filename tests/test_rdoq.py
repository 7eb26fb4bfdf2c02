"""RDOQ: the D + λ·R choice per latent on the SQ grid, coded and decoded exactly as SQ."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import licq
from licq import container
from licq.cli import main
from licq.errors import LicqError
from licq.quantizers import RdoqQuantizer, ScalarQuantizer, make_quantizer, quantizer_from_header
from licq.quantizers.cells import rate_bits, sq_cell_probability
from licq.quantizers.rdoq import LAMBDA_PER_STEP2, candidates
from licq.models import resolve
from licq.quantizers.defaults import quantizer_defaults

from .conftest import smooth_image


def _latents(model_path: str, shape: tuple[int, ...] = (1, 12, 6, 10)):
    """(y, μ, σ, entropy model): the tiny model's tables with latents spread over many levels.

    The random tiny model's own latents are nearly all zero; these exercise every candidate.
    """
    em = resolve(model_path, arch="mbt2018-mean").entropy
    gen = torch.Generator().manual_seed(3)
    means = torch.randn(shape, generator=gen)
    scales = torch.rand(shape, generator=gen) * 6 + 0.05
    y = means + scales * torch.randn(shape, generator=gen)
    return y, means, scales, em


def _model_bits(q, y, means, scales, em) -> torch.Tensor:
    """Per-latent bits of the chosen levels at the coded table's scale (the decision's rate model)."""
    level, _ = q.levels(y, means, scales, em)
    s = em.scale_table[q.table_indexes(scales, em).long()]
    return rate_bits(sq_cell_probability(level, s))


@pytest.mark.parametrize("lam", [0.05, 0.5])
def test_roundtrip_exact(tiny_model, lam):
    y, means, scales, em = _latents(tiny_model)
    q = RdoqQuantizer(step=0.8, rd_lambda=lam)
    ql = q.encode(y, means, scales, em)
    assert torch.equal(q.decode(ql.data, means, scales, em), ql.y_hat)
    res = licq.encode_full(smooth_image(45, 70), tiny_model, quantizer="rdoq", step=0.8, tcq_lambda=lam)
    assert np.array_equal(np.asarray(licq.decode(res.data, tiny_model)), np.asarray(res.reconstruction))


def test_levels_are_what_encode_writes(tiny_model):
    y, means, scales, em = _latents(tiny_model)
    q = RdoqQuantizer(step=1.0, rd_lambda=0.3)
    level, qid = q.levels(y, means, scales, em)
    assert not qid.any()
    data = q.encode(y, means, scales, em).data
    assert torch.equal(em.tables.decode(data, q.table_indexes(scales, em)), level.int())


def test_lambda_zero_is_sq_bit_for_bit(tiny_model):
    y, means, scales, em = _latents(tiny_model)
    rd, sq = RdoqQuantizer(step=0.7, rd_lambda=0.0), ScalarQuantizer(step=0.7)
    assert torch.equal(rd.levels(y, means, scales, em)[0], sq.levels(y, means, scales, em)[0])
    assert rd.encode(y, means, scales, em).data == sq.encode(y, means, scales, em).data
    img = smooth_image(40, 56)
    a = licq.encode(img, tiny_model, quantizer="rdoq", step=0.7, tcq_lambda=0.0)
    b = licq.encode(img, tiny_model, quantizer="sq", step=0.7)
    assert container.unpack(a)[1] == container.unpack(b)[1]  # same sub-streams; only the header differs


def test_decision_is_the_cheapest_candidate_and_never_worse_than_sq():
    gen = torch.Generator().manual_seed(0)
    t = torch.randn(400, generator=gen, dtype=torch.float64) * 3
    t[:6] = torch.tensor([0.5, -0.5, 2.5, -1.5, 0.0, 3.0], dtype=torch.float64)  # ties and grid points
    s = torch.rand(400, generator=gen, dtype=torch.float64) * 4 + 0.11
    for lam in (0.0, 0.05, 0.3, 1.0, 5.0):
        q = RdoqQuantizer(step=0.9, rd_lambda=lam)
        chosen = q.decide(t, s)
        every = torch.stack([q.level_cost(t, v, s) for v in candidates(t)])  # brute force
        cost, sq_cost = q.level_cost(t, chosen, s), q.level_cost(t, torch.round(t), s)
        assert torch.equal(cost, every.min(dim=0).values)
        assert bool((cost <= sq_cost).all())
        if lam == 0:
            assert torch.equal(chosen, torch.round(t))


def test_larger_lambda_never_costs_more_bits(tiny_model):
    y, means, scales, em = _latents(tiny_model)
    sq_bits = _model_bits(RdoqQuantizer(1.0, 0.0), y, means, scales, em)
    prev_bits, prev_bytes = sq_bits, math.inf
    for lam in (0.0, 0.1, 0.5, 2.0):
        q = RdoqQuantizer(1.0, lam)
        bits = _model_bits(q, y, means, scales, em)
        assert bool((bits <= sq_bits).all())  # per latent: a level other than SQ's is chosen only to save bits
        assert float(bits.sum()) <= float(prev_bits.sum())
        n = len(q.encode(y, means, scales, em).data)
        assert n <= prev_bytes
        prev_bits, prev_bytes = bits, n
    assert prev_bytes < len(ScalarQuantizer(1.0).encode(y, means, scales, em).data)


def test_header_roundtrip_and_checks(tiny_model, image):
    data = licq.encode(image, tiny_model, quantizer="rdoq", step=0.9, tcq_lambda=0.123)
    header, streams = container.unpack(data)
    assert (header.quantizer, header.states) == (3, 0)
    assert header.step == np.float32(0.9) and header.tcq_lambda == np.float32(0.123)
    assert header.as_dict()["quantizer"] == "rdoq"
    q = quantizer_from_header(header.quantizer, header.states, header.step, header.tcq_lambda)
    assert isinstance(q, RdoqQuantizer) and q.header_params() == (0, header.step, header.tcq_lambda)
    header.states = 8
    with pytest.raises(LicqError, match="trellis states"):
        licq.decode(container.pack(header, streams), tiny_model)


def test_make_quantizer_checks():
    with pytest.raises(LicqError, match="no trellis states"):
        make_quantizer("rdoq", states=8, tcq_lambda=0.1)
    with pytest.raises(LicqError, match="tcq-lambda"):
        make_quantizer("sq", tcq_lambda=0.1)
    with pytest.raises(LicqError, match=r"\[0, 1000\]"):
        make_quantizer("rdoq", tcq_lambda=-1.0)


def test_default_lambda_follows_the_step():
    assert LAMBDA_PER_STEP2 == 0.01  # the sweep's (results/tcq/README.md, 4d)
    d = quantizer_defaults("@mbt2018-mean", "rdoq", None, None, None)
    assert d == {"step": 1.0, "states": 0, "tcq_lambda": pytest.approx(0.01)}
    assert quantizer_defaults("@mbt2018-mean", "rdoq", 0.5, None, None)["tcq_lambda"] == pytest.approx(0.0025)
    assert quantizer_defaults("@mbt2018-mean", "rdoq", 0.5, None, 0.07)["tcq_lambda"] == 0.07


def test_cli_encode_info_and_finetune(tmp_path, tiny_model, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(96, 96, seed=30 + i)).save(data / f"{i}.png")
    enc = tmp_path / "x.licq"
    assert main(["encode", str(data / "0.png"), "-o", str(enc), "--model", tiny_model, "--arch", "mbt2018-mean",
                 "--quantizer", "rdoq", "--tcq-lambda", "0.2"]) == 0
    capsys.readouterr()
    assert main(["info", str(enc), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["quantizer"] == "rdoq" and info["tcq_lambda"] == pytest.approx(0.2)
    assert main(["finetune", str(data), "--base", tiny_model, "--arch", "mbt2018-mean", "--out",
                 str(tmp_path / "ft"), "--quantizer", "rdoq", "--train", "dec+hyperdec", "--lmbda", "0.01",
                 "--steps", "2", "--batch", "1", "--crop", "64", "--threads", "1"]) == 0
    meta = json.loads((tmp_path / "ft" / "decoder.json").read_text())
    assert meta["quantizer"] == "rdoq" and meta["steps"] == 2
    assert meta["tcq_lambda"] == pytest.approx(0.01)


def test_weighted_decision_is_the_cheapest_weighted_candidate():
    gen = torch.Generator().manual_seed(5)
    t = torch.randn(500, generator=gen, dtype=torch.float64) * 3
    s = torch.rand(500, generator=gen, dtype=torch.float64) * 4 + 0.11
    w = torch.exp(torch.randn(500, generator=gen, dtype=torch.float64) * 1.5)
    q = RdoqQuantizer(step=0.9, rd_lambda=0.3)
    chosen = q.decide(t, s, w)
    every = torch.stack([q.level_cost(t, v, s, w) for v in candidates(t)])  # brute force, weighted
    assert torch.equal(q.level_cost(t, chosen, s, w), every.min(dim=0).values)
    assert not torch.equal(chosen, q.decide(t, s))  # the weights do change decisions
    assert torch.equal(q.decide(t, s, torch.ones_like(t)), q.decide(t, s))


def test_weights_none_is_unweighted_bit_for_bit_and_decodes_as_sq(tiny_model):
    y, means, scales, em = _latents(tiny_model)
    plain = RdoqQuantizer(step=0.8, rd_lambda=0.3)
    weighted = RdoqQuantizer(step=0.8, rd_lambda=0.3, weights=torch.linspace(0.2, 5, 12))
    assert plain.encode(y, means, scales, em).data == RdoqQuantizer(0.8, 0.3, weights=[1.0] * 12).encode(
        y, means, scales, em).data
    ql = weighted.encode(y, means, scales, em)
    assert torch.equal(ScalarQuantizer(0.8).decode(ql.data, means, scales, em), ql.y_hat)
    arr = smooth_image(64, 128, seed=2)
    res = licq.encode_full(arr, quantizer="rdoq", weighting="channel")
    assert np.array_equal(np.asarray(licq.decode(res.data)), np.asarray(res.reconstruction))
