"""A zoo model of a variable-rate architecture (as ``licq-vr`` ships): exported with its quality and
λ range, named like any zoo model, it takes any quality of its range without ``--arch``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

import licq
from licq import container, zoo
from licq.cli import main
from licq.errors import LicqError
from licq.models.channel import QUALITY_LAMBDAS, QUALITY_RANGE
from licq.models.io import model_digest, state_dict_from_file
from licq.training.config import TrainConfig
from licq.training.finetune import FinetuneConfig, finetune
from licq.zoo import export

from .conftest import smooth_image


@pytest.fixture()
def vr_zoo(tmp_path, tiny_model, vr_model, monkeypatch):
    """A zoo of the tiny mean-scale model as 'tiny-q1' (quality 1, the default) and the tiny
    variable-rate model exported from a training checkpoint as 'tiny-vr'."""
    d = tmp_path / "zoo"
    d.mkdir()
    (d / "tiny-q1.pt").write_bytes(open(tiny_model, "rb").read())
    state = state_dict_from_file(d / "tiny-q1.pt")
    man = {"default": "tiny-q1", "models": [{
        "name": "tiny-q1", "arch": "mbt2018-mean", "N": 8, "M": 12, "lmbda": 0.0018, "quality": 1, "file": "tiny-q1.pt",
        "sha256": hashlib.sha256((d / "tiny-q1.pt").read_bytes()).hexdigest(), "digest": model_digest(state)[:16]}]}
    (d / "manifest.json").write_text(json.dumps(man))
    for mod in (zoo, export):
        monkeypatch.setattr(mod, "ZOO_DIR", d)
        monkeypatch.setattr(mod, "MANIFEST", d / "manifest.json")
    monkeypatch.setattr(zoo, "RETIRED", d / "retired.json")
    cfg = asdict(TrainConfig(data=["photos"], out="runs/vr", arch="channel-vr", N=8, M=12))
    ck = tmp_path / "checkpoint.pt"
    torch.save({"model": {k: v.float() for k, v in state_dict_from_file(vr_model).items()}, "config": cfg, "step": 7}, ck)
    zoo.load_zoo.cache_clear()
    export.export(str(ck), "tiny-vr", None, False, "a test model")
    yield d
    zoo.load_zoo.cache_clear()


def _png(tmp_path, h=48, w=64):
    path = tmp_path / "in.png"
    Image.fromarray(smooth_image(h, w)).save(path)
    return path


def test_export_records_a_range_not_a_level(vr_zoo):
    e = zoo.entry("tiny-vr")
    assert e["arch"] == "channel-vr" and e["quality"] is None and e["lmbda"] is None and e["steps"] == 7
    assert e["quality_range"] == list(QUALITY_RANGE) and e["lambda_range"] == [QUALITY_LAMBDAS[0], QUALITY_LAMBDAS[-1]]
    assert zoo.qualities() == [1] and zoo.manifest()["default"] == "tiny-q1"  # --quality alone: the levels
    assert [m["name"] for m in zoo.manifest()["models"]] == ["tiny-q1", "tiny-vr"]


def test_models_lists_its_range(vr_zoo, capsys):
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("tiny-vr "))
    assert "channel-vr" in line and " 1-7 " in line and "0.0018-0.0932" in line


def test_encode_decode_at_a_fractional_quality_without_arch(vr_zoo, tmp_path, capsys):
    src, enc, dec = _png(tmp_path), tmp_path / "x.licq", tmp_path / "x.png"
    assert main(["encode", str(src), "-o", str(enc), "--model", "tiny-vr", "--quality", "5.5"]) == 0
    header, _ = container.unpack(enc.read_bytes())
    assert header.model_name == "tiny-vr" and header.quality == pytest.approx(5.5, abs=1e-3)
    assert main(["decode", str(enc), "-o", str(dec)]) == 0  # the header names the zoo model
    arr = np.asarray(Image.open(src).convert("RGB"))
    want = licq.encode_full(arr, "tiny-vr", quality=5.5).reconstruction
    assert np.array_equal(np.asarray(Image.open(dec)), np.asarray(want))
    assert licq.encode_full(arr, "tiny-vr", quality=1).bpp < licq.encode_full(arr, "tiny-vr", quality=7).bpp


@pytest.mark.parametrize("args, message", [
    (["--model", "tiny-vr", "--quality", "7.5"], "argument --quality: expected a number in [1, 7], got 7.5"),
    (["--model", "tiny-q1", "--quality", "1"], "argument --quality: not allowed with --model"),
])
def test_quality_out_of_range_or_with_a_single_rate_model_is_refused(vr_zoo, tmp_path, capsys, args, message):
    assert main(["encode", str(_png(tmp_path)), "-o", str(tmp_path / "o.licq"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.licq").exists()


def test_eval_samples_its_range(vr_zoo, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", str(_png(tmp_path)), "--model", "tiny-vr", "--quality", "2", "6.5", "--quiet",
                 "--no-msssim", "--out", str(out)]) == 0
    capsys.readouterr()
    res = json.loads(out.read_text())
    assert [p["quality"] for p in res["settings"]] == [2, 6.5] and res["exact"]
    assert main(["eval", str(_png(tmp_path)), "--model", "tiny-q1", "--quality", "1", "--out", str(out)]) == 2
    assert "argument --model: not allowed with --quality" in capsys.readouterr().err


def test_target_bpp_searches_its_quality(vr_zoo, tmp_path):
    src, enc = _png(tmp_path, 64, 96), tmp_path / "t.licq"
    arr = np.asarray(Image.open(src).convert("RGB"))
    goal = licq.encode_full(arr, "tiny-vr", quality=5.25).bpp
    assert main(["encode", str(src), "-o", str(enc), "--model", "tiny-vr", "--target-bpp", f"{goal:.4f}"]) == 0
    header, _ = container.unpack(enc.read_bytes())
    assert header.model_name == "tiny-vr" and header.quality is not None
    assert abs(8 * enc.stat().st_size / (64 * 96) - goal) <= 0.03 * goal


def test_its_tcq_decoder_is_what_tcq_files_decode_with(vr_zoo, tmp_path):
    """A decoder finetuned from the zoo's variable-rate model on its real TCQ latents (as
    licq-vr-ft-tcq8-dec ships) is what ``licq encode --quantizer tcq`` codes for, at any quality;
    the header names it, and ``--finetuned none`` keeps the base model."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(80, 80, seed=30 + i)).save(data / f"{i}.png")
    finetune(FinetuneConfig(base="tiny-vr", data=[str(data)], out=str(tmp_path / "ft"), quantizer="tcq", states=4,
                            steps=2, batch=2, crop=64, threads=1, downscale=None, log_every=1, lr=1e-3),
             progress=False)
    e = export.export_decoder(str(tmp_path / "ft"), "tiny-vr-ft-tcq4-dec")
    assert e["base"] == "tiny-vr" and e["arch"] == "channel-vr" and e["decoder_for"]["states"] == 4
    assert e["notes"].startswith("g_s, latent residual prediction and inverse gains finetuned 2 steps on real TCQ-4")
    zoo.load_zoo.cache_clear()
    src, enc, dec = _png(tmp_path), tmp_path / "x.licq", tmp_path / "x.png"
    tcq = ["--quantizer", "tcq", "--states", "4"]
    assert main(["encode", str(src), "-o", str(enc), "--model", "tiny-vr", "--quality", "3.5", *tcq]) == 0
    header, _ = container.unpack(enc.read_bytes())
    assert header.model_name == "tiny-vr-ft-tcq4-dec" and header.quality == pytest.approx(3.5, abs=1e-3)
    assert main(["decode", str(enc), "-o", str(dec)]) == 0
    arr = np.asarray(Image.open(src).convert("RGB"))
    kw = dict(quality=3.5, quantizer="tcq", states=4)
    finetuned = licq.encode_full(arr, "tiny-vr", finetuned="auto", **kw)
    assert np.array_equal(np.asarray(Image.open(dec)), np.asarray(finetuned.reconstruction))
    assert main(["encode", str(src), "-o", str(enc), "--model", "tiny-vr", "--quality", "3.5", *tcq,
                 "--finetuned", "none"]) == 0
    assert container.unpack(enc.read_bytes())[0].model_name == "tiny-vr"
    base = licq.encode_full(arr, "tiny-vr", **kw)
    assert not np.array_equal(np.asarray(base.reconstruction), np.asarray(finetuned.reconstruction))


