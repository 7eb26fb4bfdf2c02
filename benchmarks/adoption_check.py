"""The zoo's adoption rule, read from measurements already made: may a candidate replace a model?

A candidate replaces a shipped model only if all three hold, on real files:

1. its Kodak RD loss (mean bpp + λ·255²·mean MSE, SQ Δ = 1, first generation) is lower;
2. its mean Kodak PSNR is at least the shipped model's at every one of the recompression
   generations (benchmarks/recompression.py, SQ);
3. on the synthetic colour gradients (benchmarks/synthetic_drift.py, ten generations) the synthetic
   part is a floor, not a comparison (decided 2026-12 in place of "mean PSNR after the last
   generation no lower than the shipped model's"): after the last generation every image is within
   SYNTHETIC_FLOOR_DB of the shipped model's PSNR on the same image, and no image runs away (its
   PSNR drops by at most RUNAWAY_DB from the first generation to the last).

    python benchmarks/adoption_check.py --lmbda 0.013 \\
        --recompression results/reliability/recompression-ws4-q4.json \\
                        results/reliability/recompression-ws2-q4.json \\
        --drift results/reliability/synthetic-drift-ws4-q4.json \\
                results/reliability/synthetic-drift-q3-15000.json \\
        --drift-models /root/licq-ws4/q4/checkpoint.pt licq-q4

A model the zoo adds beside the others (licq-vr replaces none) has only the synthetic part:
``--synthetic-only`` with the zoo model of its quality as the shipped one, or ``-`` where the zoo has
none (then only the runaway bound applies):

    python benchmarks/adoption_check.py --synthetic-only \
        --drift results/reliability/synthetic-drift-vr.json results/reliability/synthetic-drift-vr.json \
        --drift-models CANDIDATE@4 licq-q4

Candidate first, shipped model second in every pair. Prints the verdict of each part and exits
with 0 when the candidate may be adopted, 1 when not; ``--out`` also writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from licq.evaluation.metrics import rd_loss
from licq.evaluation.results import save_results

SYNTHETIC_FLOOR_DB = 1.0  # a synthetic image may end at most this far below the shipped model's
RUNAWAY_DB = 3.0  # and may lose at most this much over the generations


def recompression_summary(path: Path, lmbda: float) -> dict:
    """First-generation bpp, PSNR and RD loss and the per-generation mean PSNR of one SQ run."""
    rows = [r for r in json.loads(path.read_text())["per_image"] if r["quantizer"] == "sq"]
    if not rows:
        raise SystemExit(f"adoption_check: {path} has no SQ rows")
    bpps, psnrs = [r["bpp"][0] for r in rows], [r["psnr"][0] for r in rows]
    return {"file": str(path), "images": len(rows), "bpp": float(np.mean(bpps)),
            "psnr-rgb": float(np.mean(psnrs)), "rd_loss": rd_loss(bpps, psnrs, lmbda),
            "psnr_per_generation": np.mean([r["psnr"] for r in rows], axis=0).tolist()}


def drift_images(path: Path, model: str | None) -> dict[tuple[int, int, int], list[float]]:
    """Per-generation PSNRs of every synthetic image of one model of a drift file, keyed by (seed, h, w)."""
    models = json.loads(path.read_text())["models"]
    if model is None and len(models) == 1:
        found = models
    else:
        found = [m for m in models if m["model"] == model]
    if not found:
        raise SystemExit(f"adoption_check: {path} has no model {model!r}; it has "
                         + ", ".join(m["model"] for m in models))
    return {(r["seed"], *r["size"]): [float(x) for x in r["psnr"]] for r in found[0]["images"]}


def same_coding(candidate: Path, shipped: Path) -> None:
    """Refuse drift files of different content or quantizers: their images share (seed, size) keys, so
    the rings of one would be compared silently with the gradients of the other (files written before
    ``--family`` and ``--quantizer`` existed are the gradients with SQ)."""
    def coding(path: Path) -> tuple[str, str]:
        r = json.loads(path.read_text())
        return r.get("family", "gradients"), r.get("quantizer", "sq")

    if coding(candidate) != coding(shipped):
        raise SystemExit(f"adoption_check: {candidate} holds {'/'.join(coding(candidate))} and {shipped} "
                         f"{'/'.join(coding(shipped))}: compare drift files of the same family and quantizer")


def synthetic_parts(cand: dict[tuple[int, int, int], list[float]],
                    ship: dict[tuple[int, int, int], list[float]]) -> dict:
    """The synthetic floor: per image, the end point against the shipped model's and the drop over the generations."""
    if set(cand) != set(ship):
        raise SystemExit("adoption_check: the drift files hold different synthetic images "
                         f"({sorted(cand)} against {sorted(ship)})")
    if any(len(cand[k]) != len(ship[k]) for k in cand):
        raise SystemExit("adoption_check: the drift files ran different numbers of generations")
    images = [{"seed": k[0], "size": [k[1], k[2]], "candidate_last_db": cand[k][-1], "shipped_last_db": ship[k][-1],
               "gap_db": cand[k][-1] - ship[k][-1], "drop_db": cand[k][0] - cand[k][-1]} for k in sorted(cand)]
    return {"images": images, "generations": len(next(iter(cand.values()))),
            "worst_gap_db": min(i["gap_db"] for i in images), "worst_drop_db": max(i["drop_db"] for i in images),
            "mean_last_db": {"candidate": float(np.mean([i["candidate_last_db"] for i in images])),
                             "shipped": float(np.mean([i["shipped_last_db"] for i in images]))}}


