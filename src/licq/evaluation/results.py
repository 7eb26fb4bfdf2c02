"""Results files in CompressAI's schema, so its plot tools and ours read each other's files.

``{"name": ..., "description": ..., "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...], "encoding_time": [...], "decoding_time": [...]}}``: one
list entry per rate point, each the mean over images. licq adds ``per_image``
(one row per image and rate point) and ``settings``; other readers ignore them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import LicqError

METRICS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")


def save_results(path: str | Path, data: dict) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def load_results(path: str | Path) -> dict:
    """Read a results JSON (licq's or CompressAI's); require bpp and a distortion list."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LicqError(f"results file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise LicqError(f"{path} is not JSON: {exc}") from None
    res = data.get("results") if isinstance(data, dict) else None
    if not isinstance(res, dict) or "bpp" not in res:
        raise LicqError(f"{path} is not a results file (no results.bpp)")
    # some classic-codec files of CompressAI's use "psnr" for the RGB PSNR
    if "psnr-rgb" not in res and "psnr" in res:
        res["psnr-rgb"] = res["psnr"]
    data.setdefault("name", Path(path).stem)
    return data
