"""Why TCQ (and RDOQ) lose to SQ on the zoo: issue 13, item 1.

(a) per-channel image-domain sensitivity of the synthesis transform,
    w_c = E||g_s(ŷ + e_c) − g_s(ŷ)||² / E||e_c||²  (image on [0, 1], summed over pixels and
    colours; e_c small Gaussian noise on channel c of the rounded latents of a centre crop),
    per model and image, with its stability across images;
(b) TCQ-8 (zoo defaults) probability tables: empirical distribution of the chosen levels per
    quantizer and scale bucket against the cell masses the tables assume (SQ as control), and
    the rate the search believes against the bytes written;
(c) the quantizer λ equivalent to the training loss ``R + λ_t·255²·MSE``:
    λ_q = 3 / (λ_t · 255² · w̄) in latent units (w̄ = mean_c w_c), vs the tuned zoo values;
(d) where in rate the TCQ loss is, from the existing Kodak and sweep results.

Writes results/tcq/diagnosis.json and results/tcq/sensitivity.png. The channel weights the encoder
uses are measured the same way (licq.evaluation.calibrate.channel_sensitivity) and written into the
zoo manifest by ``python -m licq.evaluation.calibrate MODEL --images ...``.

    nice -n 15 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/release/tcq_diagnosis.py
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from licq.codec import image_to_tensor
from licq.evaluation.calibrate import channel_sensitivity, rounded_latents
from licq.evaluation.results import save_results
from licq.imageio import open_image, to_rgb_array
from licq.latents import encoder_side
from licq.quantizers import TrellisQuantizer
from licq.quantizers.tcq import cell_probability
from licq.quantizers.cells import rate_bits, sq_cell_probability
from licq.quantizers.defaults import quantizer_defaults
from licq.zoo import load_zoo, manifest

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
IMAGES = ["kodim01.png", "kodim04.png", "kodim23.png"]
MODELS = ["licq-q1", "licq-q2", "licq-q3", "licq-q4"]
BUCKETS = [0.0, 0.5, 1.0, 2.0, 4.0, math.inf]  # table scale s = σ/Δ


def latents(m, path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(y, μ, σ) of a whole image, as the encoder sees them."""
    with torch.inference_mode():
        e = encoder_side(m.net, image_to_tensor(to_rgb_array(open_image(path))[0]))
    return e.y, e.means, e.scales


def part_a(models: list[str], images: list[Path], crop: int) -> dict:
    """Sensitivities per model and image, their spread and their stability across images."""
    res = {}
    for name in models:
        m = load_zoo(name)
        per = {}
        for p in images:
            per[p.name] = channel_sensitivity(m, rounded_latents(m, p, crop))
        w = np.array(list(per.values()))  # (images, C)
        lw = np.log(w)
        corr = np.corrcoef(lw)
        mean_w = w.mean(0)
        res[name] = {
            "per_image": {k: v.tolist() for k, v in per.items()},
            "mean": mean_w.tolist(),
            "min": float(mean_w.min()), "max": float(mean_w.max()), "mean_over_channels": float(mean_w.mean()),
            "p90_over_p10": float(np.percentile(mean_w, 90) / np.percentile(mean_w, 10)),
            "max_over_min": float(mean_w.max() / mean_w.min()),
            "log_corr_between_images": float(corr[np.triu_indices(len(images), 1)].mean()),
            "median_ratio_max_min_across_images": float(np.median(w.max(0) / w.min(0))),
        }
        print(f"{name}: w in [{res[name]['min']:.4g}, {res[name]['max']:.4g}], mean {mean_w.mean():.4g}, "
              f"p90/p10 {res[name]['p90_over_p10']:.2f}, log-corr between images "
              f"{res[name]['log_corr_between_images']:.3f}, median max/min across images "
              f"{res[name]['median_ratio_max_min_across_images']:.2f}", flush=True)
    return res


def lmbda_of(name: str) -> float:
    """The model's training λ from the manifest."""
    return next(e["lmbda"] for e in manifest()["models"] if e["name"] == name)


