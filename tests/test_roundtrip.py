"""Exact encode -> decode round trips: the decoder reproduces the encoder's reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import licq
from licq import container
from licq.evaluation.metrics import psnr_images

from .conftest import smooth_image


@pytest.mark.parametrize("h,w", [(1, 1), (17, 33), (64, 64), (333, 777)])
def test_exact_roundtrip_odd_sizes(tiny_model, h, w):
    arr = smooth_image(h, w, seed=h)
    res = licq.encode_full(arr, tiny_model, arch="mbt2018-mean")
    out = licq.decode(res.data, tiny_model)
    assert out.size == (w, h) and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))
    header, streams = container.unpack(res.data)
    assert (header.height, header.width) == (h, w)
    assert res.bpp == pytest.approx(8 * len(res.data) / (h * w))


@pytest.mark.parametrize("step", [0.5, 1.0, 2.5])
def test_step_is_stored_and_changes_rate(tiny_model, image, step):
    res = licq.encode_full(image, tiny_model, step=step)
    header, _ = container.unpack(res.data)
    assert header.step == pytest.approx(step)
    assert np.array_equal(np.asarray(licq.decode(res.data, tiny_model)), np.asarray(res.reconstruction))


def test_larger_step_means_fewer_bits(image):
    sizes = [len(licq.encode(image, step=s)) for s in (0.25, 1.0, 4.0)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_default_zoo_model_roundtrip_and_quality():
    """The shipped model codes a smooth image well and exactly (no --model needed)."""
    arr = smooth_image(64, 96, seed=3)
    res = licq.encode_full(Image.fromarray(arr))
    out = licq.decode(res.data)
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))
    assert psnr_images(arr, out) > 24


def test_grayscale_roundtrip_returns_grayscale(tiny_model):
    gray = Image.fromarray(smooth_image(20, 30)[:, :, 0], mode="L")
    res = licq.encode_full(gray, tiny_model)
    out = licq.decode(res.data, tiny_model)
    assert out.mode == "L" and out.size == (30, 20)
    assert np.array_equal(np.asarray(out), np.asarray(res.reconstruction))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "I;16"])
def test_lossy_conversions_warn(tiny_model, mode):
    base = Image.fromarray(smooth_image(16, 16))
    img = base.convert("L").convert("I") if mode == "I;16" else base.convert(mode)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img).astype(np.uint16) * 257)
        assert img.mode == "I;16"
    with pytest.warns(licq.LicqWarning):
        licq.encode(img, tiny_model)


def test_palette_converted_silently_to_rgb(tiny_model, recwarn):
    img = Image.fromarray(smooth_image(16, 16)).convert("P")
    licq.encode(img, tiny_model)
    assert not [w for w in recwarn if issubclass(w.category, licq.LicqWarning)]
