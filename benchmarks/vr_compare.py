"""Variable-rate curves side by side: every SQ point of some ``variable_rate_curve.py`` files against
one reference point and against the zoo, over the whole range and its low and high ends.

Nothing is coded: the BD-rates come from the stored bpp and PSNR of each point (24 Kodak images,
qualities 1-7). It answers "did this run, or this start, beat that one, and where".

    python benchmarks/vr_compare.py results/campaign/vr-kodak.json results/campaign/vr-q4warm-kodak.json \\
        --reference "step 0" --out results/campaign/vr-warm-starts.json

The reference is the first point with that label in the first file that has one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from licq.evaluation.bdrate import bd_rate
from licq.evaluation.results import provenance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variable_rate_curve import ZOO, quantizer_of, ranges, references  # noqa: E402


def compare(curves: list[Path], reference: str) -> dict:
    """The rows: each SQ point's label, file, bpp/PSNR ends and BD-rates against the reference and the zoo."""
    points = [(path, p) for path in curves for p in json.loads(path.read_text())["points"] if quantizer_of(p) == "sq"]
    ref = next((p for _, p in points if p["label"] == reference), None)
    if ref is None:
        raise SystemExit(f"vr_compare.py: no SQ point labelled {reference!r} in {', '.join(map(str, curves))}")
    zoo = references().get(ZOO)
    rows = []
    for path, p in points:
        if list(p["qualities"]) != list(ref["qualities"]) or p.get("images") != ref.get("images"):
            continue  # other qualities or images: not comparable point by point
        against = {f"{reference}{part or ', all'}": bd_rate(*([c[i] for i in idx] for c in
                                                             (ref["bpp"], ref["psnr-rgb"], p["bpp"], p["psnr-rgb"])))
                   for part, idx in ranges(p["qualities"]).items()}
        if zoo:
            against[ZOO] = bd_rate(*zoo, p["bpp"], p["psnr-rgb"])
        rows.append({"file": str(path), "label": p["label"], "step": p.get("step"),
                     "lowest": [p["bpp"][0], p["psnr-rgb"][0]], "highest": [p["bpp"][-1], p["psnr-rgb"][-1]],
                     "bd_rate_percent": against})
    return {"reference": reference, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("curves", nargs="+", type=Path, help="results of variable_rate_curve.py (JSON)")
    ap.add_argument("--reference", required=True, help="label of the point the others are measured against")
    ap.add_argument("--out", type=Path, help="also write the rows here (JSON, with command and commit)")
    a = ap.parse_args()
    result = compare(a.curves, a.reference)
    for r in result["rows"]:
        bd = "  ".join(f"{k} {v:+.2f} %" for k, v in r["bd_rate_percent"].items())
        print(f"{Path(r['file']).stem}: {r['label']:28s} {r['lowest'][0]:.3f} bpp {r['lowest'][1]:.2f} dB .. "
              f"{r['highest'][0]:.3f} bpp {r['highest'][1]:.2f} dB  {bd}")
    if a.out:
        a.out.write_text(json.dumps({**result, **provenance()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
