"""The transforms' ceiling: the PSNR of g_s(g_a(x)) with no quantization at all.

No quantizer, step, gain or entropy model can decode an image better than its synthesis transform
reconstructs the unquantized latents, so this bounds the top of a model's rate-distortion curve.
For a variable-rate (``channel-vr``) model the latents pass through the gain and inverse gain of
each quality, as a file of that quality would, but are not quantized; the latent residual
prediction, which corrects quantization error, is left out. Images are rounded to 8 bits as the
codec's output is; the PSNR is the mean over the images, as ``licq eval`` reports it.

    python benchmarks/transform_ceiling.py licq-q3 licq-q4 RUN/snapshots/step-0005000.pt \\
        --label q3 q4 "vr step 5000"

Rows are kept in results/campaign/transform-ceiling.json by label (a label measured again is
replaced); ``--out`` names another file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from licq.codec import image_to_tensor, is_variable_rate, tensor_to_uint8
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import provenance
from licq.models.channel import QUALITY_RANGE
from licq.models.resolve import resolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recompression import weight_file_arch  # noqa: E402  (benchmarks/recompression.py)

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def ceilings(weights: str, images: list[Path]) -> dict[str, float]:
    """Mean PSNR of the unquantized reconstruction: {"all": …} for a mean-scale model, one entry per
    integer quality for a variable-rate one."""
    m = resolve(weights, arch=weight_file_arch(weights))
    net, variable = m.net, is_variable_rate(m)
    qualities = range(int(QUALITY_RANGE[0]), int(QUALITY_RANGE[1]) + 1) if variable else [None]
    psnrs: dict[str, list[float]] = {("all" if q is None else str(q)): [] for q in qualities}
    with torch.inference_mode():
        for f in images:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
            h, w = arr.shape[:2]
            y = net.g_a(image_to_tensor(arr))
            for q in qualities:
                if q is None:
                    x_hat = net.g_s(y)
                else:
                    gain, inverse = net.gains(torch.tensor([float(q)]))
                    x_hat = net.g_s(y * gain * inverse)
                psnrs["all" if q is None else str(q)].append(psnr_images(arr, tensor_to_uint8(x_hat, h, w)))
    return {k: float(np.mean(v)) for k, v in psnrs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", help="zoo names or weight/checkpoint files")
    ap.add_argument("--label", nargs="+", default=[], help="a label for each model (default: its name)")
    ap.add_argument("--images", type=Path, default=KODAK, help="folder of images (default: Kodak)")
    ap.add_argument("--limit", type=int, help="only the first N images (a quick look; not for the docs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "campaign" / "transform-ceiling.json")
    a = ap.parse_args()
    if a.label and len(a.label) != len(a.weights):
        ap.error("give one --label per model")
    torch.set_num_threads(a.threads)
    images = sorted(p for p in a.images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:a.limit]
    out = json.loads(a.out.read_text()) if a.out.is_file() else {"rows": []}
    for weights, label in zip(a.weights, a.label or a.weights):
        psnr = ceilings(weights, images)
        print(f"{label}: " + ", ".join(f"{k} {v:.2f} dB" for k, v in psnr.items()), flush=True)
        row = {"label": label, "weights": weights, "images": str(a.images), "count": len(images),
               "psnr_unquantized": psnr, **provenance()}
        out["rows"] = [r for r in out["rows"] if r["label"] != label] + [row]
    out.update(provenance())  # the latest run's; every row keeps its own
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
