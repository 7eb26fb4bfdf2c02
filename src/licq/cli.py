"""The ``licq`` command line.

Every expected failure is one line on stderr that starts with ``licq``, with no
traceback and no output file left behind (outputs are written atomically):

* a malformed command line (unknown option, value out of range, NaN, ...) is
  refused by the parser before anything runs: ``licq encode: error: argument
  --step: ...``, status 2 (see :mod:`licq.cli_args` for the validators);
* a well-formed command whose files or models are unusable (bad file, unknown
  model, unreadable image, missing output folder) raises
  :class:`~licq.errors.LicqError`: ``licq: error: ...``, status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

from .cli_args import (Parser, arch_name, check_images, check_output_dir, check_output_file, float_range,
                       int_range, one_line, path_arg, zoo_quality)
from .errors import LicqError
from .quantizers.spec import ALL_SCANS, ALL_STATES, BY_NAME, KINDS, NAMES as QUANTIZERS
from .training.config import SATURATION_RANGE, SURROGATES, FinetuneConfig, TrainConfig

# Value ranges of the numeric options, shared by the subcommands that take them.
STEP = float_range(0.001, 64)  # the quantizers' own bounds (quantizers.base.checked_step)
TCQ_LAMBDA = float_range(0, 1000)  # TrellisQuantizer's bounds
MAX_PIXELS = int_range(1)
LMBDA = float_range(0, 10, lo_open=True)  # CompressAI's qualities 1-8 use 0.0018 ... 0.0483
LR = float_range(0, 1, lo_open=True)
STEPS = int_range(1, 10**9)  # 0 steps would write a checkpoint of an untrained model
BATCH = int_range(1, 4096)
CROP = int_range(64, 4096, multiple=64)  # the hyperprior's total stride is 64
SEED = int_range(0, 2**32 - 1)
THREADS = int_range(1, 1024)
CHANNELS = int_range(1, 1024)
EVERY = int_range(1)
#: licq.quantizers.weighting.WEIGHTINGS, spelled out: importing it would load torch for --help
WEIGHTINGS = ("none", "channel")
#: licq.refine.EFFORTS, spelled out for the same reason (tests check they agree)
EFFORTS = (0, 1, 2, 3)


def _cmd_encode(a: argparse.Namespace) -> None:
    _run_jobs(a, _encode_one, "encoded")


def _encode_one(a: argparse.Namespace, source: str, output: str, quiet: bool) -> None:
    from .atomic import atomic_write_bytes
    from .codec import encode_full
    from .evaluation.metrics import psnr_images
    from .imageio import open_image

    check_output_file(output)
    image = open_image(source)
    with _refine_bar(a.effort if not quiet else 0) as bar:
        res = encode_full(image, a.model, quality=a.quality, arch=a.arch, quantizer=a.quantizer,
                          step=a.step, states=a.states, tcq_lambda=a.tcq_lambda, scan=a.scan,
                          max_pixels=a.max_pixels, finetuned=None if a.finetuned == "none" else a.finetuned,
                          weighting=a.weighting, strip=a.strip,
                          effort=a.effort, refine_lambda=a.refine_lambda, progress=bar.update)
    atomic_write_bytes(output, res.data)
    w, h = image.size
    out = _status_stream(output)
    if quiet and not a.verbose:
        return
    print(f"{_shown(output)}: {len(res.data)} bytes, {res.bpp:.4f} bpp ({w}x{h})", file=out)
    if a.verbose:
        mp = w * h / 1e6
        print(f"PSNR {psnr_images(image, res.reconstruction):.3f} dB; model load "
              f"{res.seconds['load']:.3f} s, encode {res.seconds['encode']:.3f} s "
              f"({res.seconds['encode'] / mp:.2f} s/MP, effort {a.effort}), "
              f"reconstruction {res.seconds['reconstruct']:.3f} s", file=out)


def _run_jobs(a: argparse.Namespace, one, done: str) -> None:
    """Run ``one(a, input, output, quiet)`` for each job of the command line (:func:`_jobs`): one file,
    or a batch with a progress bar and a summary, where a failed file is reported and the rest done."""
    from tqdm import tqdm

    jobs = _jobs(a)
    if len(jobs) == 1 and a.output is not None:
        source, output = jobs[0]
        try:
            one(a, source, output, False)
        except LicqError as exc:
            raise LicqError(_naming(source, exc)) from None
        return
    failed = 0
    for source, output in tqdm(jobs, desc=done.removesuffix("d") + "ing", unit="file", disable=None,
                               leave=False, dynamic_ncols=True):
        try:
            one(a, source, output, True)
        except LicqError as exc:
            failed += 1
            print(f"licq: error: {one_line(_naming(source, exc))}", file=sys.stderr)
    print(f"{done} {len(jobs) - failed} of {len(jobs)} files into {a.out_dir}")
    if failed:
        raise LicqError(f"{failed} of {len(jobs)} files failed (listed above)")


def _naming(source: str, exc: Exception) -> str:
    """An error message that says which input it is about ("CRC mismatch" alone would not)."""
    msg = str(exc)
    return msg if source != "-" and source in msg else f"{_shown(source, 'in')}: {msg}"


def _jobs(a: argparse.Namespace) -> list[tuple[str, str]]:
    """(input, output) pairs: one input with ``-o``, or files and folders with ``--out-dir``, each output
    named after its input (``kodim01.png`` → ``DIR/kodim01.licq``)."""
    from .imageio import list_images

    if a.out_dir is None:
        return [(a.inputs[0], a.output)]
    files: list[str] = []
    for src in a.inputs:
        p = Path(src)
        if p.is_dir():
            files += [str(f) for f in (list_images([p]) if a.command == "encode" else sorted(p.rglob("*.licq")))]
        else:
            files.append(src)
    if not files:
        raise LicqError(f"no input files found in {' '.join(a.inputs)}")
    Path(a.out_dir).mkdir(parents=True, exist_ok=True)
    suffix = ".licq" if a.command == "encode" else a.suffix
    jobs = [(f, str(Path(a.out_dir) / (Path(f).stem + suffix))) for f in files]
    seen: dict[str, str] = {}
    for src, out in jobs:
        if out in seen:
            raise LicqError(f"{seen[out]} and {src} would both be written to {out}")
        seen[out] = src
    return jobs


def _check_batch(a: argparse.Namespace) -> str | None:
    """One input with ``-o``, or any inputs with ``--out-dir``; ``-`` only alone."""
    if a.output is not None and a.out_dir is not None:
        return "argument --out-dir: not allowed with -o/--output"
    if a.out_dir is None:
        if a.output is None:
            return "argument -o/--output: give an output file (or --out-dir DIR for several inputs)"
        if len(a.inputs) > 1 or Path(a.inputs[0]).is_dir():
            return "argument -o/--output: several inputs or a folder need --out-dir DIR"
    elif "-" in a.inputs:
        return "argument inputs: - (standard input) needs -o, not --out-dir"
    return None


def _status_stream(output: str):
    """Where a command's status lines go: stdout, or stderr when stdout carries the output (``-o -``)."""
    return sys.stderr if output == "-" else sys.stdout


