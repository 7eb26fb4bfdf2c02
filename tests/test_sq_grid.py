"""Fixed-grid scalar quantization (``--quantizer sq-grid``): levels on Δ·k whatever μ is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import licq
from licq import container
from licq.evaluation.metrics import psnr_images
from licq.models import resolve
from licq.quantizers import make_quantizer
from licq.quantizers.cells import sq_cell_probability
from licq.quantizers.sq_grid import OFFSET_BINS, bin_offsets, grid_tables, offset_bins, shifted_cell_probability

from .conftest import smooth_image

ASSET = Path(__file__).resolve().parents[1] / "assets" / "kodim23.png"


@pytest.mark.parametrize("h,w,step", [(1, 1, 1.0), (17, 33, 0.5), (64, 64, 1.0), (100, 130, 2.5)])
def test_exact_roundtrip(tiny_model, h, w, step):
    arr = smooth_image(h, w, seed=h)
    res = licq.encode_full(arr, tiny_model, arch="mbt2018-mean", quantizer="sq-grid", step=step)
    header, _ = container.unpack(res.data)
    assert (header.quantizer, header.step) == (4, pytest.approx(step))
    out = licq.decode(res.data, tiny_model, arch="mbt2018-mean")
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))


def test_reconstruction_is_on_the_grid_and_independent_of_the_mean():
    g = torch.Generator().manual_seed(0)
    y = 4 * torch.randn(2, 6, 5, 7, generator=g)
    m1, m2 = 3 * torch.randn(y.shape, generator=g), 3 * torch.randn(y.shape, generator=g)
    for step in (0.5, 1.0, 1.7):
        q = make_quantizer("sq-grid", step=step)
        y1 = q.dequantize(m1, q.levels(y, m1, None, None)[0])
        y2 = q.dequantize(m2, q.levels(y, m2, None, None)[0])
        assert torch.equal(y1, y2)
        assert torch.equal(y1, step * torch.round(y / step))
        sq = make_quantizer("sq", step=step)  # around μ: the grid moves with it
        assert not torch.equal(sq.dequantize(m1, sq.levels(y, m1, None, None)[0]),
                               sq.dequantize(m2, sq.levels(y, m2, None, None)[0]))


def test_shifted_cells_are_a_partition_mirror_and_reduce_to_sq():
    v = torch.arange(-60, 61, dtype=torch.float64)
    for s in (0.11, 0.7, 5.0):
        s = torch.tensor(s, dtype=torch.float64)
        for o in (-0.5, -0.2, 0.0, 0.31, 0.5):
            p = shifted_cell_probability(v, torch.tensor(o, dtype=torch.float64), s)
            assert float(p.sum()) == pytest.approx(1.0, abs=1e-9)
            mirror = shifted_cell_probability(-v, torch.tensor(-o, dtype=torch.float64), s)
            assert torch.allclose(p, mirror, rtol=1e-12, atol=0)
        assert torch.allclose(shifted_cell_probability(v, torch.zeros(()), s), sq_cell_probability(v, s))


def test_offset_bins_cover_the_offsets_and_tables_follow_them():
    means = torch.round(torch.linspace(-3, 3, 10001) * 4096) / 4096  # fixed point, as the hyper-decoder gives
    b = offset_bins(means, 1.0)
    assert int(b.min()) == 0 and int(b.max()) == OFFSET_BINS - 1
    o = torch.round(means) - means
    assert (o - bin_offsets(b)).abs().max() <= 0.5 / OFFSET_BINS + 1e-6
    ladder = (0.11, 1.0, 4.0)
    tables = grid_tables(ladder)
    assert len(tables) == OFFSET_BINS * len(ladder)


def test_entropy_model_check_covers_the_anchors(tiny_model):
    """A mean one whole step away selects the same tables but another anchor: the check must see it."""
    m = resolve(tiny_model, arch="mbt2018-mean")
    q = make_quantizer("sq-grid")
    means = torch.randn(1, 12, 3, 4) * 2
    scales = torch.rand(1, 12, 3, 4) + 0.2
    a = q.check_indexes(means, scales, m.entropy)
    b = q.check_indexes(means + 1.0, scales, m.entropy)
    n = means.numel()
    assert torch.equal(a[:n], b[:n]) and not torch.equal(a[n:], b[n:])


def test_generation_loss_is_smaller_than_around_the_mean():
    """The point of the fixed grid: re-encoding a decoded image loses less than SQ around μ (licq-q3)."""
    with Image.open(ASSET) as im:
        img = np.asarray(im.convert("RGB"))[128:320, 256:512].copy()
    drift = {}
    for qz in ("sq", "sq-grid"):
        cur = img
        psnrs = []
        for _ in range(3):
            cur = np.asarray(licq.decode(licq.encode(cur, "licq-q3", quantizer=qz)))
            psnrs.append(psnr_images(img, cur))
        drift[qz] = psnrs[0] - psnrs[-1]
    assert drift["sq-grid"] < 0.5 * drift["sq"], drift
