"""The ``licq`` command line.

Every expected failure (bad file, bad option, unreadable image) is a
:class:`~licq.errors.LicqError`: the CLI prints one line to stderr, exits with
status 1 and leaves no output file behind (outputs are written atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from .errors import LicqError


def _cmd_encode(a: argparse.Namespace) -> None:
    from .atomic import atomic_write_bytes
    from .codec import encode_full
    from .evaluation.metrics import psnr_images
    from .imageio import open_image

    image = open_image(a.input)
    res = encode_full(image, a.model, quality=a.quality, arch=a.arch, quantizer=a.quantizer,
                      step=a.step, states=a.states, tcq_lambda=a.tcq_lambda, scan=a.scan,
                      max_pixels=a.max_pixels, finetuned=a.finetuned)
    atomic_write_bytes(a.output, res.data)
    w, h = image.size
    print(f"{a.output}: {len(res.data)} bytes, {res.bpp:.4f} bpp ({w}x{h})")
    if a.verbose:
        print(f"PSNR {psnr_images(image, res.reconstruction):.3f} dB; model load "
              f"{res.seconds['load']:.3f} s, encode {res.seconds['encode']:.3f} s, "
              f"reconstruction {res.seconds['reconstruct']:.3f} s")


def _cmd_decode(a: argparse.Namespace) -> None:
    from .codec import decode
    from .imageio import save_image

    t = time.perf_counter()
    data = _read(a.input)
    image = decode(data, a.model, arch=a.arch, max_pixels=a.max_pixels)
    save_image(image, a.output)
    if a.verbose:
        print(f"{a.output}: {image.size[0]}x{image.size[1]}, decoded in {time.perf_counter() - t:.3f} s")
    else:
        print(a.output)


def _cmd_info(a: argparse.Namespace) -> None:
    from . import container

    header, _ = container.unpack(_read(a.input), max_pixels=a.max_pixels)
    info = header.as_dict()
    info["bytes"] = Path(a.input).stat().st_size
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

    cfg = TrainConfig(data=a.data, out=a.out, arch=a.arch_name, N=a.N, M=a.M, lmbda=a.lmbda,
                      surrogate=a.surrogate, steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr,
                      seed=a.seed, threads=a.threads, checkpoint_every=a.checkpoint_every,
                      snapshot_every=a.snapshot_every,
                      warm_start=a.warm_start, val=a.val, val_every=a.val_every, workers=a.workers,
                      precision=a.precision)
    train(cfg, resume=a.resume)
    print(f"checkpoint: {Path(a.out) / 'checkpoint.pt'}")


def _cmd_eval(a: argparse.Namespace) -> None:
    from .evaluation.rd import evaluate, image_files
    from .evaluation.results import save_results
    from .zoo import manifest

    files = image_files(a.inputs)
    if not files:
        raise LicqError(f"no images found in {' '.join(a.inputs)}")
    if a.all_qualities:
        qualities = sorted(m["quality"] for m in manifest()["models"] if m.get("quality"))
    else:
        qualities = a.quality or []
    if qualities and a.model:
        raise LicqError("give either --model or --quality/--all-qualities")
    base = {"quantizer": a.quantizer, "step": a.step, "states": a.states, "tcq_lambda": a.tcq_lambda,
            "scan": a.scan, "finetuned": a.finetuned}
    if qualities:
        points = [{"quality": q, **base} for q in qualities]
    else:
        points = [{"model": m, "arch": a.arch, **base} for m in (a.model or [None])]
    name = a.name or f"licq-{a.quantizer}" + (f"{a.states or 8}" if a.quantizer == "tcq" else "")
    data = evaluate(files, points, name=name, description=a.description, progress=not a.quiet,
                    msssim=not a.no_msssim)
    save_results(a.out, data)
    r = data["results"]
    for i, p in enumerate(points):
        print(f"{p.get('quality') or p.get('model') or 'default'}: {r['bpp'][i]:.4f} bpp, "
              f"{r['psnr-rgb'][i]:.3f} dB")
    print(f"{a.out}: {len(files)} images, decoder output {'==' if data['exact'] else '!='} "
          "encoder reconstruction")
    if not data["exact"]:
        raise LicqError("decoded images differ from the encoder's reconstruction")


def _cmd_bdrate(a: argparse.Namespace) -> None:
    from .evaluation.bdrate import bd_psnr, bd_rate
    from .evaluation.results import load_results

    curves = [load_results(p) for p in a.results]
    anchor = curves[0]
    ra = anchor["results"]
    rows = []
    for c in curves[1:]:
        rc = c["results"]
        row = {"anchor": anchor["name"], "test": c["name"], "metric": a.metric, "method": a.method}
        args = (ra["bpp"], ra[a.metric], rc["bpp"], rc[a.metric], a.method)
        try:
            row["bd_rate_percent"] = bd_rate(*args)
        except LicqError as exc:
            if len(curves) == 2:
                raise
            row["bd_rate_percent"], row["note"] = None, str(exc)
        row["bd_psnr_db"] = bd_psnr(*args)
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"anchor: {anchor['name']} ({a.metric}, {a.method} interpolation)")
    for r in rows:
        rate = f"{r['bd_rate_percent']:+7.2f} %" if r["bd_rate_percent"] is not None else "    n/a  "
        print(f"{r['test']:40s} BD-rate {rate}   BD-PSNR {r['bd_psnr_db']:+.3f} dB  {r.get('note', '')}")


def _cmd_plot(a: argparse.Namespace) -> None:
    from .evaluation.plot import plot_rd
    from .evaluation.results import load_results

    plot_rd([load_results(p) for p in a.results], a.output, title=a.title, xmax=a.xmax)
    print(a.output)


def _cmd_baseline(a: argparse.Namespace) -> None:
    from .evaluation.baselines import run_baseline
    from .evaluation.rd import image_files
    from .evaluation.results import save_results

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

    cfg = FinetuneConfig(base=a.base, arch=a.arch, data=a.data, out=a.out, quantizer=a.quantizer,
                         states=a.states, step=a.step, tcq_lambda=a.tcq_lambda, train=a.train, lmbda=a.lmbda,
                         steps=a.steps, batch=a.batch, crop=a.crop, lr=a.lr, seed=a.seed, threads=a.threads,
                         exclude=_names(a.exclude) if a.exclude else [], control=a.control,
                         precision=a.precision)
    print(f"decoder: {finetune(cfg, resume=a.resume)}")


def _names(list_file: str) -> list[str]:
    """Image file names, one per line (blank lines and # comments ignored)."""
    try:
        lines = Path(list_file).read_text().splitlines()
    except OSError as exc:
        raise LicqError(f"cannot read {list_file}: {exc.strerror}") from None
    return [Path(s.strip()).name for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LicqError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise LicqError(f"is a directory: {path}") from None


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .container import DEFAULT_MAX_PIXELS
    from .training.surrogates import SURROGATES

    p = argparse.ArgumentParser(prog="licq", description="learned image codec with real quantization")
    p.add_argument("--version", action="version", version=f"licq {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def precision_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="transforms in bf16 autocast + channels-last (entropy models stay fp32); "
                             "auto: bf16 where the CPU (AVX512-BF16/AMX) or GPU supports it")

    def model_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--model", help="zoo model name or path to a weight file (default: zoo default)")
        sp.add_argument("--arch", help="architecture of a weight file: mbt2018-mean or bmshj2018-hyperprior")

    e = sub.add_parser("encode", help="compress an image into a .licq file")
    e.add_argument("input")
    e.add_argument("-o", "--output", required=True)
    model_opts(e)
    e.add_argument("--quality", type=int, help="zoo quality level (instead of --model)")
    e.add_argument("--quantizer", default="sq", choices=["sq", "tcq"],
                   help="sq: scalar; tcq: trellis-coded (entropy-constrained Viterbi)")
    e.add_argument("--step", type=float, help="quantization step Δ (SQ default 1.0; TCQ default per model)")
    e.add_argument("--states", type=int, choices=[4, 8], help="TCQ trellis states (default 8)")
    e.add_argument("--tcq-lambda", type=float, help="TCQ rate weight λ_tcq (default per model)")
    e.add_argument("--scan", choices=["rows", "raster"], help="TCQ scan: a trellis per channel row "
                   "(default, parallel decoding) or per channel (raster, slow decoding)")
    e.add_argument("--finetuned", choices=["dec", "dec+hyperdec"],
                   help="use the zoo decoder finetuned for this quantizer (quantization-aware finetuning)")
    e.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse larger images (default 4096x4096)")
    e.add_argument("-v", "--verbose", action="store_true", help="print PSNR and timings")
    e.set_defaults(func=_cmd_encode)

    d = sub.add_parser("decode", help="decode a .licq file into an image (PNG unless the suffix says otherwise)")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True)
    model_opts(d)
    d.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    d.add_argument("-v", "--verbose", action="store_true")
    d.set_defaults(func=_cmd_decode)

    i = sub.add_parser("info", help="print the header of a .licq file")
    i.add_argument("input")
    i.add_argument("--json", action="store_true")
    i.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    i.set_defaults(func=_cmd_info)

    m = sub.add_parser("models", help="list the model zoo")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_models)

    t = sub.add_parser("train", help="end-to-end rate-distortion training")
    t.add_argument("data", nargs="+", help="folders of training images")
    t.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv, config.json)")
    t.add_argument("--arch-name", default="mbt2018-mean")
    t.add_argument("--N", type=int, default=128)
    t.add_argument("--M", type=int, default=192)
    t.add_argument("--lmbda", type=float, default=0.0067)
    t.add_argument("--surrogate", default="mixed", choices=SURROGATES)
    t.add_argument("--steps", type=int, default=10_000)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--crop", type=int, default=256)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--snapshot-every", type=int, default=0,
                   help="also keep half-precision weights every N steps in OUT/snapshots (learning curves)")
    t.add_argument("--warm-start", help="initialise from this checkpoint or weight file")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--val", nargs="+", help="held-out image folder(s) for periodic validation (val.csv)")
    t.add_argument("--val-every", type=int, default=1000)
    t.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    precision_opt(t)
    t.set_defaults(func=_cmd_train)
    f = sub.add_parser("finetune", help="quantization-aware finetuning of the decoder on real quantized latents")
    f.add_argument("data", nargs="+", help="folders of training images")
    f.add_argument("--base", required=True, help="zoo name or weight file of the end-to-end trained model")
    f.add_argument("--arch", help="architecture of a weight file")
    f.add_argument("--out", required=True)
    f.add_argument("--quantizer", default="sq", choices=["sq", "tcq"])
    f.add_argument("--states", type=int, choices=[4, 8])
    f.add_argument("--step", type=float)
    f.add_argument("--tcq-lambda", type=float)
    f.add_argument("--train", default="dec", choices=["dec", "dec+hyperdec"])
    f.add_argument("--lmbda", type=float, help="default: the base model's λ")
    f.add_argument("--steps", type=int, default=1000)
    f.add_argument("--batch", type=int, default=8)
    f.add_argument("--crop", type=int, default=128)
    f.add_argument("--lr", type=float, default=5e-5)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--exclude", metavar="LIST", help="text file of image names to hold out of training")
    f.add_argument("--control", choices=["noise"],
                   help="control run: train g_s on noisy latents (the surrogate) instead of the quantizer")
    f.add_argument("--resume", action="store_true")
    precision_opt(f)
    f.set_defaults(func=_cmd_finetune)

    ev = sub.add_parser("eval", help="rate-distortion evaluation on real bitstreams")
    ev.add_argument("inputs", nargs="+", help="image files or folders")
    ev.add_argument("--model", nargs="+", help="zoo names or weight files (one rate point each)")
    ev.add_argument("--arch", help="architecture of weight files")
    ev.add_argument("--quality", type=int, nargs="+", help="zoo qualities")
    ev.add_argument("--all-qualities", action="store_true", help="every quality in the zoo")
    ev.add_argument("--quantizer", default="sq", choices=["sq", "tcq"])
    ev.add_argument("--step", type=float)
    ev.add_argument("--states", type=int, choices=[4, 8])
    ev.add_argument("--tcq-lambda", type=float)
    ev.add_argument("--scan", choices=["rows", "raster"])
    ev.add_argument("--finetuned", choices=["dec", "dec+hyperdec"], help="zoo decoders finetuned for the quantizer")
    ev.add_argument("--name", help="curve name in the results file")
    ev.add_argument("--description", default="")
    ev.add_argument("--no-msssim", action="store_true")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--out", required=True, help="results JSON (CompressAI schema)")
    ev.set_defaults(func=_cmd_eval)

    bd = sub.add_parser("bdrate", help="BD-rate / BD-PSNR of results files against the first")
    bd.add_argument("results", nargs="+")
    bd.add_argument("--metric", default="psnr-rgb")
    bd.add_argument("--method", default="akima", choices=["akima", "pchip", "cubic"])
    bd.add_argument("--json", action="store_true")
    bd.set_defaults(func=_cmd_bdrate)

    bl = sub.add_parser("baseline", help="classic codec (jpeg, webp, avif, jxl, hevc) on the same images")
    bl.add_argument("inputs", nargs="+")
    bl.add_argument("--codec", required=True, choices=["jpeg", "webp", "avif", "jxl", "hevc"])
    bl.add_argument("--qualities", type=int, nargs="+", help="codec-native qualities (x265: QP)")
    bl.add_argument("--quiet", action="store_true")
    bl.add_argument("--out", required=True)
    bl.set_defaults(func=_cmd_baseline)

    pl = sub.add_parser("plot", help="RD curves of results files")
    pl.add_argument("results", nargs="+")
    pl.add_argument("-o", "--output", required=True)
    pl.add_argument("--title", default="")
    pl.add_argument("--xmax", type=float, help="right end of the bpp axis")
    pl.set_defaults(func=_cmd_plot)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit notices from CompressAI
    warnings.formatwarning = lambda msg, cat, *rest: f"licq: warning: {msg}\n"
    try:
        args.func(args)
    except LicqError as exc:
        print(f"licq: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # unwritable output, full disk, ...
        print(f"licq: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("licq: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