def part_c(a: dict) -> dict:
    """λ_q = 3 / (λ_t · 255² · w̄): the training loss's exchange rate in latent units, vs the tuned λ."""
    res = {}
    for name, s in a.items():
        lt, wbar = lmbda_of(name), s["mean_over_channels"]
        w = np.asarray(s["mean"])
        tuned = {k: quantizer_defaults(name, "tcq", None, int(k), None)["tcq_lambda"] for k in ("4", "8")}
        res[name] = {"lambda_train": lt, "w_mean": wbar,
                     "lambda_derived": 3 / (lt * 255 ** 2 * wbar),
                     "lambda_derived_per_channel_range": [3 / (lt * 255 ** 2 * float(w.max())),
                                                          3 / (lt * 255 ** 2 * float(w.min()))],
                     "lambda_tuned_tcq": tuned}
        print(f"{name}: λ_t {lt}, derived λ_q {res[name]['lambda_derived']:.4g} "
              f"(per channel {res[name]['lambda_derived_per_channel_range'][0]:.3g}.."
              f"{res[name]['lambda_derived_per_channel_range'][1]:.3g}), tuned {tuned}", flush=True)
    return res


def level_table(level: torch.Tensor, prob_fn: Callable, s: torch.Tensor, q: int, vmax: int = 4) -> dict:
    """Empirical frequency of each level −vmax..vmax vs the mean cell mass the tables give it.

    ``q``: 0 for SQ and TCQ's Q0 (levels 2k for TCQ), 1 for TCQ's Q1; a level the quantizer
    does not have gets model mass 0. ``kl_bits``: KL(empirical ‖ model), both pooled over the bucket,
    over these levels: an indication of the bits per symbol the tables' mismatch costs there.
    """
    vs = torch.arange(-vmax, vmax + 1, dtype=level.dtype)
    emp = [(level == v).double().mean().item() for v in vs]
    mod = [prob_fn(torch.full_like(s, float(v)), s).double().mean().item() if has_level(int(v), q) else 0.0
           for v in vs]
    kl = sum(e * math.log2(e / m) for e, m in zip(emp, mod) if e > 0 and m > 0)
    believed = rate_bits(prob_fn(level, s)).double()
    # excess: bits spent over the entropy of the empirical per-level distribution (pooled in the bucket)
    pe = np.asarray(emp)
    ent = float(-(pe[pe > 0] * np.log2(pe[pe > 0])).sum())
    return {"levels": vs.tolist(), "empirical": emp, "model": mod, "count": int(level.numel()), "kl_bits": kl,
            "believed_bits_per_symbol": believed.mean().item(), "empirical_entropy_bits": ent}


def has_level(v: int, q: int) -> bool:
    """Whether quantizer ``q`` has level ``v`` (−1: SQ, every integer; 0: TCQ Q0, even; 1: TCQ Q1, 0 and odd)."""
    return q == -1 or (v % 2 == 0 if q == 0 else (v == 0 or v % 2 == 1))


def bucketed(level: torch.Tensor, qid: torch.Tensor, s: torch.Tensor, prob_for_q: Callable,
             tcq: bool) -> list[dict]:
    """:func:`level_table` per (quantizer, scale bucket)."""
    rows = []
    for q in sorted(set(qid.unique().tolist())):
        for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
            sel = (qid == q) & (s >= lo) & (s < hi)
            if sel.sum() < 50:
                continue
            rows.append({"quantizer": q, "scale": [lo, hi],
                         **level_table(level[sel], lambda v, ss, q=q: prob_for_q(v, q, ss), s[sel],
                                       q if tcq else -1)})
    return rows


def part_b(models: list[str], images: list[Path]) -> dict:
    """Chosen levels vs table masses and believed vs written bits, TCQ-8 (zoo defaults) and SQ Δ=1."""
    res = {}
    for name in models:
        m = load_zoo(name)
        d = quantizer_defaults(name, "tcq", None, 8, None)
        tq = TrellisQuantizer(step=d["step"], states=8, tcq_lambda=d["tcq_lambda"])
        acc = {"tcq": [[], [], []], "sq": [[], [], []]}
        believed = {"tcq": 0.0, "sq": 0.0}
        written = {"tcq": 0, "sq": 0}
        for p in images:
            y, mu, sc = latents(m, p)
            em = m.entropy
            with torch.inference_mode():
                lv, qid = tq.levels(y, mu, sc, em)
                s = em.scale_table[tq.table_indexes(sc, em).long()]
                believed["tcq"] += float(tq_bits(lv, qid, s).sum())
                written["tcq"] += 8 * len(tq.encode(y, mu, sc, em).data)
                sq_lv = torch.round(y - mu)
                s1 = em.scale_table[em.indexes(sc).long()]
                believed["sq"] += float(rate_bits(sq_cell_probability(sq_lv, s1)).sum())
                written["sq"] += 8 * len(em.tables.encode(sq_lv.int(), em.indexes(sc)))
            for key, vals in (("tcq", (lv, qid, s)), ("sq", (sq_lv, torch.zeros_like(qid), s1))):
                for i, v in enumerate(vals):
                    acc[key][i].append(v.flatten())
        res[name] = {"tcq_setting": d}
        for key in ("tcq", "sq"):
            lv, qid, s = (torch.cat(x) for x in acc[key])
            fn = (lambda v, q, ss: cell_probability(v, q, ss)) if key == "tcq" else \
                (lambda v, q, ss: sq_cell_probability(v, ss))
            res[name][key] = {"believed_bits": believed[key], "written_bits": written[key],
                              "written_over_believed": written[key] / believed[key],
                              "buckets": bucketed(lv, qid, s, fn, key == "tcq")}
            b = res[name][key]["buckets"]
            res[name][key]["kl_bits_fraction"] = sum(x["kl_bits"] * x["count"] for x in b) / \
                sum(x["believed_bits_per_symbol"] * x["count"] for x in b)
            print(f"{name} {key}: believed {believed[key]:.0f} bits, written {written[key]} "
                  f"({written[key] / believed[key]:.4f}); pooled table mismatch (KL) "
                  f"{100 * res[name][key]['kl_bits_fraction']:.1f} % of the bits", flush=True)
    return res


