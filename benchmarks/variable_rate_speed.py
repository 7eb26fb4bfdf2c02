"""Encode and decode time of the variable-rate channel-conditional model against a zoo model.

The issue's bound: decoding at most 1.5x and encoding at most 2x the shipped mean-scale model's
time on the same image. Both models run in this one process, alternating image by image (each
image is coded once by each model before the next), so that load on the machine hits both alike;
the medians over images and repeats are reported. SQ, the CLI's default quantizer.

    python benchmarks/variable_rate_speed.py /root/licq-campaign/vr/checkpoint.pt --quality 3 --images 12

Writes results/campaign/vr-speed.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


import licq
from licq.evaluation.rd import image_files
from licq.evaluation.results import provenance
from licq.hardware import cpu_model
from licq.imageio import open_image

from timed_args import parse_timed  # noqa: E402  (benchmarks/timed_args.py)

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help="channel-vr weight or checkpoint file")
    ap.add_argument("--quality", type=float, default=3.0)
    ap.add_argument("--reference", default="licq-q3", help="zoo model to compare with")
    ap.add_argument("--images", type=int, default=12, help="first N Kodak images")
    ap.add_argument("--repeat", type=int, default=2)
    a = parse_timed(ap, ROOT / "results" / "campaign" / "vr-speed.json")
    images = [open_image(f) for f in image_files([KODAK])[:a.images]]
    runs = {"reference": lambda im: licq.encode(im, a.reference),
            "channel-vr": lambda im: licq.encode(im, a.weights, arch="channel-vr", quality=a.quality)}
    decoders = {"reference": lambda d: licq.decode(d), "channel-vr": lambda d: licq.decode(d, a.weights)}
    for name in runs:  # load the models and warm the kernels before timing
        decoders[name](runs[name](images[0]))
    times = {name: {"encode": [], "decode": [], "bytes": []} for name in runs}
    for _ in range(a.repeat):
        for im in images:
            for name, enc in runs.items():
                data, te = timed(lambda: enc(im))
                _, td = timed(lambda: decoders[name](data))
                times[name]["encode"].append(te)
                times[name]["decode"].append(td)
                times[name]["bytes"].append(len(data))
    med = {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}
    ratio = {k: med["channel-vr"][k] / med["reference"][k] for k in ("encode", "decode")}
    result = {**provenance(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
              "threads": a.threads, "images": a.images, "repeat": a.repeat, "reference": a.reference,
              "weights": a.weights, "quality": a.quality, "median_seconds": med, "ratio": ratio}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    for name, m in med.items():
        print(f"{name}: encode {m['encode']:.3f} s, decode {m['decode']:.3f} s (median, {a.images} images)")
    print(f"channel-vr / {a.reference}: encode {ratio['encode']:.2f}x, decode {ratio['decode']:.2f}x")


if __name__ == "__main__":
    main()
