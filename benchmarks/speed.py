"""Speed on Kodak, in one run on one machine: licq SQ vs CompressAI, and TCQ vs SQ.

* licq SQ encode/decode against CompressAI's own ``compress()``/``decompress()`` on the
  same weights (the zoo model loaded into CompressAI's ``MeanScaleHyperprior``);
* the share of licq's decode time spent outside the synthesis transform;
* TCQ-4 / TCQ-8 encode and decode time relative to SQ (same model, same images).

Times are medians over the images; each image is coded ``--repeat`` times and the
fastest run kept, to damp noise from other processes. Writes results/speed.json.

    python benchmarks/speed.py [--model licq-q3] [--images N]
"""

from __future__ import annotations

import argparse
import json
import sys
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import licq
from licq._compressai import MeanScaleHyperprior
from licq.codec import image_to_tensor
from licq.evaluation.results import save_results
from licq.imageio import open_image, to_rgb_array
from licq.models import STRIDE
from licq.models import resolve
from licq.quantizers.defaults import quantizer_defaults

from timed_args import parse_timed  # noqa: E402  (benchmarks/timed_args.py)

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="zoo model (default: the zoo default)")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    a = parse_timed(ap, ROOT / "results" / "speed.json")
    m = resolve(a.model)
    ref = MeanScaleHyperprior(N=m.net.g_a[0].out_channels, M=m.net.g_a[6].out_channels)
    ref.load_state_dict({k: v.contiguous() for k, v in m.net.state_dict().items()})
    ref.eval()
    files = sorted(KODAK.glob("*.png"))[: a.images]
    rows = []
    tcq = {s: quantizer_defaults(m.name, "tcq", None, s, None) for s in (4, 8)}
    for f in files:
        img = open_image(f)
        arr, _ = to_rgb_array(img)
        row = {"image": f.name}
        with torch.inference_mode():
            # licq, SQ: encode = transforms + quantizer + coder + container (no reconstruction)
            row["licq_sq_encode"] = min(licq.encode_full(img, m.name).seconds["encode"]
                                        for _ in range(a.repeat))
            data = licq.encode(img, m.name)
            row["licq_sq_decode"], _ = best_of(lambda: licq.decode(data), a.repeat)
            # time of the synthesis transform alone on the same latents
            x = image_to_tensor(arr)
            y = m.net.analysis(x)
            row["licq_gs"], _ = best_of(lambda: m.net.synthesis(torch.round(y)), a.repeat)
            # CompressAI's own pipeline on the same weights and the same padded input
            xp = F.pad(torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255,
                       (0, (-arr.shape[1]) % STRIDE, 0, (-arr.shape[0]) % STRIDE), mode="replicate")
            row["compressai_encode"], out = best_of(lambda: ref.compress(xp), a.repeat)
            row["compressai_decode"], _ = best_of(
                lambda: ref.decompress(out["strings"], out["shape"])["x_hat"].clamp(0, 1).mul(255).round()
                .to(torch.uint8), a.repeat)
            for s in (4, 8):
                kw = dict(quantizer="tcq", **tcq[s])
                enc = [licq.encode_full(img, m.name, **kw).seconds["encode"] for _ in range(a.repeat)]
                row[f"licq_tcq{s}_encode"] = min(enc)
                d = licq.encode(img, m.name, **kw)
                row[f"licq_tcq{s}_decode"], _ = best_of(lambda: licq.decode(d), a.repeat)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "image"}
    summary = {
        "licq_over_compressai_encode": med["licq_sq_encode"] / med["compressai_encode"],
        "licq_over_compressai_decode": med["licq_sq_decode"] / med["compressai_decode"],
        "decode_share_outside_synthesis": 1 - med["licq_gs"] / med["licq_sq_decode"],
        "tcq4_over_sq_encode": med["licq_tcq4_encode"] / med["licq_sq_encode"],
        "tcq4_over_sq_decode": med["licq_tcq4_decode"] / med["licq_sq_decode"],
        "tcq8_over_sq_encode": med["licq_tcq8_encode"] / med["licq_sq_encode"],
        "tcq8_over_sq_decode": med["licq_tcq8_decode"] / med["licq_sq_decode"],
    }
    result = {"model": m.name, "images": len(rows), "threads": a.threads, "repeat": a.repeat,
              "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "tcq_settings": tcq, "median_seconds": med, "ratios": summary, "per_image": rows,
              "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]])}
    save_results(a.out, result)
    print(json.dumps({"median_seconds": med, "ratios": summary}, indent=2))


if __name__ == "__main__":
    main()