def runaway_only(cand: dict[tuple[int, int, int], list[float]]) -> dict:
    """The synthetic part where the zoo has no model to compare with: only the drop over the generations."""
    images = [{"seed": k[0], "size": [k[1], k[2]], "candidate_last_db": cand[k][-1],
               "drop_db": cand[k][0] - cand[k][-1]} for k in sorted(cand)]
    return {"images": images, "generations": len(next(iter(cand.values()))), "worst_gap_db": None,
            "worst_drop_db": max(i["drop_db"] for i in images),
            "mean_last_db": {"candidate": float(np.mean([i["candidate_last_db"] for i in images])), "shipped": None}}


def synthetic_verdict(synthetic: dict) -> dict:
    """The synthetic part alone (a model that replaces none): the floor where there is a shipped model, no runaway."""
    parts = {"synthetic_no_runaway": synthetic["worst_drop_db"] <= RUNAWAY_DB}
    if synthetic["worst_gap_db"] is not None:
        parts["synthetic_within_floor"] = synthetic["worst_gap_db"] >= -SYNTHETIC_FLOOR_DB
    return {"parts": parts, "adopt": all(parts.values()),
            "synthetic": {"floor_db": SYNTHETIC_FLOOR_DB, "runaway_db": RUNAWAY_DB, **synthetic}}


