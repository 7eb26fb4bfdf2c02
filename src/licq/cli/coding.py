"""``licq encode``, ``decode``, ``info`` and ``models``: one file or a batch, pipes, special outputs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..cli_args import (check_output_file, float_range, int_range, one_line, path_arg, quality_value,
                        variable_rate_model, zoo_quality)
from ..errors import LicqError
from ..quantizers.spec import ALL_SCANS, ALL_STATES, NAMES as QUANTIZERS
from .options import (LAMBDA_HELP, MAX_PIXELS, STEP, STEP_HELP, TCQ_LAMBDA, WEIGHTINGS, check_effort,
                      check_quantizer_opts, effort_opts, model_opts, read_input, zoo_range)


def _cmd_encode(a: argparse.Namespace) -> None:
    _run_jobs(a, _encode_one, "encoded")


def _encode_one(a: argparse.Namespace, source: str, output: str, quiet: bool) -> None:
    from ..atomic import atomic_write_bytes
    from ..codec import encode_full
    from ..evaluation.metrics import psnr_images
    from ..imageio import open_image

    check_output_file(output)
    image = open_image(source)
    options = dict(arch=a.arch, quantizer=a.quantizer, step=a.step, states=a.states, tcq_lambda=a.tcq_lambda,
                   scan=a.scan, max_pixels=a.max_pixels, finetuned=None if a.finetuned == "none" else a.finetuned,
                   weighting=a.weighting, strip=a.strip, effort=a.effort, refine_lambda=a.refine_lambda)
    target, chosen = _target(a), ""
    if target is not None:
        from ..rate_control import encode_to_target
        with _probe_bar(not quiet) as bar:
            found = encode_to_target(image, target, a.model, progress=bar.update, **options)
        res = found.result
        chosen = f", quality {found.quality:g} ({found.psnr:.2f} dB, {found.probes} encodes)"
    else:
        with _refine_bar(a.effort if not quiet else 0) as bar:
            res = encode_full(image, a.model, quality=a.quality, progress=bar.update, **options)
    atomic_write_bytes(output, res.data)
    w, h = image.size
    out = _status_stream(output)
    if quiet and not a.verbose:
        return
    print(f"{_shown(output)}: {len(res.data)} bytes, {res.bpp:.4f} bpp ({w}x{h}){chosen}", file=out)
    if a.verbose:
        mp = w * h / 1e6
        print(f"PSNR {psnr_images(image, res.reconstruction):.3f} dB; model load "
              f"{res.seconds['load']:.3f} s, encode {res.seconds['encode']:.3f} s "
              f"({res.seconds['encode'] / mp:.2f} s/MP, effort {a.effort}), "
              f"reconstruction {res.seconds['reconstruct']:.3f} s", file=out)


def _target(a: argparse.Namespace):
    """The encode target of ``--target-bpp`` / ``--target-psnr`` / ``--max-bytes``, or None."""
    if a.target_bpp is None and a.target_psnr is None and a.max_bytes is None:
        return None
    from ..rate_control import Target

    return Target(bpp=a.target_bpp, psnr=a.target_psnr, max_bytes=a.max_bytes)


def _probe_bar(show: bool):
    """A progress bar over the encodes of a target search (about ten; on a terminal only)."""
    from tqdm import tqdm

    return tqdm(desc="searching the quality", unit="encode", disable=None if show else True, leave=False,
                dynamic_ncols=True)


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
    from ..imageio import list_images

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

    from ..refine import EFFORT_ITERATIONS

    return tqdm(total=EFFORT_ITERATIONS[effort], desc=f"refine (effort {effort})", unit="it",
                disable=None if effort else True, leave=False, dynamic_ncols=True)


def _cmd_decode(a: argparse.Namespace) -> None:
    _run_jobs(a, _decode_one, "decoded")


def _decode_one(a: argparse.Namespace, source: str, output: str, quiet: bool) -> None:
    from ..codec import decode
    from ..imageio import output_format, save_image

    check_output_file(output)
    t = time.perf_counter()
    image = decode(read_input(source), a.model, arch=a.arch, max_pixels=a.max_pixels)
    fmt, params = output_format(output, a.allow_lossy)
    save_image(image, output, fmt, **params)
    out = _status_stream(output)
    if a.verbose:
        print(f"{_shown(output)}: {image.size[0]}x{image.size[1]}, decoded in {time.perf_counter() - t:.3f} s",
              file=out)
    elif not quiet:
        print(_shown(output), file=out)


def _cmd_info(a: argparse.Namespace) -> None:
    from .. import container

    data = read_input(a.input)
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
    from ..zoo import manifest

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
            auto = m.get("auto_qualities")  # adopted for part of its base's range
            how += f", auto at quality {auto[0]:g}-{auto[1]:g}" if auto else ""
            dec = f"{d['quantizer']} Δ={d['step']:g} states={d['states']} ({how}, base {m['base']})"
        rng = m.get("quality_range")  # a variable-rate model: any quality of its range
        quality = f"{rng[0]:g}-{rng[1]:g}" if rng else m.get("quality") or "-"
        lmbda = (f"{m['lambda_range'][0]:g}-{m['lambda_range'][1]:g}" if rng
                 else "-" if m["lmbda"] is None else f"{m['lmbda']:g}")  # a variable-rate model's decoder: none
        print(f"{m['name']:28s} {m['arch']:14s} {m['N']}/{m['M']:<5} {quality!s:7s} {lmbda:<8s} {dec}{mark}")


def _check_quality(a: argparse.Namespace) -> str | None:
    """``--quality``: a zoo level without --model, a number in range with a variable-rate model, else refused."""
    if a.quality is None:
        return None
    if variable_rate_model(a.model, a.arch):
        from ..models.channel import QUALITY_RANGE

        lo, hi = QUALITY_RANGE
        return None if lo <= a.quality <= hi else f"argument --quality: expected a number in [{lo:g}, {hi:g}], got {a.quality}"
    if a.model is not None:
        return "argument --quality: not allowed with --model (a quality names a zoo model; a variable-rate model, licq-vr or --arch channel-vr, takes one)"
    try:
        zoo_quality(str(a.quality))
    except argparse.ArgumentTypeError as exc:
        return f"argument --quality: {exc}"
    return None


def _check_encode(a: argparse.Namespace) -> str | None:
    targets = [f"--{n}" for n, v in (("target-bpp", a.target_bpp), ("target-psnr", a.target_psnr),
                                      ("max-bytes", a.max_bytes)) if v is not None]
    if len(targets) > 1 or (targets and a.quality is not None):
        return f"argument {targets[0]}: not allowed with {targets[1] if len(targets) > 1 else '--quality'} (one target)"
    return _check_quality(a) or _check_batch(a) or check_quantizer_opts(a) or check_effort(a)


def _check_decode(a: argparse.Namespace) -> str | None:
    """An output format that would silently lose quality, or that licq does not know, is refused."""
    from ..imageio import output_format

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


def add_encode(sub, max_pixels: int) -> None:
    e = sub.add_parser("encode", help="compress images into .licq files")
    e.add_argument("inputs", nargs="+", type=path_arg, metavar="input",
                   help="image to compress (anything Pillow reads; - reads standard input), or several "
                   "images and folders with --out-dir")
    e.add_argument("-o", "--output", type=path_arg,
                   help=".licq file to write (- writes standard output; a FIFO or device is written in place)")
    e.add_argument("--out-dir", type=path_arg,
                   help="folder for the outputs of several inputs, each named after its input (NAME.licq); "
                   "a file that fails is reported and the others are done")
    model_opts(e)
    e.add_argument("--target-bpp", type=float_range(0.001, 64), metavar="BPP",
                   help="search the quality whose file is nearest this bit rate (within 3 %% where the model "
                        "allows; a variable-rate model's quality, or the zoo's levels)")
    e.add_argument("--target-psnr", type=float_range(1, 99), metavar="DB",
                   help="the lowest quality whose reconstruction reaches this PSNR (RGB, dB)")
    e.add_argument("--max-bytes", type=int_range(1, 2 ** 40), metavar="N",
                   help="the highest quality whose file fits in N bytes")
    e.add_argument("--quality", type=quality_value,
                   help=f"zoo quality level, {zoo_range()} (instead of --model); with a variable-rate model "
                        "(licq-vr, or --arch channel-vr) any number from 1 to 7 (default 3)")
    e.add_argument("--quantizer", default="sq", choices=QUANTIZERS,
                   help="sq: scalar; tcq: trellis-coded (entropy-constrained Viterbi); "
                   "rdoq: scalar with a D + λ·R choice per latent (decodes as SQ)")
    e.add_argument("--step", type=STEP, help=f"{STEP_HELP} "
                   "(SQ default 1.0; TCQ default per model)")
    e.add_argument("--states", type=int, choices=ALL_STATES, help="TCQ trellis states (default 8)")
    e.add_argument("--tcq-lambda", type=TCQ_LAMBDA, help=f"{LAMBDA_HELP} "
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
    effort_opts(e)
    e.add_argument("--max-pixels", type=MAX_PIXELS, default=None,
                   help="refuse images of more pixels (default: no limit; decoders refuse files above "
                   f"{max_pixels} pixels, 8192x8192, unless their --max-pixels says otherwise)")
    e.add_argument("--strip", action="store_true",
                   help="leave out the image's ICC profile and EXIF block (by default the file carries them "
                   "and decoding writes them back)")
    e.add_argument("-v", "--verbose", action="store_true", help="print PSNR and timings")
    e.set_defaults(func=_cmd_encode, check=_check_encode, parser=e)


def add_decode_info_models(sub, max_pixels: int) -> None:
    d = sub.add_parser("decode", help="decode a .licq file into an image (PNG unless the suffix says otherwise)")
    d.add_argument("inputs", nargs="+", type=path_arg, metavar="input",
                   help=".licq file to decode (- reads standard input), or several files and folders with --out-dir")
    d.add_argument("--out-dir", type=path_arg,
                   help="folder for the images of several inputs, each named after its input (NAME.png, see --suffix)")
    d.add_argument("--suffix", default=".png", help="the outputs' format with --out-dir (default .png)")
    d.add_argument("-o", "--output", type=path_arg,
                   help="image to write, its format from the suffix: .png (lossless), .ppm, .bmp, .tif; "
                   "lossy ones (.jpg, .webp) only with --allow-lossy; - writes PNG to standard output")
    model_opts(d)
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
