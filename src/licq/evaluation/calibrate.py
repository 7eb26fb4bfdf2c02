"""Per-model calibration kept in the zoo manifest: the channel weights of ``--weighting channel``.

The trellis and RDOQ weigh each channel's latent error by how much image error it causes
through the synthesis transform (:mod:`licq.quantizers.weighting`). That sensitivity is a
property of one model's weights, so it is measured once per zoo model and stored in its
manifest entry (``channel_weights``), with the digest it was measured on; the TCQ defaults sit
beside it (``tcq``, written by ``benchmarks/release/tcq_sweep.py`` through
:func:`licq.zoo.export.set_tcq_defaults`). A retrained model needs both measured again::

    python -m licq.evaluation.calibrate licq-q3 --images IMAGE [IMAGE ...] [--crop 256]

w_c is the image SSE (on [0, 1]) per unit latent SSE when Gaussian noise (σ 0.05) perturbs the
rounded latents of channel c alone, averaged over the images' centre crops and normalised to
mean 1. The entry also records λ = 3 / (λ_t·255²·w̄), the rate weight the training loss implies
in latent units (w̄: the mean raw weight), which the codec does not use (it measured about 4x too
large; docs/quantizers.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..codec import image_to_tensor
from ..imageio import list_images, open_image, to_rgb_array
from ..latents import encoder_side
from ..models import LoadedModel
from ..zoo import entry, load_zoo
from ..zoo.export import _load_manifest, _save_manifest


def rounded_latents(m: LoadedModel, path: Path, crop: int | None) -> torch.Tensor:
    """``μ + round(y − μ)`` of an image's centre crop (``crop`` pixels, or the whole image), as SQ codes it."""
    arr, _ = to_rgb_array(open_image(path))
    if crop:
        h, w = arr.shape[:2]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        arr = arr[top:top + crop, left:left + crop]
    with torch.inference_mode():
        e = encoder_side(m.net, image_to_tensor(arr))
    return e.means + torch.round(e.y - e.means)


def channel_sensitivity(m: LoadedModel, y_hat: torch.Tensor, sigma: float = 0.05, chunk: int = 16,
                        seed: int = 0) -> np.ndarray:
    """w_c per channel: image SSE (on [0, 1]) per unit latent SSE for noise on channel c only."""
    g = torch.Generator().manual_seed(seed)
    C = y_hat.shape[1]
    with torch.inference_mode():
        base = m.net.synthesis(y_hat)
        out = np.empty(C)
        for c0 in range(0, C, chunk):
            cs = list(range(c0, min(C, c0 + chunk)))
            e = torch.zeros(len(cs), *y_hat.shape[1:])
            for i, c in enumerate(cs):
                e[i, c] = sigma * torch.randn(y_hat.shape[2:], generator=g)
            d = m.net.synthesis(y_hat + e) - base
            out[c0:c0 + len(cs)] = (d.pow(2).sum((1, 2, 3)) / e.pow(2).sum((1, 2, 3))).numpy()
    return out


def measure_channel_weights(name: str, images: list[Path], crop: int | None = 256) -> dict:
    """The manifest record of a zoo model's channel weights, measured on ``images``."""
    m = load_zoo(name)
    w = np.mean([channel_sensitivity(m, rounded_latents(m, p, crop)) for p in images], axis=0)
    lmbda = 3 / (entry(name)["lmbda"] * 255 ** 2 * float(w.mean()))
    return {"digest": m.digest.hex(), "weights": [round(float(x), 5) for x in w / w.mean()],
            "lambda": round(lmbda, 6),
            "source": f"python -m licq.evaluation.calibrate: w_c on centre {crop}² crops of "
                      + ", ".join(p.name for p in images)}


def set_channel_weights(name: str, record: dict) -> None:
    """Store a model's channel-weight record in its manifest entry."""
    man = _load_manifest()
    for e in man["models"]:
        if e["name"] == name:
            e["channel_weights"] = record
    _save_manifest(man)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="zoo model names")
    ap.add_argument("--images", nargs="+", required=True, help="images or folders to measure on")
    ap.add_argument("--crop", type=int, default=256, help="centre crop in pixels (0: whole images)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    images = list_images(a.images)
    for name in a.models:
        record = measure_channel_weights(name, images, a.crop or None)
        set_channel_weights(name, record)
        w = np.asarray(record["weights"])
        print(json.dumps({"model": name, "digest": record["digest"], "p90_over_p10":
                          round(float(np.percentile(w, 90) / np.percentile(w, 10)), 3), "lambda": record["lambda"]}))


if __name__ == "__main__":
    main()