def _shown(path: str, role: str = "out") -> str:
    """A file's name in messages (``-`` is standard output, or input)."""
    return ("(stdout)" if role == "out" else "(stdin)") if path == "-" else path


def _refine_bar(effort: int):
    """Progress bar of the latent refinement (on a terminal only; nothing for effort 0)."""
    from tqdm import tqdm

    from .refine import EFFORT_ITERATIONS

    return tqdm(total=EFFORT_ITERATIONS[effort], desc=f"refine (effort {effort})", unit="it",
                disable=None if effort else True, leave=False, dynamic_ncols=True)


def _cmd_decode(a: argparse.Namespace) -> None:
    _run_jobs(a, _decode_one, "decoded")


def _decode_one(a: argparse.Namespace, source: str, output: str, quiet: bool) -> None:
    from .codec import decode
    from .imageio import output_format, save_image

    check_output_file(output)
    t = time.perf_counter()
    image = decode(_read(source), a.model, arch=a.arch, max_pixels=a.max_pixels)
    fmt, params = output_format(output, a.allow_lossy)
    save_image(image, output, fmt, **params)
    out = _status_stream(output)
    if a.verbose:
        print(f"{_shown(output)}: {image.size[0]}x{image.size[1]}, decoded in {time.perf_counter() - t:.3f} s",
              file=out)
    elif not quiet:
        print(_shown(output), file=out)


def _cmd_info(a: argparse.Namespace) -> None:
    from . import container

    data = _read(a.input)
    try:
        header, _ = container.unpack(data, max_pixels=a.max_pixels)
    except LicqError as exc:
        raise LicqError(f"{a.input}: {exc}") from None
    info = header.as_dict()
    info["bytes"] = len(data)
    info["bpp"] = 8 * info["bytes"] / (header.height * header.width)
    if a.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:16s} {v}")


def _cmd_models(a: argparse.Namespace) -> None:
    from .zoo import manifest

    man = manifest()
    if a.json:
        print(json.dumps(man, indent=2))
        return
    print(f"{'name':28s} {'arch':14s} {'N/M':8s} {'quality':7s} {'lambda':8s} decoder for")
    for m in man["models"]:
        mark = " (default)" if m["name"] == man["default"] else ""
        d = m.get("decoder_for")
        dec = ""
        if d:
            how = m["train"] + (f", control: {m['control']}" if m.get("control") else "")
            dec = f"{d['quantizer']} Δ={d['step']:g} states={d['states']} ({how}, base {m['base']})"
        print(f"{m['name']:28s} {m['arch']:14s} {m['N']}/{m['M']:<5} {m.get('quality') or '-'!s:7s} "
              f"{m['lmbda']:<8g} {dec}{mark}")


