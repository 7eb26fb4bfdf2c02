"""Quantization surrogates for end-to-end training.

Rounding has zero gradient, so training replaces it by a differentiable
stand-in. Which stand-in feeds which branch is the whole difference between
the schemes, and the source of the train/test mismatch that quantization-aware
finetuning later removes:

* ``noise``: additive U(-1/2, 1/2) noise for the rate and for the decoder
  (Ballé et al.; CompressAI's ``forward``).
* ``ste``: rounding around the mean with a straight-through gradient for both.
* ``mixed``: noise for the rate, STE-rounded latents into the decoder
  (Minnen & Singh 2020). Default.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .config import SURROGATES
from .precision import Precision, transform_runner

Surrogate = Literal["noise", "ste", "mixed"]


def ste_round(x: Tensor) -> Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def surrogate_forward(model: nn.Module, x: Tensor, surrogate: Surrogate = "mixed",
                      precision: Precision = "fp32") -> dict[str, Tensor]:
    """Differentiable forward pass: reconstruction and per-element likelihoods of y and z.

    With ``precision="bf16"`` the transforms run in bf16 autocast; every entropy
    model, likelihood and the returned tensors stay fp32 (see :mod:`.precision`).
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}")
    run = transform_runner(x, precision)
    y = run(model.g_a, x)
    z = run(model.h_a, y)
    eb = model.entropy_bottleneck
    z_noisy, z_lik = eb(z)  # noise in training mode
    if surrogate == "noise":
        z_dec = z_noisy
    else:
        medians = eb._get_medians().detach()
        z_dec = ste_round(z - medians) + medians
    means, scales = run(model.hyper, z_dec)
    gc = model.gaussian_conditional
    if surrogate == "ste":
        y_hat = ste_round(y - means) + means
        y_lik = gc._likelihood(y_hat, scales, means)
        if gc.use_likelihood_bound:
            y_lik = gc.likelihood_lower_bound(y_lik)
        y_dec = y_hat
    else:
        y_noisy, y_lik = gc(y, scales, means=means)
        y_dec = y_noisy if surrogate == "noise" else ste_round(y - means) + means
    x_hat = run(model.g_s, y_dec)
    return {"x_hat": x_hat, "y_lik": y_lik, "z_lik": z_lik}


def rd_terms(out: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """(bits per pixel, MSE on the [0, 1] scale) of a surrogate forward pass."""
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bits = -(torch.log2(out["y_lik"]).sum() + torch.log2(out["z_lik"]).sum())
    return bits / num_pixels, torch.mean((out["x_hat"] - x) ** 2)
