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


def provenance() -> dict:
    """How a results file was made: the command line, the git commit (``-dirty`` with local
    changes; ``None`` outside a checkout) and the licq version."""
    import shlex
    import subprocess
    import sys

    from .. import __version__

    root = Path(__file__).resolve().parents[3]
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += "-dirty" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = None
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    # an installed entry point (.../bin/licq) is called by its name; a script as it was given
    prog = ["python", argv0] if argv0.endswith(".py") else [Path(argv0).name]
    return {"command": shlex.join([*prog, *sys.argv[1:]]), "commit": commit, "licq_version": __version__}


def save_results(path: str | Path, data: dict) -> None:
    """Write a results JSON atomically, with :func:`provenance` fields unless ``data`` sets them."""
    atomic_write_bytes(path, (json.dumps({**provenance(), **data}, indent=2) + "\n").encode())


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
