"""Evaluation: BD-rate sanity, results schema, baselines' availability errors, eval on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import licq
from licq.cli import main
from licq.errors import LicqError
from licq.evaluation import baselines
from licq.evaluation.bdrate import bd_psnr, bd_rate
from licq.evaluation.results import load_results, save_results

from .conftest import smooth_image

BPP = [0.12, 0.2, 0.33, 0.5, 0.75]
PSNR = [27.0, 28.6, 30.3, 32.0, 33.8]


def test_bd_rate_against_itself_is_zero():
    assert bd_rate(BPP, PSNR, BPP, PSNR) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(BPP, PSNR, BPP, PSNR) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_ten_percent_fewer_bits_is_minus_ten():
    assert bd_rate(BPP, PSNR, [0.9 * b for b in BPP], PSNR) == pytest.approx(-10.0, abs=0.05)
    assert bd_psnr(BPP, PSNR, [0.9 * b for b in BPP], PSNR) > 0


def test_disjoint_curves_are_refused():
    with pytest.raises(LicqError, match="overlap"):
        bd_rate(BPP, PSNR, BPP, [p + 20 for p in PSNR])


def test_results_schema_roundtrip(tmp_path):
    data = {"name": "x", "description": "d", "results": {"bpp": BPP, "psnr-rgb": PSNR,
            "ms-ssim-rgb": [0.9] * 5, "encoding_time": [0.1] * 5, "decoding_time": [0.1] * 5}}
    save_results(tmp_path / "r.json", data)
    loaded = load_results(tmp_path / "r.json")
    assert {k: loaded[k] for k in data} == data
    # every results file says how it was made
    assert set(loaded) - set(data) == {"command", "commit", "licq_version"}
    assert loaded["licq_version"] == licq.__version__ and loaded["command"]
    save_results(tmp_path / "c.json", {**data, "command": "given"})
    assert load_results(tmp_path / "c.json")["command"] == "given"
    (tmp_path / "bad.json").write_text(json.dumps({"results": {}}))
    with pytest.raises(LicqError, match="not a results file"):
        load_results(tmp_path / "bad.json")


def test_compressai_anchor_files_load():
    from pathlib import Path

    anchors = Path(__file__).resolve().parents[1] / "results" / "anchors" / "kodak"
    files = sorted(anchors.glob("*.json"))
    assert files, "reference curves missing"
    for f in files:
        r = load_results(f)["results"]
        assert len(r["bpp"]) == len(r["psnr-rgb"]) >= 4


def test_missing_baseline_codec_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(baselines.shutil, "which", lambda name: None)
    with pytest.raises(LicqError, match="apt install libjxl-tools"):
        baselines.require("jxl")
    img = tmp_path / "a.png"
    Image.fromarray(smooth_image(32, 32)).save(img)
    assert main(["baseline", str(img), "--codec", "hevc", "--out", str(tmp_path / "h.json")]) == 1
    assert "apt install ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "h.json").exists()


def test_pillow_baseline_runs(tmp_path):
    img = tmp_path / "a.png"
    Image.fromarray(smooth_image(40, 48)).save(img)
    data = baselines.run_baseline("jpeg", [img], [30, 80], progress=False)
    r = data["results"]
    assert r["bpp"][0] < r["bpp"][1] and r["psnr-rgb"][0] < r["psnr-rgb"][1]


def test_eval_cli_writes_compressai_schema(tmp_path, tiny_model, capsys):
    for i in range(2):
        Image.fromarray(smooth_image(40, 56, seed=i)).save(tmp_path / f"i{i}.png")
    out = tmp_path / "r.json"
    assert main(["eval", str(tmp_path), "--model", tiny_model, "--arch", "mbt2018-mean",
                 "--out", str(out), "--quiet"]) == 0
    data = load_results(out)
    assert data["exact"] is True and len(data["per_image"]) == 2
    assert set(data["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert main(["bdrate", str(out), str(out)]) == 1  # a single point is not a curve
    assert "at least two" in capsys.readouterr().err


def test_every_results_file_says_how_it_was_made():
    """Each JSON under results/ records its command and commit (backfilled ones say so)."""
    root = Path(__file__).resolve().parents[1] / "results"
    files = sorted(root.rglob("*.json"))
    assert files
    for f in files:
        data = json.loads(f.read_text())
        assert isinstance(data, dict) and data.get("command") and "commit" in data, f


def test_rd_plot_gives_every_curve_its_own_colour():
    """The Kodak plot has 11+ curves; matplotlib's default cycle would repeat after 10."""
    from licq.evaluation.plot import curve_colors

    for n in (1, 10, 11, 20):
        assert len(set(curve_colors(n))) == n


