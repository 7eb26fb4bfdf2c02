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
from PIL import Image

from ..codec import decode, encode_full
from ..errors import LicqError
from ..imageio import list_images, open_image
from .journal import Journal, file_digest, row_key, weights_fingerprint
from .metrics import ms_ssim_images, psnr_images
from .results import METRICS


def evaluate(files: Sequence[str | Path], points: Iterable[dict], name: str, description: str = "",
             progress: bool = True, msssim: bool = True, journal: Journal | None = None) -> dict:
    """Evaluate rate points (each a dict of :func:`licq.encode_full` keyword arguments) on images.

    Returns a results dict in CompressAI's schema, with ``per_image`` rows and
    the settings of each point; an image that cannot be read is listed under ``skipped`` and left
    out (a LicqError only when none can be read). With a ``journal``, each image's row is saved as
    soon as it is done, and rows the journal already holds are not coded again.
    """
    from tqdm import tqdm

    points = list(points)
    images, skipped = [], []
    for f in files:  # an unreadable file is reported and left out; the others are measured
        try:
            images.append((Path(f), open_image(f)))
        except LicqError as exc:
            skipped.append({"image": str(f), "error": str(exc)})
    if not images:
        raise LicqError(f"none of the {len(files)} images could be read: {skipped[0]['error']}")
    digests = [file_digest(path) for path, _ in images] if journal else []  # once per image, not per point
    res = {m: [] for m in METRICS}
    rows, exact = [], True
    bar = tqdm(total=len(points) * len(images), desc=name, disable=not progress, dynamic_ncols=True)
    for point in points:
        acc = {m: [] for m in METRICS}
        weights = weights_fingerprint(point) if journal else ""
        for i, (path, img) in enumerate(images):
            key = row_key(point, path.name, digests[i], weights) if journal else ""
            row = journal.get(key) if journal else None
            if row is None:
                row = _code_image(path.name, img, point, msssim)
                if journal:
                    journal.add(key, row)
            if journal:  # what the key was made of, so a later --resume can reuse the results file
                row = {**row, "image_digest": digests[i], "weights_digest": weights}
            exact &= row["exact"]
            rows.append(row)
            for m in METRICS:
                acc[m].append(row[m])
            bar.update(1)
            bar.set_postfix(bpp=f"{row['bpp']:.3f}", psnr=f"{row['psnr-rgb']:.2f}")
        for m in METRICS:
            vals = [v for v in acc[m] if v is not None]
            res[m].append(float(np.mean(vals)) if vals else None)
    bar.close()
    return {"name": name, "description": description, "results": res, "exact": exact,
            "settings": points, "per_image": rows, "skipped": skipped}


def _code_image(fname: str, img: Image.Image, point: dict, msssim: bool) -> dict:
    """Encode one image to bytes, decode those bytes, and measure: one ``per_image`` row.

    The image's ICC profile and EXIF block are left out of the file (``strip``): the rate measures
    the codec, as the classic codecs' curves do; a phone photo's metadata can outweigh its latents.
    """
    r = encode_full(img, **{"strip": True, **point})
    t = time.perf_counter()
    # a zoo file's header names its decoder (a finetuned variant, maybe); weight files need theirs
    out = decode(r.data, point.get("model") if point.get("arch") else None, arch=point.get("arch"))
    dt = time.perf_counter() - t
    return {"image": fname, **point, "bytes": len(r.data), "bpp": r.bpp,
            "psnr-rgb": psnr_images(img, out),
            "ms-ssim-rgb": ms_ssim_images(img, out) if msssim else None,
            "encoding_time": r.seconds["encode"], "decoding_time": dt,
            "exact": bool(np.array_equal(np.asarray(out), np.asarray(r.reconstruction)))}


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Files and folders given on the command line, expanded to image files."""
    return list_images(inputs)
