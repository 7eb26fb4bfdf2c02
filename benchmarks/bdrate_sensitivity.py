"""Where a licq curve stands against an anchor, point by point, and which point moves the BD-rate.

For each rate point of the test curve: the anchor's PSNR at the same rate (PCHIP in log-rate) and
the gap; then the BD-rate (Akima, as ``licq bdrate``) with that one point raised by ``--delta`` dB.
BD-rate averages over the PSNR range both curves cover, so raising the top point can *worsen* it
(the range then reaches further into a region where the anchor leads):

    python benchmarks/bdrate_sensitivity.py results/kodak/webp.json results/kodak/licq-sq.json \\
        --anchor-gap ../shared/anchors/kodak/compressai-mbt2018-mean_mse_cpu.json \\
        --out results/kodak/bdrate-sensitivity-webp.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from licq.evaluation.bdrate import bd_rate, sorted_curve
from licq.evaluation.results import load_results, save_results


def curve(path: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, metric) of a results file (licq's or CompressAI's, as ``licq bdrate`` reads it), sorted by rate."""
    r = load_results(path)["results"]
    return sorted_curve(r["bpp"], r[metric])


def gaps(anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> list[float | None]:
    """Test minus anchor at each test rate (None outside the anchor's rate range)."""
    f = PchipInterpolator(np.log(anchor[0]), anchor[1])
    lo, hi = anchor[0][0], anchor[0][-1]
    return [float(d - f(np.log(b))) if lo <= b <= hi else None for b, d in zip(*test)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("anchor", type=Path)
    p.add_argument("test", type=Path)
    p.add_argument("--metric", default="psnr-rgb")
    p.add_argument("--delta", type=float, default=0.1, help="dB added to one point at a time")
    p.add_argument("--anchor-gap", type=Path, nargs="*", default=[], help="more anchors: only the gaps")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    anc, test = curve(a.anchor, a.metric), curve(a.test, a.metric)
    base = bd_rate(anc[0], anc[1], test[0], test[1])
    rows = []
    for i, (b, d, g) in enumerate(zip(*test, gaps(anc, test))):
        raised = test[1].copy()
        raised[i] += a.delta
        rows.append({"bpp": float(b), a.metric: float(d), "gap_db": g,
                     "bd_rate_if_raised": bd_rate(anc[0], anc[1], test[0], raised)})
    extra = {str(f): gaps(curve(f, a.metric), test) for f in a.anchor_gap}
    print(f"BD-rate of {a.test} against {a.anchor}: {base:+.2f} %")
    for i, row in enumerate(rows):
        others = "  ".join(f"{Path(f).stem}: {g[i]:+.2f} dB" if g[i] is not None else f"{Path(f).stem}: n/a"
                           for f, g in extra.items())
        gap = f"{row['gap_db']:+.2f} dB" if row["gap_db"] is not None else "n/a"
        print(f"{row['bpp']:.4f} bpp {row[a.metric]:.2f}: gap {gap}; +{a.delta} dB here -> "
              f"BD-rate {row['bd_rate_if_raised']:+.2f} %  {others}")
    if a.out:
        save_results(a.out, {"command": "python " + " ".join(sys.argv), "anchor": str(a.anchor), "test": str(a.test),
                             "metric": a.metric, "delta_db": a.delta, "bd_rate": base, "points": rows,
                             "gaps_to_other_anchors_db": extra})


if __name__ == "__main__":
    main()
