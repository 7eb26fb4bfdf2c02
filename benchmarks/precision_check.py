"""Does bf16 training learn what fp32 training learns? A matched pair of short runs, judged on real files.

Both runs start from the same weights (``--warm-start``) with the same seed,
crops, steps and learning rate; only ``--precision`` differs. Each final model
then codes the evaluation images (SQ, Δ = 1) into real files; the check passes
when the two end within 0.1 dB PSNR and 1 % bpp of each other. Writes
results/campaign/precision_check.json.

    python benchmarks/precision_check.py --warm-start /root/licq-campaign/q3/snapshots/step-0001000.pt

``--control`` adds a third run, fp32 on one thread: the same arithmetic summed in another order,
so its distance from the fp32 run is the run-to-run spread that any numeric change causes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from licq.evaluation.metrics import rd_loss
from licq.evaluation.rd import evaluate, image_files
from licq.evaluation.results import save_results
from licq.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warm-start", required=True)
    ap.add_argument("--data", default=str(SHARED / "train"))
    ap.add_argument("--images", nargs="+", default=[str(SHARED / "kodak")])
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--control", action="store_true", help="also fp32 on 1 thread (run-to-run spread)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "campaign" / "precision_check.json")
    a = ap.parse_args()
    files = image_files(a.images)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("fp32", "bf16", "fp32-1thread")[:3 if a.control else 2]:
            precision, threads = name[:4], 1 if name.endswith("1thread") else a.threads
            cfg = TrainConfig(data=[a.data], out=f"{tmp}/{name}", lmbda=a.lmbda, steps=a.steps,
                              batch=a.batch, crop=a.crop, lr=a.lr, lr_drop=1.0, threads=threads,
                              warm_start=a.warm_start, precision=precision, checkpoint_every=10 ** 9)
            train(cfg, progress=False)
            res = evaluate(files, [{"model": f"{tmp}/{name}/checkpoint.pt", "arch": "mbt2018-mean"}],
                           name=name, progress=False, msssim=False)
            bpp, psnr = res["results"]["bpp"][0], res["results"]["psnr-rgb"][0]
            rows = res["per_image"]
            loss = rd_loss([r["bpp"] for r in rows], [r["psnr-rgb"] for r in rows], a.lmbda)
            runs[name] = {"bpp": bpp, "psnr-rgb": psnr, "rd_loss": loss}
            print(name, json.dumps(runs[name]), flush=True)
    d_psnr = runs["bf16"]["psnr-rgb"] - runs["fp32"]["psnr-rgb"]
    d_bpp = runs["bf16"]["bpp"] / runs["fp32"]["bpp"] - 1
    out = {"config": {k: v for k, v in vars(a).items() if k != "out"}, "images": len(files), "runs": runs,
           "delta_psnr_db_bf16_minus_fp32": d_psnr, "delta_bpp_relative_bf16_vs_fp32": d_bpp,
           "within_0.1dB_and_1pct": abs(d_psnr) <= 0.1 and abs(d_bpp) <= 0.01,
           "delta_rd_loss_relative_bf16_vs_fp32": runs["bf16"]["rd_loss"] / runs["fp32"]["rd_loss"] - 1}
    if a.control:
        c = runs["fp32-1thread"]
        out["control_delta_psnr_db_fp32_1thread_minus_fp32"] = c["psnr-rgb"] - runs["fp32"]["psnr-rgb"]
        out["control_delta_bpp_relative"] = c["bpp"] / runs["fp32"]["bpp"] - 1
        out["control_delta_rd_loss_relative"] = c["rd_loss"] / runs["fp32"]["rd_loss"] - 1
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_results(a.out, out)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
