"""Files that decode on any machine: exact fixed-point decisions, the integer hyper-decoder, shipped
tables, golden files, and encode/decode under other kernel sets and thread counts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import licq
from licq import container
from licq.codec import decode_latents
from licq.entropy import conditional_tables
from licq.entropy.stored import LADDER_STORE, ladder_key, read_store
from licq.errors import LicqError
from licq.fixed_point import FRACTION_BITS, grid_anchor, grid_offset_bins, ladder_indexes
from licq.models import integer, resolve
from licq.models.io import hyperlatent_tables
from licq.quantizers.sq_grid import build_grid_tables
from licq.quantizers.tcq import build_tcq_tables
from licq.zoo import load_zoo

from .conftest import smooth_image

GOLDEN = Path(__file__).resolve().parent / "golden"
ONE = 1 << FRACTION_BITS
STEPS = (0.001, 0.25, 0.5, 0.6, 1.0, 3.7, 64.0)


def _fixed_means(n: int, seed: int, spread: float = 40.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.round(torch.randn(n, generator=g, dtype=torch.float64) * spread * ONE).float() / ONE


@pytest.mark.parametrize("step", STEPS)
def test_grid_anchor_and_offset_bins_are_exact_rationals(step):
    step = float(np.float32(step))
    ties = torch.round(torch.tensor([0.5, -0.5, 1.5, 2.5, -2.5], dtype=torch.float64) * step * ONE) / ONE
    means = torch.cat([_fixed_means(3000, 0), ties.float()])  # exact ties where Δ/2 is a fixed-point number
    k, bins = grid_offset_bins(means, step, 8)
    for mu, kk, b in zip(means.tolist(), k.tolist(), bins.tolist()):
        r = Fraction(mu) / Fraction(step)
        assert kk == round(r)  # Python rounds exact rationals half to even, as torch.round does floats
        assert b == min(7, max(0, int((Fraction(kk) - r + Fraction(1, 2)) * 8 // 1)))
    assert torch.equal(grid_anchor(means, step)[0], k)


@pytest.mark.parametrize("step", STEPS)
def test_table_index_is_the_exact_ladder_rule(step):
    step = float(np.float32(step))
    ladder = torch.tensor([0.11, 0.2, 0.7, 1.3, 5.0, 256.0]).tolist()
    g = torch.Generator().manual_seed(1)
    scales = torch.round(torch.rand(4000, generator=g, dtype=torch.float64) * 300 * step * ONE).float() / ONE
    # values on the boundaries themselves, where a float division may land either side
    edges = torch.tensor([int(Fraction(s) * Fraction(step) * ONE // 1) for s in ladder], dtype=torch.float64) / ONE
    scales = torch.cat([scales, edges.float(), (edges + 1 / ONE).float()])
    idx = ladder_indexes(scales, ladder, step).tolist()
    for s, i in zip(scales.tolist(), idx):
        want = next((j for j, t in enumerate(ladder[:-1]) if Fraction(s) / Fraction(step) <= Fraction(t)),
                    len(ladder) - 1)
        assert i == want, (s, i, want)


@pytest.fixture(scope="module")
def zoo_hyper():
    """The default zoo model and a decoded hyper-latent of a real image."""
    m = load_zoo("licq-q3")
    with Image.open(Path(__file__).resolve().parents[1] / "assets" / "kodim23.png") as im:
        x = torch.from_numpy(np.asarray(im.convert("RGB"))[:256, :384].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        z = m.net.h_a(m.net.analysis(x))
        z_hat = m.net.entropy_bottleneck.decompress(m.net.entropy_bottleneck.compress(z), z.shape[-2:])
    return m, z_hat


def test_integer_hyper_decoder_is_fixed_point_and_follows_the_float_one(zoo_hyper):
    m, z_hat = zoo_hyper
    with torch.inference_mode():
        exact = m.net.exact_h_s(z_hat)
        approx = m.net.h_s(z_hat)
    assert exact.dtype == torch.float32
    assert torch.equal(exact * ONE, torch.round(exact * ONE))  # multiples of 2**-12
    assert float((exact - approx).abs().max()) < 2e-3
    assert float((exact - approx).abs().mean()) < 2 / ONE


def test_integer_hyper_decoder_ignores_tiling_and_threads(zoo_hyper, monkeypatch):
    m, z_hat = zoo_hyper
    layers = integer.convert(m.net.h_s)
    whole = integer.run_exact(layers, z_hat)
    monkeypatch.setattr(integer, "TILE", 2)
    tiled = integer.run_exact(layers, z_hat)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = integer.run_exact(layers, z_hat)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(whole, tiled) and torch.equal(whole, single)


def test_integer_layers_keep_every_accumulation_below_two_to_the_53(zoo_hyper):
    for layer in integer.convert(zoo_hyper[0].net.h_s):
        dims = (0, 2, 3) if layer.transposed else (1, 2, 3)
        worst = float(layer.weight.abs().sum(dim=dims).max()) * layer.clamp + float(layer.bias.abs().max())
        assert worst < 2.0 ** 53
        assert torch.equal(layer.weight, torch.round(layer.weight)) and layer.weight.abs().max() < 2 ** integer.WEIGHT_BITS


def test_conversion_refuses_weights_it_cannot_keep_exact():
    conv = torch.nn.Conv2d(4000, 2, 3)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # Σ|w_int| = 36000·2**20: inputs would be clamped far below any activation
    with pytest.raises(LicqError, match="exact integer"):
        integer.convert(torch.nn.Sequential(conv))


def test_training_sees_the_exact_values_with_the_float_gradient(tiny_model):
    net = resolve(tiny_model).net
    z = torch.randn(1, 8, 3, 4, requires_grad=True)
    with torch.enable_grad():
        out = net.exact_h_s(z)
        out.sum().backward()
    with torch.inference_mode():
        assert torch.equal(out.detach(), net.exact_h_s(z.detach()))
    z2 = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        net.h_s(z2).float().sum().backward()
    assert torch.allclose(z.grad, z2.grad)


def test_conversion_follows_weight_updates(tiny_model):
    net = resolve(tiny_model).net
    z = torch.randn(1, 8, 3, 4)
    before = net.exact_h_s(z)
    with torch.no_grad():
        net.h_s[0].bias.add_(0.5)
    after = net.exact_h_s(z)
    assert not torch.equal(before, after)
    with torch.no_grad():
        net.h_s[0].bias.sub_(0.5)


def test_weight_files_carry_the_hyper_latent_tables_their_writer_built(tiny_model, tmp_path):
    """Tables built from floats can differ between kernel sets, so a weight file carries its own: they are
    the ones this machine builds from the stored weights, and a reader codes ẑ with them, not its own."""
    from licq.models import load_file
    from licq.models.io import hyperlatent_tables

    state = torch.load(tiny_model, map_location="cpu", weights_only=True)
    stored = state["entropy_bottleneck._quantized_cdf"]
    assert stored.numel() > 0
    built = load_file(tiny_model, "mbt2018-mean").net
    built.entropy_bottleneck.update(force=True)
    assert torch.equal(built.entropy_bottleneck._quantized_cdf, stored)
    state["entropy_bottleneck._offset"] = state["entropy_bottleneck._offset"] - 1  # a reader must not rebuild
    torch.save(state, tmp_path / "other.pt")
    assert hyperlatent_tables(load_file(str(tmp_path / "other.pt"), "mbt2018-mean").net).offsets == \
        [o - 1 for o in hyperlatent_tables(load_file(tiny_model, "mbt2018-mean").net).offsets]


def test_shipped_tables_are_the_ones_this_machine_builds():
    """The stored ladder and hyper-latent tables equal what a build here gives (entries may differ by a unit
    on another CPU: that is why they are stored); a changed builder shows up here."""
    m = load_zoo("licq-q3")
    store = read_store(LADDER_STORE)
    ladder = tuple(m.net.gaussian_conditional.scale_table.tolist())
    assert all(f"{ladder_key(k, ladder)}.cdfs" in store for k in ("gaussian", "tcq", "sq-grid"))
    built = {"tcq": build_tcq_tables(ladder), "sq-grid": build_grid_tables(ladder)}
    for kind, tables in built.items():
        stored = np.concatenate([np.asarray(r) for r in tables.cdfs])
        assert stored.shape == store[f"{ladder_key(kind, ladder)}.cdfs"].shape
        assert np.abs(stored - store[f"{ladder_key(kind, ladder)}.cdfs"]).max() <= 1
    assert m.entropy.tables.lengths == conditional_tables(m.net.gaussian_conditional).lengths
    fresh = resolve(str(Path(licq.__file__).parent / "zoo" / "licq-q3.pt"), arch="mbt2018-mean")
    assert hyperlatent_tables(fresh.net).lengths == hyperlatent_tables(m.net).lengths


def _golden() -> dict:
    return json.loads((GOLDEN / "golden.json").read_text())


@pytest.mark.parametrize("stem", sorted(_golden()))
def test_golden_files_decode_bit_exactly(stem):
    """Files written by an earlier commit still decode to the same latents (exactly) and image (within a
    unit: the synthesis is floating point). A failure after retiring a model is rerun on purpose:
    ``python tests/golden/make.py``."""
    data = (GOLDEN / f"{stem}.licq").read_bytes()
    name = _golden()[stem]["encode"]["model"]
    model = str(GOLDEN / name) if name.endswith(".pt") else None  # format 4: the tiny vr model beside them
    header, _, y_hat, *_ = decode_latents(data, model)
    assert (header.version == container.VARIABLE_RATE_VERSION) == ("quality" in _golden()[stem]["encode"])
    assert hashlib.sha256(y_hat.contiguous().numpy().tobytes()).hexdigest() == _golden()[stem]["latents_sha256"]
    with Image.open(GOLDEN / f"{stem}.png") as im:
        want = np.asarray(im, dtype=np.int16)
    got = np.asarray(licq.decode(data, model), dtype=np.int16)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1


def test_older_formats_name_the_release_that_reads_them():
    data = bytearray((GOLDEN / "q3-sq.licq").read_bytes())
    data[4] = 2
    with pytest.raises(LicqError, match=r"format version 2 was written by licq 0\.1\.0"):
        container.unpack(bytes(data))


def test_a_model_not_in_this_zoo_is_named_with_its_release():
    header, streams = container.unpack((GOLDEN / "q3-sq.licq").read_bytes())
    retired = json.loads((Path(licq.__file__).parent / "zoo" / "retired.json").read_text())["models"]
    digest, info = next((d, i) for d, i in retired.items() if i["model"] == "licq-q3")
    header.model_digest, header.writer = bytes.fromhex(digest), "0.1.0"
    with pytest.raises(LicqError, match=f"licq-q3 with digest {digest}.*ships with licq {info['release']}"):
        licq.decode(container.pack(header, streams))
    header.model_name, header.model_digest = "licq-q9", bytes(8)
    with pytest.raises(LicqError, match="licq-q9 with digest 0000000000000000, written by licq 0.1.0"):
        licq.decode(container.pack(header, streams))


def test_header_records_the_writing_release():
    data = licq.encode(smooth_image(64, 64))
    header, _ = container.unpack(data)
    assert header.writer == licq.__version__ and header.as_dict()["written_by"] == f"licq {licq.__version__}"


# ---- across kernel sets: encode under one, decode under another, in subprocesses ----------------------

_SCRIPT = r"""
import hashlib, json, sys, numpy as np, torch, licq
from licq.codec import decode_latents
mode, folder, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
cases = json.loads(sys.argv[4])
img = np.load(folder + '/img.npy')
out = {}
for name, kw in cases.items():
    path = folder + '/' + name + '.licq'
    kw = dict(kw)
    model, arch = kw.pop('model'), kw.get('arch')
    if mode == 'encode':
        open(path, 'wb').write(licq.encode(img, model, **kw))
    data = open(path, 'rb').read()
    y = decode_latents(data, model, arch=arch).y_hat
    out[name] = [hashlib.sha256(y.contiguous().numpy().tobytes()).hexdigest(),
                 np.asarray(licq.decode(data, model, arch=arch)).tolist()]
