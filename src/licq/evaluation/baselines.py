"""Classic codecs on the same images, measured the same way as licq (real files, RGB PSNR).

* ``jpeg`` (libjpeg-turbo), ``webp`` (libwebp) and ``avif`` (libavif) through Pillow;
* ``jxl`` through Debian's ``cjxl``/``djxl`` (package ``libjxl-tools``);
* ``hevc``: x265 intra through ``ffmpeg`` (Debian package ``ffmpeg``), 4:4:4, one frame,
  raw Annex-B bitstream so that no container overhead is counted.

Availability is checked when a codec is asked for; a missing one is a
:class:`~licq.errors.LicqError` that says how to install it - never a silent skip.
Times of the command-line codecs include process start-up.
"""

from __future__ import annotations

import io
import numbers
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, features

from ..errors import LicqError
from ..imageio import open_image
from .metrics import ms_ssim_images, psnr_images
from .results import METRICS

#: default quality ladders (codec-native units: quality for Pillow/cjxl, QP for x265); WebP reaches
#: down to quality 0 so that its curve overlaps the learned models' low rates (a direct BD-rate)
DEFAULT_QUALITIES = {"jpeg": [10, 20, 30, 50, 70, 85, 95], "webp": [0, 5, 10, 25, 40, 60, 75, 90],
                     "avif": [20, 35, 50, 65, 80], "jxl": [30, 50, 70, 85, 95],
                     "hevc": [42, 37, 32, 27, 22]}
#: the codec-native quality range, inclusive (x265: QP, lower is better); Pillow and cjxl would
#: otherwise clamp an out-of-range value silently and the results would report "quality 500"
QUALITY_RANGE = {"jpeg": (0, 100), "webp": (0, 100), "avif": (0, 100), "jxl": (0, 100), "hevc": (0, 51)}
INSTALL_HINT = {"jpeg": "a Pillow built with libjpeg", "webp": "a Pillow built with libwebp",
                "avif": "Pillow >= 11.3 built with libavif (the PyPI wheels are)",
                "jxl": "cjxl/djxl: `apt install libjxl-tools`",
                "hevc": "ffmpeg with libx265: `apt install ffmpeg`"}


def available(codec: str) -> bool:
    if codec in ("jpeg", "webp", "avif"):
        return bool(features.check({"jpeg": "jpg"}.get(codec, codec)))
    if codec == "jxl":
        return bool(shutil.which("cjxl") and shutil.which("djxl"))
    if codec == "hevc":
        if not shutil.which("ffmpeg"):
            return False
        out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
        return "libx265" in out.stdout
    raise LicqError(f"unknown codec {codec!r}; known: {', '.join(DEFAULT_QUALITIES)}")


def check_qualities(codec: str, qualities: Sequence[int]) -> None:
    """Refuse an unknown codec or a quality outside its range (:data:`QUALITY_RANGE`) with a LicqError."""
    if codec not in QUALITY_RANGE:
        raise LicqError(f"unknown codec {codec!r}; known: {', '.join(QUALITY_RANGE)}")
    lo, hi = QUALITY_RANGE[codec]
    for q in qualities:
        if isinstance(q, bool) or not isinstance(q, numbers.Integral) or not lo <= q <= hi:
            unit = "QP" if codec == "hevc" else "quality"
            raise LicqError(f"{codec} {unit} must be an integer in [{lo}, {hi}], got {q!r}")


def require(codec: str) -> None:
    if not available(codec):
        raise LicqError(f"codec {codec} is not available here; install {INSTALL_HINT[codec]}")


def _pillow(fmt: str, **extra) -> Callable[[Image.Image, int, Path], tuple[int, Image.Image, float, float]]:
    def run(img: Image.Image, q: int, tmp: Path):
        t = time.perf_counter()
        buf = io.BytesIO()
        img.save(buf, format=fmt, quality=q, **extra)
        te = time.perf_counter() - t
        t = time.perf_counter()
        out = Image.open(io.BytesIO(buf.getvalue()))
        out.load()
        return len(buf.getvalue()), out.convert("RGB"), te, time.perf_counter() - t
    return run


def _cmd(args: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise LicqError(f"{args[0]} failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return time.perf_counter() - t


def _jxl(img: Image.Image, q: int, tmp: Path):
    src, enc, dec = tmp / "in.png", tmp / "out.jxl", tmp / "dec.png"
    img.save(src)
    te = _cmd(["cjxl", str(src), str(enc), "-q", str(q), "--quiet"])
    td = _cmd(["djxl", str(enc), str(dec), "--quiet"])
    return enc.stat().st_size, Image.open(dec).convert("RGB"), te, td


def _hevc(img: Image.Image, qp: int, tmp: Path):
    src, enc, dec = tmp / "in.png", tmp / "out.hevc", tmp / "dec.png"
    img.save(src)
    w, h = img.size
    # x265 needs even dimensions in 4:4:4 too for some builds: pad by edge replication, crop after
    pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2:0:0,format=yuv444p" if (w % 2 or h % 2) else "format=yuv444p"
    te = _cmd(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-vf", pad,
               "-c:v", "libx265", "-preset", "medium", "-x265-params", f"qp={qp}:log-level=error",
               "-frames:v", "1", "-f", "hevc", str(enc)])
    td = _cmd(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(enc), "-vf",
               f"crop={w}:{h}:0:0", "-pix_fmt", "rgb24", str(dec)])
    return enc.stat().st_size, Image.open(dec).convert("RGB"), te, td


CODECS = {"jpeg": _pillow("JPEG"), "webp": _pillow("WEBP", method=6), "avif": _pillow("AVIF", speed=6),
          "jxl": _jxl, "hevc": _hevc}


def run_baseline(codec: str, files: list[Path], qualities: list[int] | None = None,
                 progress: bool = True) -> dict:
    """RD results of ``codec`` on ``files`` in CompressAI's schema (one point per quality)."""
    from tqdm import tqdm

    check_qualities(codec, qualities or [])
    require(codec)
    qualities = qualities or DEFAULT_QUALITIES[codec]
    images = [(Path(f).name, open_image(f).convert("RGB")) for f in files]
    res = {m: [] for m in METRICS}
    rows = []
    bar = tqdm(total=len(qualities) * len(images), desc=codec, disable=not progress, dynamic_ncols=True)
    with tempfile.TemporaryDirectory(prefix="licq-baseline-") as d:
        for q in qualities:
            acc = {m: [] for m in METRICS}
            for name, img in images:
                nbytes, out, te, td = CODECS[codec](img, q, Path(d))
                w, h = img.size
                row = {"image": name, "quality": q, "bytes": nbytes, "bpp": 8 * nbytes / (w * h),
                       "psnr-rgb": psnr_images(img, out), "ms-ssim-rgb": ms_ssim_images(img, out),
                       "encoding_time": te, "decoding_time": td}
                rows.append(row)
                for m in METRICS:
                    acc[m].append(row[m])
                bar.update(1)
            for m in METRICS:
                vals = [v for v in acc[m] if v is not None]
                res[m].append(float(np.mean(vals)) if vals else None)
    bar.close()
    return {"name": codec, "description": f"{codec} via {INSTALL_HINT[codec]}", "results": res,
            "settings": [{"quality": q} for q in qualities], "per_image": rows}
