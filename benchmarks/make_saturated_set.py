"""A colour-saturated copy of part of the training pool, for probing the recompression runaway.

The runaway of ``benchmarks/synthetic_drift.py`` happens on strongly coloured smooth content,
which the training photos rarely show. This writes PNG copies of the first 150 wallpapers and
the first 150 ImageNet samples with their colour saturation raised by a random factor in
``licq.training.data.SATURATION_RANGE`` (1.5–2.5; PIL ``ImageEnhance.Color``, seed 0), to be
passed to ``licq finetune`` beside the pool:

    python benchmarks/make_saturated_set.py /root/sat-data
    licq finetune ../shared/data/train /root/sat-data --base CKPT --arch mbt2018-mean --lmbda 0.0067 \\
        --quantizer sq --train dec --steps 600 --lr 5e-5 --threads 1 --idempotence 1 --out RUN

The copies include held-out photos, so a decoder finetuned on them is for this probe only. It is
the probe that led to ``licq train/finetune --saturation``, which applies the same boost to random
crops on the fly (``licq.training.data.saturate``) and is what training uses now.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageEnhance

from licq.training.data import SATURATION_RANGE

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make_saturated_set.py OUT_DIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    random.seed(0)
    src = sorted((TRAIN / "wallpapers319").glob("*"))[:150] + sorted((TRAIN / "imagenet500").glob("*"))[:150]
    if not src:
        sys.exit(f"make_saturated_set.py: no training images under {TRAIN}")
    for i, p in enumerate(src):
        im = ImageEnhance.Color(Image.open(p).convert("RGB")).enhance(random.uniform(*SATURATION_RANGE))
        im.save(out / f"sat{i:03d}.png")
    print(f"{len(src)} images in {out}")


if __name__ == "__main__":
    main()
