"""Reliability: tiled transforms, the entropy-model check, deterministic decoding, SIGKILL, recompression."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import licq
from licq.errors import LicqError
from licq.evaluation.metrics import psnr_images
from licq.models import LicqMeanScale
from licq.models.tiling import tiled
from licq.models import resolve

from .conftest import smooth_image

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_tiled_transforms_equal_whole_image(tiny_model):
    net = resolve(tiny_model).net
    x = torch.from_numpy(smooth_image(192, 256)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = net._g_a(x)
        y_tiled = tiled(net._g_a, x, 64, 64, 1, 16)
        x_hat = net._g_s(torch.round(y))
        x_hat_tiled = tiled(net._g_s, torch.round(y), 4, 4, 16, 1)
    assert y_tiled.shape == y.shape and x_hat_tiled.shape == x_hat.shape
    assert (y - y_tiled).abs().max() < 1e-4
    assert (x_hat - x_hat_tiled).abs().max() < 1e-4
    # without a halo the tiles do show seams: the test can fail
    with torch.inference_mode():
        assert (net._g_s(torch.round(y)) - tiled(net._g_s, torch.round(y), 4, 0, 16, 1)).abs().max() > 1e-3


@pytest.mark.parametrize("quantizer", ["sq", "tcq"])
def test_tiled_coding_round_trips_exactly(tiny_model, monkeypatch, quantizer):
    img = smooth_image(150, 200, seed=3)
    whole = licq.encode_full(img, tiny_model, quantizer=quantizer)
    monkeypatch.setattr(LicqMeanScale, "tile_pixels", 64)
    res = licq.encode_full(img, tiny_model, quantizer=quantizer)
    out = np.asarray(licq.decode(res.data, tiny_model))
    assert np.array_equal(out, np.asarray(res.reconstruction))
    # seam-free: tiling changes the result by float rounding only
    assert abs(psnr_images(img, out) - psnr_images(img, whole.reconstruction)) < 0.01


def test_other_table_indexes_are_refused_not_decoded(monkeypatch):
    data = licq.encode(smooth_image(64, 64))  # the zoo model: realistic scales
    hyper = LicqMeanScale.hyper

    def drifted(self, z_hat):  # a machine whose h_s output differs slightly
        means, scales = hyper(self, z_hat)
        return means, scales * 1.02

    monkeypatch.setattr(LicqMeanScale, "hyper", drifted)
    with pytest.raises(LicqError, match="entropy-model check failed"):
        licq.decode(data)


_DECODE_SCRIPT = """
import hashlib, sys, numpy as np, torch, licq
torch.set_num_threads(int(sys.argv[1]))
for path in sys.argv[3:]:
    arr = np.asarray(licq.decode(open(path, 'rb').read(), sys.argv[2]))
    print(path, hashlib.sha256(arr.tobytes()).hexdigest())
"""


def _decode_hashes(threads: int, model: str, files: list[Path]) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", _DECODE_SCRIPT, str(threads), model, *map(str, files)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return dict(line.split() for line in out.splitlines())


@pytest.mark.slow
def test_decoding_is_deterministic_across_threads_processes_and_batches(tiny_model, tmp_path):
    files = []
    for i, (h, w, quantizer) in enumerate([(96, 130, "sq"), (200, 72, "tcq"), (64, 64, "sq")]):
        p = tmp_path / f"{i}.licq"
        p.write_bytes(licq.encode(smooth_image(h, w, seed=i), tiny_model, quantizer=quantizer))
        files.append(p)
    target = str(files[1])
    alone_1 = _decode_hashes(1, tiny_model, [files[1]])[target]
    batch_2 = _decode_hashes(2, tiny_model, [files[0], files[1], files[2]])[target]
    here = hashlib.sha256(np.asarray(licq.decode(files[1].read_bytes(), tiny_model)).tobytes()).hexdigest()
    assert alone_1 == batch_2 == here


@pytest.mark.slow
def test_sigkilled_encode_leaves_old_file_or_complete_file(tmp_path):
    """Kill a long encode at several moments: the output is the old file or a complete new one."""
    big = tmp_path / "big.png"
    Image.fromarray(np.tile(smooth_image(256, 256), (4, 4, 1))).save(big)  # 1024x1024
    out = tmp_path / "out.licq"
    old = b"old contents"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    seen = set()
    for delay in (0.5, 1.5, 3.0, 600.0):  # the last one finishes even on a machine busy with training
        out.write_bytes(old)
        proc = subprocess.Popen([sys.executable, "-m", "licq", "encode", str(big), "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        data = out.read_bytes()
        if data == old:
            seen.add("old")
        else:
            licq.decode(data)  # complete and valid, or this raises
            seen.add("new")
    assert "new" in seen  # the last run had time to finish
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out.licq") and p != out]


def _generations(img: np.ndarray, n: int = 10) -> list[float]:
    """PSNR against ``img`` of ``n`` encode -> decode generations with the default model."""
    current, psnrs = Image.fromarray(img), []
    for _ in range(n):
        current = licq.decode(licq.encode(current))
        psnrs.append(psnr_images(img, current))
    return psnrs


def test_recompression_drift_does_not_grow():
    """Encode -> decode ten times with the default model; PSNR drift against generation 1.

    A regression guard at the measured level, not the issue's target (0.5 dB, missed;
    results/reliability/recompression-*.json have Kodak). On this synthetic image
    (smooth gradients under Gaussian noise) the N=128/M=192 licq-q3 drifts 4.16 dB,
    28.32 -> 24.15 dB; the N=96/M=128 model it replaced drifted 2.26 dB, 27.98 ->
    25.72, and stopped there (on Kodak the new model is better at every generation:
    see the README). The guard fails if generation loss gets worse.
    """
    psnrs = _generations(smooth_image(96, 128, seed=7))
    assert psnrs[0] > 25
    assert psnrs[0] - psnrs[-1] <= 4.5
    assert all(b <= a + 0.05 for a, b in zip(psnrs, psnrs[1:]))  # no generation recovers quality


def test_recompression_of_a_photo_keeps_its_quality():
    """The same on a photo crop (kodim23, 256x256): 31.56 dB after one generation, 28.13 after ten
    (3.43 dB; the model it replaced: 30.41 -> 25.44). Guards both the drift and the end point."""
    img = np.asarray(Image.open(ASSETS / "kodim23.png").convert("RGB"))[128:384, 256:512].copy()
    psnrs = _generations(img)
    assert psnrs[0] - psnrs[-1] <= 3.75
    assert psnrs[-1] >= 27.8
    assert all(b <= a + 0.05 for a, b in zip(psnrs, psnrs[1:]))
