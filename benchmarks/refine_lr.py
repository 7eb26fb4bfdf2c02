"""Issue 15: does refinement's step size hold back the short efforts? Real files, RD loss per image.

``licq.refine`` runs Adam from ``LEARNING_RATE`` (0.02 levels) down a cosine for every effort,
so 20 iterations can move a latent by at most about 0.2 levels: perhaps too little to reach
what 200 iterations find. This encodes each image at effort 0 and at the chosen efforts with
several initial learning rates (``RefineSettings.learning_rate``; nothing else changes) and
reports the model's own objective on the real file, ``bpp + λ·255²·MSE``, against effort 0.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refine_lr.py --images 1 9 17 \\
        --quality 3 --efforts 1 --lrs 0.02 0.05 0.1 0.2 --tag q3-e1

Rows go to results/refine/lr-<tag>.jsonl (resumed with --resume), the summary to
results/refine/lr-<tag>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import licq.codec as codec
from licq.evaluation.metrics import psnr_images, rd_loss
from licq.evaluation.results import save_results
from licq.imageio import open_image
from licq.refine import EFFORT_ITERATIONS
from licq.zoo import model_lambda

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from rows import append_row, kodak_files, row_log  # noqa: E402
OUT = ROOT / "results" / "refine"


@contextmanager
def refine_overrides(**changes):
    """Within the block, every refinement the codec runs uses its usual
    :class:`~licq.refine.RefineSettings` with ``changes`` applied (none: unchanged)."""
    plain = codec.refine_settings
    if changes:
        codec.refine_settings = lambda *a: dataclasses.replace(plain(*a), **changes)
    try:
        yield
    finally:
        codec.refine_settings = plain


def encode_row(path: Path, quality: int, effort: int, lr: float | None, tau: float | None = None) -> dict:
    """Encode ``path`` with refinement at initial learning rate ``lr`` (None: effort 0) and
    initial SGA temperature ``tau`` (None: the default)."""
    change = {}
    if lr is not None:  # effort 0 has nothing to change
        change["learning_rate"] = lr
        if tau is not None:
            change["tau_start"] = tau
    img = open_image(path)
    with refine_overrides(**change):
        r = codec.encode_full(img, quality=quality, effort=effort)
    psnr = psnr_images(img, r.reconstruction)
    return {"image": path.name, "quality": quality, "effort": effort, "lr": lr, "tau": tau, "bpp": r.bpp,
            "psnr-rgb": psnr, "encode_s": r.seconds["encode"]}


def row_loss(row: dict, lmbda: float) -> float:
    """The training objective on one real file: bpp + λ·255²·MSE (MSE of [0, 1] pixels)."""
    return rd_loss([row["bpp"]], [row["psnr-rgb"]], lmbda)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, nargs="+", default=[1, 9, 17])
    p.add_argument("--quality", type=int, default=3)
    p.add_argument("--efforts", type=int, nargs="+", default=[1])
    p.add_argument("--lrs", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    p.add_argument("--taus", type=float, nargs="+", default=[None],
                   help="initial SGA temperatures to try with every learning rate (default: the built-in one)")
    p.add_argument("--tag", required=True)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    files = kodak_files(a.images, "refine_lr.py")
    rows_path, rows = row_log(OUT, f"lr-{a.tag}.jsonl", a.resume)
    have = {(r["image"], r["effort"], r["lr"], r.get("tau")) for r in rows}
    jobs = [(0, None, None)] + [(e, lr, t) for e in a.efforts for lr in a.lrs for t in a.taus]
    for f in files:
        for effort, lr, tau in jobs:
            if (f.name, effort, lr, tau) in have:
                continue
            row = encode_row(f, a.quality, effort, lr, tau)
            append_row(rows_path, row)
            rows.append(row)
            print(f"{f.name} effort {effort} lr {lr} tau {tau}: {row['bpp']:.4f} bpp {row['psnr-rgb']:.3f} dB "
                  f"{row['encode_s']:.1f} s", flush=True)
    lmbda = model_lambda(f"licq-q{a.quality}")
    base = {r["image"]: r for r in rows if r["effort"] == 0}
    summary = []
    for effort, lr, tau in jobs[1:]:
        sel = [r for r in rows if r["effort"] == effort and r["lr"] == lr and r.get("tau") == tau and r["image"] in base]
        gain = [row_loss(r, lmbda) / row_loss(base[r["image"]], lmbda) - 1 for r in sel]
        summary.append({"effort": effort, "iterations": EFFORT_ITERATIONS[effort], "lr": lr, "tau": tau, "images": len(sel),
                        "rd_loss_change": float(np.mean(gain)),
                        "bpp_change": float(np.mean([r["bpp"] / base[r["image"]]["bpp"] - 1 for r in sel])),
                        "psnr_change_db": float(np.mean([r["psnr-rgb"] - base[r["image"]]["psnr-rgb"] for r in sel])),
                        "time_ratio": float(np.mean([r["encode_s"] / base[r["image"]]["encode_s"] for r in sel]))})
        s = summary[-1]
        print(f"effort {effort} lr {lr} tau {tau}: RD loss {100 * s['rd_loss_change']:+.2f} %, bpp {100 * s['bpp_change']:+.2f} %, "
              f"PSNR {s['psnr_change_db']:+.3f} dB, {s['time_ratio']:.0f}x")
    save_results(OUT / f"lr-{a.tag}.json", {"quality": a.quality, "lambda": lmbda, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
