"""Encode time of each --effort level on an otherwise idle machine (issue 15): seconds per megapixel
and the ratio to plain encoding, the codec's own "encode" time (transforms, refinement, quantizer,
coder), best of --repeat runs per image.

    python benchmarks/refine_speed.py --images 1 23 --threads 2

Writes results/refine/speed.json. Run it with nothing else on the CPU (pause background training
with kill -STOP / -CONT): refine_rd.py's times were taken on a shared machine.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from licq.codec import encode_full
from licq.evaluation.results import save_results
from licq.imageio import open_image
from licq.refine import EFFORT_ITERATIONS
from licq.hardware import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, nargs="+", default=[1, 23])
    p.add_argument("--efforts", type=int, nargs="+", default=list(EFFORT_ITERATIONS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--quality", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for i in a.images:
        img = open_image(KODAK / f"kodim{i:02d}.png")
        mp = img.size[0] * img.size[1] / 1e6
        encode_full(img, quality=a.quality)  # warm-up: model load, allocator
        for effort in a.efforts:
            t = min(encode_full(img, quality=a.quality, effort=effort).seconds["encode"] for _ in range(a.repeat))
            rows.append({"image": f"kodim{i:02d}.png", "effort": effort, "iterations": EFFORT_ITERATIONS[effort],
                         "seconds": t, "seconds_per_megapixel": t / mp})
            print(rows[-1], flush=True)
    summary = {}
    for effort in a.efforts:
        spm = np.mean([r["seconds_per_megapixel"] for r in rows if r["effort"] == effort])
        base = np.mean([r["seconds_per_megapixel"] for r in rows if r["effort"] == 0]) if 0 in a.efforts else None
        summary[str(effort)] = {"iterations": EFFORT_ITERATIONS[effort], "seconds_per_megapixel": float(spm),
                                "ratio_to_effort0": float(spm / base) if base else None}
    save_results(ROOT / "results" / "refine" / "speed.json",
                 {"threads": a.threads, "bf16_refinement": cpu_has_bf16(), "cpu_count": os.cpu_count(),
                  "quality": a.quality, "summary": summary, "rows": rows})
    print(summary)


if __name__ == "__main__":
    main()
