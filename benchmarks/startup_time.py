"""Start-up time of the quick commands, this tree against an earlier commit, side by side.

Each command (``--version``, ``--help``, ``models``, ``info FILE``, and ``encode`` / ``decode`` of
a 64×64 crop, whose time is nearly all start-up: imports and model loading) runs as a fresh
``python -m licq.cli`` process, alternately from this tree and from the baseline
(checked out into a temporary git worktree); the median wall time of ``--repeat``
runs is kept.

    python benchmarks/startup_time.py --baseline c75dd4f [--repeat 5]

Writes results/portable/startup_time.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from baseline_tree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]


def timed(src: Path, args: list[str]) -> float:
    """Wall seconds of one run of ``python -m licq.cli ARGS`` from the tree whose sources are ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "licq.cli", *args], env=env, capture_output=True, check=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "results" / "portable" / "startup_time.json"))
    a = ap.parse_args()
    from licq.evaluation.results import save_results

    with baseline_tree(a.baseline) as base, tempfile.TemporaryDirectory() as tmp:
        commands = {"--version": ["--version"], "--help": ["--help"], "models": ["models"]}
        files = {}
        for name, src in (("baseline", base / "src"), ("new", ROOT / "src")):
            f = Path(tmp) / f"{name}.licq"  # a file each version can read
            subprocess.run([sys.executable, "-m", "licq.cli", "encode", str(ROOT / "assets" / "kodim23.png"),
                            "-o", str(f), "--quality", "1"], env={**os.environ, "PYTHONPATH": str(src)},
                           capture_output=True, check=True)
            files[name] = f
        crop = Path(tmp) / "crop.png"
        with Image.open(ROOT / "assets" / "kodim23.png") as im:
            im.crop((0, 0, 64, 64)).save(crop)
        coding = {"encode": ["encode", str(crop), "-o", f"{tmp}/{{name}}-crop.licq", "--quality", "1"],
                  "decode": ["decode", "{file}", "-o", f"{tmp}/{{name}}-out.png"]}
        rows = {}
        for cmd, args in {**commands, "info": ["info", "{file}"], **coding}.items():
            runs: dict[str, list[float]] = {"baseline": [], "new": []}
            for _ in range(a.repeat):
                for name, src in (("baseline", base / "src"), ("new", ROOT / "src")):
                    runs[name].append(timed(src, [x.replace("{file}", str(files[name])).replace("{name}", name)
                                                  for x in args]))
            rows[cmd] = {name: {"median_s": statistics.median(v), "runs_s": v} for name, v in runs.items()}
            print(cmd, {k: round(v["median_s"], 3) for k, v in rows[cmd].items()}, flush=True)
    save_results(a.out, {"baseline": a.baseline, "repeat": a.repeat, "commands": rows})


if __name__ == "__main__":
    main()
