"""Every subcommand refuses nonsense in one line (issue 16), and the Python API raises LicqError.

A table of bad command lines - missing, empty, wrong-type, corrupt files;
out-of-range, NaN, infinite and non-integer numbers; unknown models, qualities,
choices and options; unwritable outputs; a quantizer that does not match a
finetuned decoder - each run through ``licq.cli.main`` in-process. For every row:
exit status 1 (a file or model problem) or 2 (a malformed command line, refused by
the parser), exactly one line on stderr that starts with ``licq`` and names the
offending argument or path, no traceback, and nothing left behind in the folder.

``train`` and ``finetune`` rows fail at parse time or at the file checks that run
before a run folder is created: nothing here trains. ``test_every_option_is_in_the_table``
fails when an option is added without a row, so new options join the table.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from licq import LicqError, decode, encode_full
from licq.cli import build_parser, main

from .conftest import smooth_image

# ---------------------------------------------------------------------------------------------
# fixtures: one folder of good and bad files, shared by every row (read-only for the rows)


@pytest.fixture(scope="module")
def fx(tmp_path_factory, tiny_model) -> dict[str, str]:
    """Paths the table's ``{placeholders}`` stand for."""
    root = tmp_path_factory.mktemp("bad-args")
    img = root / "img.png"
    Image.fromarray(smooth_image(40, 56)).save(img)
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image\n")
    (root / "emptydir").mkdir()
    for name, side in (("small", 40), ("train64", 64)):  # training folders: too small / just enough
        (root / name).mkdir()
        Image.fromarray(smooth_image(side, side)).save(root / name / "a.png")
    (root / "corrupt").mkdir()
    (root / "corrupt" / "a.png").write_text("not an image\n")
    good = root / "good.licq"
    good.write_bytes(encode_full(str(img), tiny_model).data)
    (root / "junk.licq").write_bytes(b"LICQ\x02junk")
    (root / "exclude.txt").write_text("a.png\n")
    curve = {"name": "c", "results": {"bpp": [0.2, 0.4, 0.8], "psnr-rgb": [28.0, 31.0, 34.0]}}
    results = {"a.json": curve, "b.json": {**curve, "name": "d"},
               "bpponly.json": {"results": {"bpp": [0.2, 0.4]}},
               "strbpp.json": {"results": {"bpp": ["x", "y"], "psnr-rgb": [1, 2]}},
               "dup.json": {"results": {"bpp": [0.2, 0.2, 0.8], "psnr-rgb": [28.0, 31.0, 34.0]}},
               "nan.json": {"results": {"bpp": [0.2, 0.4, 0.8], "psnr-rgb": [28.0, math.nan, 34.0]}},
               "noresults.json": {"name": "x"}}
    for name, data in results.items():
        (root / name).write_text(json.dumps(data))
    (root / "notjson.json").write_text("{not json")
    (root / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    (root / "out").mkdir()  # where rows write their outputs: must stay empty
    paths = {p.name: str(p) for p in root.iterdir()}
    paths.update(root=str(root), missing=str(root / "missing.png"), nodir=str(root / "no-such-dir"),
                 model=tiny_model, licq=str(good), junk=str(root / "junk.licq"), img=str(img),
                 exclude=str(root / "exclude.txt"))
    return paths


def _files(root: str) -> set[str]:
    return {str(p) for p in Path(root).rglob("*")}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the table: (command line, exit status, text the one line must contain)

ENC = ["encode", "{img}", "-o", "{out}/x.licq"]
ENC_M = [*ENC, "--model", "{model}"]
DEC = ["decode", "{licq}", "-o", "{out}/x.png", "--model", "{model}"]
TRAIN = ["train", "{train64}", "--out", "{out}/run", "--crop", "64", "--steps", "1", "--batch", "1",
         "--N", "8", "--M", "8", "--threads", "1"]  # small, in case a check ever let one through
FT = ["finetune", "{train64}", "--base", "{model}", "--arch", "mbt2018-mean", "--lmbda", "0.01",
      "--out", "{out}/ft", "--crop", "64", "--steps", "1", "--batch", "1", "--threads", "1"]
EVAL = ["eval", "{img}", "--model", "{model}", "--arch", "mbt2018-mean", "--quiet", "--no-msssim",
        "--out", "{out}/r.json"]
EVAL_Q = ["eval", "{img}", "--quiet", "--out", "{out}/r.json"]
BASE = ["baseline", "{img}", "--codec", "jpeg", "--quiet", "--out", "{out}/b.json"]
BD = ["bdrate", "{a.json}", "{b.json}"]
PLOT = ["plot", "{a.json}", "-o", "{out}/rd.png"]


def _num(cmd: list[str], opt: str, *values: str, status: int = 2) -> list[tuple]:
    """Rows refusing each of ``values`` for a numeric option (parse time: status 2, option named)."""
    return [([*cmd, opt, v], status, opt) for v in values]


CASES: list[tuple[list[str], int, str]] = [
    # top level
    ([], 2, "command"),
    (["nosuch"], 2, "nosuch"),
    ([*ENC_M, "--bogus"], 2, "--bogus"),
    # encode: files
    (["encode", "{missing}", "-o", "{out}/x.licq"], 1, "{missing}"),
    (["encode", "{empty.png}", "-o", "{out}/x.licq"], 1, "{empty.png}"),
    (["encode", "{text.png}", "-o", "{out}/x.licq"], 1, "{text.png}"),
    (["encode", "{emptydir}", "-o", "{out}/x.licq"], 2, "a folder need --out-dir"),
    (["encode", "{img}", "{img}", "-o", "{out}/x.licq"], 2, "several inputs or a folder need --out-dir"),
    (["encode", "{img}"], 2, "give an output file"),
    (["encode", "{img}", "-o", "{out}/x.licq", "--out-dir", "{out}/b"], 2, "--out-dir: not allowed with -o"),
    (["encode", "-", "--out-dir", "{out}/b"], 2, "needs -o"),
    (["encode", "{emptydir}", "--out-dir", "{out}/b"], 1, "no input files found"),
    (["encode", "", "-o", "{out}/x.licq"], 2, "input"),
    (["encode", "{img}"], 2, "-o/--output"),
    (["encode", "{img}", "-o", "{nodir}/x.licq", "--model", "{model}"], 1, "{nodir}"),
    (["encode", "{img}", "-o", "{out}", "--model", "{model}"], 1, "{out}"),
    (["encode", "{img}", "-o", "", "--model", "{model}"], 2, "-o/--output"),
    # encode: models and qualities
    ([*ENC, "--model", "nosuch"], 1, "nosuch"),
    ([*ENC, "--model", "{text.png}", "--arch", "mbt2018-mean"], 1, "{text.png}"),
    ([*ENC, "--model", "{missing}", "--arch", "mbt2018-mean"], 1, "{missing}"),
    ([*ENC, "--model", "", "--arch", "mbt2018-mean"], 2, "--model"),
    *_num(ENC, "--quality", "9", "7", "0", "-1", "2.5", "x"),
    ([*ENC_M, "--quality", "3"], 2, "--quality"),
    *_num(ENC, "--target-bpp", "0", "-1", "nan", "x"),
    *_num(ENC, "--target-psnr", "0", "inf", "x"),
    *_num(ENC, "--max-bytes", "0", "1.5", "x"),
    ([*ENC, "--max-bytes", "500", "--quality", "2"], 2, "--max-bytes"),
    ([*ENC, "--target-bpp", "0.5", "--target-psnr", "30"], 2, "--target-bpp"),
    ([*ENC_M, "--max-bytes", "500"], 1, "one rate"),
    ([*ENC, "--max-bytes", "10"], 1, "cannot fit"),
    ([*ENC_M, "--arch", "nosuch"], 2, "--arch"),
    ([*ENC, "--model", "licq-q3-ft-tcq8-dec", "--quantizer", "sq"], 1, "licq-q3-ft-tcq8-dec"),
    ([*ENC, "--model", "licq-q3-ft-tcq8-dec", "--quantizer", "tcq", "--step", "0.3"], 1, "licq-q3-ft-tcq8-dec"),
    ([*ENC, "--quality", "3", "--quantizer", "tcq", "--states", "4", "--finetuned", "dec"], 1, "tcq-4"),
    ([*ENC_M, "--finetuned", "dec"], 1, "no decoder finetuned"),
    ([*ENC_M, "--finetuned", "encoder"], 2, "--finetuned"),
    # encode: quantizer numbers and choices
    *_num(ENC_M, "--step", "nan", "inf", "-1", "0", "65", "x"),
    *_num([*ENC_M, "--quantizer", "tcq"], "--tcq-lambda", "nan", "-inf", "-1", "1e4", "x"),
    *_num([*ENC_M, "--quantizer", "tcq"], "--states", "5", "0", "x"),
    ([*ENC_M, "--quantizer", "rdoq2"], 2, "--quantizer"),
    # encode: latent refinement
    *_num(ENC_M, "--effort", "4", "-1", "1.5", "x"),
    *_num([*ENC_M, "--effort", "1"], "--refine-lambda", "0", "nan", "-1", "11", "x"),
    ([*ENC_M, "--refine-lambda", "0.01"], 2, "--refine-lambda"),
    ([*ENC_M, "--effort", "1"], 1, "--refine-lambda"),
    ([*ENC_M, "--quantizer", "tcq", "--scan", "diagonal"], 2, "--scan"),
    ([*ENC_M, "--scan", "raster"], 2, "--scan"),  # SQ has no trellis
    ([*ENC_M, "--states", "4"], 2, "--states"),
    ([*ENC_M, "--tcq-lambda", "0.1"], 2, "--tcq-lambda"),
    ([*ENC_M, "--quantizer", "tcq", "--weighting", "image"], 2, "--weighting"),
    ([*ENC_M, "--weighting", "channel"], 2, "--weighting"),  # SQ makes no RD decision
    ([*ENC_M, "--quantizer", "tcq", "--weighting", "channel"], 1, "no channel weights"),  # a user model file
    *_num(ENC_M, "--max-pixels", "0", "-5", "1.5", "x"),
    ([*ENC_M, "--max-pixels", "100"], 1, "--max-pixels"),
    # decode
    (["decode", "{missing}", "-o", "{out}/x.png"], 1, "{missing}"),
    (["decode", "{empty.png}", "-o", "{out}/x.png"], 1, "{empty.png}"),
    (["decode", "{junk}", "-o", "{out}/x.png"], 1, "{junk}"),
    (["decode", "{img}", "-o", "{out}/x.png"], 1, "{img}"),
    (["decode", "{emptydir}", "-o", "{out}/x.png"], 2, "a folder need --out-dir"),
    (["decode", "{emptydir}", "--out-dir", "{out}/b"], 1, "no input files found"),
    (["decode", "{licq}", "--out-dir", "{out}/b", "--suffix", ".jpg"], 2, "--allow-lossy"),
    (["decode", "{licq}", "-o", "{out}/x.png"], 1, "--model"),  # made with a user model file
    (["decode", "{licq}", "-o", "{out}/x.png", "--model", "nosuch"], 1, "nosuch"),
    (["decode", "{licq}", "-o", "{out}/x.png", "--model", "licq-q3"], 1, "{licq}"),  # model mismatch
    (["decode", "{licq}", "-o", "{nodir}/x.png", "--model", "{model}"], 1, "{nodir}"),
    (["decode", "{licq}", "-o", "{out}", "--model", "{model}"], 1, "{out}"),
    (["decode", "{licq}", "-o", "{out}/x.jpg", "--model", "{model}"], 2, "--allow-lossy"),
    (["decode", "{licq}", "-o", "{out}/x.xyz", "--model", "{model}"], 2, "unknown image suffix '.xyz'"),
    (["decode", "{licq}", "-o", "{out}/x", "--model", "{model}"], 2, "unknown image suffix '(none)'"),
    (["decode", "{licq}", "-o", "", "--model", "{model}"], 2, "-o/--output"),
    ([*DEC, "--arch", "nosuch"], 2, "--arch"),
    *_num(DEC, "--max-pixels", "0", "nan", "x"),
    ([*DEC, "--max-pixels", "100"], 1, "--max-pixels"),
    # info, models
    (["info", "{missing}"], 1, "{missing}"),
    (["info", "{empty.png}"], 1, "{empty.png}"),
    (["info", "{junk}"], 1, "{junk}"),
    (["info", "{emptydir}"], 1, "{emptydir}"),
    (["info", ""], 2, "input"),
    *_num(["info", "{licq}"], "--max-pixels", "-1", "x"),
    (["info", "{licq}", "--max-pixels", "100"], 1, "--max-pixels"),
    (["models", "extra"], 2, "extra"),
    (["models", "--json", "--quality", "3"], 2, "--quality"),
    # train: files (checked before the run folder is created)
    (["train", "{missing}", "--out", "{out}/run"], 1, "{missing}"),
    (["train", "{emptydir}", "--out", "{out}/run"], 1, "{emptydir}"),
    (["train", "{small}", "--out", "{out}/run", "--crop", "64"], 1, "{small}"),
    (["train", "{corrupt}", "--out", "{out}/run", "--crop", "64"], 1, "a.png"),
    (["train", "{train64}", "--out", "{out}/run"], 1, "256x256"),  # default crop larger than the images
    (["train", "{train64}", "--out", "{img}/run", "--crop", "64"], 1, "{img}"),
    (["train", "{train64}", "--out", ""], 2, "--out"),
    (["train", "{train64}"], 2, "--out"),
    ([*TRAIN, "--warm-start", "{missing}"], 1, "{missing}"),
    ([*TRAIN, "--val", "{missing}"], 1, "{missing}"),
    ([*TRAIN, "--val", "{emptydir}"], 1, "--val"),
    # train: numbers and choices
    *_num(TRAIN, "--lmbda", "-1", "0", "nan", "inf", "11", "x"),
    *_num(TRAIN, "--steps", "0", "-5", "1.5", "x"),
    *_num(TRAIN, "--batch", "0", "-1"),
    *_num(TRAIN, "--crop", "0", "32", "100", "8192"),
    *_num(TRAIN, "--lr", "0", "-1e-4", "nan", "2"),
    *_num(TRAIN, "--fresh-lr", "0", "-1e-4", "nan", "2"),
    *_num(TRAIN, "--quality-balance", "-0.1", "3", "nan", "x"),
    *_num(TRAIN, "--N", "0", "-8", "x"),
    *_num(TRAIN, "--M", "0", "1e3"),
    *_num(TRAIN, "--seed", "-1", "x"),
    *_num(TRAIN, "--threads", "0"),
    *_num(TRAIN, "--checkpoint-every", "0"),
    *_num(TRAIN, "--snapshot-every", "-1"),
    *_num(TRAIN, "--val-every", "0"),
    *_num(TRAIN, "--workers", "-1"),
    *_num(TRAIN, "--max-minutes", "0", "-1", "nan"),
    *_num(TRAIN, "--saturation", "-0.1", "1.5", "nan"),
    *_num(TRAIN, "--waves", "-0.1", "1.5", "nan"),
    ([*TRAIN, "--arch-name", "nosuch"], 2, "--arch-name"),
    ([*TRAIN, "--arch", "nosuch"], 2, "--arch"),
    ([*TRAIN, "--surrogate", "nosuch"], 2, "--surrogate"),
    ([*TRAIN, "--precision", "fp16"], 2, "--precision"),
    ([*TRAIN, "--warm-start", ""], 2, "--warm-start"),
    ([*TRAIN, "--exclude", "{missing}"], 1, "{missing}"),
    ([*TRAIN, "--exclude", "{exclude}"], 1, "{train64}"),  # every image held out
    # finetune: files and models (refused before anything is trained or written)
    (["finetune", "{missing}", "--base", "licq-q1", "--out", "{out}/ft"], 1, "{missing}"),
    (["finetune", "{small}", "--base", "licq-q1", "--out", "{out}/ft", "--crop", "64"], 1, "{small}"),
    (["finetune", "{corrupt}", "--base", "licq-q1", "--out", "{out}/ft", "--crop", "64"], 1, "a.png"),
    ([*FT, "--exclude", "{missing}"], 1, "{missing}"),
    ([*FT, "--exclude", "{exclude}"], 1, "{train64}"),  # every image held out
    (["finetune", "{train64}", "--base", "nosuch", "--out", "{out}/ft", "--crop", "64", "--threads", "1"],
     1, "nosuch"),
    (["finetune", "{train64}", "--base", "licq-q3-ft-tcq8-dec", "--quantizer", "sq", "--out", "{out}/ft",
      "--crop", "64", "--threads", "1"], 1, "licq-q3-ft-tcq8-dec"),
    ([*FT, "--control", "noise", "--quantizer", "tcq"], 1, "--quantizer sq"),
    (["finetune", "{train64}", "--base", "licq-q1", "--out", "{img}/ft", "--crop", "64"], 1, "{img}"),
    (["finetune", "{train64}", "--out", "{out}/ft"], 2, "--base"),
    # finetune: numbers and choices
    *_num(FT, "--lmbda", "0", "nan"),
    *_num(FT, "--steps", "0"),
    *_num(FT, "--batch", "0"),
    *_num(FT, "--crop", "100"),
    *_num(FT, "--lr", "0", "inf"),
    *_num(FT, "--seed", "-1"),
    *_num(FT, "--threads", "0"),
    *_num(FT, "--step", "0", "nan"),
    *_num([*FT, "--quantizer", "tcq"], "--tcq-lambda", "-1", "nan"),
    *_num([*FT, "--quantizer", "tcq"], "--states", "3"),
    ([*FT, "--states", "8"], 2, "--states"),  # SQ has no trellis
    ([*FT, "--quantizer", "nosuch"], 2, "--quantizer"),
    ([*FT, "--train", "encoder"], 2, "--train"),
    ([*FT, "--control", "ste"], 2, "--control"),
    *_num(FT, "--idempotence", "-1", "nan", "1000"),
    *_num(FT, "--idempotence-generations", "0", "17", "1.5"),
    *_num(FT, "--anchor", "-1", "nan", "2000"),
    *_num(FT, "--saturation", "-0.1", "2", "nan"),
    *_num(FT, "--waves", "-0.1", "2", "nan"),
    *_num(FT, "--quality-balance", "-0.1", "3", "nan"),
    ([*FT, "--quality-balance", "0.45"], 1, "--quality-balance"),  # a mean-scale model has one λ
    ([*FT, "--qualities", "1", "2"], 1, "--qualities"),  # the same: no range of qualities
    ([*FT, "--qualities", "x", "2"], 2, "--qualities"),
    ([*FT, "--qualities", "nan", "2"], 2, "--qualities"),
    ([*FT, "--qualities", "1"], 2, "--qualities"),
    ([*FT, "--idempotence", "1", "--control", "noise"], 1, "--control"),
    ([*FT, "--idempotence-generations", "4"], 1, "--idempotence BETA"),
    ([*FT, "--arch", "nosuch"], 2, "--arch"),
    ([*FT, "--precision", "fp16"], 2, "--precision"),
    ([*FT, "--init", "{missing}"], 1, "not a finished finetune run"),
    ([*FT, "--init", "{out}"], 1, "not a finished finetune run"),  # a folder, but no run's decoder.json
    # eval
    (["eval", "{missing}", "--out", "{out}/r.json"], 1, "{missing}"),
    (["eval", "{emptydir}", "--out", "{out}/r.json"], 1, "{emptydir}"),
    (["eval", "{text.png}", "--model", "{model}", "--quiet", "--out", "{out}/r.json"], 1, "{text.png}"),
    (["eval", "{img}", "--model", "nosuch", "--quiet", "--out", "{out}/r.json"], 1, "nosuch"),
    (["eval", "{img}", "--model", "{model}", "--out", "{nodir}/r.json"], 1, "{nodir}"),
    (["eval", "{img}", "--model", "{model}", "--out", "{out}"], 1, "{out}"),
    (["eval", "{img}", "--model", "{model}", "--out", ""], 2, "--out"),
    *_num(EVAL_Q, "--quality", "7", "0", "-1", "x"),
    ([*EVAL, "--quality", "3"], 2, "--model"),
    ([*EVAL, "--all-qualities"], 2, "--model"),
    ([*EVAL, "--arch", "nosuch"], 2, "--arch"),
    ([*EVAL, "--finetuned", "dec"], 1, "no decoder finetuned"),
    ([*EVAL, "--finetuned", "encoder"], 2, "--finetuned"),
    ([*EVAL, "--quantizer", "nosuch"], 2, "--quantizer"),
    *_num(EVAL, "--effort", "5"),
    ([*EVAL, "--refine-lambda", "0.01"], 2, "--refine-lambda"),
    ([*EVAL, "--effort", "1"], 1, "--refine-lambda"),
    *_num(EVAL, "--step", "nan", "0"),
    *_num([*EVAL, "--quantizer", "tcq"], "--tcq-lambda", "inf", "-1"),
    *_num([*EVAL, "--quantizer", "tcq"], "--states", "5"),
    ([*EVAL, "--quantizer", "tcq", "--scan", "diagonal"], 2, "--scan"),
    ([*EVAL, "--scan", "rows"], 2, "--scan"),  # SQ has no trellis
    ([*EVAL, "--quantizer", "rdoq", "--weighting", "x"], 2, "--weighting"),
    ([*EVAL, "--weighting", "channel"], 2, "--weighting"),
    # bdrate
    (["bdrate", "{a.json}"], 2, "results"),
    (["bdrate", "{a.json}", "{missing}"], 1, "{missing}"),
    (["bdrate", "{a.json}", "{notjson.json}"], 1, "{notjson.json}"),
    (["bdrate", "{a.json}", "{binary.json}"], 1, "{binary.json}"),
    (["bdrate", "{a.json}", "{noresults.json}"], 1, "{noresults.json}"),
    (["bdrate", "{a.json}", "{bpponly.json}"], 1, "{bpponly.json}"),
    (["bdrate", "{a.json}", "{strbpp.json}"], 1, "{strbpp.json}"),
    (["bdrate", "{a.json}", "{dup.json}"], 1, "{dup.json}"),
    (["bdrate", "{a.json}", "{nan.json}"], 1, "{nan.json}"),
    (["bdrate", "{a.json}", "{emptydir}"], 1, "{emptydir}"),
    ([*BD, "--metric", "nosuch"], 1, "--metric"),
    ([*BD, "--method", "nosuch"], 2, "--method"),
    # baseline
    *_num(BASE, "--qualities", "500", "-1", "101", "x"),
    (["baseline", "{img}", "--codec", "hevc", "--qualities", "52", "--out", "{out}/b.json"], 2, "--qualities"),
    (["baseline", "{img}", "--codec", "nosuch", "--out", "{out}/b.json"], 2, "--codec"),
    (["baseline", "{img}", "--out", "{out}/b.json"], 2, "--codec"),
    (["baseline", "{missing}", "--codec", "jpeg", "--out", "{out}/b.json"], 1, "{missing}"),
    (["baseline", "{text.png}", "--codec", "jpeg", "--quiet", "--out", "{out}/b.json"], 1, "{text.png}"),
    (["baseline", "{img}", "--codec", "jpeg", "--out", "{nodir}/b.json"], 1, "{nodir}"),
    (["baseline", "{img}", "--codec", "jpeg", "--out", ""], 2, "--out"),
    # plot
    (["plot", "{missing}", "-o", "{out}/rd.png"], 1, "{missing}"),
    (["plot", "{notjson.json}", "-o", "{out}/rd.png"], 1, "{notjson.json}"),
    (["plot", "{binary.json}", "-o", "{out}/rd.png"], 1, "{binary.json}"),
    (["plot", "{strbpp.json}", "-o", "{out}/rd.png"], 1, "{strbpp.json}"),
    (["plot", "{bpponly.json}", "-o", "{out}/rd.png"], 1, "{bpponly.json}"),
    (["plot", "{a.json}", "-o", "{out}/rd.nosuchformat"], 1, "nosuchformat"),
    (["plot", "{a.json}", "-o", "{nodir}/rd.png"], 1, "{nodir}"),
    (["plot", "{a.json}", "-o", "{out}"], 1, "{out}"),
    (["plot", "{a.json}", "-o", ""], 2, "-o/--output"),
    *_num(PLOT, "--xmax", "0", "-1", "nan", "x"),
]

#: options that take free text: any value is valid, so they have no row
FREE_TEXT = {("eval", "--name"), ("eval", "--description"), ("plot", "--title")}


def _fill(parts: list[str], fx: dict[str, str]) -> list[str]:
    out = []
    for s in parts:
        for key, value in fx.items():
            s = s.replace("{" + key + "}", value)
        out.append(s)
    return out


@pytest.mark.parametrize("argv, status, needle", CASES, ids=[" ".join(c[0]) or "(none)" for c in CASES])
def test_bad_command_line(argv, status, needle, fx, capsys):
    """One line on stderr, starting with licq and naming the culprit; status 1 or 2; nothing left behind."""
    fx = {**fx, "out": str(Path(fx["root"]) / "out")}
    before = _files(fx["root"])
    code, err = _run(_fill(argv, fx), capsys)
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("licq"), err
    assert code == status, err
    assert _fill([needle], fx)[0] in lines[0]
    assert _files(fx["root"]) == before  # no output, no temporary file, no run folder


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_subcommand_and_option_is_in_the_table():
    """New subcommands and options join the table: each value-taking option has a row using it."""
    used = {(c[0][0], part) for c in CASES if c[0] for part in c[0]}
    for name, sp in _subparsers().items():
        assert any(c[0][:1] == [name] for c in CASES), f"no row for `licq {name}`"
        for action in sp._actions:
            if action.nargs == 0 or not action.option_strings or action.dest == "help":
                continue  # flags
            opts = set(action.option_strings)
            if opts & {opt for cmd, opt in FREE_TEXT if cmd == name}:
                continue
            assert any((name, o) in used for o in opts), f"no row uses `licq {name} {action.option_strings[-1]}`"


def test_numeric_options_are_validated():
    """No option is parsed by a bare int/float (which accepts -1, 0 and NaN) unless a choice list or a
    cross-check bounds it."""
    for name, sp in _subparsers().items():
        for action in sp._actions:
            if action.type in (int, float) and not action.choices:
                assert (name, action.dest) == ("baseline", "qualities"), f"licq {name} {action.option_strings}"


def test_console_script_quality_without_model_is_one_line():
    """The issue's traceback (zoo.name_for_quality on the finetuned decoders' null quality), end to end."""
    r = subprocess.run([sys.executable, "-m", "licq.cli", "encode", "x.png", "-o", "x.licq", "--quality", "9"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip() == "licq encode: error: argument --quality: expected a zoo quality (1, 2, 3, 4), got '9'"


# ---------------------------------------------------------------------------------------------
# the Python API: the same inputs raise LicqError, never TypeError/KeyError/IndexError


def _api_cases(fx: dict[str, str]) -> list:
    from licq.atomic import atomic_write_bytes
    from licq.evaluation.baselines import check_qualities, run_baseline
    from licq.evaluation.bdrate import bd_psnr, bd_rate
    from licq.imageio import save_image
    from licq.zoo import name_for_quality

    img, model, good = fx["img"], fx["model"], Path(fx["licq"]).read_bytes()
    m = {"model": model}
    tcq = {**m, "quantizer": "tcq"}
    arr = smooth_image(8, 8)
    curve = ([0.2, 0.4, 0.8], [28.0, 31.0, 34.0])
    return [
        *[(encode_full, (img,), {"quality": q}) for q in (9, 7, 0, -1, 2.5, "3", True)],
        *[(name_for_quality, (q,), {}) for q in (9, 0, -1, None)],
        *[(encode_full, (img,), {**m, "step": s}) for s in (math.nan, math.inf, -1.0, 0.0, 65.0)],
        *[(encode_full, (img,), {**tcq, "tcq_lambda": t}) for t in (math.nan, -1.0, 1e4)],
        (encode_full, (img,), {**tcq, "states": 5}),
        (encode_full, (img,), {**tcq, "scan": "diagonal"}),
        (encode_full, (img,), {**m, "quantizer": "nosuch"}),
        (encode_full, (img,), {**m, "states": 4}),
        (encode_full, (img,), {**m, "max_pixels": 0}),
        (encode_full, (img,), {**m, "finetuned": "dec"}),
        (encode_full, (img,), {"model": "nosuch"}),
        (encode_full, (img,), {"model": fx["text.png"], "arch": "mbt2018-mean"}),
        (encode_full, (img,), {"model": model, "arch": "nosuch"}),
        (encode_full, (img,), {"model": model, "quality": 3}),
        (encode_full, (img,), {"model": "licq-q3-ft-tcq8-dec", "quantizer": "sq"}),
        (encode_full, (img,), {"model": "licq-q3-ft-tcq8-dec", "quantizer": "tcq", "step": math.nan}),
        *[(encode_full, (bad,), m) for bad in (fx["missing"], fx["empty.png"], fx["text.png"], fx["emptydir"])],
        *[(encode_full, (bad,), m) for bad in (arr.astype(np.float32), arr[:, :, :2], arr[None], object())],
        *[(decode, (bad,), {}) for bad in (b"", b"LICQ", good[:-1], good + b"x", b"x" * 100)],
        (decode, (good,), {"model": "nosuch"}),
        (decode, (good,), {"model": "licq-q3"}),
        (decode, (good,), {"model": model, "max_pixels": 100}),
        (run_baseline, ("jpeg", [img], [500]), {"progress": False}),
        (run_baseline, ("hevc", [img], [52]), {"progress": False}),
        (run_baseline, ("nosuch", [img]), {"progress": False}),
        (run_baseline, ("jpeg", [fx["text.png"]], [50]), {"progress": False}),
        (check_qualities, ("jpeg", [50.5]), {}),
        *[(f, (*curve, *bad), {}) for f in (bd_rate, bd_psnr)
          for bad in (([0.2, 0.2, 0.8], curve[1]), (curve[0], [28.0, math.nan, 34.0]), (["a", "b"], [1, 2]),
                      ([0.2], [30.0]), ([0.0, 0.4, 0.8], curve[1]))],
        (atomic_write_bytes, (f"{fx['nodir']}/x.licq", b"data"), {}),
        (atomic_write_bytes, ("", b"data"), {}),
        (save_image, (Image.fromarray(arr), f"{fx['nodir']}/x.png"), {}),
    ]


def test_api_raises_licq_error(fx):
    """Each bad input raises LicqError whose message fits on one line; no other exception type."""
    for fn, args, kwargs in _api_cases(fx):
        with pytest.raises(LicqError) as info:
            fn(*args, **kwargs)
        assert "\n" not in str(info.value).strip(), (fn.__name__, args, kwargs)
    assert not Path(fx["nodir"]).exists()


def test_unwritable_output_names_the_path_not_the_temporary_file(fx):
    """The issue's `-o /no/such/dir/x.licq` reported `.x.licq.12609.tmp`; now the user's path."""
    from licq.atomic import atomic_write_bytes

    target = f"{fx['nodir']}/x.licq"
    with pytest.raises(LicqError, match="cannot write") as info:
        atomic_write_bytes(target, b"data")
    assert target in str(info.value) and ".tmp" not in str(info.value)
