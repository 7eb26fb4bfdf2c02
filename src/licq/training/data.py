"""Training data: random crops from folders of photos, held in memory.

The training pool is small (hundreds of JPEGs), so decoding every image once
and cropping from RAM keeps the 2-core machine busy with the model instead of
with JPEG decoding. An optional random downscale hides JPEG blocking. An
optional colour-saturation boost shows the model the strongly coloured smooth
content that photos rarely hold and on which re-encoding ran away
(``benchmarks/synthetic_drift.py``). Optional colour-wave crops go further: large,
smooth, strongly coloured oscillations, the content on which every re-encoding
raised the contrast by about 1 % (a runaway over ten generations) while photos,
even saturated ones, kept it within 0.6 % either way (``benchmarks/contrast_gain.py``).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from ..imageio import IMAGE_SUFFIXES, list_images  # noqa: F401 - also the old import path

from .config import SATURATION_RANGE, WAVE_AMPLITUDE, WAVE_MEAN, WAVE_NOISE, WAVE_PERIODS


def saturate(patch: torch.Tensor, factor: float) -> torch.Tensor:
    """``patch`` (3xHxW in [0, 1]) with its saturation scaled like PIL's ``ImageEnhance.Color``.

    The image is moved away from its ITU-R 601 luma by ``factor`` and clipped to [0, 1].
    """
    luma = (0.299 * patch[0] + 0.587 * patch[1] + 0.114 * patch[2])[None]
    return (luma + factor * (patch - luma)).clamp_(0, 1)


def colour_waves(size: int, rng: random.Random) -> torch.Tensor:
    """A ``size``x``size`` crop (3xHxW in [0, 1], 8-bit levels) of two colour plane waves plus noise.

    Each wave has its own direction and period (:data:`WAVE_PERIODS`) and a phase per channel, so the
    channels oscillate out of step (strong colours); together they peak at an amplitude drawn from
    :data:`WAVE_AMPLITUDE` around a per-channel mean from :data:`WAVE_MEAN`, under Gaussian noise of a σ from
    :data:`WAVE_NOISE`. Everything is drawn from ``rng``, so a crop index always gives the same crop.
    """
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    amplitude = rng.uniform(*WAVE_AMPLITUDE)
    field = torch.zeros(3, size, size, dtype=torch.float64)
    for _ in range(2):
        theta, period = rng.uniform(0, math.pi), rng.uniform(*WAVE_PERIODS)
        along = (xx * math.cos(theta) + yy * math.sin(theta)) * (2 * math.pi / period)
        for c in range(3):
            field[c] += amplitude / 2 * torch.sin(along + rng.uniform(0, 2 * math.pi))
    mean = torch.tensor([rng.uniform(*WAVE_MEAN) for _ in range(3)], dtype=torch.float64)[:, None, None]
    noise = torch.randn(3, size, size, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(rng.getrandbits(63)))
    out = (field + mean + rng.uniform(*WAVE_NOISE) * noise).round_().clamp_(0, 255)
    return out.float().div_(255.0)


class CropDataset(Dataset):
    """Random ``crop``x``crop`` patches with flips, optional downscale, saturation boost and colour waves.

    ``length`` is the nominal epoch size; every item is a fresh random crop, so
    the sampler only decides how many crops an epoch holds. ``saturation``: the
    probability that a crop's colour saturation is raised by a factor drawn from
    :data:`SATURATION_RANGE` (0 draws nothing, so the crops stay those of older runs). ``waves``: the
    probability that a crop is :func:`colour_waves` instead (likewise, 0 draws nothing).
    """

    def __init__(self, folders: Sequence[str | Path], crop: int = 128, length: int = 100_000,
                 downscale: tuple[float, float] | None = (0.5, 0.75), seed: int = 0,
                 exclude: Collection[str] = (), saturation: float = 0.0, waves: float = 0.0) -> None:
        for name, p in (("saturation", saturation), ("waves", waves)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} probability must lie in [0, 1], got {p}")
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
        self.saturation, self.waves = saturation, waves

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
        if self.waves > 0 and rng.random() < self.waves:
            patch = colour_waves(self.crop, rng)
        return patch
