"""Generation loss against RD: a base model and decoders finetuned with and without ``--idempotence``.

Each decoder folder (``licq finetune --out DIR``) is laid over the base weights,
as the zoo does with finetuned decoders, and the resulting model is measured the
way the campaign's adoption rule measures a snapshot (benchmarks/learning_curve.py):
Kodak bpp, PSNR and RD loss with real files (SQ, Δ = 1), and the PSNR drift over
``--generations`` encode -> decode generations on the first ``--recompression`` images.

    python benchmarks/idempotence.py BASE.pt --decoders RUN_b0 RUN_b1 --lmbda 0.0067 --name q3-7000

Writes results/idempotence/idempotence-NAME.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from licq.evaluation.rd import image_files
from licq.evaluation.results import save_results
from licq.models import state_dict_from_file
from licq.zoo.export import lay_decoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning_curve import KODAK, evaluate_snapshot, recompression  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def merged_model(base: Path, run: Path) -> Path:
    """The base weights with the run's finetuned tensors laid over them, as one user model file."""
    state, _ = lay_decoder(state_dict_from_file(base), run)  # refuses a run finetuned from other weights
    out = run / "merged.pt"
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, out)
    return out


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.plot(r["recompression_drift_db"], r["rd_loss"], "o", label=r["label"])
    ax.legend(fontsize=8)
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel(f"PSNR drift over {rows[0]['recompression_generations']} generations (dB)")
    ax.set_ylabel("Kodak RD loss (bpp + λ·255²·MSE), real files")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="weight file of the end-to-end trained model (mbt2018-mean)")
    ap.add_argument("--decoders", nargs="+", type=Path, default=[], help="licq finetune output folders")
    ap.add_argument("--lmbda", type=float, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--images", nargs="+", default=[str(KODAK)])
    ap.add_argument("--recompression", type=int, default=3, metavar="N", help="drift measured on the first N images")
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "idempotence")
    ap.add_argument("--replot", action="store_true", help="only redraw the plot from the existing JSON")
    a = ap.parse_args()
    title = f"{a.name}: generation loss against RD (Kodak, SQ)"
    if a.replot:
        plot(json.loads((a.out / f"idempotence-{a.name}.json").read_text())["rows"],
             a.out / f"idempotence-{a.name}.png", title)
        return
    files = image_files(a.images)
    rows = []
    for label, model in [("base", a.base), *((str(d), merged_model(a.base, d)) for d in a.decoders)]:
        cfg = {} if label == "base" else json.loads((Path(label) / "decoder.json").read_text())
        row = {"label": label if label == "base" else f"{cfg['train']}, β={cfg['config'].get('idempotence', 0)}, "
                                                        f"{cfg['steps']} steps",
               "decoder": cfg, **evaluate_snapshot(str(model), files, a.lmbda),
               **recompression(str(model), files[:a.recompression], a.generations)}
        print(json.dumps({k: v for k, v in row.items() if k != "decoder"}), flush=True)
        rows.append(row)
    a.out.mkdir(parents=True, exist_ok=True)
    save_results(a.out / f"idempotence-{a.name}.json", {"base": str(a.base), "lmbda": a.lmbda, "images": len(files),
                                                         "rows": rows})
    plot(rows, a.out / f"idempotence-{a.name}.png", title)


if __name__ == "__main__":
    main()
