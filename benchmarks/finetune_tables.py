"""BD-rate tables and plots of quantization-aware finetuning (after benchmarks/release/finetune_zoo.sh,
or finetune_vr.sh for the variable-rate model).

    python benchmarks/finetune_tables.py                                 # the zoo: results/finetune
    python benchmarks/finetune_tables.py --folder results/finetune/vr    # licq-vr

For each evaluation set (FOLDER/{kodak,heldout}/*.json, one curve per variant:
the four zoo models, or licq-vr's seven qualities) it writes ``bdrate-<set>.json``
(average BD-rate of every comparison and the same per image: each image has its
own curve), ``rd-<set>.png`` (all variants; CompressAI's published mbt2018-mean on
Kodak) and ``per-image-<set>.png``, and writes the markdown tables to FOLDER/README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from licq.atomic import atomic_write_bytes
from licq.errors import LicqError
from licq.evaluation.bdrate import bd_psnr, bd_rate
from licq.evaluation.plot import plot_rd
from licq.evaluation.results import save_results

R = Path(__file__).resolve().parents[1] / "results"
COMPARISONS = [  # (variant, anchor, what the paper's table calls it)
    ("sq-ft-dec", "sq", "SQ + finetune(dec) vs SQ"),
    ("sq-ft-dec-idem", "sq", "SQ + finetune(dec), then the idempotence term, vs SQ"),
    ("sq-ft-dec-idem", "sq-ft-dec", "SQ + finetune(dec), then the idempotence term, vs SQ + finetune(dec)"),
    ("sq-ft-dechd", "sq", "SQ + finetune(dec+hyperdec) vs SQ"),
    ("sq-ctl-noise", "sq", "control: g_s trained on noisy latents vs SQ"),
    ("tcq8-ft-dec", "tcq8", "TCQ-8 + finetune(dec) vs TCQ-8"),
    ("tcq8-ft-dechd", "tcq8", "TCQ-8 + finetune(dec+hyperdec) vs TCQ-8"),
    ("tcq8", "sq", "TCQ-8 vs SQ"),
    ("tcq8-ft-dec", "sq", "TCQ-8 + finetune(dec) vs SQ"),
    ("tcq8-ft-dechd", "sq", "TCQ-8 + finetune(dec+hyperdec) vs SQ"),
    ("tcq8-ft-dec", "sq-ft-dec", "TCQ-8 + finetune(dec) vs SQ + finetune(dec)"),  # each quantizer with its decoder
    ("tcq8-ft-dec", "sq-ft-dec-idem", "TCQ-8 + finetune(dec) vs SQ + finetune(dec), then the idempotence term"),
]
STYLE = {"sq": dict(color="C0"), "sq-ft-dec": dict(color="C0", ls="--"), "sq-ft-dec-idem": dict(color="C2", ls="--"),
         "sq-ft-dechd": dict(color="C0", ls=":"),
         "sq-ctl-noise": dict(color="C7", ls="-."), "tcq8": dict(color="C3"),
         "tcq8-ft-dec": dict(color="C3", ls="--"), "tcq8-ft-dechd": dict(color="C3", ls=":")}


def _curve(rows: list[dict], image: str) -> tuple[list[float], list[float]]:
    pts = sorted((r["bpp"], r["psnr-rgb"]) for r in rows if r["image"] == image)
    return [p[0] for p in pts], [p[1] for p in pts]


def _safe(fn, *args) -> float | None:
    """BD value, or None where undefined (too little overlap, or a curve whose PSNR is not
    monotone in rate: an image on which a lower-rate zoo model reaches a higher PSNR)."""
    try:
        return fn(*args)
    except (LicqError, ValueError):
        return None


def _point(r: dict) -> str:
    """A row's rate point: quality N, or the zoo model of a decoder named licq-qN-..."""
    return f"q{r['quality']:g}" if r.get("quality") else r["model"].split("-")[1]


def _pairs(rows_a: list[dict], rows_b: list[dict], image: str | None = None,
           point: str | None = None) -> list[tuple[dict, dict]]:
    """Rows of A and B of the same image at the same rate point (one image, or one point)."""
    a = {(r["image"], _point(r)): r for r in rows_a if image in (None, r["image"]) and point in (None, _point(r))}
    return [(a[k], r) for r in rows_b if (k := (r["image"], _point(r))) in a]


def _deltas(pairs: list[tuple[dict, dict]]) -> tuple[float, float]:
    """Mean PSNR gain (dB) and rate change (%) of B over A over these pairs."""
    return (float(np.mean([y["psnr-rgb"] - x["psnr-rgb"] for x, y in pairs])),
            float(np.mean([100 * (y["bpp"] / x["bpp"] - 1) for x, y in pairs])))


def _matched(rows_a: list[dict], rows_b: list[dict], image: str) -> tuple[float, float]:
    """Mean PSNR gain (dB) and rate change (%) of B over A at the same rate point, for one image."""
    return _deltas(_pairs(rows_a, rows_b, image=image))