def _cmd_train(a: argparse.Namespace) -> None:
    from .training.train import TrainConfig, train

    # files first: a bad folder must fail here, not in the data loader after the run folder exists
    check_output_dir(a.out)
    check_images(a.data, a.crop, "training folder", f" (--crop {a.crop})")
    if a.val:
        check_images(a.val, 64, "--val folder")
    if a.warm_start and not Path(a.warm_start).is_file():
        raise LicqError(f"--warm-start file not found: {a.warm_start}")
    cfg = TrainConfig(data=a.data, out=a.out, arch=a.arch, N=a.N, M=a.M, lmbda=a.lmbda,
                      surrogate=a.surrogate, steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr,
                      seed=a.seed, threads=a.threads, checkpoint_every=a.checkpoint_every,
                      snapshot_every=a.snapshot_every, max_seconds=60 * (a.max_minutes or 0),
                      warm_start=a.warm_start, val=a.val, val_every=a.val_every, workers=a.workers,
                      saturation=a.saturation, precision=a.precision)
    from .training.loop import finish_distributed

    train(cfg, resume=a.resume)
    finish_distributed()
    print(f"checkpoint: {Path(a.out) / 'checkpoint.pt'}")


def _cmd_eval(a: argparse.Namespace) -> None:
    from .evaluation.journal import Journal, journal_path
    from .evaluation.rd import evaluate, image_files
    from .evaluation.results import save_results
    from .zoo import qualities as zoo_qualities

    check_output_file(a.out)
    files = image_files(a.inputs)
    if not files:
        raise LicqError(f"no images found in {' '.join(a.inputs)}")
    qualities = zoo_qualities() if a.all_qualities else (a.quality or [])
    base = {"quantizer": a.quantizer, "step": a.step, "states": a.states, "tcq_lambda": a.tcq_lambda,
            "scan": a.scan, "finetuned": None if a.finetuned == "none" else a.finetuned,
            "weighting": a.weighting, "effort": a.effort,
            "refine_lambda": a.refine_lambda}
    if qualities:
        points = [{"quality": q, **base} for q in qualities]
    else:
        points = [{"model": m, "arch": a.arch, **base} for m in (a.model or [None])]
    name = a.name or f"licq-{a.quantizer}" + (f"{a.states or 8}" if a.quantizer == "tcq" else "")
    journal = Journal(journal_path(a.out), resume=a.resume)  # each image's row, as soon as it is done
    if a.resume and Path(a.out).is_file():  # an earlier complete run: its rows that still match
        try:
            journal.adopt(json.loads(Path(a.out).read_text()))
        except (OSError, ValueError):
            pass  # not a results file: it is overwritten, as without --resume
    saved = False
    try:
        data = evaluate(files, points, name=name, description=a.description, progress=not a.quiet,
                        msssim=not a.no_msssim, journal=journal)
        save_results(a.out, data)
        saved = True
    finally:
        journal.close(remove=saved)  # an interrupted run keeps it for --resume
    r = data["results"]
    for i, p in enumerate(points):
        print(f"{p.get('quality') or p.get('model') or 'default'}: {r['bpp'][i]:.4f} bpp, "
              f"{r['psnr-rgb'][i]:.3f} dB")
    print(f"{a.out}: {len(files) - len(data['skipped'])} images, decoder output "
          f"{'==' if data['exact'] else '!='} encoder reconstruction")
    if data["skipped"]:
        for s in data["skipped"]:
            print(f"licq: skipped: {one_line(s['error'])}", file=sys.stderr)
        raise LicqError(f"{len(data['skipped'])} of {len(files)} images could not be read (listed above); "
                        f"{a.out} holds the others")
    if not data["exact"]:
        raise LicqError("decoded images differ from the encoder's reconstruction")


def _load_curves(paths: list[str]) -> list[dict]:
    """Results files; one that is not UTF-8 text is a LicqError too, not a UnicodeDecodeError."""
    from .evaluation.results import load_results

    curves = []
    for p in paths:
        try:
            curves.append(load_results(p))
        except UnicodeDecodeError:
            raise LicqError(f"{p} is not a results file (not text)") from None
    return curves


