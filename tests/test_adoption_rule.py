"""The zoo's adoption rule (benchmarks/adoption_check.py): Kodak parts and the synthetic floor."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "adoption_check", Path(__file__).resolve().parents[1] / "benchmarks" / "adoption_check.py")
adoption = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adoption)

SHIPPED = {(0, 96, 128): [28.0, 27.5, 27.0], (3, 96, 128): [29.0, 28.0, 27.9]}


def test_synthetic_floor_allows_one_db_below_the_shipped_image():
    cand = {(0, 96, 128): [28.5, 27.5, 26.1], (3, 96, 128): [30.0, 29.0, 27.0]}  # 0.9 dB below on both
    s = adoption.synthetic_parts(cand, SHIPPED)
    assert s["worst_gap_db"] == pytest.approx(-0.9)
    v = adoption.verdict(_kodak(1.0, [30.1, 29.9]), _kodak(1.1, [30.0, 29.8]), s)
    assert v["parts"]["synthetic_within_floor"] and v["parts"]["synthetic_no_runaway"] and v["adopt"]


def test_one_image_beyond_the_floor_refuses_even_with_a_higher_mean():
    cand = {(0, 96, 128): [28.0, 27.0, 25.9], (3, 96, 128): [31.0, 30.5, 30.0]}  # mean end higher, one 1.1 below
    s = adoption.synthetic_parts(cand, SHIPPED)
    assert s["mean_last_db"]["candidate"] > s["mean_last_db"]["shipped"]
    v = adoption.verdict(_kodak(1.0, [30.1, 29.9]), _kodak(1.1, [30.0, 29.8]), s)
    assert not v["parts"]["synthetic_within_floor"] and not v["adopt"]


def test_a_runaway_image_refuses_even_above_the_shipped_figure():
    cand = {(0, 96, 128): [31.5, 30.0, 28.4], (3, 96, 128): [29.0, 28.5, 28.0]}  # drops 3.1 dB, still ahead
    s = adoption.synthetic_parts(cand, SHIPPED)
    assert s["worst_gap_db"] > 0 and s["worst_drop_db"] == pytest.approx(3.1)
    v = adoption.verdict(_kodak(1.0, [30.1, 29.9]), _kodak(1.1, [30.0, 29.8]), s)
    assert v["parts"] == {"rd_loss_lower": True, "psnr_at_every_generation": True,
                          "synthetic_within_floor": True, "synthetic_no_runaway": False}


def test_kodak_parts_stay():
    s = adoption.synthetic_parts(SHIPPED, SHIPPED)
    assert not adoption.verdict(_kodak(1.2, [30.1, 29.9]), _kodak(1.1, [30.0, 29.8]), s)["adopt"]  # RD loss
    assert not adoption.verdict(_kodak(1.0, [30.1, 29.7]), _kodak(1.1, [30.0, 29.8]), s)["adopt"]  # generation 2


def test_different_synthetic_images_are_refused():
    with pytest.raises(SystemExit, match="different synthetic images"):
        adoption.synthetic_parts({(0, 96, 128): [1.0, 1.0, 1.0]}, SHIPPED)


def test_command_line_reads_the_files_and_exits_by_verdict(tmp_path, monkeypatch, capsys):
    def recompression(name, psnrs):
        f = tmp_path / f"rec-{name}.json"
        f.write_text(json.dumps({"per_image": [{"quantizer": "sq", "bpp": [0.5] * len(psnrs), "psnr": psnrs}]}))
        return str(f)

    def drift(name, images):
        f = tmp_path / f"drift-{name}.json"
        f.write_text(json.dumps({"models": [{"model": name, "images": [
            {"seed": k[0], "size": [k[1], k[2]], "psnr": v} for k, v in images.items()]}]}))
        return str(f)

    out = tmp_path / "verdict.json"
    cand = {k: [v[0], v[1], v[2] - 0.5] for k, v in SHIPPED.items()}
    monkeypatch.setattr(sys, "argv", ["adoption_check.py", "--lmbda", "0.013",
                                      "--recompression", recompression("c", [31.0, 30.5]), recompression("s", [30.9, 30.4]),
                                      "--drift", drift("c", cand), drift("s", SHIPPED), "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        adoption.main()
    assert e.value.code == 0 and "ADOPT" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["adopt"] and saved["synthetic"]["worst_gap_db"] == pytest.approx(-0.5)
    assert saved["command"].startswith("python adoption_check.py")


def test_synthetic_only_without_a_shipped_model_checks_the_runaway_alone():
    """A quality the zoo has no model of (licq-vr above quality 4): only the drop over the generations."""
    steady = adoption.synthetic_verdict(adoption.runaway_only({(0, 96, 128): [20.0, 19.0, 18.0]}))
    assert steady["parts"] == {"synthetic_no_runaway": True} and steady["adopt"]
    assert not adoption.synthetic_verdict(adoption.runaway_only({(0, 96, 128): [30.0, 28.0, 26.9]}))["adopt"]
    below = adoption.synthetic_verdict(adoption.synthetic_parts({k: [v[0], v[1], v[2] - 1.1] for k, v in SHIPPED.items()},
                                                                SHIPPED))
    assert below["parts"] == {"synthetic_no_runaway": True, "synthetic_within_floor": False}


def test_synthetic_only_command_line(tmp_path, monkeypatch, capsys):
    f = tmp_path / "drift.json"
    f.write_text(json.dumps({"models": [{"model": name, "images": [
        {"seed": k[0], "size": [k[1], k[2]], "psnr": [p - shift for p in v]} for k, v in SHIPPED.items()]}
        for name, shift in (("vr@4", 0.5), ("licq-q4", 0.0), ("vr@7", 0.0))]}))
    for names, code in ((["vr@4", "licq-q4"], 0), (["vr@7", "-"], 0), (["licq-q4", "vr@4"], 0)):
        monkeypatch.setattr(sys, "argv", ["adoption_check.py", "--synthetic-only", "--drift", str(f), str(f),
                                          "--drift-models", *names])
        with pytest.raises(SystemExit) as e:
            adoption.main()
        assert e.value.code == code and "ADOPT" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["adoption_check.py", "--drift", str(f), str(f)])
    with pytest.raises(SystemExit) as e:
        adoption.main()
    assert e.value.code == 2 and "--recompression are required" in capsys.readouterr().err


def test_drift_files_of_other_content_or_quantizer_are_refused(tmp_path, monkeypatch):
    rows = [{"model": "m", "images": [{"seed": k[0], "size": [k[1], k[2]], "psnr": v} for k, v in SHIPPED.items()]}]
    files = {}
    for tag, extra in (("old", {}), ("sq", {"family": "gradients", "quantizer": "sq"}),
                       ("rings", {"family": "rings", "quantizer": "sq"}), ("tcq8", {"quantizer": "tcq8"})):
        files[tag] = tmp_path / f"{tag}.json"
        files[tag].write_text(json.dumps({**extra, "models": rows}))
    for cand, ship, refused in (("old", "sq", False), ("rings", "sq", True), ("tcq8", "old", True)):
        monkeypatch.setattr(sys, "argv", ["adoption_check.py", "--synthetic-only", "--drift", str(files[cand]),
                                          str(files[ship])])
        with pytest.raises(SystemExit) as e:
            adoption.main()
        assert ("same family and quantizer" in str(e.value.code)) == refused


def _kodak(rd_loss: float, psnrs: list[float]) -> dict:
    return {"rd_loss": rd_loss, "psnr_per_generation": psnrs}
