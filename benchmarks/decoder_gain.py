"""A finetuned decoder's gain at identical bitstreams, set by set: does it hold outside the training pool?

A ``dec`` decoder changes only what reads the quantized latents (g_s; for licq-vr also the latent
residual prediction and the inverse gains), never the entropy path, so every file the base model
writes decodes with the base decoder and with each candidate: the PSNR difference is the decoder's
gain at exactly the same rate, free of the interpolation a BD-rate needs. Measured on photos the
finetuning saw, on photos held out of it and on photos no licq training saw, it says whether a
finetuning recipe fits the real quantizer's latents or its training crops (issue 42, item 4).

Candidates are zoo decoders or ``licq finetune`` run folders (their ``decoder.pt``), all finetuned
from BASE for the same quantizer setting, which the files are written with. Each file is decoded by
:func:`licq.decode` with the candidate's tensors laid over the base model for that call only.

    python benchmarks/decoder_gain.py licq-q4 licq-q4-ft-tcq8-dec RUN ... \\
        --set kodak=../shared/data/kodak --set heldout=results/finetune/heldout.txt \\
        --set pool=../shared/data/train --limit 24 --exclude results/finetune/heldout.txt --tag q4

writes ``results/finetune/decoder-gain-TAG.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import licq
from licq.codec import is_variable_rate
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.errors import LicqError
from licq.imageio import list_images, open_image
from licq.models import resolve
from licq.zoo import checked_state, entry
from licq.zoo.export import read_decoder_run, require_base

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"
SETTING = ("quantizer", "states", "step", "tcq_lambda")


def candidate(name: str, base: str) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """(label, quantizer setting, tensors) of a zoo decoder or a finetune run folder, checked against ``base``."""
    if Path(name).is_dir():
        meta, tensors, _ = read_decoder_run(Path(name))
        try:  # the check export applies: made on the zoo's very weights of base
            require_base(name, meta, entry(base)["digest"])
        except LicqError as exc:
            sys.exit(f"decoder_gain: {exc}")
        setting, train, label = meta, meta["train"], Path(name).name
    else:
        e = entry(name)
        if e.get("base") != base:
            sys.exit(f"decoder_gain: {name} is not a decoder finetuned from {base}")
        tensors = checked_state(e)  # the shipped file, checked against its sha256
        setting, train, label = e["decoder_for"], e.get("train", "dec"), name
    if train != "dec":
        sys.exit(f"decoder_gain: {name} trains {train}: only 'dec' decoders keep the bitstream")
    return label, {k: setting[k] for k in SETTING}, tensors


@contextmanager
def laid(net: torch.nn.Module, tensors: dict[str, torch.Tensor]):
    """``net`` with ``tensors`` copied into its parameters, restored afterwards."""
    own = net.state_dict()
    saved = {k: own[k].clone() for k in tensors}
    with torch.no_grad():
        try:
            for k, v in tensors.items():
                own[k].copy_(v)
            yield
        finally:
            for k, v in saved.items():
                own[k].copy_(v)


def image_set(spec: str, limit: int | None, exclude: set[str]) -> tuple[str, list[Path]]:
    """NAME=FOLDER (its images, less ``exclude``) or NAME=LIST (a file of paths under the training pool)."""
    name, _, path = spec.partition("=")
    p = Path(path)
    if p.is_dir():
        files = [f for f in list_images([p]) if f.name not in exclude]
    elif p.is_file():
        files = [TRAIN / line.strip() for line in p.read_text().splitlines() if line.strip()]
    else:
        sys.exit(f"decoder_gain: set {spec!r}: no such folder or list")
    if limit and len(files) > limit:  # evenly spread over the sorted names
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
    return name, files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", help="zoo model whose encoder writes the files")
    ap.add_argument("decoders", nargs="+", help="zoo decoders or finetune run folders")
    ap.add_argument("--set", action="append", required=True, dest="sets", metavar="NAME=PATH")
    ap.add_argument("--limit", type=int, help="at most this many images per set (evenly spread)")
    ap.add_argument("--exclude", help="file of image names left out of folder sets (the held-out list)")
    ap.add_argument("--quality", type=float, nargs="+", default=[1, 4, 7], help="qualities of a variable-rate base")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    exclude = {Path(x).name for x in Path(a.exclude).read_text().split()} if a.exclude else set()
    cands = [candidate(d, a.base) for d in a.decoders]
    settings = {json.dumps(c[1], sort_keys=True) for c in cands}
    if len(settings) != 1:
        sys.exit(f"decoder_gain: the decoders were finetuned for different settings: {sorted(settings)}")
    setting = cands[0][1]
    m = resolve(a.base)
    qualities = a.quality if is_variable_rate(m) else [None]
    kw = {"quantizer": setting["quantizer"], "states": setting["states"] or None, "step": setting["step"],
          "tcq_lambda": setting["tcq_lambda"], "finetuned": None}
    sets = {}
    for spec in a.sets:
        name, files = image_set(spec, a.limit, exclude)
        rows = []
        for f in tqdm(files, desc=name, leave=False):
            img = open_image(f).convert("RGB")
            for q in qualities:
                # without the image's EXIF and ICC blocks, as the evaluations code: bpp is the latents'
                data = licq.encode(img, a.base, strip=True, **kw, **({"quality": q} if q is not None else {}))
                row = {"image": f.name, "quality": q, "bpp": 8 * len(data) / (img.width * img.height),
                       "base": psnr_images(img, licq.decode(data))}
                for label, _, tensors in cands:
                    with laid(m.net, tensors):
                        row[label] = psnr_images(img, licq.decode(data))
                rows.append(row)
        gains = {label: [r[label] - r["base"] for r in rows] for label, _, _ in cands}
        sets[name] = {"images": len(files), "bpp": float(np.mean([r["bpp"] for r in rows])),
                      "psnr_base": float(np.mean([r["base"] for r in rows])),
                      "gain_db": {k: float(np.mean(v)) for k, v in gains.items()},
                      "improved": {k: float(np.mean(np.array(v) > 0)) for k, v in gains.items()},
                      "rows": rows}
        print(name, len(files), "images:", ", ".join(f"{k} {v:+.4f} dB" for k, v in sets[name]["gain_db"].items()),
              flush=True)
    out = ROOT / "results" / "finetune" / f"decoder-gain-{a.tag}.json"
    save_results(out, {"base": a.base, "setting": setting, "qualities": qualities,
                       "decoders": {label: d for (label, _, _), d in zip(cands, a.decoders)}, "sets": sets})
    plot(sets, [c[0] for c in cands], out.with_suffix(".png"), f"{a.base}: decoder gain at identical files")
    print(out)


def plot(sets: dict, labels: list[str], out: Path, title: str) -> None:
    """Grouped bars: mean PSNR gain over the base decoder, per set and decoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(sets), 3.6))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        ax.bar(np.arange(len(sets)) + i * width, [s["gain_db"][label] for s in sets.values()], width, label=label)
    ax.set_xticks(np.arange(len(sets)) + 0.4 - width / 2, [f"{k}\n({s['images']})" for k, s in sets.items()])
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("PSNR gain over the base decoder (dB)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