def _cmd_bdrate(a: argparse.Namespace) -> None:
    from .evaluation.bdrate import bd_psnr, bd_rate

    curves = _load_curves(a.results)
    for path, c in zip(a.results, curves):
        if a.metric not in c["results"]:
            known = ", ".join(k for k in c["results"] if k != "bpp") or "none"
            raise LicqError(f"--metric {a.metric}: {path} has no such metric (it has: {known})")
    anchor = curves[0]
    ra = anchor["results"]
    rows = []
    for path, c in zip(a.results[1:], curves[1:]):
        rc = c["results"]
        row = {"anchor": anchor["name"], "test": c["name"], "metric": a.metric, "method": a.method}
        args = (ra["bpp"], ra[a.metric], rc["bpp"], rc[a.metric], a.method)
        try:
            row["bd_rate_percent"] = bd_rate(*args)
        except LicqError as exc:
            if len(curves) == 2:
                raise LicqError(f"{a.results[0]} vs {path}: {exc}") from None
            row["bd_rate_percent"], row["note"] = None, str(exc)
        try:
            row["bd_quality"] = bd_psnr(*args)  # the bjontegaard "BD-PSNR" of any quality metric
            row["bd_quality_unit"] = _quality_label(a.metric)[1].strip() or "metric units"
            if a.metric.startswith("psnr"):
                row["bd_psnr_db"] = row["bd_quality"]
        except LicqError as exc:
            raise LicqError(f"{a.results[0]} vs {path}: {exc}") from None
        rows.append(row)
    if a.json:  # a results file in its own right: it says how it was made
        from .evaluation.results import provenance

        print(json.dumps({**provenance(), "comparisons": rows}, indent=2))
        return
    name, unit = _quality_label(a.metric)
    print(f"anchor: {anchor['name']} ({a.metric}, {a.method} interpolation)")
    for r in rows:
        rate = f"{r['bd_rate_percent']:+7.2f} %" if r["bd_rate_percent"] is not None else "    n/a  "
        print(f"{r['test']:40s} BD-rate {rate}   {name} {r['bd_quality']:+.4f}{unit}  {r.get('note', '')}")


def _quality_label(metric: str) -> tuple[str, str]:
    """How the quality difference of a metric is named and in which unit: PSNR in dB, MS-SSIM unitless."""
    if metric.startswith("psnr"):
        return "BD-PSNR", " dB"
    if "db" in metric:
        return f"BD-{metric}", " dB"
    return f"BD-{metric.upper().removesuffix('-RGB')}", ""


def _is_number(v: object, none_ok: bool) -> bool:
    if v is None:
        return none_ok
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_plottable(paths: list[str], curves: list[dict], metrics: tuple[str, ...]) -> None:
    """Refuse results whose lists matplotlib would choke on (a traceback otherwise)."""
    for path, c in zip(paths, curves):
        r = c["results"]
        n = len(r["bpp"]) if isinstance(r["bpp"], list) else -1
        for key in ("bpp", *metrics):
            v = r.get(key)
            if v is not None and not (isinstance(v, list) and len(v) == n
                                      and all(_is_number(x, key != "bpp") for x in v)):
                raise LicqError(f"{path}: results.{key} is not a list of numbers, one per rate point")
        if not isinstance(c.get("style", {}), dict):
            raise LicqError(f"{path}: 'style' must be an object of matplotlib line properties")
    if not any(c["results"].get(m) for c in curves for m in metrics):
        raise LicqError(f"nothing to plot: no {' or '.join(metrics)} values in {' '.join(paths)}")


def _cmd_plot(a: argparse.Namespace) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    from .evaluation.plot import plot_rd

    check_output_file(a.output)
    fmt = Path(a.output).suffix.lstrip(".") or "png"
    known = FigureCanvasBase.get_supported_filetypes()
    if fmt.lower() not in known:
        raise LicqError(f"cannot write {a.output}: unknown plot format {fmt!r} (known: {', '.join(sorted(known))})")
    curves = _load_curves(a.results)
    metrics = ("psnr-rgb", "ms-ssim-rgb")
    _check_plottable(a.results, curves, metrics)
    plot_rd(curves, a.output, title=a.title, metrics=metrics, xmax=a.xmax)
    print(a.output)


def _cmd_baseline(a: argparse.Namespace) -> None:
    from .evaluation.baselines import run_baseline
    from .evaluation.rd import image_files
    from .evaluation.results import save_results

    check_output_file(a.out)
    files = image_files(a.inputs)
    if not files:
        raise LicqError(f"no images found in {' '.join(a.inputs)}")
    data = run_baseline(a.codec, files, a.qualities, progress=not a.quiet)
    save_results(a.out, data)
    r = data["results"]
    for s, b, p in zip(data["settings"], r["bpp"], r["psnr-rgb"]):
        print(f"{a.codec} {s['quality']}: {b:.4f} bpp, {p:.3f} dB")


def _cmd_finetune(a: argparse.Namespace) -> None:
    from .training.finetune import FinetuneConfig, finetune

    check_output_dir(a.out)
    exclude = _names(a.exclude) if a.exclude else []
    check_images(a.data, a.crop, "training folder", f" (--crop {a.crop})", exclude=exclude)
    cfg = FinetuneConfig(base=a.base, arch=a.arch, data=a.data, out=a.out, quantizer=a.quantizer,
                         states=a.states, step=a.step, tcq_lambda=a.tcq_lambda, train=a.train, lmbda=a.lmbda,
                         steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr, seed=a.seed, threads=a.threads,
                         exclude=exclude, control=a.control, precision=a.precision,
                         idempotence=a.idempotence, idempotence_generations=a.idempotence_generations,
                         saturation=a.saturation)
    from .training.loop import finish_distributed

    decoder = finetune(cfg, resume=a.resume)
    finish_distributed()
    print(f"decoder: {decoder}")


