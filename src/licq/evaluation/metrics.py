"""Image quality metrics on 8-bit RGB, computed like CompressAI's evaluation."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def psnr_images(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """PSNR in dB between two 8-bit images of equal size (RGB if either is RGB)."""
    xa = np.asarray(a.convert("RGB") if isinstance(a, Image.Image) else a, dtype=np.float64)
    xb = np.asarray(b.convert("RGB") if isinstance(b, Image.Image) else b, dtype=np.float64)
    if xa.shape != xb.shape:
        raise ValueError(f"shape mismatch {xa.shape} vs {xb.shape}")
    mse = float(np.mean((xa - xb) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def ms_ssim_images(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float | None:
    """MS-SSIM (pytorch-msssim, data range 255) on RGB; ``None`` below its 161-pixel minimum side."""
    import torch
    from pytorch_msssim import ms_ssim

    xa = np.asarray(a.convert("RGB") if isinstance(a, Image.Image) else a, dtype=np.float32)
    xb = np.asarray(b.convert("RGB") if isinstance(b, Image.Image) else b, dtype=np.float32)
    if min(xa.shape[:2]) < 161:
        return None
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (xa, xb))
    return float(ms_ssim(ta, tb, data_range=255.0))


def rd_loss(bpps: list[float], psnrs: list[float], lmbda: float) -> float:
    """The training objective measured on real files: mean bpp + λ·255²·mean MSE.

    MSE is per image on the [0, 1] scale, recovered from each image's PSNR, and averaged before
    weighting (not the MSE of the mean PSNR), so that a set scores as the loss that trained it.
    """
    if len(bpps) != len(psnrs) or not bpps:
        raise ValueError(f"need one PSNR per bpp, got {len(bpps)} bpps and {len(psnrs)} PSNRs")
    mse = float(np.mean([10.0 ** (-p / 10.0) for p in psnrs]))
    return float(np.mean(bpps)) + lmbda * 255.0 ** 2 * mse
