"""Learning curve of the variable-rate model (``--arch channel-vr``) on real files, against the zoo.

For each half-precision snapshot of a ``campaign.sh vr`` run (``RUN/snapshots``) not measured yet,
or for weight files given with ``--weights``, every image is encoded and decoded with SQ at each
quality (default 1, 2, ..., 7). The curve's BD-rates are taken against the shipped mean-scale zoo
with SQ (``results/kodak/licq-sq.json``: the floor of the issue is measured over the common
range), CompressAI's mbt2018-mean, WebP and AVIF; the results JSON keeps every point, and the plot
shows the latest curve with the anchors and the BD-rate against the zoo over training steps.

    python benchmarks/variable_rate_curve.py /root/licq-campaign/vr --every 1000 --threads 1
    python benchmarks/variable_rate_curve.py --weights /root/licq-campaign/vr-step0.pt --label "step 0" --step 0
    python benchmarks/variable_rate_curve.py --weights W --label L --quantizer tcq8   # TCQ-8 beside L's SQ curve
    python benchmarks/variable_rate_curve.py --weights W2 --label L2 --quantizer tcq8 --sq-of L   # e.g. a finetuned decoder

Writes results/campaign/vr-kodak.json and vr-kodak.png (``--out`` names another stem).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path

import torch

from licq import __version__
from licq.evaluation.bdrate import bd_rate
from licq.evaluation.rd import evaluate, image_files
from licq.evaluation.results import provenance
from licq.quantizers.spec import label_options

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
ANCHORS = ROOT.parent / "shared" / "anchors" / "kodak"
ARCH = "channel-vr"
#: the quantizers a curve can be measured with (``--quantizer``)
QUANTIZERS = ("sq", "tcq8")
#: the zoo this checkout ships, by release: a new zoo is a new reference, not a silent change of the old one
ZOO = f"zoo SQ (licq {__version__})"


@functools.cache
def references() -> dict[str, tuple[list[float], list[float]]]:
    """(bpp, PSNR) curves the model is compared with, those that this checkout and ../shared hold
    (read once: every point and the plot use them)."""
    files = {ZOO: ROOT / "results" / "kodak" / "licq-sq.json",
             "mbt2018-mean": ANCHORS / "compressai-mbt2018-mean_mse_cpu.json",
             "WebP": ROOT / "results" / "kodak" / "webp.json",
             "AVIF": ROOT / "results" / "kodak" / "avif.json",
             "BPG": ANCHORS / "bpg_444_x265_ycbcr.json"}
    out = {}
    for name, path in files.items():
        if path.is_file():
            r = json.loads(path.read_text())["results"]
            out[name] = (r["bpp"], r.get("psnr-rgb") or r["psnr"])
    return out


def bd_rates(bpp: list[float], psnr: list[float], skip=()) -> dict:
    """BD-rate (%) of a curve against each of :func:`references` not in ``skip``."""
    bd = {}
    for name, (rb, rp) in references().items():
        if name in skip:
            continue
        try:
            bd[name] = bd_rate(rb, rp, bpp, psnr)
        except Exception as exc:  # noqa: BLE001 - no overlap: say so in the file
            bd[name] = f"n/a ({exc})"
    return bd


def measure(weights: str, files: list[Path], qualities: list[float], quantizer: str = "sq") -> dict:
    """Mean bpp and PSNR of each quality, and the BD-rates against :func:`references`."""
    res = evaluate(files, [{"model": weights, "arch": ARCH, **label_options(quantizer), "quality": q} for q in qualities],
                   name=Path(weights).stem, progress=False, msssim=False)
    bpp, psnr = res["results"]["bpp"], res["results"]["psnr-rgb"]
    return {"qualities": qualities, "quantizer": quantizer, "bpp": bpp, "psnr-rgb": psnr, "bd_rate_percent": bd_rates(bpp, psnr),
            "exact": res["exact"], "images": len(files)}


def ranges(qualities: list[float]) -> dict[str, list[int]]:
    """Index sets of the whole curve ("") and, with seven or more qualities, its lowest and highest four."""
    out = {"": list(range(len(qualities)))}
    if len(qualities) >= 7:
        for idx in (list(range(4)), list(range(len(qualities) - 4, len(qualities)))):
            out[f", q{qualities[idx[0]]:g}-q{qualities[idx[-1]]:g}"] = idx
    return out


def quantizer_of(point: dict) -> str:
    return point.get("quantizer", "sq")  # points measured before --quantizer existed are SQ


def plot(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rd, learn) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, (rb, rp) in references().items():
        rd.plot(rb, rp, "--", marker=".", label=name)
    sq = [p for p in curve["points"] if quantizer_of(p) == "sq"]
    last = sq[-1] if sq else curve["points"][-1]
    rd.plot(last["bpp"], last["psnr-rgb"], "o-", color="black", label=f"channel-vr {last['label']}")
    others = [p for p in curve["points"] if quantizer_of(p) != "sq" and p["images"] == last["images"]
              and (p["label"] == last["label"] or (p.get("step") is not None and p.get("step") == last.get("step")))]
    for p, colour in zip(others, ["purple", "teal", "olive", "brown"]):  # the same weights, or a decoder finetuned on them
        rd.plot(p["bpp"], p["psnr-rgb"], "s-", color=colour, label=f"channel-vr {p['label']}, {quantizer_of(p)}")
    rd.set_xlabel("bpp (real files)")
    rd.set_ylabel("PSNR RGB (dB)")
    rd.set_xlim(0, max(1.1, max(last["bpp"]) * 1.05))
    rd.grid(alpha=0.3)
    rd.legend(fontsize=8)
    steps = [p for p in sq if isinstance(p.get("step"), int)]
    key = ZOO
    if steps:
        learn.plot([p["step"] for p in steps], [p["bd_rate_percent"].get(key) for p in steps], "o-")
    learn.axhline(0, color="gray", lw=0.8)
    learn.axhline(-8, color="red", ls=":", label="target: -8 %")
    learn.set_xlabel("training steps (batch 8, 256x256)")
    learn.set_ylabel(f"BD-rate against the {ZOO} (%)")
    learn.grid(alpha=0.3)
    learn.legend(fontsize=8)
    fig.suptitle(f"channel-vr on Kodak ({last['images']} images), SQ, real files", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", type=Path, help="training run folder with snapshots/")
    ap.add_argument("--weights", nargs="+", default=[], help="weight or checkpoint files to measure as well")
    ap.add_argument("--label", nargs="+", default=[], help="a label for each --weights file")
    ap.add_argument("--step", type=int, nargs="+", default=[], help="the training step of each --weights file")
    ap.add_argument("--images", nargs="+", default=[str(KODAK)])
    ap.add_argument("--limit", type=int, help="only the first N images (a quick look; not for the docs)")
    ap.add_argument("--qualities", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6, 7])
    ap.add_argument("--every", type=int, default=1000, help="snapshots whose step is a multiple of this")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "campaign" / "vr-kodak")
    ap.add_argument("--quantizer", choices=list(QUANTIZERS), default="sq",
                    help="tcq8: TCQ with 8 states (BD-rate also against the same weights' SQ curve, where measured)")
    ap.add_argument("--sq-of", metavar="LABEL",
                    help="with --quantizer tcq8: the SQ curve to compare with, measured under this label (e.g. the "
                         "base weights of a finetuned decoder); default: the same label's")
    ap.add_argument("--threads", type=int, default=2, help="1 beside a running campaign")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    files = image_files(a.images)[:a.limit]
    if not files:
        sys.exit(f"no images in {a.images}")
    out = a.out.with_suffix(".json")
    curve = json.loads(out.read_text()) if out.is_file() else {"points": []}
    done = {(p["label"], p["images"], tuple(p["qualities"]), quantizer_of(p)) for p in curve["points"]}
    rebased = False
    for p in curve["points"]:  # a reference that appeared since (a new zoo release): from the stored points, no recoding
        new = bd_rates(p["bpp"], p["psnr-rgb"], skip=p["bd_rate_percent"])
        p["bd_rate_percent"].update(new)
        rebased |= bool(new)
    if rebased:
        save(curve, a.out)
    todo: list[tuple[str, str, int | None]] = []
    if a.run is not None:
        for snap in sorted((a.run / "snapshots").glob("step-*.pt")):
            step = int(re.findall(r"\d+", snap.stem)[0])
            if step % a.every == 0:
                todo.append((str(snap), f"step {step}", step))
    labels = a.label + [Path(w).stem for w in a.weights[len(a.label):]]
    steps = a.step + [None] * (len(a.weights) - len(a.step))
    todo += [(w, label, step) for w, label, step in zip(a.weights, labels, steps)]
    for weights, label, step in todo:
        if (label, len(files), tuple(a.qualities), a.quantizer) in done:
            continue
        point = {"label": label, "step": step, "weights": weights, **measure(weights, files, a.qualities, a.quantizer),
                 "command": provenance()["command"], "commit": provenance()["commit"]}
        sq_label = a.sq_of or label
        same = [p for p in curve["points"] if p["label"] == sq_label and p["images"] == len(files)
                and quantizer_of(p) == "sq" and list(p["qualities"]) == list(a.qualities)]
        if same and a.quantizer != "sq":
            key = "SQ (same weights)" if sq_label == label else f"SQ of {sq_label}"
            for part, idx in ranges(a.qualities).items():
                point["bd_rate_percent"][key + part] = bd_rate(*(  # the low and high ends apart: TCQ pays at high rate
                    [c[i] for i in idx] for c in (same[-1]["bpp"], same[-1]["psnr-rgb"], point["bpp"], point["psnr-rgb"])))
        curve["points"].append(point)
        bd = point["bd_rate_percent"]
        print(f"{label}: " + ", ".join(f"q{q:g} {b:.3f} bpp {p:.2f} dB" for q, b, p in
                                       zip(a.qualities, point["bpp"], point["psnr-rgb"])), flush=True)
        print("  BD-rate: " + ", ".join(f"{k} {v:+.2f} %" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in bd.items()), flush=True)
        save(curve, a.out)


def save(curve: dict, stem: Path) -> None:
    curve.update(provenance())
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(curve, indent=1))
    plot(curve, stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
