"""Shared fixtures: tiny random models (fast) saved as weight files, and synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from licq.models import build_model, save_weights


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A deterministic synthetic photo-like image (gradients + noise), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([128 + 100 * np.sin(xx / 9.0 + c) * np.cos(yy / 13.0 - c) for c in range(3)], axis=2)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def _tiny(tmp_path_factory, arch: str, seed: int):
    torch.manual_seed(seed)
    model = build_model(arch, 8, 12)
    path = tmp_path_factory.mktemp("models") / f"{arch}-{seed}.pt"
    save_weights(model, path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Path of a random mbt2018-mean model with N=8, M=12."""
    return _tiny(tmp_path_factory, "mbt2018-mean", 0)


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory) -> str:
    """Same architecture and size as ``tiny_model``, other weights."""
    return _tiny(tmp_path_factory, "mbt2018-mean", 1)


def randomise_channel_vr(model: torch.nn.Module) -> None:
    """Non-zero context residuals, LRP and gains: a trained model's code paths, not the initial identity."""
    with torch.no_grad():
        for net in (*model.context, *model.lrp):
            net[-1].weight.normal_(0, 0.05)
            net[-1].bias.normal_(0, 0.05)
        model.g_a[-1].weight.mul_(30)  # latents of a few quantization steps, as a trained model has
        model.gain.add_(torch.randn_like(model.gain) * 0.1)
        model.inverse_gain.add_(torch.randn_like(model.inverse_gain) * 0.1)


def save_random_vr_model(path) -> None:
    """Write a random channel-vr model (N=8, M=12, seed 3) with every new part non-trivial to ``path``
    (the tests' ``vr_model``, and tests/golden/make.py's kept ``vr-tiny.pt``)."""
    torch.manual_seed(3)
    model = build_model("channel-vr", 8, 12)
    randomise_channel_vr(model)
    save_weights(model, path)


@pytest.fixture(scope="session")
def vr_model(tmp_path_factory) -> str:
    """Path of a random channel-vr model (N=8, M=12) with every new part non-trivial."""
    path = tmp_path_factory.mktemp("vr") / "vr.pt"
    save_random_vr_model(path)
    return str(path)


@pytest.fixture()
def image() -> np.ndarray:
    return smooth_image(48, 80)
