"""``licq eval``, ``bdrate``, ``plot`` and ``baseline``: measuring and comparing rate-distortion curves."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..cli_args import (arch_name, check_output_file, float_range, one_line, path_arg, quality_value,
                        variable_rate_model, zoo_quality)
from ..errors import LicqError
from ..quantizers.spec import ALL_SCANS, ALL_STATES, BY_NAME, NAMES as QUANTIZERS
from .options import (LAMBDA_HELP, STEP, STEP_HELP, TCQ_LAMBDA, WEIGHTINGS, check_effort, check_quantizer_opts,
                      effort_opts, zoo_range)


def _variable_rate(a: argparse.Namespace) -> bool:
    """Whether eval's models take qualities: every ``--model`` is variable-rate (``licq-vr``, or ``--arch channel-vr``)."""
    return bool(a.model) and all(variable_rate_model(m, a.arch) for m in a.model)


def _cmd_eval(a: argparse.Namespace) -> None:
    from ..evaluation.journal import Journal, journal_path
    from ..evaluation.rd import evaluate, image_files
    from ..evaluation.results import save_results
    from ..models.channel import QUALITY_RANGE
    from ..zoo import qualities as zoo_qualities

    check_output_file(a.out)
    files = image_files(a.inputs)
    if not files:
        raise LicqError(f"no images found in {' '.join(a.inputs)}")
    variable = _variable_rate(a)
    if variable:  # one model, many qualities: the anchors sample its range
        qualities = list(range(int(QUALITY_RANGE[0]), int(QUALITY_RANGE[1]) + 1)) if a.all_qualities else (a.quality or [None])
    else:
        qualities = zoo_qualities() if a.all_qualities else (a.quality or [])
    base = {"quantizer": a.quantizer, "step": a.step, "states": a.states, "tcq_lambda": a.tcq_lambda,
            "scan": a.scan, "finetuned": None if a.finetuned == "none" else a.finetuned,
            "weighting": a.weighting, "effort": a.effort,
            "refine_lambda": a.refine_lambda}
    if variable:
        points = [{"model": m, "arch": a.arch, "quality": q, **base} for m in a.model for q in qualities]
    elif qualities:
        points = [{"quality": q, **base} for q in qualities]
    else:
        points = [{"model": m, "arch": a.arch, **base} for m in (a.model or [None])]
    kind = BY_NAME[a.quantizer]
    name = a.name or f"licq-{a.quantizer}" + (f"{a.states or kind.default_states}" if kind.has_trellis else "")
    journal = Journal(journal_path(a.out), resume=a.resume)  # each image's row, as soon as it is done
    if a.resume and Path(a.out).is_file():  # an earlier complete run: its rows that still match
        try:
            passed_over = journal.adopt(json.loads(Path(a.out).read_text()))
        except (OSError, ValueError):
            passed_over = None  # not a results file: it is overwritten, as without --resume
        if passed_over:
            print(f"licq: {a.out}: {passed_over}", file=sys.stderr)
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
        label = " ".join(str(p[k]) for k in ("model", "quality") if p.get(k) is not None) or "default"
        print(f"{label}: {r['bpp'][i]:.4f} bpp, "
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
    from ..evaluation.results import load_results

    curves = []
    for p in paths:
        try:
            curves.append(load_results(p))
        except UnicodeDecodeError:
            raise LicqError(f"{p} is not a results file (not text)") from None
    return curves


def _cmd_bdrate(a: argparse.Namespace) -> None:
    from ..evaluation.bdrate import bd_psnr, bd_rate

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
        from ..evaluation.results import provenance

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

    from ..evaluation.plot import plot_rd

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
    from ..evaluation.baselines import run_baseline
    from ..evaluation.rd import image_files
    from ..evaluation.results import save_results

    check_output_file(a.out)
    files = image_files(a.inputs)
    if not files:
        raise LicqError(f"no images found in {' '.join(a.inputs)}")
    data = run_baseline(a.codec, files, a.qualities, progress=not a.quiet)
    save_results(a.out, data)
    r = data["results"]
    for s, b, p in zip(data["settings"], r["bpp"], r["psnr-rgb"]):
        print(f"{a.codec} {s['quality']}: {b:.4f} bpp, {p:.3f} dB")


def _check_eval(a: argparse.Namespace) -> str | None:
    variable = _variable_rate(a)
    if variable:
        from ..models.channel import QUALITY_RANGE
    if a.model and (a.quality or a.all_qualities) and not variable:
        return "argument --model: not allowed with --quality/--all-qualities (except a variable-rate model: licq-vr, or --arch channel-vr)"
    for q in a.quality or []:
        if variable and not QUALITY_RANGE[0] <= q <= QUALITY_RANGE[1]:
            return f"argument --quality: expected numbers in [{QUALITY_RANGE[0]:g}, {QUALITY_RANGE[1]:g}], got {q}"
        if not variable:
            try:
                zoo_quality(str(q))
            except argparse.ArgumentTypeError as exc:
                return f"argument --quality: {exc}"
    return check_quantizer_opts(a) or check_effort(a)


def _check_baseline(a: argparse.Namespace) -> str | None:
    from ..evaluation.baselines import check_qualities

    try:
        check_qualities(a.codec, a.qualities or [])
    except LicqError as exc:
        return f"argument --qualities: {exc}"
    return None


def _check_bdrate(a: argparse.Namespace) -> str | None:
    if len(a.results) < 2:
        return "argument results: give at least two results files, the anchor first"
    return None


def add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="rate-distortion evaluation on real bitstreams")
    ev.add_argument("inputs", nargs="+", type=path_arg, help="image files or folders")
    ev.add_argument("--model", nargs="+", type=path_arg, help="zoo names or weight files (one rate point each)")
    ev.add_argument("--arch", type=arch_name, help="architecture of weight files")
    ev.add_argument("--quality", type=quality_value, nargs="+",
                    help=f"zoo qualities, {zoo_range()}; with a variable-rate model (licq-vr, or --arch channel-vr), its qualities (1-7)")
    ev.add_argument("--all-qualities", action="store_true",
                    help="every quality in the zoo; with a variable-rate model, 1, 2, ..., 7")
    ev.add_argument("--quantizer", default="sq", choices=QUANTIZERS, help="as for licq encode")
    ev.add_argument("--step", type=STEP, help=f"{STEP_HELP} (default: the model's)")
    ev.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    ev.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help=f"{LAMBDA_HELP} (default: the model's)")
    ev.add_argument("--scan", choices=ALL_SCANS, help="TCQ scan (default rows)")
    ev.add_argument("--finetuned", choices=["auto", "none", "dec", "dec+hyperdec"], default="auto",
                    help="zoo decoders finetuned for the quantizer; auto (default, what licq encode writes): the "
                         "'dec' decoder where the zoo has one, else the base model; none: the base models")
    ev.add_argument("--weighting", choices=WEIGHTINGS, default="none", help="TCQ/RDOQ channel weighting")
    effort_opts(ev)
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


def add_results_cmds(sub) -> None:
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
