"""Sweep TCQ step Δ and λ_tcq for one zoo model; pick the best setting per state count.

Each TCQ setting gives one (bpp, PSNR) point on the sweep images. It is scored
by its rate saving against the same model's SQ curve (SQ with Δ around 1, log-bpp
interpolated at equal PSNR): the setting with the largest saving wins. Writes
results/tcq/sweep-<model>.json and .png.

    python benchmarks/release/tcq_sweep.py --model licq-q3 [--images ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from licq.evaluation.plot import plot_rd
from licq.evaluation.rd import evaluate
from licq.evaluation.results import save_results

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
SQ_STEPS = [0.7, 0.85, 1.0, 1.2, 1.4]  # the SQ Δ-curve every TCQ point is scored against
SWEEP_IMAGES = ["kodim01.png", "kodim04.png", "kodim08.png", "kodim13.png", "kodim19.png", "kodim23.png"]


def saving_vs_sq(sq_bpp, sq_psnr, bpp, psnr) -> float | None:
    """Rate change (%) of a point against the SQ curve at the same PSNR; None outside its range."""
    order = np.argsort(sq_psnr)
    p, b = np.asarray(sq_psnr)[order], np.log(np.asarray(sq_bpp)[order])
    if not p[0] <= psnr <= p[-1]:
        return None
    return float(100 * (bpp / np.exp(np.interp(psnr, p, b)) - 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", nargs="+", default=[str(KODAK / f) for f in SWEEP_IMAGES])
    ap.add_argument("--steps", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1])
    ap.add_argument("--sq-steps", type=float, nargs="+", default=SQ_STEPS)
    ap.add_argument("--states", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq"))
    ap.add_argument("--write-manifest", action="store_true", help="store the best settings in the zoo manifest")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    sq = evaluate(a.images, [{"model": a.model, "step": s} for s in a.sq_steps], name=f"{a.model} SQ (Δ sweep)",
                  msssim=False)
    curves, table = [sq], []
    for states in a.states:
        pts = [{"model": a.model, "quantizer": "tcq", "states": states, "step": s, "tcq_lambda": l}
               for s, l in itertools.product(a.steps, a.lambdas)]
        r = evaluate(a.images, pts, name=f"{a.model} TCQ-{states}", msssim=False)
        curves.append(r)
        for p, b, q in zip(pts, r["results"]["bpp"], r["results"]["psnr-rgb"]):
            table.append({"states": states, "step": p["step"], "tcq_lambda": p["tcq_lambda"], "bpp": b,
                          "psnr-rgb": q, "saving_vs_sq_percent":
                          saving_vs_sq(sq["results"]["bpp"], sq["results"]["psnr-rgb"], b, q)})
    best = {}
    for states in a.states:
        cands = [t for t in table if t["states"] == states and t["saving_vs_sq_percent"] is not None]
        if cands:
            b = min(cands, key=lambda t: t["saving_vs_sq_percent"])
            best[str(states)] = {"step": b["step"], "tcq_lambda": b["tcq_lambda"],
                                 "saving_vs_sq_percent": b["saving_vs_sq_percent"]}
    result = {"model": a.model, "images": [Path(i).name for i in a.images],
              "sq": {"steps": a.sq_steps, "bpp": sq["results"]["bpp"], "psnr-rgb": sq["results"]["psnr-rgb"]},
              "tcq": table, "best": best,
              "command": "python benchmarks/release/tcq_sweep.py " + " ".join(sys.argv[1:])}
    save_results(out / f"sweep-{a.model}.json", {"name": a.model, "results": sq["results"], **result})
    for c in curves:
        c["style"] = {"linestyle": "-" if "SQ" in c["name"] else "none"}
    plot_rd(curves, out / f"sweep-{a.model}.png", title=f"TCQ sweep, {a.model}, {len(a.images)} Kodak images",
            metrics=("psnr-rgb",))
    if a.write_manifest:
        from licq.zoo.export import set_tcq_defaults

        set_tcq_defaults(a.model, best, f"results/tcq/sweep-{a.model}.json")
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    main()
