"""Summarise GPU legs (benchmarks/release/gpu_leg.sh run) from the files they brought back.

    python benchmarks/release/gpu_leg_summary.py LEG_DIR [LEG_DIR ...] --tag TAG

Each LEG_DIR is a call's files_at folder (logs.tar.gz, optionally train_speed_gpu.json).
Writes results/campaign/gpu_leg-TAG.json: per leg the device, the init weights and, per
model, its precision, batch, steps, seconds, steps/s, the last finite log row and the first
logged step whose averages are not finite, and the steps and training seconds at each export
(from stdout.txt); the single-process speed record when present.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import tarfile
from pathlib import Path

from licq.evaluation.results import save_results

OUT = Path(__file__).resolve().parents[2] / "results" / "campaign"


def leg(folder: Path) -> dict:
    """What one call's logs say, model by model."""
    with tarfile.open(folder / "logs.tar.gz") as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    models = {}
    for name in sorted(n for n in files if n.endswith("-log.csv")):
        model = name[: -len("-log.csv")]
        rows = list(csv.DictReader(io.StringIO(files[name])))
        cfg = json.loads(files.get(f"{model}-config.json", "{}"))
        finite = [r for r in rows if math.isfinite(float(r["loss"]))]
        bad = [int(r["step"]) for r in rows if not math.isfinite(float(r["loss"]))]
        last = rows[-1] if rows else {}
        models[model] = {
            "precision": cfg.get("precision"), "batch": cfg.get("batch"), "lmbda": cfg.get("lmbda"),
            "saturation": cfg.get("saturation"), "logged_steps": int(last.get("step", 0)),
            "first_non_finite_log_step": bad[0] if bad else None,
            "last_finite_row": finite[-1] if finite else None,
        }
    # the exports' lines in stdout.txt: "<model>-gpu.pt steps N elapsed_s S" after each phase
    stdout = folder / "stdout.txt"
    for line in stdout.read_text().splitlines() if stdout.is_file() else []:
        parts = line.split()
        if len(parts) == 5 and parts[0].endswith("-gpu.pt") and parts[1] == "steps":
            model = Path(parts[0]).name[: -len("-gpu.pt")]
            steps, seconds = int(parts[2]), float(parts[4])
            models.setdefault(model, {}).setdefault("exports", []).append(
                {"steps": steps, "training_seconds": seconds, "steps_per_s": round(steps / seconds, 2)})
    out = {"device": files.get("device.txt", "").strip(), "init": files.get("init.txt", "").strip(),
           "models": models}
    speed = folder / "train_speed_gpu.json"
    if speed.is_file():
        out["single_process_speed"] = json.loads(speed.read_text())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("legs", nargs="+", type=Path)
    ap.add_argument("--tag", required=True)
    a = ap.parse_args()
    data = {"legs": {str(p): leg(p) for p in a.legs}}
    save_results(OUT / f"gpu_leg-{a.tag}.json", data)
    for p, d in data["legs"].items():
        print(p, d["device"])
        for m, r in d["models"].items():
            print(f"  {m}: {r['precision']} batch {r['batch']}, {r['logged_steps']} steps, "
                  f"first non-finite log row at step {r['first_non_finite_log_step']}")


if __name__ == "__main__":
    main()
