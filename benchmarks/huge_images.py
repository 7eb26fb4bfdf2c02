"""Huge images: peak memory of tiled encode/decode, and the RD cost of tiling.

    python benchmarks/huge_images.py [--sizes 4096 8192] [--whole 4096] [--kodak-images 24]

* Peak RSS (ru_maxrss of a fresh process) of ``licq encode`` and ``licq decode``
  on square mosaics of Kodak images, with the default tiling (1024-px tiles,
  64-px halo) and, for the sizes in ``--whole``, with tiling switched off.
* Tiling cost: the Kodak images coded with 256-px tiles (forced) against
  whole-image coding: bytes, PSNR and how many bitstreams are identical.

Writes results/reliability/huge_images.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from licq.atomic import atomic_write_bytes

OUT = Path("results/reliability")

CHILD = r"""
import resource, sys, time, torch
torch.set_num_threads(2)
import licq
from licq.models import LicqMeanScale
mode, src, dst, tile = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
LicqMeanScale.tile_pixels = tile
t = time.perf_counter()
if mode == "encode":
    data = licq.encode(src, max_pixels=1 << 30)
    open(dst, "wb").write(data)
else:
    licq.decode(open(src, "rb").read(), max_pixels=1 << 30).save(dst)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def mosaic(kodak: Path, side: int) -> Image.Image:
    files = sorted(kodak.glob("*.png"))
    out = Image.new("RGB", (side, side))
    k = 0
    for top in range(0, side, 512):
        for left in range(0, side, 768):
            with Image.open(files[k % len(files)]) as im:
                im = im.convert("RGB")
                if im.width < im.height:
                    im = im.transpose(Image.Transpose.ROTATE_90)
                out.paste(im, (left, top))
            k += 1
    return out


def child(mode: str, src: Path, dst: Path, tile: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(dst), str(tile)],
                         capture_output=True, text=True, check=True).stdout.split()
    return {"seconds": round(float(out[0]), 2), "peak_rss_gib": round(float(out[1]), 3)}


def tiling_cost(kodak: Path, count: int) -> dict:
    import torch

    import licq
    from licq.evaluation.metrics import psnr_images
    from licq.models import LicqMeanScale

    torch.set_num_threads(2)
    rows = []
    for f in sorted(kodak.glob("*.png"))[:count]:
        img = Image.open(f).convert("RGB")
        LicqMeanScale.tile_pixels = 1024
        whole = licq.encode_full(img)
        LicqMeanScale.tile_pixels = 256
        tiles = licq.encode_full(img)
        assert np.array_equal(np.asarray(licq.decode(tiles.data)), np.asarray(tiles.reconstruction))
        rows.append({"image": f.name, "bytes_whole": len(whole.data), "bytes_tiled": len(tiles.data),
                     "psnr_whole": psnr_images(img, whole.reconstruction),
                     "psnr_tiled": psnr_images(img, tiles.reconstruction),
                     "identical_stream": whole.data == tiles.data})
    LicqMeanScale.tile_pixels = 1024
    bw, bt = sum(r["bytes_whole"] for r in rows), sum(r["bytes_tiled"] for r in rows)
    return {"tile_pixels": 256, "halo_pixels": 64, "images": len(rows),
            "rate_change_percent": 100 * (bt / bw - 1),
            "mean_psnr_change_db": float(np.mean([r["psnr_tiled"] - r["psnr_whole"] for r in rows])),
            "max_abs_psnr_change_db": float(np.max([abs(r["psnr_tiled"] - r["psnr_whole"]) for r in rows])),
            "identical_streams": sum(r["identical_stream"] for r in rows), "per_image": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kodak", default="../shared/data/kodak")
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--whole", type=int, nargs="*", default=[4096])
    p.add_argument("--kodak-images", type=int, default=24)
    a = p.parse_args()
    kodak = Path(a.kodak)
    memory = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in a.sizes:
            src = Path(tmp) / f"{side}.png"
            mosaic(kodak, side).save(src)
            for tile in ([1024] + ([1 << 20] if side in a.whole else [])):
                bits = Path(tmp) / f"{side}-{tile}.licq"
                enc = child("encode", src, bits, tile)
                dec = child("decode", bits, Path(tmp) / f"{side}-{tile}.png", tile)
                row = {"size": f"{side}x{side}", "tiling": tile < (1 << 20), "encode": enc, "decode": dec,
                       "bpp": 8 * bits.stat().st_size / side ** 2}
                memory.append(row)
                print(json.dumps(row), file=sys.stderr)
    res = {"command": "python " + " ".join(sys.argv), "machine": "2 CPU cores", "model": "licq-q3 (default), SQ",
           "memory": memory, "tiling_cost_kodak": tiling_cost(kodak, a.kodak_images)}
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(OUT / "huge_images.json", json.dumps(res, indent=1).encode())
    print(json.dumps({k: v for k, v in res["tiling_cost_kodak"].items() if k != "per_image"}, indent=1))


if __name__ == "__main__":
    main()
