"""Sweep TCQ step Δ and λ_tcq for one zoo model; pick the best setting per state count.

Each TCQ setting gives one (bpp, PSNR) point on the sweep images. It is scored
by its rate saving against the same model's SQ curve (SQ with Δ around 1, log-bpp
interpolated at equal PSNR): the setting with the largest saving wins. Writes
results/tcq/sweep-<model>.json and .png.

    python benchmarks/release/tcq_sweep.py --model licq-q3 [--images ...]
    python benchmarks/release/tcq_sweep.py --model licq-vr --quality 1 4 7 --images ... --tag licq-vr

A variable-rate model is swept at each ``--quality`` against its SQ curve there; the zoo keeps one
TCQ setting per model, so the winner is the setting with the largest mean saving over them.
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


def sweep(images: list[str], model: str, quality: float | None, a: argparse.Namespace) -> tuple[dict, list, list]:
    """The SQ Δ-curve and every TCQ setting's point at one quality (None: a fixed-rate model)."""
    at = {} if quality is None else {"quality": quality}
    label = model if quality is None else f"{model} q{quality:g}"
    sq = evaluate(images, [{"model": model, "step": s, **at} for s in a.sq_steps], name=f"{label} SQ (Δ sweep)",
                  msssim=False)
    curves, table = [sq], []
    for states in a.states:
        pts = [{"model": model, "quantizer": "tcq", "states": states, "step": s, "tcq_lambda": l, **at}
               for s, l in itertools.product(a.steps, a.lambdas)]
        r = evaluate(images, pts, name=f"{label} TCQ-{states}", msssim=False)
        curves.append(r)
        for p, b, q in zip(pts, r["results"]["bpp"], r["results"]["psnr-rgb"]):
            table.append({"states": states, "step": p["step"], "tcq_lambda": p["tcq_lambda"], **at, "bpp": b,
                          "psnr-rgb": q, "saving_vs_sq_percent":
                          saving_vs_sq(sq["results"]["bpp"], sq["results"]["psnr-rgb"], b, q)})
    return sq, curves, table


def best_settings(table: list[dict], states_list: list[int], qualities: list) -> dict:
    """Per state count, the setting with the largest mean saving over ``qualities`` (scored at each)."""
    best = {}
    for states in states_list:
        scored = {}
        for t in table:
            if t["states"] == states and t["saving_vs_sq_percent"] is not None:
                scored.setdefault((t["step"], t["tcq_lambda"]), []).append(t["saving_vs_sq_percent"])
        cands = {k: v for k, v in scored.items() if len(v) == len(qualities)}
        if cands:
            (step, lam), savings = min(cands.items(), key=lambda kv: np.mean(kv[1]))
            best[str(states)] = {"step": step, "tcq_lambda": lam, "saving_vs_sq_percent": float(np.mean(savings)),
                                 **({"per_quality": savings} if qualities != [None] else {})}
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", nargs="+", default=[str(KODAK / f) for f in SWEEP_IMAGES])
    ap.add_argument("--steps", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1])
    ap.add_argument("--sq-steps", type=float, nargs="+", default=SQ_STEPS)
    ap.add_argument("--states", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--quality", type=float, nargs="+",
                    help="a variable-rate model's qualities: one setting is chosen by its mean saving over them")
    ap.add_argument("--tag", help="results name (default: the model's)")
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq"))
    ap.add_argument("--write-manifest", action="store_true", help="store the best settings in the zoo manifest")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = a.tag or a.model

    qualities = a.quality or [None]
    curves, table, sqs = [], [], {}
    for quality in qualities:
        sq, c, t = sweep(a.images, a.model, quality, a)
        curves += c
        table += t
        sqs["" if quality is None else f"{quality:g}"] = {"steps": a.sq_steps, "bpp": sq["results"]["bpp"],
                                                         "psnr-rgb": sq["results"]["psnr-rgb"]}
    best = best_settings(table, a.states, qualities)
    result = {"model": a.model, "images": [Path(i).name for i in a.images],
              **({"sq": sqs[""]} if a.quality is None else {"qualities": a.quality, "sq_per_quality": sqs}),
              "tcq": table, "best": best,
              "command": "python benchmarks/release/tcq_sweep.py " + " ".join(sys.argv[1:])}
    save_results(out / f"sweep-{tag}.json", {"name": a.model, "results": curves[0]["results"], **result})
    for c in curves:
        c["style"] = {"linestyle": "-" if "SQ" in c["name"] else "none"}
    source = "Kodak" if all(Path(i).parent == KODAK for i in a.images) else "sweep"
    plot_rd(curves, out / f"sweep-{tag}.png", title=f"TCQ sweep, {a.model}, {len(a.images)} {source} images",
            metrics=("psnr-rgb",))
    if a.write_manifest:
        from licq.zoo.export import set_tcq_defaults

        set_tcq_defaults(a.model, best, f"results/tcq/sweep-{tag}.json")
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    main()
