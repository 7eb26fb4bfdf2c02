"""Issue 15: which λ should refinement use when the quantizer's step is not the model's Δ = 1?

Refinement minimises ``bpp + λ·255²·MSE`` with the model's training λ, the slope of the
rate-distortion trade-off at the model's own operating point (SQ, Δ = 1). TCQ in the zoo runs at
Δ = 0.5, where each model codes 19–32 % more rate at higher PSNR: a point on a steeper part of the
trade-off. Refining there with the training λ pulls the latents back toward the model's own rate,
so the refined curve slides down the RD curve instead of moving above it. This encodes every
image at every zoo quality with the quantizer at effort 0, and at effort N with λ scaled by each
factor, and reports each refined curve's BD-rate against effort 0 (real files, mean bpp and PSNR
over the images per quality, as ``licq eval``).

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refine_lambda_scale.py \\
        --images 1 5 9 13 17 21 --quantizer tcq --states 8 --scales 1 2 4 --tag tcq8-e1

Rows go to results/refine/lambda-scale-<tag>.jsonl (resumed with --resume), the summary to
results/refine/lambda-scale-<tag>.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import licq.codec as codec
from licq.evaluation.bdrate import bd_psnr, bd_rate
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.imageio import open_image
from licq.zoo import model_lambda

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from refine_lr import refine_overrides  # noqa: E402
from rows import append_row, kodak_files, row_log  # noqa: E402
OUT = ROOT / "results" / "refine"
QUALITIES = (1, 2, 3, 4)


def encode_row(path: Path, quality: int, quantizer: str, states: int | None, effort: int,
               scale: float | None) -> dict:
    """One real file: ``path`` at zoo ``quality``, refined at ``effort`` with the search's λ set to
    scale × training λ, whatever rule the codec applies to it (None: effort 0)."""
    change = {} if scale is None else {"lmbda": scale * model_lambda(f"licq-q{quality}")}
    img = open_image(path)
    with refine_overrides(**change):
        r = codec.encode_full(img, quality=quality, quantizer=quantizer, states=states, finetuned="auto",
                              effort=effort)
    return {"image": path.name, "quality": quality, "quantizer": quantizer, "states": states, "effort": effort,
            "scale": scale, "bpp": r.bpp, "psnr-rgb": psnr_images(img, r.reconstruction),
            "encode_s": r.seconds["encode"]}


def curve(rows: list[dict], images: list[str]) -> tuple[list[float], list[float]]:
    """Mean bpp and PSNR per quality over ``images`` (every image must be present)."""
    bpp, psnr = [], []
    for q in QUALITIES:
        sel = {r["image"]: r for r in rows if r["quality"] == q}
        bpp.append(float(np.mean([sel[i]["bpp"] for i in images])))
        psnr.append(float(np.mean([sel[i]["psnr-rgb"] for i in images])))
    return bpp, psnr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, nargs="+", default=[1, 5, 9, 13, 17, 21])
    p.add_argument("--quantizer", default="tcq", choices=["sq", "tcq", "rdoq"])
    p.add_argument("--states", type=int, default=None)
    p.add_argument("--effort", type=int, default=1)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--tag", required=True)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    files = kodak_files(a.images, "refine_lambda_scale.py")
    rows_path, rows = row_log(OUT, f"lambda-scale-{a.tag}.jsonl", a.resume)
    have = {(r["image"], r["quality"], r["effort"], r["scale"]) for r in rows}
    jobs = [(0, None)] + [(a.effort, s) for s in a.scales]
    for f in files:
        for quality in QUALITIES:
            for effort, scale in jobs:
                if (f.name, quality, effort, scale) in have:
                    continue
                row = encode_row(f, quality, a.quantizer, a.states, effort, scale)
                append_row(rows_path, row)
                rows.append(row)
                print(f"{f.name} q{quality} effort {effort} scale {scale}: {row['bpp']:.4f} bpp "
                      f"{row['psnr-rgb']:.3f} dB {row['encode_s']:.1f} s", flush=True)
    names = [f.name for f in files]
    base = curve([r for r in rows if r["effort"] == 0], names)
    summary = []
    for effort, scale in jobs[1:]:
        c = curve([r for r in rows if r["effort"] == effort and r["scale"] == scale], names)
        summary.append({"effort": effort, "scale": scale, "bpp": c[0], "psnr-rgb": c[1],
                        "bd_rate_vs_effort0": bd_rate(*base, *c), "bd_psnr_vs_effort0": bd_psnr(*base, *c)})
        s = summary[-1]
        print(f"effort {effort}, λ × {scale}: BD-rate {s['bd_rate_vs_effort0']:+.2f} % "
              f"(BD-PSNR {s['bd_psnr_vs_effort0']:+.3f} dB) against effort 0")
    save_results(OUT / f"lambda-scale-{a.tag}.json",
                 {"quantizer": a.quantizer, "states": a.states, "images": names, "effort0": {"bpp": base[0], "psnr-rgb": base[1]},
                  "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
