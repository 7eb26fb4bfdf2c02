"""Generation loss on synthetic colour gradients: the collapse that Kodak's mean hides.

``tests/test_reliability.py`` guards the drift of the default model on one image made by
``tests/conftest.py:smooth_image`` (sinusoidal colour gradients under Gaussian noise, σ = 8).
A candidate model can pass the Kodak adoption rule (lower RD loss, higher mean PSNR at every
one of 10 recompression generations) and still fail there by a wide margin: on this content some
models add a colour bias and contrast at every generation, so the image runs away instead of
settling. This measures it on several seeds and two sizes for any number of models (zoo names
or weight files), SQ Δ = 1, so a release can be checked before it is exported. A variable-rate
model (licq-vr, or a channel-vr weight file) is measured at each of ``--qualities`` (default 1-7),
listed as MODEL@QUALITY.

    nice env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synthetic_drift.py \\
        licq-q3 /root/licq-release/q3/checkpoint.pt --tag rel-q3-15000

Writes results/reliability/synthetic-drift-<tag>.json: per model and image the PSNR of every
generation, the mean RGB error of the last one, and per model the mean and worst end point.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from licq.cli_args import variable_rate_model
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from conftest import smooth_image  # noqa: E402  (the test's own image)
from recompression import generations, weight_file_arch  # noqa: E402

SIZES = [(96, 128), (192, 256)]


def measure(model: str, arch: str | None, seeds: list[int], n: int, quality: float | None = None) -> dict:
    """10-generation PSNRs of every (seed, size) image for one model (``arch``: that of a weight file,
    None for a zoo name; a variable-rate one at ``quality``)."""
    rows = []
    label = model if quality is None else f"{model}@{quality:g}"
    for seed in seeds:
        for h, w in SIZES:
            img = smooth_image(h, w, seed=seed)
            outs, bpps = generations(img, n, model, arch, **({} if quality is None else {"quality": quality}))
            psnr = [psnr_images(img, o) for o in outs]
            bias = (np.asarray(outs[-1], dtype=np.float64) - img).mean(axis=(0, 1))
            rows.append({"seed": seed, "size": [h, w], "psnr": psnr, "bpp": bpps,
                         "mean_rgb_error_last": [float(b) for b in bias]})
            print(f"{label} seed {seed} {w}x{h}: {psnr[0]:.2f} -> {psnr[-1]:.2f} dB", file=sys.stderr, flush=True)
    first, last = [r["psnr"][0] for r in rows], [r["psnr"][-1] for r in rows]
    return {"model": label, "mean_first_db": float(np.mean(first)), "mean_last_db": float(np.mean(last)),
            "worst_last_db": float(np.min(last)), "mean_drift_db": float(np.mean(first) - np.mean(last)),
            "images": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="zoo names or weight files (mbt2018-mean or channel-vr)")
    p.add_argument("--qualities", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6, 7],
                   help="the qualities a variable-rate model is measured at, each as MODEL@QUALITY")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 3, 7])
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--tag", required=True)
    a = p.parse_args()
    archs = {m: weight_file_arch(m) for m in a.models}  # a weight file is read once to tell its architecture
    res = {"seeds": a.seeds, "sizes": SIZES, "generations": a.generations,
           "models": [measure(m, archs[m], a.seeds, a.generations, q) for m in a.models
                      for q in (a.qualities if variable_rate_model(m, archs[m]) else [None])]}
    for r in res["models"]:
        print(f"{r['model']}: {r['mean_first_db']:.2f} -> {r['mean_last_db']:.2f} dB "
              f"(drift {r['mean_drift_db']:.2f}, worst end {r['worst_last_db']:.2f})")
    out = ROOT / "results" / "reliability" / f"synthetic-drift-{a.tag}.json"
    save_results(out, res)


if __name__ == "__main__":
    main()
