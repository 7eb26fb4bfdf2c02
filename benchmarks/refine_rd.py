"""Issue 15: what encoder-side latent refinement (``--effort``) buys, and what it costs. Real files.

Every zoo quality is encoded at each effort level with each quantizer (SQ Δ = 1 and TCQ-8 with
the model's defaults), decoded with the plain decoder (the output must equal the encoder's
reconstruction), and BD-rate (Akima, PSNR-RGB) of each four-point curve is computed against
effort 0 of the same quantizer and against plain SQ. Encode time is the codec's own "encode"
time (transforms, refinement, quantizer and coder), reported per megapixel and as a ratio to
effort 0 on the same image.

Rows are appended to results/refine/rows-<tag>.jsonl as they finish, so an interrupted run
resumes where it stopped (--resume); the summary goes to results/refine/kodak-<tag>.json and
the curves to results/refine/kodak-<tag>.png.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refine_rd.py --images 1 5 9 13 17 21 \\
        --efforts 0 1 2 3 --quantizers sq --tag sq6 --resume
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from licq.evaluation.bdrate import bd_psnr, bd_rate
from licq.evaluation.rd import evaluate
from licq.evaluation.results import save_results
from licq.refine import EFFORT_ITERATIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import KODAK, append_row, kodak_files, row_log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "refine"
SETTINGS = {"sq": {"quantizer": "sq"}, "tcq8": {"quantizer": "tcq", "states": 8}}


def run_rows(files: list[Path], qualities: list[int], efforts: list[int], quantizers: list[str],
             rows_path: Path, done: list[dict]) -> list[dict]:
    """Encode + decode every (quantizer, effort, quality, image) with :func:`licq.evaluation.rd.evaluate`
    (real file size, PSNR of the decoded image, decoder == encoder reconstruction), appending each
    row to ``rows_path`` after the rows ``done`` that an earlier run left there; ``quantizer`` is the
    tag of :data:`SETTINGS` ("tcq8")."""
    keys = {(r["quantizer"], r["effort"], r["quality"], r["image"]) for r in done}
    for qz in quantizers:
        for effort in efforts:
            for q in qualities:
                for f in files:
                    if (qz, effort, q, f.name) in keys:
                        continue
                    point = {"quality": q, "effort": effort, **SETTINGS[qz]}
                    r = evaluate([f], [point], name=qz, progress=False, msssim=False)["per_image"][0]
                    row = {**r, "quantizer": qz, "iterations": EFFORT_ITERATIONS[effort],
                           "megapixels": 8 * r["bytes"] / r["bpp"] / 1e6}
                    append_row(rows_path, row)
                    done.append(row)
                    print(f"{qz} effort {effort} q{q} {f.name}: {row['bpp']:.4f} bpp "
                          f"{row['psnr-rgb']:.3f} dB {row['encoding_time']:.1f} s", file=sys.stderr, flush=True)
    return done


def curve(rows: list[dict], qz: str, effort: int, qualities: list[int], images: list[str]) -> dict:
    """Mean bpp / PSNR per quality over ``images`` and the encode time of this (quantizer, effort)."""
    sel = [r for r in rows if r["quantizer"] == qz and r["effort"] == effort and r["image"] in images]
    by_q = {q: [r for r in sel if r["quality"] == q] for q in qualities}
    mp = sum(r["megapixels"] for r in sel)
    return {"quantizer": qz, "effort": effort, "iterations": EFFORT_ITERATIONS[effort],
            "bpp": [float(np.mean([r["bpp"] for r in by_q[q]])) for q in qualities],
            "psnr-rgb": [float(np.mean([r["psnr-rgb"] for r in by_q[q]])) for q in qualities],
            "seconds_per_megapixel": sum(r["encoding_time"] for r in sel) / mp,
            "all_exact": all(r["exact"] for r in sel)}


def summarise(rows: list[dict], qualities: list[int], efforts: list[int], quantizers: list[str],
              images: list[str]) -> list[dict]:
    """Curves with BD-rates against effort 0 of the same quantizer and against plain SQ, time ratios."""
    curves = {(qz, e): curve(rows, qz, e, qualities, images) for qz in quantizers for e in efforts}
    out = []
    for (qz, e), c in curves.items():
        for anchor_key, name in (((qz, 0), "vs_effort0"), (("sq", 0), "vs_plain_sq")):
            a = curves.get(anchor_key)
            if a is not None and anchor_key != (qz, e):
                c[f"bd_rate_{name}"] = bd_rate(a["bpp"], a["psnr-rgb"], c["bpp"], c["psnr-rgb"])
                c[f"bd_psnr_{name}"] = bd_psnr(a["bpp"], a["psnr-rgb"], c["bpp"], c["psnr-rgb"])
        base = curves.get((qz, 0))
        if base is not None:
            c["encode_time_ratio"] = c["seconds_per_megapixel"] / base["seconds_per_megapixel"]
        out.append(c)
    return out


def plot(curves: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for c in curves:
        label = f"{c['quantizer']} effort {c['effort']} ({c['iterations']} it"
        label += f", {c['bd_rate_vs_effort0']:+.2f} %)" if "bd_rate_vs_effort0" in c else ")"
        ax.plot(c["bpp"], c["psnr-rgb"], "o-" if c["quantizer"] == "sq" else "s--", label=label)
    ax.set_xlabel("bits per pixel (real files)")
    ax.set_ylabel("PSNR-RGB [dB]")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kodak", type=Path, default=KODAK)
    p.add_argument("--images", type=int, nargs="+", default=list(range(1, 25)), help="Kodak numbers")
    p.add_argument("--qualities", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--efforts", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--quantizers", nargs="+", choices=list(SETTINGS), default=["sq"])
    p.add_argument("--tag", default="kodak")
    p.add_argument("--resume", action="store_true", help="keep the rows already in rows-<tag>.jsonl")
    a = p.parse_args()
    files = kodak_files(a.images, "refine_rd.py", a.kodak)
    rows_path, done = row_log(OUT, f"rows-{a.tag}.jsonl", a.resume)
    rows = run_rows(files, a.qualities, sorted(set(a.efforts) | {0}), a.quantizers, rows_path, done)
    names = [f.name for f in files]
    curves = summarise(rows, a.qualities, sorted(set(a.efforts) | {0}), a.quantizers, names)
    save_results(OUT / f"kodak-{a.tag}.json", {"images": names, "qualities": a.qualities,
                                               "efforts": EFFORT_ITERATIONS, "curves": curves})
    plot(curves, OUT / f"kodak-{a.tag}.png", f"Latent refinement on {len(files)} Kodak images, zoo q"
         f"{a.qualities[0]}-q{a.qualities[-1]} (BD-rate vs effort 0)")
    for c in curves:
        print(json.dumps({k: v for k, v in c.items() if k not in ("bpp", "psnr-rgb")}))


if __name__ == "__main__":
    main()
