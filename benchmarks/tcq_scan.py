"""What the TCQ scan order costs: one trellis per channel row (default) vs per channel (raster).

Rows: C·H trellises of length W, decoded in W sequential steps. Raster: C trellises
of length H·W, decoded in H·W sequential steps. Same model, Δ, λ_tcq and images.
Writes results/tcq/scan.json.

    python benchmarks/tcq_scan.py [--model licq-q3] [--images 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import statistics
from pathlib import Path

from licq.evaluation.rd import evaluate
from licq.evaluation.results import save_results
from licq.quantizers.defaults import quantizer_defaults
from licq.zoo import manifest

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--states", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq" / "scan.json"))
    a = ap.parse_args()
    model = a.model or manifest()["default"]
    files = sorted(KODAK.glob("*.png"))[: a.images]
    settings = quantizer_defaults(model, "tcq", None, a.states, None)
    out = {"model": model, "images": [f.name for f in files], "settings": settings, "scans": {},
           "command": " ".join(["python", "benchmarks/tcq_scan.py", *sys.argv[1:]])}
    for scan in ("rows", "raster"):
        r = evaluate(files, [{"model": model, "quantizer": "tcq", "scan": scan, **settings}],
                     name=f"TCQ-{a.states} {scan}", msssim=False)
        rows = r["per_image"]
        out["scans"][scan] = {"bpp": r["results"]["bpp"][0], "psnr-rgb": r["results"]["psnr-rgb"][0],
                              "median_encode_s": statistics.median(x["encoding_time"] for x in rows),
                              "median_decode_s": statistics.median(x["decoding_time"] for x in rows),
                              "exact": r["exact"]}
    out["raster_minus_rows"] = {k: out["scans"]["raster"][k] - out["scans"]["rows"][k]
                                for k in ("bpp", "psnr-rgb", "median_encode_s", "median_decode_s")}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    save_results(a.out, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
