"""Generation loss: encode -> decode repeated on Kodak, PSNR of every generation against the original.

    python benchmarks/recompression.py [--images 24] [--generations 10] [--effort N]
        [--model PATH --tag NAME] [--list results/finetune/heldout.txt --tag NAME]

Writes results/reliability/recompression.json and recompression.png; with ``--effort N``
(latent refinement at every generation, issue 15) recompression-effortN.{json,png}; with
``--tag NAME`` recompression-NAME.{json,png} (``--model``: a weight file, mbt2018-mean,
or another zoo model instead of the default one; weight files for candidates not in the zoo yet).
``--list FILE`` takes the images named in FILE (paths relative to ``--root``, e.g. the held-out
training images no zoo model trains on) instead of the Kodak folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import licq
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.imageio import list_images, open_image

OUT = Path("results/reliability")


def weight_file_arch(model: str | None) -> str | None:
    """The architecture to pass for ``model``: None for a zoo name; for a weight file channel-vr when
    it holds a variable-rate model's gains, else mbt2018-mean."""
    if not (model and Path(model).is_file()):
        return None
    from licq.models.io import state_dict_from_file

    return "channel-vr" if "gain" in state_dict_from_file(model) else "mbt2018-mean"


def generations(img: Image.Image, n: int, model: str | None = None, arch: str | None = None,
                **encode_kwargs) -> tuple[list[Image.Image], list[float]]:
    """Encode -> decode ``n`` times, each generation coding the previous one's output: the decoded
    images and the bpp of each file. Shared with benchmarks/learning_curve.py's adoption check."""
    images, bpps, cur = [], [], img
    for _ in range(n):
        r = licq.encode_full(cur, model, arch=arch, **encode_kwargs)
        cur = licq.decode(r.data, model if arch else None, arch=arch)  # a zoo file's header names its decoder
        images.append(cur)
        bpps.append(r.bpp)
    return images, bpps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kodak", default="../shared/data/kodak")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--quantizers", nargs="+", default=["sq", "tcq"])
    p.add_argument("--effort", type=int, default=0, help="encoder latent refinement at every generation")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", help="zoo model or weight file (mbt2018-mean) instead of the default zoo model")
    p.add_argument("--tag", help="suffix of the output files")
    p.add_argument("--list", help="file of image paths relative to --root, instead of the Kodak folder")
    p.add_argument("--root", default="../shared/data/train", help="folder the --list paths are relative to")
    a = p.parse_args()
    arch = weight_file_arch(a.model)
    torch.set_num_threads(a.threads)
    if a.list:
        files = [Path(a.root) / line.strip() for line in Path(a.list).read_text().splitlines() if line.strip()]
        files = files[: a.images]
    else:
        files = list_images([a.kodak])[: a.images]
    rows = []
    for qz in a.quantizers:
        for f in files:
            img = open_image(f)
            decoded, bpps = generations(img, a.generations, a.model, arch, quantizer=qz, effort=a.effort,
                                        **({} if arch else {"finetuned": "auto"}))
            psnrs = [psnr_images(img, d) for d in decoded]
            rows.append({"image": f.name, "quantizer": qz, "psnr": psnrs, "bpp": bpps,
                         "drift_db": psnrs[0] - psnrs[-1]})
            print(f"{qz} {f.name}: {psnrs[0]:.2f} -> {psnrs[-1]:.2f} dB", file=sys.stderr)
    summary = {}
    for qz in a.quantizers:
        d = [r["drift_db"] for r in rows if r["quantizer"] == qz]
        curve = np.mean([r["psnr"] for r in rows if r["quantizer"] == qz], axis=0)
        summary[qz] = {"mean_drift_db": float(np.mean(d)), "max_drift_db": float(np.max(d)),
                       "images_within_0.5db": int(sum(x <= 0.5 for x in d)), "images": len(d),
                       "mean_psnr_per_generation": [float(v) for v in curve]}
    what = a.model if arch else (f"zoo model {a.model or licq.zoo.manifest()['default']}, "
                                 "finetuned='auto' as licq encode")
    res = {"model": what, "effort": a.effort,
           "generations": a.generations, "summary": summary, "per_image": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "recompression" + (f"-effort{a.effort}" if a.effort else "") + (f"-{a.tag}" if a.tag else "")
    save_results(OUT / f"{stem}.json", res)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    g = np.arange(1, a.generations + 1)
    for qz in a.quantizers:
        ax.plot(g, summary[qz]["mean_psnr_per_generation"], "o-", label=f"{qz}: mean of {len(files)} {'listed' if a.list else 'Kodak'} images")
        worst = max((r for r in rows if r["quantizer"] == qz), key=lambda r: r["drift_db"])
        ax.plot(g, worst["psnr"], "--", label=f"{qz}: worst ({worst['image']})")
    ax.set_xlabel("generation")
    ax.set_ylabel("PSNR against the original [dB]")
    ax.set_title("Recompression (encode -> decode repeated)" + (f", effort {a.effort}" if a.effort else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / f"{stem}.png", dpi=120)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