def verdict(cand: dict, ship: dict, synthetic: dict) -> dict:
    """The parts of the rule and the overall answer."""
    n = min(len(cand["psnr_per_generation"]), len(ship["psnr_per_generation"]))
    gaps = [c - s for c, s in zip(cand["psnr_per_generation"][:n], ship["psnr_per_generation"][:n])]
    parts = {"rd_loss_lower": cand["rd_loss"] < ship["rd_loss"],
             "psnr_at_every_generation": min(gaps) >= 0.0,
             "synthetic_within_floor": synthetic["worst_gap_db"] >= -SYNTHETIC_FLOOR_DB,
             "synthetic_no_runaway": synthetic["worst_drop_db"] <= RUNAWAY_DB}
    return {"parts": parts, "adopt": all(parts.values()), "generations": n,
            "psnr_gap_per_generation_db": gaps,
            "synthetic": {"floor_db": SYNTHETIC_FLOOR_DB, "runaway_db": RUNAWAY_DB, **synthetic},
            "candidate": cand, "shipped": ship}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lmbda", type=float, help="the models' training λ (for the RD loss)")
    p.add_argument("--recompression", type=Path, nargs=2, metavar=("CANDIDATE", "SHIPPED"))
    p.add_argument("--drift", type=Path, nargs=2, required=True, metavar=("CANDIDATE", "SHIPPED"))
    p.add_argument("--drift-models", nargs=2, metavar=("CANDIDATE", "SHIPPED"),
                   help="model names inside the drift files (needed where a file holds several; "
                        "with --synthetic-only a shipped '-' means none)")
    p.add_argument("--synthetic-only", action="store_true",
                   help="only the synthetic part: a model the zoo adds without replacing one")
    p.add_argument("--out", type=Path, help="also write the verdict here as JSON")
    a = p.parse_args()
    if not a.synthetic_only and (a.lmbda is None or a.recompression is None):
        p.error("--lmbda and --recompression are required (except with --synthetic-only)")
    for f in [*(a.recompression or []), *a.drift]:
        if not f.is_file():
            raise SystemExit(f"adoption_check: no such file: {f}")
    names = a.drift_models or (None, None)
    if not (a.synthetic_only and names[1] == "-"):
        same_coding(*a.drift)
    if a.synthetic_only:
        cand_images = drift_images(a.drift[0], names[0])
        v = synthetic_verdict(runaway_only(cand_images) if names[1] == "-" else
                              synthetic_parts(cand_images, drift_images(a.drift[1], names[1])))
        report_synthetic(v)
        finish(v, a.out, "ADOPT" if v["adopt"] else "DO NOT SHIP")
    cand, ship = (recompression_summary(f, a.lmbda) for f in a.recompression)
    v = verdict(cand, ship, synthetic_parts(drift_images(a.drift[0], names[0]), drift_images(a.drift[1], names[1])))
    print(f"RD loss      {cand['rd_loss']:.4f} vs {ship['rd_loss']:.4f}  "
          f"({cand['bpp']:.4f} bpp / {cand['psnr-rgb']:.2f} dB vs {ship['bpp']:.4f} / {ship['psnr-rgb']:.2f})  "
          f"{'ok' if v['parts']['rd_loss_lower'] else 'FAIL'}")
    print(f"generations  PSNR gap min {min(v['psnr_gap_per_generation_db']):+.3f} dB, after {v['generations']} "
          f"{v['psnr_gap_per_generation_db'][-1]:+.3f} dB  {'ok' if v['parts']['psnr_at_every_generation'] else 'FAIL'}")
    report_synthetic(v)
    finish(v, a.out, "ADOPT" if v["adopt"] else "KEEP THE SHIPPED MODEL")


def report_synthetic(v: dict) -> None:
    """Print the synthetic part of a verdict (the floor only where there was a shipped model)."""
    s = v["synthetic"]
    if s["worst_gap_db"] is not None:
        print(f"synthetic    worst image {s['worst_gap_db']:+.2f} dB against the shipped model's after "
              f"{s['generations']} generations (floor -{SYNTHETIC_FLOOR_DB:.1f})  "
              f"{'ok' if v['parts']['synthetic_within_floor'] else 'FAIL'}")
    shipped = s["mean_last_db"]["shipped"]
    print(f"             worst drop {s['worst_drop_db']:.2f} dB over the generations (at most {RUNAWAY_DB:.1f}); "
          f"mean end {s['mean_last_db']['candidate']:.2f}" + ("" if shipped is None else f" vs {shipped:.2f}")
          + f" dB  {'ok' if v['parts']['synthetic_no_runaway'] else 'FAIL'}")


def finish(v: dict, out: Path | None, answer: str) -> None:
    """Print the answer, write the verdict where asked, exit 0 when the candidate may be adopted."""
    print(answer)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_results(out, {"command": "python " + " ".join(sys.argv), **v})
    sys.exit(0 if v["adopt"] else 1)


if __name__ == "__main__":
    main()
