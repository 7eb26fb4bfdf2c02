"""Issue 13, item 3: does per-channel distortion weighting make TCQ-8 / RDOQ beat SQ? Real files.

Every zoo quality is encoded with SQ (Δ = 1, the anchor) and with TCQ-8 / RDOQ,
unweighted and channel-weighted (``weighting="channel"``), with λ tuned (zoo TCQ default; RDOQ's
(ln 2/6)·Δ²) or derived from the training λ (the manifest's ``channel_weights``). BD-rate (Akima, PSNR-RGB)
of each four-point curve against SQ on the same images. Writes results/tcq/weighting-<tag>.json.

Rate is the size of the real file; PSNR is that of the encoder's reconstruction, which the
decoder reproduces bit for bit (tested for every quantizer: tests/test_tcq.py, test_rdoq.py), so
the decode is skipped to save CPU. The SQ and TCQ-8-tuned rows are taken from
results/kodak/licq-{sq,tcq8}.json (same images, bitstreams unchanged by the weighting code)
unless ``--recompute``.

    nice -n 15 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/release/tcq_weighting_eval.py --images 8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from licq.evaluation.bdrate import bd_psnr, bd_rate
from licq.codec import encode_full
from licq.evaluation.metrics import psnr_images
from licq.imageio import open_image
from licq.evaluation.results import save_results
from licq.zoo import channel_weights_record

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
QUALITIES = [1, 2, 3, 4]
MODELS = {q: f"licq-q{q}" for q in QUALITIES}


def configs(derived: dict[int, float]) -> dict[str, list[dict]]:
    """Curve name -> one encode_full setting per quality."""
    def pts(**kw) -> list[dict]:
        return [{"quality": q, **{k: (v(q) if callable(v) else v) for k, v in kw.items()}} for q in QUALITIES]
    lam = lambda q: derived[q]  # noqa: E731
    return {
        "sq": pts(quantizer="sq"),
        "tcq8 tuned": pts(quantizer="tcq", states=8),
        "tcq8 derived": pts(quantizer="tcq", states=8, tcq_lambda=lam),
        "tcq8 weighted tuned": pts(quantizer="tcq", states=8, weighting="channel"),
        "tcq8 weighted derived": pts(quantizer="tcq", states=8, weighting="channel", tcq_lambda=lam),
        "rdoq default": pts(quantizer="rdoq"),
        "rdoq derived": pts(quantizer="rdoq", tcq_lambda=lam),
        "rdoq weighted derived": pts(quantizer="rdoq", weighting="channel", tcq_lambda=lam),
        "rdoq weighted default": pts(quantizer="rdoq", weighting="channel", tcq_lambda=0.1155245),
    }


def run_curve(files: list[Path], points: list[dict]) -> dict:
    """Mean bpp / PSNR per point over ``files`` from real encodes, and the per-image rows."""
    rows, res = [], {"bpp": [], "psnr-rgb": []}
    images = [(f.name, open_image(f)) for f in files]
    for p in points:
        acc = []
        for name, img in images:
            r = encode_full(img, **p)
            acc.append((r.bpp, psnr_images(img, r.reconstruction)))
            rows.append({"image": name, **p, "bytes": len(r.data), "bpp": acc[-1][0], "psnr-rgb": acc[-1][1]})
        res["bpp"].append(float(np.mean([a[0] for a in acc])))
        res["psnr-rgb"].append(float(np.mean([a[1] for a in acc])))
    return {"results": res, "settings": points, "per_image": rows}


def stored_curve(path: Path, files: list[Path]) -> dict:
    """A curve of results/kodak restricted to ``files`` (its per-image rows, qualities 1..4)."""
    rows = [r for r in json.loads(path.read_text())["per_image"] if r["image"] in {f.name for f in files}]
    res = {m: [float(np.mean([r[m] for r in rows if r["quality"] == q])) for q in QUALITIES]
           for m in ("bpp", "psnr-rgb")}
    return {"results": res, "settings": f"from {path.relative_to(ROOT)}", "per_image": rows}


def own_sq_savings(model: str, points: list[dict], out: Path, images: int | None = None) -> None:
    """Each point's rate change against the model's own SQ Δ-curve (tcq_sweep's score).

    Isolates a setting at a fixed λ and Δ, without the zoo ladder's irregularity. By default on
    the sweep images, against the SQ curve stored by the sweep; with ``images`` on the first N
    Kodak images, against an SQ Δ-curve (the sweep's Δ values) encoded here on the same images.
    """
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # tcq_sweep.py, beside this script
    from tcq_sweep import SQ_STEPS, SWEEP_IMAGES, saving_vs_sq
    if images:
        files = sorted(KODAK.glob("*.png"))[:images]
        sq = run_curve(files, [{"model": model, "step": st} for st in SQ_STEPS])["results"]
        tag = f"{model}-kodak{images}"
    else:
        sq = json.loads((ROOT / "results" / "tcq" / f"sweep-{model}.json").read_text())["sq"]
        files, tag = [KODAK / f for f in SWEEP_IMAGES], model
    pts = [{"model": model, **p} for p in points]
    r = run_curve(files, pts)
    rows = []
    for p, b, q in zip(pts, r["results"]["bpp"], r["results"]["psnr-rgb"]):
        rows.append({**p, "bpp": b, "psnr-rgb": q, "rate_vs_own_sq_percent":
                     saving_vs_sq(sq["bpp"], sq["psnr-rgb"], b, q)})
        print(rows[-1], flush=True)
    save_results(out / f"weighting-own-sq-{tag}.json", {"images": [f.name for f in files], "points": rows,
                                                        "sq": {"bpp": sq["bpp"], "psnr-rgb": sq["psnr-rgb"]},
                                                        "per_image": r["per_image"]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=8, help="first N Kodak images (sorted)")
    ap.add_argument("--curves", nargs="+", help="subset of curve names")
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq"))
    ap.add_argument("--recompute", action="store_true", help="encode SQ and TCQ-8 tuned too")
    ap.add_argument("--own-sq", metavar="MODEL", help="instead: fixed-λ points of MODEL (--points JSON) "
                    "scored against its own SQ Δ-curve on the sweep images")
    ap.add_argument("--points", help="JSON list of encode_full settings for --own-sq")
    ap.add_argument("--own-sq-images", type=int, metavar="N",
                    help="with --own-sq: score on the first N Kodak images against an SQ Δ-curve encoded on them")
    a = ap.parse_args()
    Path(a.out).mkdir(parents=True, exist_ok=True)  # before hours of encoding, not after
    if a.own_sq:
        own_sq_savings(a.own_sq, json.loads(a.points), Path(a.out), a.own_sq_images)
        return
    files = sorted(KODAK.glob("*.png"))[:a.images]
    derived = {q: channel_weights_record(MODELS[q])["lambda"] for q in QUALITIES}
    cfg = configs(derived)
    names = a.curves or list(cfg)
    if "sq" not in names:
        names = ["sq", *names]
    curves, table = {}, {}
    for name in names:
        stored = {"sq": "licq-sq.json", "tcq8 tuned": "licq-tcq8.json"}.get(name)
        r = stored_curve(ROOT / "results" / "kodak" / stored, files) if stored and not a.recompute \
            else run_curve(files, cfg[name])
        curves[name] = r
        res = r["results"]
        line = f"{name:24s} bpp " + " ".join(f"{b:.4f}" for b in res["bpp"]) + "  psnr " + \
            " ".join(f"{p:.3f}" for p in res["psnr-rgb"])
        if name != "sq":
            sq = curves["sq"]["results"]
            table[name] = {"bd_rate_percent": bd_rate(sq["bpp"], sq["psnr-rgb"], res["bpp"], res["psnr-rgb"]),
                           "bd_psnr_db": bd_psnr(sq["bpp"], sq["psnr-rgb"], res["bpp"], res["psnr-rgb"])}
            line += f"  BD-rate {table[name]['bd_rate_percent']:+.2f} %"
        print(line, flush=True)
        tag = f"kodak{a.images}"
        save_results(Path(a.out) / f"weighting-{tag}.json",
                     {"images": [f.name for f in files], "derived_lambda": derived, "bdrate_vs_sq": table,
                      "curves": curves})


if __name__ == "__main__":
    main()
