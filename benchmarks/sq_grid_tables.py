"""What the fixed grid's offset tables save: latent bits of ``--quantizer sq-grid`` on Kodak.

For each image (licq-q3 unless ``--model``): the latent sub-stream of a real SQ file and of a real
sq-grid file, and for the sq-grid levels the ideal code length under the offset-bin tables the coder
uses (:func:`licq.quantizers.sq_grid.shifted_cell_probability` at the bin's centre) against
CompressAI's zero-centred SQ tables (cells taken as centred on μ, the anchor's offset ignored).
Writes results/reliability/sq-grid-tables.json.

    python benchmarks/sq_grid_tables.py [--images 24] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import licq  # noqa: E402
from licq import container  # noqa: E402
from licq.codec import image_to_tensor  # noqa: E402
from licq.evaluation.results import save_results  # noqa: E402
from licq.imageio import list_images, open_image, to_rgb_array  # noqa: E402
from licq.latents import encoder_side  # noqa: E402
from licq.models import resolve  # noqa: E402
from licq.quantizers import make_quantizer  # noqa: E402
from licq.quantizers.cells import rate_bits  # noqa: E402
from licq.quantizers.sq_grid import shifted_cell_probability  # noqa: E402

OUT = ROOT / "results" / "reliability" / "sq-grid-tables.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kodak", default="../shared/data/kodak")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--model", default="licq-q3")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    m = resolve(a.model)
    q = make_quantizer("sq-grid")
    rows = []
    for f in list_images([a.kodak])[: a.images]:
        img = open_image(f)
        arr, _ = to_rgb_array(img)
        px = arr.shape[0] * arr.shape[1]
        sizes = {}
        for qz in ("sq", "sq-grid"):
            _, streams = container.unpack(licq.encode(img, a.model, quantizer=qz))
            sizes[qz] = 8 * len(streams[1]) / px
        with torch.inference_mode():
            side = encoder_side(m.net, image_to_tensor(arr))
            levels, qid = q.levels(side.y, side.means, side.scales, m.entropy)
            offset = float(q.bits(levels, qid, side.scales, m.entropy).sum()) / px
            s = q.rate_scales(side.scales, m.entropy)
            centred = float(rate_bits(shifted_cell_probability(levels, torch.zeros_like(levels), s)).sum()) / px
        rows.append({"image": f.name, "sq_file_bpp": sizes["sq"], "sq_grid_file_bpp": sizes["sq-grid"],
                     "offset_tables_bpp": offset, "zero_centred_tables_bpp": centred})
        print(f"{f.name}: SQ {sizes['sq']:.4f}, sq-grid {sizes['sq-grid']:.4f} bpp (latents; ideal: offset tables "
              f"{offset:.4f}, zero-centred {centred:.4f})", file=sys.stderr)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
    summary = {"mean_latent_bpp": mean,
               "sq_grid_vs_sq_percent": 100 * (mean["sq_grid_file_bpp"] / mean["sq_file_bpp"] - 1),
               "zero_centred_vs_offset_percent": 100 * (mean["zero_centred_tables_bpp"] / mean["offset_tables_bpp"] - 1)}
    save_results(OUT, {"model": a.model, "images": len(rows), "summary": summary, "per_image": rows})
    print(summary)


if __name__ == "__main__":
    main()