def _interrupt_after(monkeypatch, n: int) -> list[str]:
    """Make the n+1-th coded image raise KeyboardInterrupt (a kill mid-run); return the coded names."""
    from licq.evaluation import rd

    real, coded = rd._code_image, []

    def code(fname, *args, **kwargs):
        if len(coded) == n:
            raise KeyboardInterrupt
        coded.append(fname)
        return real(fname, *args, **kwargs)

    monkeypatch.setattr(rd, "_code_image", code)
    return coded


def test_eval_resume_codes_only_the_images_an_interrupted_run_missed(tmp_path, tiny_model, monkeypatch):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(40, 56, seed=i)).save(imgs / f"i{i}.png")
    out = tmp_path / "r.json"
    args = ["eval", str(imgs), "--model", tiny_model, "--arch", "mbt2018-mean", "--out", str(out), "--quiet"]
    coded = _interrupt_after(monkeypatch, 2)
    assert main(args) == 130 and not out.exists()
    journal = tmp_path / "r.json.partial.jsonl"
    assert len(journal.read_text().splitlines()) == 2
    monkeypatch.undo()
    coded = _interrupt_after(monkeypatch, 99)
    assert main(args + ["--resume"]) == 0
    assert coded == ["i2.png"] and not journal.exists()
    resumed = load_results(out)
    monkeypatch.undo()
    fresh = tmp_path / "fresh.json"
    assert main(args[:-3] + ["--out", str(fresh), "--quiet"]) == 0
    fresh_data = load_results(fresh)
    for key in ("bpp", "psnr-rgb"):
        assert resumed["results"][key] == fresh_data["results"][key]
    assert [r["image"] for r in resumed["per_image"]] == ["i0.png", "i1.png", "i2.png"]


def _images_and_model_copy(tmp_path: Path, tiny_model: str, n: int) -> tuple[Path, Path, list[str]]:
    """n small images in tmp_path/imgs, a copy of the tiny model (to be overwritten), and the eval command."""
    import shutil

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(n):
        Image.fromarray(smooth_image(40, 56, seed=i)).save(imgs / f"i{i}.png")
    model, out = tmp_path / "m.pt", tmp_path / "r.json"
    shutil.copy(tiny_model, model)
    return model, out, ["eval", str(imgs), "--model", str(model), "--arch", "mbt2018-mean", "--out", str(out), "--quiet"]


def test_eval_resume_recodes_rows_of_other_weights_and_cut_lines(tmp_path, tiny_model, other_tiny_model,
                                                                  monkeypatch):
    import shutil

    model, out, args = _images_and_model_copy(tmp_path, tiny_model, 3)
    args = args + ["--resume"]
    _interrupt_after(monkeypatch, 2)
    assert main(args) == 130
    journal = tmp_path / "r.json.partial.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # the second row cut by a kill
    monkeypatch.undo()
    coded = _interrupt_after(monkeypatch, 99)
    assert main(args) == 0 and coded == ["i1.png", "i2.png"]
    out.unlink()  # else --resume would reuse the finished file's rows (the next test)
    _interrupt_after(monkeypatch, 2)
    assert main(args) == 130
    shutil.copy(other_tiny_model, model)  # new weights at the same path: no row is reused
    monkeypatch.undo()
    coded = _interrupt_after(monkeypatch, 99)
    assert main(args) == 0 and coded == ["i0.png", "i1.png", "i2.png"]
    out.unlink()
    _interrupt_after(monkeypatch, 2)
    assert main(args) == 130
    monkeypatch.undo()
    coded = _interrupt_after(monkeypatch, 99)
    assert main(args[:-1]) == 0 and coded == ["i0.png", "i1.png", "i2.png"]  # without --resume: none