def _names(list_file: str) -> list[str]:
    """Image file names, one per line (blank lines and # comments ignored)."""
    try:
        lines = Path(list_file).read_text().splitlines()
    except OSError as exc:
        raise LicqError(f"cannot read --exclude file {list_file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LicqError(f"cannot read --exclude file {list_file}: not a text file") from None
    return [Path(s.strip()).name for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _read(path: str) -> bytes:
    """A whole input file; ``-`` is standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LicqError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise LicqError(f"is a directory: {path}") from None


# Checks across options, run right after parsing: each returns a message for the parser's
# one-line error (status 2), or None.

#: which registered quantizers take each quantizer option (licq.quantizers.spec.KINDS says)
_TAKES = {"--states": lambda k: k.has_trellis, "--scan": lambda k: k.has_scan,
          "--tcq-lambda": lambda k: k.takes_lambda, "--weighting": lambda k: k.takes_weights}


def _check_quantizer_opts(a: argparse.Namespace) -> str | None:
    """Options another quantizer takes would be silently ignored: e.g. only TCQ has a trellis
    (--states, --scan), and SQ has no rate weight (--tcq-lambda)."""
    given = {"--states": a.states is not None, "--scan": getattr(a, "scan", None) is not None,
             "--tcq-lambda": a.tcq_lambda is not None, "--weighting": getattr(a, "weighting", "none") != "none"}
    for opt, takes in _TAKES.items():
        if given[opt] and not takes(BY_NAME[a.quantizer]):
            takers = " or ".join(k.name for k in KINDS if takes(k))
            return f"argument {opt}: applies to --quantizer {takers} only, not {a.quantizer}"
    return None


def _check_effort(a: argparse.Namespace) -> str | None:
    """--refine-lambda would be silently ignored without a refinement to use it."""
    if a.refine_lambda is not None and not a.effort:
        return "argument --refine-lambda: applies to --effort 1-3 only (effort 0 does not refine)"
    return None


def _check_encode(a: argparse.Namespace) -> str | None:
    if a.model is not None and a.quality is not None:
        return "argument --quality: not allowed with --model (a quality names a zoo model)"
    return _check_batch(a) or _check_quantizer_opts(a) or _check_effort(a)


def _check_eval(a: argparse.Namespace) -> str | None:
    if a.model and (a.quality or a.all_qualities):
        return "argument --model: not allowed with --quality/--all-qualities"
    return _check_quantizer_opts(a) or _check_effort(a)


def _check_baseline(a: argparse.Namespace) -> str | None:
    from .evaluation.baselines import check_qualities

    try:
        check_qualities(a.codec, a.qualities or [])
    except LicqError as exc:
        return f"argument --qualities: {exc}"
    return None


def _check_decode(a: argparse.Namespace) -> str | None:
    """An output format that would silently lose quality, or that licq does not know, is refused."""
    from .imageio import output_format

    problem = _check_batch(a)
    if problem:
        return problem
    output = a.output if a.out_dir is None else f"x{a.suffix}"
    if Path(output).is_dir():
        return None  # refused with its own message when the command runs
    try:
        output_format(output, a.allow_lossy)
    except LicqError as exc:
        return str(exc)
    return None


def _check_bdrate(a: argparse.Namespace) -> str | None:
    if len(a.results) < 2:
        return "argument results: give at least two results files, the anchor first"
    return None


def _model_opts(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", type=path_arg, help="zoo model name or path to a weight file (default: zoo default)")
    sp.add_argument("--arch", type=arch_name,
                    help="architecture of a weight file: mbt2018-mean or bmshj2018-hyperprior")


def _precision_opt(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="transforms in bf16 autocast + channels-last (entropy models stay fp32); "
                         "auto: bf16 where the CPU (AVX512-BF16/AMX) or GPU supports it")


def _effort_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--effort", type=int, choices=EFFORTS, default=0,
                   help="encoder search: 0 one pass of the analysis transform (fast); 1-3 refine the latents "
                   "for this image by gradient steps on rate + λ·distortion (slower, smaller files; "
                   "decoding unchanged)")
    p.add_argument("--refine-lambda", type=LMBDA, help="the model's training λ, which the refinement's "
                   "objective uses over Δ² (default: the zoo model's; needed for user model files)")


def _add_encode(sub, max_pixels: int) -> None:
    e = sub.add_parser("encode", help="compress images into .licq files")
    e.add_argument("inputs", nargs="+", type=path_arg, metavar="input",
                   help="image to compress (anything Pillow reads; - reads standard input), or several "
                   "images and folders with --out-dir")
    e.add_argument("-o", "--output", type=path_arg,
                   help=".licq file to write (- writes standard output; a FIFO or device is written in place)")
    e.add_argument("--out-dir", type=path_arg,
                   help="folder for the outputs of several inputs, each named after its input (NAME.licq); "
                   "a file that fails is reported and the others are done")
    _model_opts(e)
    e.add_argument("--quality", type=zoo_quality, help="zoo quality level (instead of --model)")
    e.add_argument("--quantizer", default="sq", choices=QUANTIZERS,
                   help="sq: scalar; tcq: trellis-coded (entropy-constrained Viterbi); "
                   "rdoq: scalar with a D + λ·R choice per latent (decodes as SQ)")
    e.add_argument("--step", type=STEP, help="quantization step Δ in [0.001, 64] "
                   "(SQ default 1.0; TCQ default per model)")
    e.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    e.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help="TCQ/RDOQ rate weight λ in [0, 1000] "
                   "(TCQ default per model; RDOQ default 0.01·Δ², from the sweep)")
    e.add_argument("--scan", choices=ALL_SCANS, help="TCQ scan: a trellis per channel row "
                   "(default, parallel decoding) or per channel (raster, slow decoding)")
    e.add_argument("--finetuned", choices=["auto", "none", "dec", "dec+hyperdec"], default="auto",
                   help="zoo decoder finetuned for this quantizer (quantization-aware finetuning); "
                   "auto (default): the 'dec' decoder where the zoo has one for the model and quantizer, "
                   "else the base model; none: always the base model")
    e.add_argument("--weighting", choices=WEIGHTINGS, default="none",
                   help="TCQ/RDOQ distortion per channel: none (latent MSE) or channel (weighted by the "
                   "synthesis transform's sensitivity; encoder only)")
    _effort_opts(e)
    e.add_argument("--max-pixels", type=MAX_PIXELS, default=None,
                   help="refuse images of more pixels (default: no limit; decoders refuse files above "
                   f"{max_pixels} pixels, 8192x8192, unless their --max-pixels says otherwise)")
    e.add_argument("--strip", action="store_true",
                   help="leave out the image's ICC profile and EXIF block (by default the file carries them "
                   "and decoding writes them back)")
    e.add_argument("-v", "--verbose", action="store_true", help="print PSNR and timings")
    e.set_defaults(func=_cmd_encode, check=_check_encode, parser=e)


def _add_decode_info_models(sub, max_pixels: int) -> None:
    d = sub.add_parser("decode", help="decode a .licq file into an image (PNG unless the suffix says otherwise)")
    d.add_argument("inputs", nargs="+", type=path_arg, metavar="input",
                   help=".licq file to decode (- reads standard input), or several files and folders with --out-dir")
    d.add_argument("--out-dir", type=path_arg,
                   help="folder for the images of several inputs, each named after its input (NAME.png, see --suffix)")
    d.add_argument("--suffix", default=".png", help="the outputs' format with --out-dir (default .png)")
    d.add_argument("-o", "--output", type=path_arg,
                   help="image to write, its format from the suffix: .png (lossless), .ppm, .bmp, .tif; "
                   "lossy ones (.jpg, .webp) only with --allow-lossy; - writes PNG to standard output")
    _model_opts(d)
    d.add_argument("--allow-lossy", action="store_true",
                   help="allow a lossy output format (JPEG at quality 95 without chroma subsampling, lossy "
                   "WebP at 95): the decoded image is compressed once more")
    d.add_argument("--max-pixels", type=MAX_PIXELS, default=max_pixels,
                   help=f"refuse files of more pixels (default {max_pixels}, 8192x8192): a guard against "
                   "untrusted files")
    d.add_argument("-v", "--verbose", action="store_true", help="print the size and the decoding time")
    d.set_defaults(func=_cmd_decode, check=_check_decode, parser=d)

    i = sub.add_parser("info", help="print the header of a .licq file")
    i.add_argument("input", type=path_arg, help=".licq file (- reads standard input)")
    i.add_argument("--json", action="store_true", help="print the fields as JSON")
    i.add_argument("--max-pixels", type=MAX_PIXELS, default=max_pixels, help="refuse files of more pixels")
    i.set_defaults(func=_cmd_info)

    m = sub.add_parser("models", help="list the model zoo")
    m.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    m.set_defaults(func=_cmd_models)


def _add_train(sub, surrogates: tuple[str, ...]) -> None:
    t = sub.add_parser("train", help="end-to-end rate-distortion training")
    t.add_argument("data", nargs="+", type=path_arg, help="folders of training images")
    t.add_argument("--out", required=True, type=path_arg, help="run folder (checkpoint.pt, log.csv, config.json)")
    T = TrainConfig  # the defaults live there
    t.add_argument("--arch", "--arch-name", dest="arch", default=T.arch, type=arch_name,
                   help="architecture to train: mbt2018-mean or bmshj2018-hyperprior (--arch-name: old spelling)")
    t.add_argument("--N", type=CHANNELS, default=T.N, help="channels of the hyper-latent z and the transforms (1-1024)")
    t.add_argument("--M", type=CHANNELS, default=T.M, help="channels of the latent y (1-1024)")
    t.add_argument("--lmbda", type=LMBDA, default=T.lmbda, help="rate-distortion weight λ in (0, 10]")
    t.add_argument("--surrogate", default=T.surrogate, choices=surrogates,
                   help="stand-in for rounding: noise, ste (straight-through) or mixed (noise for the rate, STE into g_s)")
    _run_opts(t, T)
    t.add_argument("--checkpoint-every", type=EVERY, default=T.checkpoint_every, help="steps between checkpoints")
    t.add_argument("--snapshot-every", type=int_range(0), default=T.snapshot_every,
                   help="also keep half-precision weights every N steps in OUT/snapshots (learning curves)")
    t.add_argument("--max-minutes", type=float_range(0, lo_open=True),
                   help="stop after this many minutes of training (checkpointed; continue with --resume)")
    t.add_argument("--warm-start", type=path_arg, help="initialise from this checkpoint or weight file")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--val", nargs="+", type=path_arg,
                   help="held-out image folder(s) for periodic validation (val.csv)")
    t.add_argument("--val-every", type=EVERY, default=T.val_every, help="steps between validations on --val")
    t.add_argument("--workers", type=int_range(0, 256), default=T.workers, help="DataLoader worker processes")
    _saturation_opt(t, T.saturation)
    _precision_opt(t)
    t.set_defaults(func=_cmd_train)


def _run_opts(p: argparse.ArgumentParser, cfg) -> None:
    """The options of a training run, train's and finetune's alike, with the defaults of ``cfg``."""
    p.add_argument("--steps", type=STEPS, default=cfg.steps, help="optimizer steps in all (1-10^9)")
    p.add_argument("--batch", type=BATCH, default=cfg.batch, help="crops per step (1-4096)")
    p.add_argument("--crop", type=CROP, default=cfg.crop, help="crop size, a multiple of 64")
    p.add_argument("--lr", type=LR, default=cfg.lr, help="learning rate in (0, 1]")
    p.add_argument("--seed", type=SEED, default=cfg.seed, help="random seed (crops, noise)")
    p.add_argument("--threads", type=THREADS, default=cfg.threads, help="CPU threads")


def _saturation_opt(p: argparse.ArgumentParser, default: float) -> None:
    p.add_argument("--saturation", type=float_range(0, 1), default=default, metavar="P",
                   help="probability of raising a crop's colour saturation {}-{}x (strongly coloured "
                        "content, against the re-encoding runaway); default 0".format(*SATURATION_RANGE))


def _add_finetune(sub) -> None:
    f = sub.add_parser("finetune", help="quantization-aware finetuning of the decoder on real quantized latents")
    f.add_argument("data", nargs="+", type=path_arg, help="folders of training images")
    f.add_argument("--base", required=True, type=path_arg,
                   help="zoo name or weight file of the end-to-end trained model")
    f.add_argument("--arch", type=arch_name, help="architecture of a weight file")
    f.add_argument("--out", required=True, type=path_arg, help="run folder (decoder.pt, decoder.json, log.csv)")
    F = FinetuneConfig  # the defaults live there
    f.add_argument("--quantizer", default=F.quantizer, choices=QUANTIZERS, help="the quantizer whose real latents the decoder learns")
    f.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    f.add_argument("--step", type=STEP, help="quantization step Δ in [0.001, 64] (default: the model's)")
    f.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help="TCQ/RDOQ rate weight λ in [0, 1000] (default: the model's)")
    f.add_argument("--train", default=F.train, choices=["dec", "dec+hyperdec"], help="what is trained: g_s, or g_s and h_s")
    f.add_argument("--lmbda", type=LMBDA, help="default: the base model's λ")
    _run_opts(f, F)
    f.add_argument("--exclude", metavar="LIST", type=path_arg, help="text file of image names to hold out of training")
    f.add_argument("--control", choices=["noise"],
                   help="control run: train g_s on noisy latents (the surrogate) instead of the quantizer")
    f.add_argument("--idempotence", type=float_range(0, 100), default=F.idempotence, metavar="BETA",
                   help="also train on the distortion of the decoded image encoded again, weighted BETA "
                        "(reduces generation loss)")
    f.add_argument("--idempotence-generations", type=int_range(1, 16), default=F.idempotence_generations,
                   metavar="K", help="re-encodings the idempotence term unrolls (mean of their distortions)")
    _saturation_opt(f, F.saturation)
    f.add_argument("--resume", action="store_true", help="continue the run in --out")
    _precision_opt(f)
    f.set_defaults(func=_cmd_finetune, check=_check_quantizer_opts, parser=f)


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="rate-distortion evaluation on real bitstreams")
    ev.add_argument("inputs", nargs="+", type=path_arg, help="image files or folders")
    ev.add_argument("--model", nargs="+", type=path_arg, help="zoo names or weight files (one rate point each)")
    ev.add_argument("--arch", type=arch_name, help="architecture of weight files")
    ev.add_argument("--quality", type=zoo_quality, nargs="+", help="zoo qualities")
    ev.add_argument("--all-qualities", action="store_true", help="every quality in the zoo")
    ev.add_argument("--quantizer", default="sq", choices=QUANTIZERS, help="as for licq encode")
    ev.add_argument("--step", type=STEP, help="quantization step Δ in [0.001, 64] (default: the model's)")
    ev.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    ev.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help="TCQ/RDOQ rate weight λ in [0, 1000] (default: the model's)")
    ev.add_argument("--scan", choices=ALL_SCANS, help="TCQ scan (default rows)")
    ev.add_argument("--finetuned", choices=["auto", "none", "dec", "dec+hyperdec"], default="auto",
                    help="zoo decoders finetuned for the quantizer; auto (default, what licq encode writes): the "
                         "'dec' decoder where the zoo has one, else the base model; none: the base models")
    ev.add_argument("--weighting", choices=WEIGHTINGS, default="none", help="TCQ/RDOQ channel weighting")
    _effort_opts(ev)
    ev.add_argument("--name", help="curve name in the results file")
    ev.add_argument("--description", default="", help="description stored in the results file")
    ev.add_argument("--no-msssim", action="store_true", help="skip MS-SSIM (faster)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--out", required=True, type=path_arg, help="results JSON (CompressAI schema)")
    ev.add_argument("--resume", action="store_true",
                    help="keep the images an interrupted run with this --out finished (OUT.partial.jsonl), "
                         "and the rows of an earlier OUT whose image bytes, weights and licq version still "
                         "match (after replacing one zoo model, only its images are coded again)")
    ev.set_defaults(func=_cmd_eval, check=_check_eval, parser=ev)


def _add_results_cmds(sub) -> None:
    bd = sub.add_parser("bdrate", help="BD-rate / BD-PSNR of results files against the first")
    bd.add_argument("results", nargs="+", type=path_arg, help="results files (CompressAI schema), the anchor first")
    bd.add_argument("--metric", default="psnr-rgb", help="quality metric of the files (psnr-rgb, ms-ssim-rgb, ...)")
    bd.add_argument("--method", default="akima", choices=["akima", "pchip", "cubic"], help="interpolation of the curves")
    bd.add_argument("--json", action="store_true", help="print the comparisons as JSON (with provenance)")
    bd.set_defaults(func=_cmd_bdrate, check=_check_bdrate, parser=bd)

    bl = sub.add_parser("baseline", help="classic codec (jpeg, webp, avif, jxl, hevc) on the same images")
    bl.add_argument("inputs", nargs="+", type=path_arg, help="image files or folders")
    bl.add_argument("--codec", required=True, choices=["jpeg", "webp", "avif", "jxl", "hevc"], help="classic codec to measure")
    bl.add_argument("--qualities", type=int, nargs="+",
                    help="codec-native qualities: 0-100 (x265: QP 0-51)")
    bl.add_argument("--quiet", action="store_true", help="no progress bar")
    bl.add_argument("--out", required=True, type=path_arg, help="results JSON (CompressAI schema)")
    bl.set_defaults(func=_cmd_baseline, check=_check_baseline, parser=bl)

    pl = sub.add_parser("plot", help="RD curves of results files")
    pl.add_argument("results", nargs="+", type=path_arg, help="results files (CompressAI schema)")
    pl.add_argument("-o", "--output", required=True, type=path_arg, help="image to write (PNG, or PDF/SVG by suffix)")
    pl.add_argument("--title", default="", help="plot title")
    pl.add_argument("--xmax", type=float_range(0, lo_open=True), help="right end of the bpp axis (> 0)")
    pl.set_defaults(func=_cmd_plot)


def build_parser() -> argparse.ArgumentParser:
    """The parser; its errors, and those of every subcommand, are one line (:class:`~licq.cli_args.Parser`)."""
    from . import __version__
    from .container import DEFAULT_MAX_PIXELS

    p = Parser(prog="licq", description="learned image codec with real quantization")
    p.add_argument("--version", action="version", version=f"licq {__version__}")
    sub = p.add_subparsers(dest="command", required=True)  # subparsers are Parsers too
    _add_encode(sub, DEFAULT_MAX_PIXELS)
    _add_decode_info_models(sub, DEFAULT_MAX_PIXELS)
    _add_train(sub, SURROGATES)
    _add_finetune(sub)
    _add_eval(sub)
    _add_results_cmds(sub)
    for sp in sub.choices.values():
        sp.formatter_class = DefaultsHelp
    return p


class DefaultsHelp(argparse.HelpFormatter):
    """Help that ends each option's text with its default, where it has one and the text does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == "" or default is argparse.SUPPRESS)
        if action.option_strings and shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check a command line; a bad one exits (SystemExit 2) after one line on stderr."""
    args = build_parser().parse_args(argv)
    check = getattr(args, "check", None)
    problem = check(args) if check else None
    if problem:
        args.parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run a command; return its exit status (0, 1 for a LicqError or OSError, 2 for a bad command line)."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line parser error
        return exc.code if isinstance(exc.code, int) else 0
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit notices from CompressAI
    warnings.formatwarning = lambda msg, cat, *rest: f"licq: warning: {one_line(msg)}\n"
    try:
        args.func(args)
    except LicqError as exc:
        print(f"licq: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as exc:  # a race after the checks: unreadable input, full disk, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"licq: error: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("licq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    return 0


def _closed_pipe() -> int:
    """The reader of our output went away (``licq models | head -3``): exit quietly, as SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    return 141


if __name__ == "__main__":
    sys.exit(main())
