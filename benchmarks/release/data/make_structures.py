"""Rebuild the "structures" training folder (man-made scenes) from its source repositories, or with
``--list`` another folder listed the same way (facades.json: the unseen street photos of
benchmarks/unseen_rd.sh).

    python benchmarks/release/data/make_structures.py --mirrors DIR --out FOLDER [--list LIST]

DIR holds a local bare git clone of each source repository, named owner+name (the git
directory is DIR/owner+name, or DIR/owner+name/repo, or DIR/owner+name.git).
structures.json (next to this script; --list another file) lists every image: its output file name, the source
repository, commit and path, the sha256 of the source blob, the output width and height and
the source's terms. Each blob is read at the listed commit and its sha256 checked. An image
whose long side exceeds 1600 px is downscaled (Pillow, Lanczos) to a long side of 1600 px and
saved as JPEG quality 92 without chroma subsampling; a smaller RGB JPEG is copied byte for
byte; anything else (PNG, alpha, grey, CMYK, an EXIF orientation other than upright, which is
applied first) is converted to RGB and saved the same way.
Exits non-zero if a blob is missing, a sha256 differs or an output size differs from the list.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageOps

LIST = Path(__file__).resolve().with_name("structures.json")
MAX_SIDE = 1600
JPEG_ARGS = {"format": "JPEG", "quality": 92, "subsampling": 0}


def git_dir(mirrors: Path, repo: str) -> Path:
    """The bare git directory of owner/name under mirrors."""
    base = repo.replace("/", "+")
    for cand in (mirrors / base / "repo", mirrors / base, mirrors / f"{base}.git"):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
    raise FileNotFoundError(f"no git directory for {repo} under {mirrors}")


def read_blob(gd: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={gd}", "cat-file", "blob", f"{commit}:{path}"],
        check=True, capture_output=True,
    ).stdout


def convert(data: bytes) -> tuple[bytes, int, int]:
    """The output file's bytes and its width and height."""
    im = Image.open(io.BytesIO(data))
    upright = im.getexif().get(0x0112, 1) == 1
    if not upright:
        im = ImageOps.exif_transpose(im)
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        s = MAX_SIDE / max(w, h)
        size = (MAX_SIDE, max(1, round(h * s))) if w >= h else (max(1, round(w * s)), MAX_SIDE)
        im = im.convert("RGB").resize(size, Image.LANCZOS)
    elif upright and im.format == "JPEG" and im.mode == "RGB":
        return data, w, h
    else:
        im = im.convert("RGB")
    buf = io.BytesIO()
    im.save(buf, **JPEG_ARGS)
    return buf.getvalue(), im.size[0], im.size[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirrors", type=Path, required=True, help="folder of bare git clones named owner+name")
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--list", type=Path, default=LIST, help="image list (default: structures.json here)")
    args = ap.parse_args()

    entries = json.loads(args.list.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    dirs: dict[str, Path] = {}
    bad = 0
    for e in entries:
        repo = e["source_repo"]
        if repo not in dirs:
            dirs[repo] = git_dir(args.mirrors, repo)
        data = read_blob(dirs[repo], e["commit"], e["path"])
        digest = hashlib.sha256(data).hexdigest()
        if digest != e["sha256_of_source_blob"]:
            print(f"sha256 mismatch: {repo} {e['path']}: {digest}", file=sys.stderr)
            bad += 1
            continue
        out, w, h = convert(data)
        if (w, h) != (e["width"], e["height"]):
            print(f"size mismatch: {e['file']}: {w}x{h}, listed {e['width']}x{e['height']}", file=sys.stderr)
            bad += 1
        (args.out / e["file"]).write_bytes(out)
    print(f"{len(entries) - bad} of {len(entries)} images written to {args.out}; {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