def _per_point(rows_a: list[dict], rows_b: list[dict], mean_a: dict) -> dict[str, dict]:
    """At each rate point of B: its mean PSNR gain and rate change over A at the same point, and its
    PSNR gain at equal rate: B's mean point (over the images) against A's mean curve, interpolated
    linearly in log rate (None outside A's range). The second is what a TCQ curve gains over SQ at
    that rate."""
    out = {}
    la, pa = np.log(mean_a["bpp"]), np.asarray(mean_a["psnr-rgb"])
    order = np.argsort(la)
    for point in sorted({_point(r) for r in rows_b}, key=lambda k: float(k[1:])):
        pairs = _pairs(rows_a, rows_b, point=point)
        if not pairs:
            continue
        dp, dr = _deltas(pairs)
        at_b = [r for r in rows_b if _point(r) == point]
        lb = np.log(np.mean([r["bpp"] for r in at_b]))
        inside = la.min() <= lb <= la.max()
        at_rate = float(np.mean([r["psnr-rgb"] for r in at_b]) - np.interp(lb, la[order], pa[order])) if inside else None
        out[point] = {"delta_psnr_db": dp, "delta_bpp_percent": dr, "images": len(pairs),
                      "delta_psnr_at_equal_rate_db": at_rate}
    return out


def tables(out_dir: Path, set_name: str, kind: dict) -> dict | None:
    points, point, xmax = kind["points"], kind["point"], kind["xmax"]
    folder = out_dir / set_name
    curves = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if "sq" not in curves:
        return None
    out = {"set": set_name, "points": points, "point": point, "images": len({r["image"] for r in curves["sq"]["per_image"]}), "comparisons": []}
    for variant, anchor, label in COMPARISONS:
        if variant not in curves or anchor not in curves:
            continue
        a, b = curves[anchor]["results"], curves[variant]["results"]
        per_image = []
        for img in sorted({r["image"] for r in curves[anchor]["per_image"]}):
            ra, da = _curve(curves[anchor]["per_image"], img)
            rb, db = _curve(curves[variant]["per_image"], img)
            dp, dr = _matched(curves[anchor]["per_image"], curves[variant]["per_image"], img)
            per_image.append({"image": img, "bd_rate": _safe(bd_rate, ra, da, rb, db),
                              "bd_psnr": _safe(bd_psnr, ra, da, rb, db),
                              "mean_delta_psnr_db": dp, "mean_delta_bpp_percent": dr})
        vals = [p["bd_rate"] for p in per_image if p["bd_rate"] is not None]
        out["comparisons"].append({
            "variant": variant, "anchor": anchor, "label": label,
            "bd_rate": _safe(bd_rate, a["bpp"], a["psnr-rgb"], b["bpp"], b["psnr-rgb"]),
            "bd_psnr": _safe(bd_psnr, a["bpp"], a["psnr-rgb"], b["bpp"], b["psnr-rgb"]),
            "per_image_mean_bd_rate": float(np.mean(vals)) if vals else None,
            "images_improved": sum(v < 0 for v in vals), "images_with_bd_rate": len(vals),
            "mean_delta_psnr_db": float(np.mean([p["mean_delta_psnr_db"] for p in per_image])),
            "mean_delta_bpp_percent": float(np.mean([p["mean_delta_bpp_percent"] for p in per_image])),
            "images_with_psnr_gain": sum(p["mean_delta_psnr_db"] > 0 for p in per_image),
            "per_point": _per_point(curves[anchor]["per_image"], curves[variant]["per_image"], a),
            "per_image": per_image})
    save_results(out_dir / f"bdrate-{set_name}.json", out)
    plot = [dict(curves[k], name=k, style=STYLE.get(k, {})) for k in STYLE if k in curves]
    if set_name == "kodak":
        mbt = json.loads((R / "anchors/kodak/compressai-mbt2018-mean_mse_cpu.json").read_text())
        plot.append(dict(mbt, name="CompressAI mbt2018-mean (published)", style=dict(color="k")))
    plot_rd(plot, out_dir / f"rd-{set_name}.png", title=f"{kind['title']} ({set_name})",
            metrics=("psnr-rgb",), xmax=xmax)
    _per_image_plot(out, out_dir / f"per-image-{set_name}.png")
    return out