def test_journal_fingerprint_of_a_zoo_point_covers_its_model_and_the_decoders_it_can_select(monkeypatch):
    from licq.evaluation import journal
    from licq import zoo

    man = zoo.manifest()
    plain = {q: journal.weights_fingerprint({"quality": q, "quantizer": "sq", "finetuned": None})
             for q in zoo.qualities()}
    grid = {q: journal.weights_fingerprint({"quality": q, "quantizer": "sq-grid", "finetuned": "auto"})
            for q in zoo.qualities()}
    tcq = {q: journal.weights_fingerprint({"quality": q, "quantizer": "tcq", "finetuned": "auto"})
           for q in zoo.qualities()}
    assert len(set(plain.values())) == len(plain)
    q1 = next(m for m in man["models"] if m.get("quality") == 1 and "base" not in m)
    dec = next(m for m in man["models"] if m.get("base") == q1["name"]
               and m.get("decoder_for", {}).get("quantizer") == "sq-grid")
    dec["sha256"] = "0" * 64  # a retrained sq-grid decoder of q1's
    monkeypatch.setattr(zoo, "manifest", lambda: man)
    after_grid = {q: journal.weights_fingerprint({"quality": q, "quantizer": "sq-grid", "finetuned": "auto"})
                  for q in zoo.qualities()}
    assert after_grid[1] != grid[1] and all(after_grid[q] == grid[q] for q in grid if q != 1)
    # rows that cannot decode with that decoder keep their key: plain SQ, and TCQ with its own decoders
    assert all(journal.weights_fingerprint({"quality": q, "quantizer": "sq", "finetuned": None}) == plain[q]
               for q in plain)
    assert journal.weights_fingerprint({"quality": 1, "quantizer": "tcq", "finetuned": "auto"}) == tcq[1]
    assert journal.weights_fingerprint({"model": q1["name"], "quantizer": "sq", "finetuned": None}) == plain[1]
    q1["sha256"] = "1" * 64  # the base model itself: every row of it
    assert journal.weights_fingerprint({"quality": 1, "quantizer": "sq", "finetuned": None}) != plain[1]
    assert journal.weights_fingerprint({"quality": 1, "quantizer": "tcq", "finetuned": "auto"}) != tcq[1]


def test_eval_resume_reuses_rows_of_an_earlier_results_file_only_where_they_still_match(
        tmp_path, tiny_model, other_tiny_model, monkeypatch, capsys):
    """After one zoo model is replaced, rerunning a whole-zoo curve recodes only that model's images."""
    import shutil

    model, out, args = _images_and_model_copy(tmp_path, tiny_model, 2)
    imgs = tmp_path / "imgs"
    assert main(args) == 0
    first = load_results(out)
    assert all(r["image_digest"] and r["weights_digest"] for r in first["per_image"])
    coded = _interrupt_after(monkeypatch, 99)
    assert main(args + ["--resume"]) == 0 and coded == []
    assert load_results(out)["per_image"] == first["per_image"]
    assert main(args) == 0 and coded == ["i0.png", "i1.png"]  # without --resume: all coded again
    data = load_results(out)
    out.write_text(json.dumps({**data, "licq_version": "0.0.0"}))  # another version's file: not reused
    coded.clear()
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0 and coded == ["i0.png", "i1.png"]
    assert "written by licq 0.0.0, so none of its rows is reused" in capsys.readouterr().err  # said, not silent
    Image.fromarray(smooth_image(40, 56, seed=7)).save(imgs / "i1.png")  # new bytes under an old name
    coded.clear()
    assert main(args + ["--resume"]) == 0 and coded == ["i1.png"]
    shutil.copy(other_tiny_model, model)  # new weights at the same path
    coded.clear()
    assert main(args + ["--resume"]) == 0 and coded == ["i0.png", "i1.png"]
    out.write_text("not json")  # a broken earlier file is overwritten, as without --resume
    coded.clear()
    assert main(args + ["--resume"]) == 0 and coded == ["i0.png", "i1.png"]


def test_eval_rates_the_codec_not_the_metadata(tiny_model, tmp_path):
    """A photo's ICC profile and EXIF block travel in encoded files, but an RD measurement leaves them
    out, as the classic codecs' curves do (they outweighed the latents of held-out photos)."""
    from licq.evaluation.rd import evaluate

    from .conftest import smooth_image

    img = Image.fromarray(smooth_image(48, 64))
    path = tmp_path / "icc.png"
    img.save(path, icc_profile=b"\0" * 3000)
    with_meta = licq.encode(Image.open(path), tiny_model)
    row = evaluate([path], [{"model": tiny_model, "arch": "mbt2018-mean"}], name="t", progress=False,
                   msssim=False)["per_image"][0]
    assert row["bytes"] == len(licq.encode(Image.open(path), tiny_model, strip=True)) < len(with_meta) - 2900
