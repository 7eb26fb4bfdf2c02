"""Training data: random crops from folders of photos, held in memory.

The training pool is small (hundreds of JPEGs), so decoding every image once
and cropping from RAM keeps the 2-core machine busy with the model instead of
with JPEG decoding. An optional random downscale hides JPEG blocking. An
optional colour-saturation boost shows the model the strongly coloured smooth
content that photos rarely hold and on which re-encoding ran away
(``benchmarks/synthetic_drift.py``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from ..imageio import IMAGE_SUFFIXES, list_images  # noqa: F401 - also the old import path

from .config import SATURATION_RANGE


def saturate(patch: torch.Tensor, factor: float) -> torch.Tensor:
    """``patch`` (3xHxW in [0, 1]) with its saturation scaled like PIL's ``ImageEnhance.Color``.

    The image is moved away from its ITU-R 601 luma by ``factor`` and clipped to [0, 1].
    """
    luma = (0.299 * patch[0] + 0.587 * patch[1] + 0.114 * patch[2])[None]
    return (luma + factor * (patch - luma)).clamp_(0, 1)


class CropDataset(Dataset):
    """Random ``crop``x``crop`` patches with flips, optional downscale and saturation boost.

    ``length`` is the nominal epoch size; every item is a fresh random crop, so
    the sampler only decides how many crops an epoch holds. ``saturation``: the
    probability that a crop's colour saturation is raised by a factor drawn from
    :data:`SATURATION_RANGE` (0 draws nothing, so the crops stay those of older runs).
    """

    def __init__(self, folders: Sequence[str | Path], crop: int = 128, length: int = 100_000,
                 downscale: tuple[float, float] | None = (0.5, 0.75), seed: int = 0,
                 exclude: Collection[str] = (), saturation: float = 0.0) -> None:
        if not 0.0 <= saturation <= 1.0:
            raise ValueError(f"saturation probability must lie in [0, 1], got {saturation}")
        # ``exclude``: file names held out (e.g. an evaluation split of the training pool)
        held_out = set(exclude)
        files = [f for f in list_images(folders) if f.name not in held_out]
        if not files:
            raise FileNotFoundError(f"no images found in {list(map(str, folders))}")
        self.images = []
        for f in files:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
            if min(arr.shape[:2]) >= crop:
                self.images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        if not self.images:
            raise ValueError(f"no image is at least {crop}x{crop} pixels")
        self.crop, self.length, self.downscale, self.seed = crop, length, downscale, seed
        self.saturation = saturation

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + index)
        img = self.images[rng.randrange(len(self.images))]
        h, w = img.shape[1:]
        scale = 1.0
        if self.downscale is not None:
            scale = rng.uniform(*self.downscale)
        side = min(int(round(self.crop / scale)), h, w)
        top, left = rng.randint(0, h - side), rng.randint(0, w - side)
        patch = img[:, top:top + side, left:left + side].float().div_(255.0)
        if side != self.crop:
            patch = F.interpolate(patch[None], size=(self.crop, self.crop), mode="bilinear",
                                  antialias=True, align_corners=False)[0].clamp_(0, 1)
        if rng.random() < 0.5:
            patch = patch.flip(2)
        if rng.random() < 0.5:
            patch = patch.flip(1)
        if self.saturation > 0 and rng.random() < self.saturation:
            patch = saturate(patch, rng.uniform(*SATURATION_RANGE))
        return patch
