"""Generation loss on synthetic colour gradients: the collapse that Kodak's mean hides.

``tests/test_reliability.py`` guards the drift of the default model on one image made by
``tests/conftest.py:smooth_image`` (sinusoidal colour gradients under Gaussian noise, σ = 8).
A candidate model can pass the Kodak adoption rule (lower RD loss, higher mean PSNR at every
one of 10 recompression generations) and still fail there by a wide margin: on this content some
models add a colour bias and contrast at every generation, so the image runs away instead of
settling. This measures it on several seeds and two sizes for any number of models (zoo names
or weight files), SQ Δ = 1, so a release can be checked before it is exported. ``--quantizer tcq8``
codes every generation with TCQ-8 at the model's defaults instead, and a zoo name then with the
decoder ``licq encode`` picks for it (the zoo's finetuned TCQ-8 decoder where it has one). A variable-rate
model (licq-vr, or a channel-vr weight file) is measured at each of ``--qualities`` (default 1-7),
listed as MODEL@QUALITY. The adoption rule reads the default family, ``gradients`` (the test's
image); ``--family rings`` (concentric colour rings) and ``--family fields`` (blurred random colour
fields) are content no training option draws, to tell a cure of the runaway from a fit to one family.

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
from licq.quantizers.spec import label_options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from conftest import smooth_image  # noqa: E402  (the test's own image)
from recompression import generations, weight_file_arch  # noqa: E402

SIZES = [(96, 128), (192, 256)]


def rings(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Concentric colour rings (period 44 px, channels 2.1 rad apart) around a random centre, noise σ 6."""
    rng = np.random.default_rng(seed)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(yy - cy, xx - cx)
    base = np.stack([128 + 95 * np.sin(r / 7.0 + 2.1 * c) for c in range(3)], axis=2)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """A 2-D array blurred by a Gaussian of ``sigma`` pixels (in the Fourier domain: periodic edges)."""
    h, w = plane.shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    return np.fft.ifft2(np.fft.fft2(plane) * np.exp(-2 * (np.pi * sigma) ** 2 * (fy ** 2 + fx ** 2))).real


def fields(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Random colour fields blurred at σ 10 px, each channel stretched to peaks of ±100, noise σ 6."""
    rng = np.random.default_rng(seed)
    f = np.stack([blur(rng.normal(0, 1, (h, w)), 10) for _ in range(3)], axis=2)
    f = 128 + 100 * f / np.abs(f).max(axis=(0, 1))
    return np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8)


FAMILIES = {"gradients": smooth_image, "rings": rings, "fields": fields}


#: ``--quantizer``: the labels of the quantizers every generation can be coded with (licq.quantizers.spec.label_options)
QUANTIZERS = ("sq", "tcq8")


def measure(model: str, arch: str | None, seeds: list[int], n: int, quality: float | None = None,
            family: str = "gradients", quantizer: str = "sq") -> dict:
    """10-generation PSNRs of every (seed, size) image for one model (``arch``: that of a weight file,
    None for a zoo name; a variable-rate one at ``quality``), coded with ``quantizer``."""
    rows = []
    label = model if quality is None else f"{model}@{quality:g}"
    for seed in seeds:
        for h, w in SIZES:
            img = FAMILIES[family](h, w, seed=seed)
            outs, bpps = generations(img, n, model, arch, **label_options(quantizer),
                                     **({} if arch or quantizer == "sq" else {"finetuned": "auto"}),
                                     **({} if quality is None else {"quality": quality}))
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
    p.add_argument("--family", choices=sorted(FAMILIES), default="gradients",
                   help="synthetic content: the rule's gradients, or rings / fields that no training draws")
    p.add_argument("--quantizer", choices=sorted(QUANTIZERS), default="sq",
                   help="sq (the adoption rule's) or tcq8, with a zoo model's finetuned TCQ-8 decoder where it has one")
    p.add_argument("--tag", required=True)
    a = p.parse_args()
    archs = {m: weight_file_arch(m) for m in a.models}  # a weight file is read once to tell its architecture
    res = {"family": a.family, "quantizer": a.quantizer, "seeds": a.seeds, "sizes": SIZES,
           "generations": a.generations,
           "models": [measure(m, archs[m], a.seeds, a.generations, q, a.family, a.quantizer) for m in a.models
                      for q in (a.qualities if variable_rate_model(m, archs[m]) else [None])]}
    for r in res["models"]:
        print(f"{r['model']}: {r['mean_first_db']:.2f} -> {r['mean_last_db']:.2f} dB "
              f"(drift {r['mean_drift_db']:.2f}, worst end {r['worst_last_db']:.2f})")
    out = ROOT / "results" / "reliability" / f"synthetic-drift-{a.tag}.json"
    save_results(out, res)


if __name__ == "__main__":
    main()
