"""The command line: outputs, one-line errors, exit codes, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from licq.cli import main

from .conftest import smooth_image


def _png(tmp_path, h=40, w=56):
    path = tmp_path / "in.png"
    Image.fromarray(smooth_image(h, w)).save(path)
    return path


def test_encode_info_decode(tmp_path, tiny_model, capsys):
    src, enc, dec = _png(tmp_path), tmp_path / "x.licq", tmp_path / "x.png"
    assert main(["encode", str(src), "-o", str(enc), "--model", tiny_model, "--arch", "mbt2018-mean",
                 "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "bpp" in out and "PSNR" in out
    assert main(["info", str(enc), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["width"] == 56 and info["height"] == 40 and info["quantizer"] == "sq"
    assert main(["decode", str(enc), "-o", str(dec), "--model", tiny_model]) == 0
    assert np.asarray(Image.open(dec)).shape == (40, 56, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_corrupt_input_leaves_no_output(tmp_path, tiny_model, capsys):
    src, enc, dec = _png(tmp_path), tmp_path / "x.licq", tmp_path / "x.png"
    main(["encode", str(src), "-o", str(enc), "--model", tiny_model])
    data = bytearray(enc.read_bytes())
    data[-1] ^= 0xFF
    enc.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["decode", str(enc), "-o", str(dec), "--model", tiny_model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"licq: error: {enc}: CRC mismatch")
    assert not dec.exists()
    assert list(tmp_path.iterdir()) == sorted([src, enc]) or set(tmp_path.iterdir()) == {src, enc}


def test_unreadable_image_and_missing_file(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["encode", str(bad), "-o", str(tmp_path / "o.licq")]) == 1
    assert "cannot read image" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "missing.licq"), "-o", str(tmp_path / "o.png")]) == 1
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "o.licq").exists() and not (tmp_path / "o.png").exists()


def test_bad_step_is_a_clear_error(tmp_path, capsys):
    # refused by the parser, before any work: status 2, the option and its range named
    assert main(["encode", str(_png(tmp_path)), "-o", str(tmp_path / "o.licq"), "--step", "-1"]) == 2
    assert "argument --step: expected a finite number in [0.001, 64]" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_prints_one_line_no_traceback(tmp_path):
    junk = tmp_path / "junk.licq"
    junk.write_bytes(b"LICQ\x03")
    r = subprocess.run([sys.executable, "-m", "licq.cli", "decode", str(junk), "-o", str(tmp_path / "o.png")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip() == f"licq: error: {junk}: truncated file: ends inside the header (writer version)"
    assert not (tmp_path / "o.png").exists()


def test_models_lists_default(capsys):
    assert main(["models"]) == 0
    assert "(default)" in capsys.readouterr().out


def test_unwritable_output_is_one_line_error(tmp_path, tiny_model, capsys):
    out = tmp_path / "no-such-dir" / "x.licq"
    assert main(["encode", str(_png(tmp_path)), "-o", str(out), "--model", tiny_model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("licq: error:")


def test_eval_finetuned_auto_measures_what_encode_writes(tmp_path, capsys):
    """`licq eval --finetuned auto` scores the files `licq encode` makes (its default decoder choice)."""
    import licq

    src = _png(tmp_path)
    arr = np.asarray(Image.open(src).convert("RGB"))
    out = tmp_path / "r.json"
    for extra in (["--finetuned", "none"], [], ["--finetuned", "auto"]):  # auto is the default
        assert main(["eval", str(src), "--quality", "3", "--quantizer", "tcq", "--quiet", "--no-msssim",
                     "--out", str(out), *extra]) == 0
        capsys.readouterr()
        bpp = json.loads(out.read_text())["results"]["bpp"][0]
        ref = licq.encode_full(arr, quality=3, quantizer="tcq", finetuned=None if "none" in extra else "auto")
        assert bpp == ref.bpp
    # a zoo model named with --model: the file names the finetuned decoder, and eval decodes with it
    assert main(["eval", str(src), "--model", "licq-q3", "--quantizer", "sq-grid", "--finetuned", "dec", "--quiet",
                 "--no-msssim", "--out", str(out)]) == 0
    capsys.readouterr()
    res = json.loads(out.read_text())
    assert res["exact"] and res["results"]["bpp"][0] == licq.encode_full(arr, "licq-q3", quantizer="sq-grid",
                                                                           finetuned="dec").bpp


def test_encode_uses_the_finetuned_decoder_unless_told_otherwise(tmp_path, capsys):
    """The best configuration is the default: `licq encode` picks the zoo's 'dec' decoder where one
    exists for the model and quantizer (they beat the base decoders, README), else the base model."""
    src = _png(tmp_path)
    names = {}
    for extra in ([], ["--finetuned", "none"], ["--quantizer", "rdoq"], ["--quantizer", "tcq"],
                  ["--quantizer", "sq-grid"]):
        out = tmp_path / "x.licq"
        assert main(["encode", str(src), "-o", str(out), "--quality", "3", *extra]) == 0
        capsys.readouterr()  # encode's line
        assert main(["info", str(out), "--json"]) == 0
        names[" ".join(extra)] = json.loads(capsys.readouterr().out)["model"]
    assert names == {"": "licq-q3", "--finetuned none": "licq-q3",  # the zoo has no SQ decoder for q3
                     "--quantizer rdoq": "licq-q3", "--quantizer tcq": "licq-q3-ft-tcq8-dec",
                     "--quantizer sq-grid": "licq-q3-ft-sqgrid-dec"}
    import licq  # the Python API stays explicit: the base model unless finetuned= is given
    assert licq.encode(smooth_image(40, 56), quality=3) == licq.encode(smooth_image(40, 56), quality=3,
                                                                        finetuned=None)
