"""Encode and decode time of this tree against an earlier commit, side by side in one run.

Two long-lived worker processes, one per version (the baseline checked out into a
temporary git worktree), take turns on the same images: for each image, each
quantizer and each version, the fastest of ``--repeat`` encodes and decodes is kept
(after one untimed round that loads the model and its tables).
Alternating shares whatever else the machine is doing between both versions.

    python benchmarks/speed_versions.py --baseline c75dd4f [--images 8] [--quantizers sq,tcq8]

Writes results/portable/speed_versions.json (ratios new/baseline of the median times).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from baseline_tree import baseline_tree

from licq.hardware import cpu_model
from licq.quantizers.spec import label_options

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
QUANTIZERS = ("sq", "tcq8")

WORKER = r"""
import json, sys, time
import numpy as np, torch
import licq
from PIL import Image
torch.set_num_threads(int(sys.argv[1]))
for line in sys.stdin:
    job = json.loads(line)
    img = np.asarray(Image.open(job["image"]).convert("RGB"))
    enc, dec = [], []
    for i in range(job["repeat"] + 1):  # the first round warms up (model load, tables, caches): not timed
        t = time.perf_counter(); data = licq.encode(img, **job["kw"]); enc.append(time.perf_counter() - t)
        t = time.perf_counter(); licq.decode(data); dec.append(time.perf_counter() - t)
    enc, dec = enc[1:], dec[1:]
    print(json.dumps({"encode": min(enc), "decode": min(dec), "bytes": len(data)}), flush=True)
"""


class Worker:
    def __init__(self, src: Path, threads: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def run(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("a worker died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--quantizers", default="sq,tcq8")
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "portable" / "speed_versions.json"))
    a = ap.parse_args()
    from licq.evaluation.results import save_results

    with baseline_tree(a.baseline) as base:
        workers = {"baseline": Worker(base / "src", a.threads), "new": Worker(ROOT / "src", a.threads)}
        rows = []
        for image in sorted(KODAK.glob("kodim*.png"))[:a.images]:
            for qz in a.quantizers.split(","):
                job = {"image": str(image), "repeat": a.repeat, "kw": {"quality": a.quality, **label_options(qz)}}
                row = {"image": image.name, "quantizer": qz}
                for name in (("baseline", "new") if len(rows) % 2 == 0 else ("new", "baseline")):
                    row[name] = workers[name].run(job)
                rows.append(row)
                print(json.dumps(row), flush=True)
        for w in workers.values():
            w.close()
    summary = {}
    for qz in a.quantizers.split(","):
        sel = [r for r in rows if r["quantizer"] == qz]
        summary[qz] = {f"{op}_ratio": statistics.median(r["new"][op] for r in sel)
                       / statistics.median(r["baseline"][op] for r in sel) for op in ("encode", "decode")}
        summary[qz].update({f"{v}_{op}_median_s": statistics.median(r[v][op] for r in sel)
                            for v in ("baseline", "new") for op in ("encode", "decode")})
        print(qz, json.dumps(summary[qz]))
    save_results(a.out, {"baseline": a.baseline, "cpu": cpu_model(),
                         "threads": a.threads, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
