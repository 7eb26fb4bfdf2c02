"""The zoo's adoption rule, read from measurements already made: may a candidate replace a model?

A candidate replaces a shipped model only if all three hold, on real files:

1. its Kodak RD loss (mean bpp + λ·255²·mean MSE, SQ Δ = 1, first generation) is lower;
2. its mean Kodak PSNR is at least the shipped model's at every one of the recompression
   generations (benchmarks/recompression.py, SQ);
3. its mean PSNR after the last generation on the synthetic colour gradients
   (benchmarks/synthetic_drift.py) is no lower than the shipped model's.

    python benchmarks/adoption_check.py --lmbda 0.013 \\
        --recompression results/reliability/recompression-ws4-q4.json \\
                        results/reliability/recompression-ws2-q4.json \\
        --drift results/reliability/synthetic-drift-ws4-q4.json \\
                results/reliability/synthetic-drift-q3-15000.json \\
        --drift-models /root/licq-ws4/q4/checkpoint.pt licq-q4

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


def recompression_summary(path: Path, lmbda: float) -> dict:
    """First-generation bpp, PSNR and RD loss and the per-generation mean PSNR of one SQ run."""
    rows = [r for r in json.loads(path.read_text())["per_image"] if r["quantizer"] == "sq"]
    if not rows:
        raise SystemExit(f"adoption_check: {path} has no SQ rows")
    bpps, psnrs = [r["bpp"][0] for r in rows], [r["psnr"][0] for r in rows]
    return {"file": str(path), "images": len(rows), "bpp": float(np.mean(bpps)),
            "psnr-rgb": float(np.mean(psnrs)), "rd_loss": rd_loss(bpps, psnrs, lmbda),
            "psnr_per_generation": np.mean([r["psnr"] for r in rows], axis=0).tolist()}


def drift_last(path: Path, model: str | None) -> float:
    """Mean PSNR after the last generation of one model of a synthetic-drift file."""
    models = json.loads(path.read_text())["models"]
    if model is None and len(models) == 1:
        return float(models[0]["mean_last_db"])
    found = [m for m in models if m["model"] == model]
    if not found:
        raise SystemExit(f"adoption_check: {path} has no model {model!r}; it has "
                         + ", ".join(m["model"] for m in models))
    return float(found[0]["mean_last_db"])


def verdict(cand: dict, ship: dict, drift: tuple[float, float]) -> dict:
    """The three parts of the rule and the overall answer."""
    n = min(len(cand["psnr_per_generation"]), len(ship["psnr_per_generation"]))
    gaps = [c - s for c, s in zip(cand["psnr_per_generation"][:n], ship["psnr_per_generation"][:n])]
    parts = {"rd_loss_lower": cand["rd_loss"] < ship["rd_loss"],
             "psnr_at_every_generation": min(gaps) >= 0.0,
             "synthetic_drift_no_lower": drift[0] >= drift[1]}
    return {"parts": parts, "adopt": all(parts.values()), "generations": n,
            "psnr_gap_per_generation_db": gaps, "synthetic_last_db": {"candidate": drift[0], "shipped": drift[1]},
            "candidate": cand, "shipped": ship}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lmbda", type=float, required=True, help="the models' training λ (for the RD loss)")
    p.add_argument("--recompression", type=Path, nargs=2, required=True, metavar=("CANDIDATE", "SHIPPED"))
    p.add_argument("--drift", type=Path, nargs=2, required=True, metavar=("CANDIDATE", "SHIPPED"))
    p.add_argument("--drift-models", nargs=2, metavar=("CANDIDATE", "SHIPPED"),
                   help="model names inside the drift files (needed where a file holds several)")
    p.add_argument("--out", type=Path, help="also write the verdict here as JSON")
    a = p.parse_args()
    for f in [*a.recompression, *a.drift]:
        if not f.is_file():
            raise SystemExit(f"adoption_check: no such file: {f}")
    names = a.drift_models or (None, None)
    cand, ship = (recompression_summary(f, a.lmbda) for f in a.recompression)
    v = verdict(cand, ship, (drift_last(a.drift[0], names[0]), drift_last(a.drift[1], names[1])))
    print(f"RD loss      {cand['rd_loss']:.4f} vs {ship['rd_loss']:.4f}  "
          f"({cand['bpp']:.4f} bpp / {cand['psnr-rgb']:.2f} dB vs {ship['bpp']:.4f} / {ship['psnr-rgb']:.2f})  "
          f"{'ok' if v['parts']['rd_loss_lower'] else 'FAIL'}")
    print(f"generations  PSNR gap min {min(v['psnr_gap_per_generation_db']):+.3f} dB, after {v['generations']} "
          f"{v['psnr_gap_per_generation_db'][-1]:+.3f} dB  {'ok' if v['parts']['psnr_at_every_generation'] else 'FAIL'}")
    s = v["synthetic_last_db"]
    print(f"synthetic    {s['candidate']:.2f} vs {s['shipped']:.2f} dB after the last generation  "
          f"{'ok' if v['parts']['synthetic_drift_no_lower'] else 'FAIL'}")
    print("ADOPT" if v["adopt"] else "KEEP THE SHIPPED MODEL")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        save_results(a.out, {"command": "python " + " ".join(sys.argv), **v})
    sys.exit(0 if v["adopt"] else 1)


if __name__ == "__main__":
    main()
