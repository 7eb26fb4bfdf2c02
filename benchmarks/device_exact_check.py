"""Does the integer hyper-decoder give the same μ and σ on another device? (a check for a lent GPU)

For each zoo model and Kodak image, the decoded hyper-latent ẑ is computed on the CPU as the
decoder does; the integer h_s then runs on the CPU and on ``--device`` (``cuda`` on a machine
with a GPU), and the two outputs must be equal bit for bit, as must the table indexes and
fixed-grid anchors they give. Without a GPU, ``--device cpu --threads 1`` compares one thread
against the default thread count.

    python benchmarks/device_exact_check.py --device cuda [--images 24] [--out FILE]

Writes results/portable/device_exact_check.json (equal counts and the largest difference).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from licq.codec import image_to_tensor
from licq.evaluation.results import save_results
from licq.models import integer
from licq.quantizers import make_quantizer
from licq.zoo import load_zoo, manifest

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads on the --device side when it is cpu")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--out", default=str(ROOT / "results" / "portable" / "device_exact_check.json"))
    a = ap.parse_args()
    device = torch.device(a.device)
    rows, t0 = [], time.time()
    grid = make_quantizer("sq-grid")
    for e in manifest()["models"]:
        if "base" in e:
            continue  # finetuned decoders share their base's h_s
        m = load_zoo(e["name"])
        layers = integer.convert(m.net.h_s)
        for path in sorted(KODAK.glob("kodim*.png"))[:a.images]:
            x = image_to_tensor(np.asarray(Image.open(path).convert("RGB")))
            with torch.inference_mode():
                z = m.net.h_a(m.net.analysis(x))
                z_hat = m.net.entropy_bottleneck.decompress(m.net.entropy_bottleneck.compress(z), z.shape[-2:])
                here = integer.run_exact(layers, z_hat)
                threads = torch.get_num_threads()
                if a.threads:
                    torch.set_num_threads(a.threads)
                there = integer.run_exact(layers, z_hat.to(device)).cpu()
                torch.set_num_threads(threads)
                scales, means = here.chunk(2, 1)
                scales2, means2 = there.chunk(2, 1)
                same_checks = torch.equal(grid.check_indexes(means, scales, m.entropy),
                                          grid.check_indexes(means2, scales2, m.entropy))
            rows.append({"model": e["name"], "image": path.name, "equal": bool(torch.equal(here, there)),
                         "same_indexes_and_anchors": bool(same_checks),
                         "max_abs_diff": float((here - there).abs().max())})
            print(rows[-1], flush=True)
    summary = {"device": str(device), "cpu_threads_on_device_side": a.threads, "pairs": len(rows),
               "equal": sum(r["equal"] for r in rows),
               "same_indexes_and_anchors": sum(r["same_indexes_and_anchors"] for r in rows),
               "max_abs_diff": max(r["max_abs_diff"] for r in rows),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    print(summary)
    save_results(a.out, {"summary": summary, "seconds": round(time.time() - t0, 1), "rows": rows})


if __name__ == "__main__":
    main()