def tq_bits(level: torch.Tensor, qid: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Bits the Viterbi search charges each chosen level (its quantizer's cell at table scale)."""
    return rate_bits(torch.where(qid == 0, cell_probability(level, 0, s), cell_probability(level, 1, s)))


def ladder_db(bpp: float, psnr: float, sq_bpp: list[float], sq_psnr: list[float]) -> float | None:
    """PSNR above the SQ zoo ladder at the same rate (log-bpp interpolation); None outside the ladder."""
    if not min(sq_bpp) <= bpp <= max(sq_bpp):
        return None
    return psnr - float(np.interp(np.log(bpp), np.log(sq_bpp), sq_psnr))


def part_d() -> dict:
    """Per model: Kodak TCQ-8 point vs the SQ zoo point and the sweep's saving vs the model's own SQ curve."""
    sq = json.loads((ROOT / "results/kodak/licq-sq.json").read_text())["results"]
    out = {}
    for states in ("4", "8"):
        t = json.loads((ROOT / f"results/kodak/licq-tcq{states}.json").read_text())["results"]
        for i, name in enumerate(MODELS):
            sw = json.loads((ROOT / f"results/tcq/sweep-{name}.json").read_text())["best"][states]
            out.setdefault(name, {})[f"tcq{states}"] = {
                "kodak_bpp": t["bpp"][i], "kodak_psnr": t["psnr-rgb"][i],
                "sq_bpp": sq["bpp"][i], "sq_psnr": sq["psnr-rgb"][i],
                "sweep_saving_vs_own_sq_percent": sw["saving_vs_sq_percent"],
                # ΔPSNR against the SQ zoo ladder (log-bpp interpolation between models): what BD-rate sees
                "db_vs_sq_ladder": ladder_db(t["bpp"][i], t["psnr-rgb"][i], sq["bpp"], sq["psnr-rgb"])}
    return out


def plot(a: dict, path: Path) -> None:
    """Sorted channel sensitivities per model, one line per image."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(a), figsize=(4 * len(a), 3.2), sharey=True)
    for ax, (name, s) in zip(np.atleast_1d(axes), a.items()):
        order = np.argsort(s["mean"])
        for img, w in s["per_image"].items():
            ax.semilogy(np.asarray(w)[order], ".", ms=3, label=img)
        ax.set_title(f"{name}: p90/p10 {s['p90_over_p10']:.1f}")
        ax.set_xlabel("channel (sorted by mean w)")
    np.atleast_1d(axes)[0].set_ylabel("w_c: image SSE / latent SSE")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--images", nargs="+", default=[str(KODAK / f) for f in IMAGES])
    ap.add_argument("--crop", type=int, default=256, help="centre crop (pixels) for the sensitivities")
    ap.add_argument("--parts", default="abcd")
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    images, out = [Path(p) for p in args.images], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"images": [p.name for p in images], "crop": args.crop}
    if "a" in args.parts or "c" in args.parts:
        res["sensitivity"] = part_a(args.models, images, args.crop)
        res["lambda"] = part_c(res["sensitivity"])
        plot(res["sensitivity"], out / "sensitivity.png")
    if "b" in args.parts:
        res["tables"] = part_b(args.models, images)
    if "d" in args.parts:
        res["rate_profile"] = part_d()
    save_results(out / f"diagnosis-{args.parts}.json", res)


if __name__ == "__main__":
    main()