def test_a_decoder_adopted_for_part_of_the_range(vr_zoo, tmp_path, capsys):
    """A decoder exported with --auto-qualities LO HI is what --finetuned auto codes with inside that
    range only (the qualities where it passed the adoption rule); asked for by name it codes anywhere."""
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(80, 80, seed=50)).save(data / "0.png")
    finetune(FinetuneConfig(base="tiny-vr", data=[str(data)], out=str(tmp_path / "ft"), steps=2, batch=2, crop=64,
                            threads=1, downscale=None, log_every=1, lr=1e-2), progress=False)
    for bad, match in (((0.5, 7), "with 1 <= LO <= HI <= 7"), ((5, 3), "LO HI with")):
        with pytest.raises(LicqError, match=match):
            export.export_decoder(str(tmp_path / "ft"), "tiny-vr-ft-sq-dec", auto_qualities=bad)
    e = export.export_decoder(str(tmp_path / "ft"), "tiny-vr-ft-sq-dec", auto_qualities=(2, 7))
    assert e["auto_qualities"] == [2.0, 7.0]
    zoo.load_zoo.cache_clear()
    arr = smooth_image(48, 64)

    def coded_by(quality: float, finetuned: str | None = "auto") -> str:
        data = licq.encode_full(arr, "tiny-vr", quality=quality, finetuned=finetuned).data
        return container.unpack(data)[0].model_name

    assert [coded_by(q) for q in (1, 1.99, 2, 4.5, 7)] == ["tiny-vr"] * 2 + ["tiny-vr-ft-sq-dec"] * 3
    assert coded_by(1.5, "dec") == "tiny-vr-ft-sq-dec" and coded_by(4.5, None) == "tiny-vr"
    assert zoo.selected_decoder("tiny-vr", "sq", None, "auto") == "tiny-vr-ft-sq-dec"  # the default quality
    assert main(["models"]) == 0
    assert "(dec, auto at quality 2-7, base tiny-vr)" in capsys.readouterr().out