def _per_image_plot(tab: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = [c for c in tab["comparisons"] if c["variant"] != "tcq8" and c["anchor"] == c["variant"].split("-")[0]]
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * tab["images"] * len(comps) / 2), 4))
    width = 0.8 / max(len(comps), 1)
    names = [p["image"].rsplit(".", 1)[0] for p in comps[0]["per_image"]] if comps else []
    for k, c in enumerate(comps):
        ax.bar(np.arange(len(names)) + k * width, [p["mean_delta_psnr_db"] for p in c["per_image"]], width,
               label=c["label"])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=90, fontsize=6)
    ax.set_ylabel(f"PSNR gain at the same {tab['point']} [dB]")
    ax.set_title(f"Finetuning gain per image ({tab['set']}; mean over {tab['points']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(tab: dict) -> str:
    lines = [f"**{tab['set']}** ({tab['images']} images; BD-rate over {tab['points']}, Akima)", "",
             "| comparison | BD-rate | BD-PSNR | mean of per-image BD-rates | images with BD-rate < 0 "
             f"| ΔPSNR / Δrate at the same {tab['point']} | images with ΔPSNR > 0 |",
             "|---|---|---|---|---|---|---|"]
    for c in tab["comparisons"]:
        br = "n/a" if c["bd_rate"] is None else f"{c['bd_rate']:+.2f} %"
        bp = "n/a" if c["bd_psnr"] is None else f"{c['bd_psnr']:+.3f} dB"
        pm = "n/a" if c["per_image_mean_bd_rate"] is None else f"{c['per_image_mean_bd_rate']:+.2f} %"
        lines.append(f"| {c['label']} | {br} | {bp} | {pm} | {c['images_improved']}/{c['images_with_bd_rate']} "
                     f"| {c['mean_delta_psnr_db']:+.3f} dB / {c['mean_delta_bpp_percent']:+.2f} % "
                     f"| {c['images_with_psnr_gain']}/{tab['images']} |")
    points = list(tab["comparisons"][0]["per_point"]) if tab["comparisons"] else []
    lines += ["", "PSNR gain (dB) at equal rate at each rate point: the variant's mean point against the "
              "anchor's mean curve (log-rate interpolation; n/a outside its range):", "",
              "| comparison | " + " | ".join(points) + " |", "|---|" + "---|" * len(points)]
    for c in tab["comparisons"]:
        cells = [f"{v:+.3f}" if (v := c["per_point"].get(k, {}).get("delta_psnr_at_equal_rate_db")) is not None
                 else "n/a" for k in points]
        lines.append(f"| {c['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ZOO = {"title": "Quantization-aware finetuning", "points": "the four zoo models", "point": "model", "xmax": 0.7, "header": """# Quantization-aware finetuning results

Generated by `python benchmarks/finetune_tables.py` from the evaluations that
`bash benchmarks/release/finetune_zoo.sh` writes (real files, bpp from bytes, PSNR-RGB).
Each curve has four points, the zoo models licq-q1..q4; a BD-rate compares two
such curves (negative: fewer bits at equal PSNR). Per-image BD-rates use each
image's own four-point curves. `heldout` is results/finetune/heldout.txt: 50
images of the training pool that finetuning never saw and no setting was
chosen on (the end-to-end zoo models were trained on them).

Plots: `rd-kodak.png`, `rd-heldout.png`, `per-image-kodak.png`, `per-image-heldout.png`.
"""}
VR = {"title": "Quantization-aware finetuning of licq-vr", "points": "licq-vr's seven qualities", "point": "quality", "xmax": 1.3, "header": """# Quantization-aware finetuning of licq-vr

Generated by `python benchmarks/finetune_tables.py --folder results/finetune/vr` from the
evaluations that `bash benchmarks/release/finetune_vr.sh` writes (real files, bpp from bytes,
PSNR-RGB). Each curve has seven points, licq-vr's qualities 1-7; a BD-rate compares two such
curves (negative: fewer bits at equal PSNR). Per-image BD-rates use each image's own seven-point
curves. `heldout` is results/finetune/heldout.txt: 50 images of the training pool that finetuning
never saw and no setting was chosen on (licq-vr was trained on them). Every finetuned decoder was
trained by the recipe of the shipped licq-vr-ft-tcq8-dec (see finetune_vr.sh); `tcq8-ft-dec` is
that shipped decoder. `sq-ft-dec-idem` is `sq-ft-dec` with 300 more steps that add the idempotence
term: it ships as licq-vr-ft-sq-dec (licq 0.4.3), which `--finetuned auto` codes with at
qualities 2-7 (quality 1 keeps the base decoder: there it fails the adoption rule).
These tables record the licq-vr of licq 0.4.0-0.4.3 (digest 5a60a508992ec20a) and its decoders;
licq 0.4.4 replaced it (docs/variable-rate.md), and finetune_vr.sh now runs on the new weights.

Plots: `rd-kodak.png`, `rd-heldout.png`, `per-image-kodak.png`, `per-image-heldout.png`.
"""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=R / "finetune",
                    help="results/finetune (the zoo, default) or results/finetune/vr (licq-vr)")
    folder = ap.parse_args().folder
    kind = VR if folder.resolve().name == "vr" else ZOO
    parts = [kind["header"]]
    for s in ("kodak", "heldout"):
        tab = tables(folder, s, kind)
        if tab:
            parts.append(markdown(tab) + "\n")
    text = "\n".join(parts)
    atomic_write_bytes(folder / "README.md", text.encode())
    print(text)


if __name__ == "__main__":
    main()
