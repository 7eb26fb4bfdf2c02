"""Learning curve of a training run on real files: Kodak bpp, PSNR and RD loss against steps.

Reads the half-precision snapshots that ``licq train --snapshot-every`` keeps in
``RUN/snapshots`` (the campaign keeps them outside the work tree), encodes and
decodes every image with SQ (Δ = 1) for each snapshot not evaluated yet, measures
recompression drift on a few images, and updates a results JSON and a plot. The RD
loss ``bpp + λ·255²·MSE`` is what training minimises, measured here on real
bitstreams; a curve that stops falling is the signal to stop training. Whether a
model replaces the shipped one is decided by the README's adoption rule (lower RD
loss, and higher PSNR at every one of 10 recompression generations on Kodak,
``benchmarks/recompression.py``), not by the few-image drift measured here.

    python benchmarks/learning_curve.py /root/licq-campaign/q3 --lmbda 0.0067 --name q3 --reference licq-q3

A run that restarted from shipped weights counts its steps from 0; ``--step-offset`` (the steps
those weights had) puts its snapshots on the same axis as the run before it. A run that does not
continue the main line (e.g. a warm start from a shipped model while the main run's later
snapshots stay on the plot) gets its own line with ``--series LABEL``:

    python benchmarks/learning_curve.py /root/licq-ws13/camp/q3 --lmbda 0.0067 --name q3 \
        --reference licq-q3 --step-offset 32100 --series "warm start from the 32,100-step q3"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from licq.evaluation.metrics import rd_loss
from licq.evaluation.rd import evaluate, image_files
from licq.evaluation.results import save_results

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recompression import generations, weight_file_arch  # noqa: E402  (benchmarks/recompression.py)

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def evaluate_snapshot(model: str, files: list[Path], lmbda: float) -> dict:
    """Mean bpp, PSNR and RD loss (mean per-image MSE on the [0, 1] scale) of a snapshot or zoo model."""
    res = evaluate(files, [{"model": model, "arch": weight_file_arch(model), "quantizer": "sq"}],
                   name=Path(model).stem, progress=False, msssim=False)
    rows = res["per_image"]
    loss = rd_loss([r["bpp"] for r in rows], [r["psnr-rgb"] for r in rows], lmbda)
    return {"bpp": res["results"]["bpp"][0], "psnr-rgb": res["results"]["psnr-rgb"][0], "rd_loss": loss,
            "exact": res["exact"]}


def recompression(model: str, files: list[Path], n: int = 5) -> dict:
    """The adoption check's second half: PSNR drift from generation 1 to ``n`` of encode -> decode
    (SQ, :func:`recompression.generations`), and the mean signed RGB error after one generation
    (a brightness bias shows there)."""
    from licq.evaluation.metrics import psnr_images
    from licq.imageio import open_image
    drifts, bias = [], []
    for f in files:
        img = open_image(f)
        decoded, _ = generations(img, n, model, arch=weight_file_arch(model))
        drifts.append(psnr_images(img, decoded[0]) - psnr_images(img, decoded[-1]))
        bias.append(float(np.mean(np.asarray(decoded[0], dtype=np.float64) - np.asarray(img, dtype=np.float64))))
    return {"recompression_images": [Path(f).name for f in files], "recompression_generations": n,
            "recompression_drift_db": float(np.mean(drifts)), "mean_rgb_error_gen1": float(np.mean(bias))}


def _sha256(name: str | None) -> str | None:
    """The zoo's sha256 of a model's weights: a reference is re-measured when the zoo replaced it."""
    from licq.zoo import entry

    return entry(name)["sha256"] if name else None


def plot(curve: dict, path: Path, since: int = 0) -> None:
    """RD loss, PSNR and bpp against steps, one line per series; ``since`` > 0 draws only the
    snapshots from that step on, where the late points of a flattening curve can be told apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(dict.fromkeys(p.get("series") for p in sorted(curve["points"], key=lambda p: p["step"])))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in zip(axes, ("rd_loss", "psnr-rgb", "bpp"),
                              (f"RD loss (bpp + λ·255²·MSE, λ={curve['lmbda']:g})", "PSNR (dB)", "bpp")):
        for s in series:
            pts = sorted((p for p in curve["points"] if p.get("series") == s and p["step"] >= since),
                         key=lambda p: p["step"])
            ax.plot([p["step"] for p in pts], [p[key] for p in pts], "o-", ms=4 if s is None else 5,
                    label=s or "campaign snapshots")
        ref = curve.get("reference")
        if ref:
            ax.axhline(ref[key], color="gray", ls="--", label=f"shipped {ref['model']}")
        if ref or len(series) > 1:
            ax.legend(fontsize=8)
        ax.set_xlabel("training steps (batch 8, 256x256)")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{curve['name']}: Kodak (24 images), real files, SQ Δ=1"
                 + (f", from step {since:,}" if since else ""), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="training run folder with snapshots/")
    ap.add_argument("--lmbda", type=float, required=True, help="the run's λ (for the RD loss)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--images", nargs="+", default=[str(KODAK)])
    ap.add_argument("--every", type=int, default=1000, help="evaluate snapshots whose step is a multiple")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "campaign")
    ap.add_argument("--reference", help="zoo model drawn as a line (the one a snapshot must beat)")
    ap.add_argument("--recompression", type=int, default=3, metavar="N",
                    help="also measure recompression drift on the first N images (0: skip)")
    ap.add_argument("--step-offset", type=int, default=0, metavar="N",
                    help="add N to the run's step numbers (a run warm-started from an N-step model)")
    ap.add_argument("--series", metavar="LABEL",
                    help="draw this run as its own line (default: the main campaign line)")
    ap.add_argument("--zoom-since", type=int, default=0, metavar="STEP",
                    help="also plot the snapshots from STEP on alone (learning_curve-NAME-late.png)")
    a = ap.parse_args()
    files = image_files(a.images)
    out_json = a.out / f"learning_curve-{a.name}.json"
    curve = {"name": a.name, "lmbda": a.lmbda, "points": []}
    if out_json.exists():  # keep the points, renew the provenance fields
        old = json.loads(out_json.read_text())
        curve["points"] = old["points"]
        ref = old.get("reference", {})
        if (ref.get("model"), ref.get("sha256")) == (a.reference, _sha256(a.reference)) and \
                ("recompression_drift_db" in ref or not a.recompression):
            curve["reference"] = old["reference"]  # the same shipped weights: no need to measure again
    if a.reference and "reference" not in curve:
        curve["reference"] = {"model": a.reference, "sha256": _sha256(a.reference),
                              **evaluate_snapshot(a.reference, files, a.lmbda),
                              **(recompression(a.reference, files[:a.recompression]) if a.recompression else {})}
        print(json.dumps(curve["reference"]), flush=True)
    done = {(p.get("series"), p["step"]) for p in curve["points"]}
    a.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every point, so an interrupted run keeps what it measured
        save_results(out_json, {**curve, "images": len(files)})
        plot(curve, a.out / f"learning_curve-{a.name}.png")
        if a.zoom_since:
            plot(curve, a.out / f"learning_curve-{a.name}-late.png", since=a.zoom_since)

    added = False
    for snap in sorted((a.run / "snapshots").glob("step-*.pt")):
        run_step = int(snap.stem.split("-")[1])
        step = run_step + a.step_offset
        if (a.series, step) in done or run_step % a.every:
            continue
        point = {"step": step, **({"series": a.series} if a.series else {}), "snapshot": str(snap),
                 **evaluate_snapshot(str(snap), files, a.lmbda),
                 **(recompression(str(snap), files[:a.recompression]) if a.recompression else {})}
        print(json.dumps(point), flush=True)
        curve["points"] = sorted([*curve["points"], point], key=lambda p: (p["step"], p.get("series") or ""))
        save()
        added = True
    if not added:  # a re-measured reference or a new --zoom-since shows even without new snapshots
        save()


if __name__ == "__main__":
    main()