def test_replaced_weights_are_retired_under_this_release(vr_zoo, tmp_path):
    """Exporting over a name lists the weights it shipped in retired.json (a file written with them then
    names the release that decodes it); a replaced base model takes its decoders' weights with it, and
    exporting the same weights again retires nothing."""
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(smooth_image(80, 80, seed=40)).save(data / "0.png")

    def run(seed: int) -> str:
        out = tmp_path / f"ft{seed}"
        finetune(FinetuneConfig(base="tiny-vr", data=[str(data)], out=str(out), quantizer="tcq", states=4, steps=1,
                                batch=1, crop=64, threads=1, downscale=None, log_every=1, lr=1e-2, seed=seed),
                 progress=False)
        return str(out)

    retired = lambda: json.loads((vr_zoo / "retired.json").read_text())["models"]  # noqa: E731
    first, second = run(1), run(2)
    export.export_decoder(first, "tiny-vr-ft-tcq4-dec")
    assert not (vr_zoo / "retired.json").exists()
    old = zoo.load_zoo("tiny-vr-ft-tcq4-dec").digest.hex()
    export.export_decoder(second, "tiny-vr-ft-tcq4-dec")
    zoo.load_zoo.cache_clear()
    new = zoo.load_zoo("tiny-vr-ft-tcq4-dec").digest.hex()
    assert new != old and retired() == {old: {"model": "tiny-vr-ft-tcq4-dec", "release": licq.__version__}}
    assert "ships with licq" in zoo.missing_zoo_model("tiny-vr-ft-tcq4-dec", old, "0.0.1")
    export.export_decoder(second, "tiny-vr-ft-tcq4-dec")
    assert list(retired()) == [old]
    base = zoo.entry("tiny-vr")["digest"]
    ck = tmp_path / "checkpoint2.pt"
    state = {k: v.float() + (0.01 if k.startswith("g_s") and v.is_floating_point() else 0)
             for k, v in state_dict_from_file(vr_zoo / "tiny-vr.pt").items()}
    torch.save({"model": state, "config": asdict(TrainConfig(data=["photos"], out="runs/vr", arch="channel-vr",
                                                             N=8, M=12)), "step": 8}, ck)
    decoder_file = vr_zoo / zoo.entry("tiny-vr-ft-tcq4-dec")["file"]
    assert decoder_file.exists()
    export.export(str(ck), "tiny-vr", None, False, "retrained")
    assert set(retired()) == {old, new, base}
    assert retired()[base]["model"] == "tiny-vr" and retired()[new]["model"] == "tiny-vr-ft-tcq4-dec"
    # the decoder learnt on the old base leaves the zoo: the manifest stays loadable as a whole
    names = [m["name"] for m in json.loads((vr_zoo / "manifest.json").read_text())["models"]]
    assert "tiny-vr" in names and "tiny-vr-ft-tcq4-dec" not in names and not decoder_file.exists()
    assert export.drop_stale_decoders("tiny-vr") == []
