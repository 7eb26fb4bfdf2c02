"""Issue 12, item 4: the quantization-aware finetuning table of one zoo model. Real files.

The ladder tables of ``finetune_tables.py`` need every variant finetuned for all four models.
This one measures one model: each variant (the base with SQ and TCQ-8, zoo decoders, finetune
run folders that were not exported) is encoded at its one operating point on Kodak and on the
held-out photos, and scored as the **rate change at equal PSNR against the base model's own SQ
Δ-curve** on the same images (``tcq_sweep``'s score; Δ ∈ 0.7..1.2 spans every variant's PSNR).
A comparison "A vs B" is then (1 + r_A) / (1 + r_B) − 1, and ΔPSNR / Δrate at the same setting
are reported beside it, with how many images gained PSNR.

Rows go to ``<out>/rows-<model>.jsonl`` as they finish (``--resume`` keeps them); the table to
``<out>/table-<model>.json`` and ``.md``. The decoder of a run folder is laid over the base
weights exactly as ``licq.zoo.export --decoder`` would (and refused if made on other weights).

    nice env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/finetune_model_table.py --model licq-q3 \\
        --run sq-dec=/root/licq-ft/q3-sq-dec --run ctl-noise=/root/licq-ft/q3-ctl-noise \\
        --run sq-dechd=/root/licq-ft/q3-sq-dechd --run tcq8-dechd=/root/licq-ft/q3-tcq8-dechd --resume

``--base CHECKPOINT --name NAME`` measures an end-to-end training checkpoint instead of the zoo's
weights (the zoo's g_s has been through the g_s recipe, itself a finetune on real SQ latents, so
it is not the paper's starting point); quantizer settings stay those of ``--model``, the zoo's
TCQ-8 decoder (tied to the zoo's weights) is then not used, and a ``tcq8-dec`` run takes its place.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from licq.codec import encode_full
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.imageio import open_image
from licq.models import model_digest, state_dict_from_file
from licq.quantizers.defaults import quantizer_defaults
from licq.zoo import ZOO_DIR, entry, find_finetuned_variant
from licq.zoo.export import lay_decoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from rows import append_row, row_log  # noqa: E402
from tcq_sweep import saving_vs_sq  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SQ_CURVE = [0.7, 0.85, 1.0, 1.2]
#: comparisons of the table: (variant, reference)
COMPARISONS = [("sq-dec", "sq"), ("sq-dechd", "sq"), ("ctl-noise", "sq"), ("tcq8-dec", "tcq8"),
               ("tcq8-dechd", "tcq8"), ("tcq8", "sq"), ("tcq8-dec", "sq"), ("tcq8-dechd", "sq")]
LABELS = {"sq": "SQ", "sq-dec": "SQ + finetune(dec)", "sq-dechd": "SQ + finetune(dec+hyperdec)",
          "ctl-noise": "control: g_s trained on noisy latents", "tcq8": "TCQ-8",
          "tcq8-dec": "TCQ-8 + finetune(dec)", "tcq8-dechd": "TCQ-8 + finetune(dec+hyperdec)"}


def image_sets(heldout_list: Path) -> dict[str, list[Path]]:
    sets = {"kodak": sorted((SHARED / "kodak").glob("*.png"))}
    if heldout_list.exists():
        sets["heldout"] = [SHARED / "train" / line.strip() for line in heldout_list.read_text().splitlines()
                           if line.strip()]
    return sets


def variants(model: str, runs: dict[str, Path], base_file: Path | None = None) -> dict[str, dict]:
    """encode_full settings per variant name; run folders become merged weight files beside them.

    ``base_file`` (a training checkpoint) replaces the zoo's weights of ``model``; its weights are
    written once beside it as a plain weight file, which the SQ and TCQ-8 rows then encode with.
    """
    tcq = {"quantizer": "tcq", "states": 8, **{k: v for k, v in quantizer_defaults(model, "tcq", None, 8, None).items()
                                               if k in ("step", "tcq_lambda")}}
    if base_file is None:
        base = state_dict_from_file(ZOO_DIR / entry(model)["file"])
        coder = model
    else:
        base = state_dict_from_file(base_file)
        plain = base_file.parent / f"weights-{model_digest(base)[:16]}.pt"  # no optimizer state: 4x smaller, loads faster
        if not plain.exists():
            torch.save(base, plain)
        coder = str(plain)
    out = {"sq": {"model": coder, "quantizer": "sq", "step": 1.0}, "tcq8": {"model": coder, **tcq}}
    if base_file is None and find_finetuned_variant(model, "tcq", 8, "dec"):
        out["tcq8-dec"] = {"model": model, **tcq, "finetuned": "dec"}
    for name, run in runs.items():
        meta = json.loads((run / "decoder.json").read_text())
        merged = run / "merged.pt"
        if not merged.exists():
            state, _ = lay_decoder(base, run)
            torch.save(state, merged)
        if meta["quantizer"] == "tcq":
            out[name] = {"model": str(merged), **tcq}
        else:
            out[name] = {"model": str(merged), "quantizer": "sq", "step": 1.0}
    return out


def measure(sets: dict[str, list[Path]], settings: dict[str, dict], rows_path: Path, done: list[dict]) -> list[dict]:
    have = {(r["set"], r["variant"], r["image"]) for r in done}
    jobs = [(s, f"sq@{d}", {**settings["sq"], "step": d}) for s in sets for d in SQ_CURVE]
    jobs += [(s, v, cfg) for s in sets for v, cfg in settings.items() if v != "sq"]
    images = functools.cache(open_image)  # each image is decoded once, not once per variant
    for s, v, cfg in jobs:
        for f in sets[s]:
            if (s, v, f.name) in have:
                continue
            img = images(f)
            r = encode_full(img, **cfg)
            row = {"set": s, "variant": v, "image": f.name, "bytes": len(r.data), "bpp": r.bpp,
                   "psnr-rgb": psnr_images(img, r.reconstruction)}
            append_row(rows_path, row)
            done.append(row)
        print(f"{s} {v}: {len(sets[s])} images", flush=True)
    return done


def table(rows: list[dict], sets: dict[str, list[Path]], names: list[str]) -> dict:
    out = {}
    for s in sets:
        by = {}
        for r in rows:
            if r["set"] == s:
                by.setdefault(r["variant"], {})[r["image"]] = r
        if "sq@1.0" in by:
            by["sq"] = by["sq@1.0"]  # SQ Δ = 1 is a point of the curve
        imgs = [f.name for f in sets[s]]
        mean = {v: (float(np.mean([by[v][i]["bpp"] for i in imgs])), float(np.mean([by[v][i]["psnr-rgb"] for i in imgs])))
                for v in by if all(i in by[v] for i in imgs)}
        curve = [mean[f"sq@{d}"] for d in SQ_CURVE]
        score = {v: saving_vs_sq([c[0] for c in curve], [c[1] for c in curve], *mean[v]) for v in names if v in mean}
        comps = []
        for a, b in COMPARISONS:
            if a not in mean or b not in mean or score.get(a) is None or score.get(b) is None:
                continue
            gained = sum(by[a][i]["psnr-rgb"] > by[b][i]["psnr-rgb"] for i in imgs)
            comps.append({"comparison": f"{LABELS[a]} vs {LABELS[b]}", "variant": a, "reference": b,
                          "rate_percent": 100 * ((1 + score[a] / 100) / (1 + score[b] / 100) - 1),
                          "delta_psnr_db": mean[a][1] - mean[b][1],
                          "delta_rate_percent": 100 * (mean[a][0] / mean[b][0] - 1),
                          "images_psnr_up": f"{gained}/{len(imgs)}"})
        out[s] = {"images": len(imgs), "points": {v: {"bpp": mean[v][0], "psnr-rgb": mean[v][1],
                                                      "rate_vs_own_sq_percent": score.get(v)} for v in mean},
                  "comparisons": comps}
    return out


def markdown(model: str, res: dict) -> str:
    lines = [f"# Finetuning table of {model} (`benchmarks/finetune_model_table.py`)", "",
             "Rate change at equal PSNR against the base model's own SQ Δ-curve; negative: fewer bits.", ""]
    for s, t in res.items():
        lines += [f"**{s}** ({t['images']} images)", "",
                  "| comparison | rate at equal PSNR | ΔPSNR / Δrate at the same setting | images with ΔPSNR > 0 |",
                  "|---|---|---|---|"]
        lines += [f"| {c['comparison']} | {c['rate_percent']:+.2f} % | {c['delta_psnr_db']:+.3f} dB / "
                  f"{c['delta_rate_percent']:+.2f} % | {c['images_psnr_up']} |" for c in t["comparisons"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="licq-q3", help="zoo model: its weights, or with --base its quantizer settings")
    ap.add_argument("--base", type=Path, help="an end-to-end training checkpoint to measure instead of the zoo's weights")
    ap.add_argument("--name", help="label of the rows and table files (default: --model)")
    ap.add_argument("--run", action="append", default=[], metavar="NAME=FOLDER",
                    help=f"a finetune run folder; NAME one of {', '.join(k for k in LABELS if k not in ('sq', 'tcq8'))}")
    ap.add_argument("--heldout", type=Path, default=ROOT / "results" / "finetune" / "heldout.txt")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "finetune" / "n128")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--images", type=int, help="only the first N images of each set (a smoke test)")
    a = ap.parse_args()
    runs = {}
    for spec in a.run:
        name, _, folder = spec.partition("=")
        if name not in LABELS or not (Path(folder) / "decoder.pt").exists():
            ap.error(f"--run {spec}: want NAME=FOLDER with NAME in {sorted(LABELS)} and FOLDER/decoder.pt")
        runs[name] = Path(folder)
    if a.base is not None and not a.base.is_file():
        ap.error(f"--base {a.base}: no such file")
    name = a.name or a.model
    sets = {s: files[:a.images] for s, files in image_sets(a.heldout).items()}
    settings = variants(a.model, runs, a.base)
    rows = measure(sets, settings, *row_log(a.out, f"rows-{name}.jsonl", a.resume))
    res = table(rows, sets, list(settings))
    runs_meta = {n: json.loads((p / "decoder.json").read_text()) for n, p in runs.items()}
    runs_record = {n: {"folder": str(p), "steps": runs_meta[n].get("steps"), "train": runs_meta[n].get("train"),
                       "control": runs_meta[n].get("control")} for n, p in runs.items()}
    save_results(a.out / f"table-{name}.json", {"model": a.model, "base": str(a.base) if a.base else None,
                                                "settings": settings, "sq_curve": SQ_CURVE, "runs": runs_record,
                                                "sets": res})
    md = markdown(name, res)
    (a.out / f"table-{name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
