"""Rate-distortion evaluation on real bitstreams.

Every image is encoded to bytes and decoded from those bytes; bpp comes from
the byte count, never from likelihoods. The decoder's output is compared with
the encoder's own reconstruction, and any difference is reported (``exact``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..codec import decode, encode_full
from ..imageio import list_images, open_image
from .metrics import ms_ssim_images, psnr_images
from .results import METRICS


def evaluate(files: Sequence[str | Path], points: Iterable[dict], name: str, description: str = "",
             progress: bool = True, msssim: bool = True) -> dict:
    """Evaluate rate points (each a dict of :func:`licq.encode_full` keyword arguments) on images.

    Returns a results dict in CompressAI's schema, with ``per_image`` rows and
    the settings of each point.
    """
    from tqdm import tqdm

    points = list(points)
    images = [(Path(f).name, open_image(f)) for f in files]
    res = {m: [] for m in METRICS}
    rows, exact = [], True
    bar = tqdm(total=len(points) * len(images), desc=name, disable=not progress, dynamic_ncols=True)
    for point in points:
        acc = {m: [] for m in METRICS}
        for fname, img in images:
            r = encode_full(img, **point)
            t = time.perf_counter()
            # a zoo file's header names its decoder (a finetuned variant, maybe); weight files need theirs
            out = decode(r.data, point.get("model") if point.get("arch") else None, arch=point.get("arch"))
            dt = time.perf_counter() - t
            same = np.array_equal(np.asarray(out), np.asarray(r.reconstruction))
            exact &= same
            row = {"image": fname, **point, "bytes": len(r.data), "bpp": r.bpp,
                   "psnr-rgb": psnr_images(img, out),
                   "ms-ssim-rgb": ms_ssim_images(img, out) if msssim else None,
                   "encoding_time": r.seconds["encode"], "decoding_time": dt, "exact": same}
            rows.append(row)
            for m in METRICS:
                acc[m].append(row[m])
            bar.update(1)
            bar.set_postfix(bpp=f"{r.bpp:.3f}", psnr=f"{row['psnr-rgb']:.2f}")
        for m in METRICS:
            vals = [v for v in acc[m] if v is not None]
            res[m].append(float(np.mean(vals)) if vals else None)
    bar.close()
    return {"name": name, "description": description, "results": res, "exact": exact,
            "settings": points, "per_image": rows}


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Files and folders given on the command line, expanded to image files."""
    return list_images(inputs)