print(json.dumps(out))
"""

KERNEL_SETS = {
    "full": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"},
}


def _run(kernel: str, mode: str, folder: Path, threads: int, cases: dict) -> dict:
    env = {**os.environ, **KERNEL_SETS[kernel]}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode, str(folder), str(threads), json.dumps(cases)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_files_decode_under_every_kernel_set_and_thread_count(tmp_path, vr_model, tiny_model):
    """Every zoo quality and quantizer, a user's weight file, and a channel-conditional variable-rate model
    (its context networks decide μ and σ of every group but the first) at three qualities, encoded under one kernel set and
    decoded under the others: same latents exactly, pixels within a few units (the float synthesis),
    never a refusal."""
    np.save(tmp_path / "img.npy", smooth_image(64, 96, seed=5))
    cases = {f"q{q}-{name}": {"quality": q, **kw} for q in (1, 2, 3, 4)
             for name, kw in {"sq": {"quantizer": "sq"}, "sq-grid": {"quantizer": "sq-grid"},
                              "rdoq": {"quantizer": "rdoq"}, "tcq8": {"quantizer": "tcq", "states": 8},
                              "tcq4": {"quantizer": "tcq", "states": 4}}.items()}
    cases = {k: {"model": None, **v} for k, v in cases.items()}
    cases["user-sq"] = {"model": tiny_model, "arch": "mbt2018-mean", "quantizer": "sq"}  # a trained user model
    cases.update({f"vr{q:g}-{name}": {"model": vr_model, "arch": "channel-vr", "quality": q, **kw}
                  for q in (1, 3.7, 7) for name, kw in {"sq": {"quantizer": "sq"},
                                                         "tcq8": {"quantizer": "tcq", "states": 8}}.items()})
    for writer, readers in (("full", (("avx2", 2), ("sse41", 1))), ("sse41", (("full", 2),))):
        folder = tmp_path / writer
        folder.mkdir()
        (folder / "img.npy").write_bytes((tmp_path / "img.npy").read_bytes())
        written = _run(writer, "encode", folder, 2, cases)
        for reader, threads in readers:
            read = _run(reader, "decode", folder, threads, cases)
            for name in cases:
                assert read[name][0] == written[name][0], (writer, reader, name)
                diff = np.abs(np.asarray(read[name][1], dtype=np.int16) - np.asarray(written[name][1], dtype=np.int16))
                assert diff.max() <= 2, (writer, reader, name, int(diff.max()))
