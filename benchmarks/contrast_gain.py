"""Contrast gain per re-encoding: how much each generation stretches an image's smooth content.

A model whose decoded image has slightly more contrast than its input (a gain above 1) compounds
it over re-encodings: ten generations of 1 % each are 10 %, and the image runs away
(``synthetic_drift.py``). The gain of a generation, per channel, is the least-squares slope of its
output's smooth part against the original's (both blurred at σ 4 px, so the noise drops out and
the blur, the same on both sides, biases nothing). Measured on the synthetic images of a family
and, with ``--photos``, on centre crops of photos, optionally with their saturation raised.

    python benchmarks/contrast_gain.py MERGED.pt --quality 7 --photos ../shared/data/train \\
        --photo-generations 2 --saturation 1 2.2 --tag vr-s500-r2-q7

Writes results/reliability/contrast-gain-<tag>.json: per image the gains (R, G, B) of every generation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from licq.evaluation.results import save_results
from licq.imageio import list_images
from licq.training.data import saturate as data_saturate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from recompression import generations, weight_file_arch  # noqa: E402
from synthetic_drift import FAMILIES, SIZES, blur  # noqa: E402


def gains(original: np.ndarray, outputs: list) -> list[list[float]]:
    """Per generation, the slope (R, G, B) of the output's blurred channel on the original's."""
    ref = [blur(original[..., c].astype(np.float64), 4) for c in range(3)]
    rows = []
    for out in outputs:
        o = np.asarray(out, dtype=np.float64)
        rows.append([float(np.polyfit(ref[c].ravel(), blur(o[..., c], 4).ravel(), 1)[0]) for c in range(3)])
    return rows


def saturate(rgb: np.ndarray, factor: float) -> np.ndarray:
    """``rgb`` (8-bit HxWx3) with the training's saturation boost (:func:`licq.training.data.saturate`)."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).double() / 255
    return (data_saturate(x, factor) * 255).round().byte().permute(1, 2, 0).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="zoo name or weight file")
    p.add_argument("--quality", type=float, help="the quality of a variable-rate model")
    p.add_argument("--family", choices=sorted(FAMILIES), default="gradients")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--photos", nargs="+", help="folders of photos: their 256x256 centre crops too")
    p.add_argument("--limit", type=int, default=8, help="photos taken, evenly spaced through the sorted list")
    p.add_argument("--photo-generations", type=int, default=2)
    p.add_argument("--saturation", type=float, nargs="+", default=[1.0], help="saturation factors of the photos")
    p.add_argument("--tag", required=True)
    a = p.parse_args()
    arch = weight_file_arch(a.model)
    kw = {} if a.quality is None else {"quality": a.quality}
    rows = []
    for seed in a.seeds:
        for h, w in SIZES:
            img = FAMILIES[a.family](h, w, seed=seed)
            outs, _ = generations(img, a.generations, a.model, arch, **kw)
            rows.append({"image": f"{a.family} seed {seed} {w}x{h}", "gains": gains(img, outs)})
    if a.photos:
        files = list_images(a.photos)
        for f in files[::max(1, len(files) // a.limit)][:a.limit]:
            with Image.open(f) as im:
                im = im.convert("RGB")
                w, h = im.size
                crop = np.asarray(im.crop((w // 2 - 128, h // 2 - 128, w // 2 + 128, h // 2 + 128)))
            for factor in a.saturation:
                img = crop if factor == 1 else saturate(crop, factor)
                outs, _ = generations(img, a.photo_generations, a.model, arch, **kw)
                rows.append({"image": f"{f.name} saturation {factor:g}", "gains": gains(img, outs)})
    for r in rows:
        first, last = np.round(r["gains"][0], 3), np.round(r["gains"][-1], 3)
        print(f"{r['image']}: {first} after one generation, {last} after {len(r['gains'])}")
    save_results(ROOT / "results" / "reliability" / f"contrast-gain-{a.tag}.json",
                 {"model": a.model, "quality": a.quality, "images": rows})


if __name__ == "__main__":
    main()
