"""Rate-distortion cost of the integer hyper-decoder against the float one it replaces.

Each Kodak image is encoded with every zoo quality and quantizer twice, in one run:
with the integer h_s (what licq writes) and with the float h_s of licq 0.1.0 swapped
in (same weights, tables and index rule; only the hyper-decoder's arithmetic differs).
Bits come from the real files, PSNR from the reconstruction the decoder produces.
Reports, per model and quantizer, the mean change of bpp and PSNR, and the BD-rate of
the integer ladder against the float one.

    python benchmarks/integer_hyper.py [--images 24] [--quantizers sq,tcq8]

Writes results/portable/integer_hyper.json; rows are kept in a journal beside it, so
an interrupted run resumes (``--resume``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from pathlib import Path

import numpy as np

import licq
from licq.evaluation.bdrate import bd_rate
from licq.evaluation.journal import Journal
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.imageio import open_image, to_rgb_array
from licq.models import LicqMeanScale
from licq.quantizers.spec import label_options

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
QUANTIZERS = ("sq", "tcq8", "sq-grid")


@contextlib.contextmanager
def float_hyper_decoder():
    """The float h_s in place of the integer one (the hyper-decoder of licq 0.1.0)."""
    exact = LicqMeanScale.exact_h_s
    LicqMeanScale.exact_h_s = lambda self, z_hat: self.h_s(z_hat)
    try:
        yield
    finally:
        LicqMeanScale.exact_h_s = exact


def code(image: np.ndarray, quality: int, kw: dict) -> tuple[float, float]:
    res = licq.encode_full(image, quality=quality, finetuned="auto", **kw)
    return res.bpp, psnr_images(image, np.asarray(res.reconstruction))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--qualities", default="1,2,3,4")
    ap.add_argument("--quantizers", default="sq,tcq8")
    ap.add_argument("--out", default=str(ROOT / "results" / "portable" / "integer_hyper.json"))
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args()
    images = sorted(KODAK.glob("kodim*.png"))[:a.images]
    qualities = [int(q) for q in a.qualities.split(",")]
    journal = Journal(Path(a.out).with_suffix(".partial.jsonl"), resume=a.resume)
    for path in images:
        image, _ = to_rgb_array(open_image(path))
        for qz in a.quantizers.split(","):
            for q in qualities:
                key = f"{path.stem}/{qz}/q{q}"
                if journal.get(key) is not None:
                    continue
                bpp_i, psnr_i = code(image, q, label_options(qz))
                with float_hyper_decoder():
                    bpp_f, psnr_f = code(image, q, label_options(qz))
                row = {"image": path.name, "quantizer": qz, "quality": q, "integer": [bpp_i, psnr_i],
                       "float": [bpp_f, psnr_f]}
                journal.add(key, row)
                journal.rows[key] = row
                print(key, f"bpp {bpp_i:.4f}/{bpp_f:.4f} psnr {psnr_i:.3f}/{psnr_f:.3f}", flush=True)
    rows = list(journal.rows.values())
    summary = {}
    for qz in a.quantizers.split(","):
        per_model, curves = {}, {"integer": [], "float": []}
        for q in qualities:
            sel = [r for r in rows if r["quantizer"] == qz and r["quality"] == q]
            d_bpp = [100 * (r["integer"][0] / r["float"][0] - 1) for r in sel]
            d_psnr = [r["integer"][1] - r["float"][1] for r in sel]
            per_model[f"q{q}"] = {"bpp_change_percent": statistics.mean(d_bpp),
                                  "psnr_change_db": statistics.mean(d_psnr),
                                  "largest_bpp_change_percent": max(d_bpp, key=abs), "images": len(sel)}
            for arm in curves:
                curves[arm].append((statistics.mean(r[arm][0] for r in sel), statistics.mean(r[arm][1] for r in sel)))
        summary[qz] = {"per_model": per_model,
                       "bd_rate_percent": bd_rate(*zip(*curves["float"]), *zip(*curves["integer"])),
                       "curves": curves}
        print(qz, f"BD-rate integer vs float {summary[qz]['bd_rate_percent']:+.3f} %")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    save_results(a.out, {"summary": summary, "rows": rows})
    journal.close(remove=True)


if __name__ == "__main__":
    main()
