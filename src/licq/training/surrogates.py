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

from ..models.channel import draw_qualities, quality_lambda, quality_weight
from .config import SURROGATES
from .precision import Precision, transform_runner

Surrogate = Literal["noise", "ste", "mixed"]


def ste_round(x: Tensor) -> Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def _latent_surrogate(gc: nn.Module, y: Tensor, means: Tensor, scales: Tensor,
                      surrogate: Surrogate) -> tuple[Tensor, Tensor]:
    """(what the decoder reads, likelihood) of latents ``y`` under one surrogate."""
    if surrogate == "ste":
        y_hat = ste_round(y - means) + means
        y_lik = gc._likelihood(y_hat, scales, means)
        if gc.use_likelihood_bound:
            y_lik = gc.likelihood_lower_bound(y_lik)
        return y_hat, y_lik
    y_noisy, y_lik = gc(y, scales, means=means)
    return (y_noisy if surrogate == "noise" else ste_round(y - means) + means), y_lik


def surrogate_forward(model: nn.Module, x: Tensor, surrogate: Surrogate = "mixed",
                      precision: Precision = "fp32", quality: Tensor | None = None) -> dict[str, Tensor]:
    """Differentiable forward pass: reconstruction and per-element likelihoods of y and z.

    With ``precision="bf16"`` the transforms run in bf16 autocast; every entropy
    model, likelihood and the returned tensors stay fp32 (see :mod:`.precision`).
    A variable-rate model (:mod:`licq.models.channel`) codes each image at its ``quality``
    (shape (B,); drawn uniformly from the model's range when None) and adds the λ of each
    image under ``"lmbda"``.
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}")
    run = transform_runner(x, precision)
    if getattr(model, "variable_rate", False):
        return _variable_rate_forward(model, x, surrogate, run, quality)
    y = run(model.g_a, x)
    z_dec, z_lik = _hyper_surrogate(model, run(model.h_a, y), surrogate)
    means, scales = run(model.hyper, z_dec)
    y_dec, y_lik = _latent_surrogate(model.gaussian_conditional, y, means, scales, surrogate)
    x_hat = run(model.g_s, y_dec)
    return {"x_hat": x_hat, "y_lik": y_lik, "z_lik": z_lik}


def _hyper_surrogate(model: nn.Module, z: Tensor, surrogate: Surrogate) -> tuple[Tensor, Tensor]:
    """(ẑ the hyper-decoder reads, likelihood of z): noise for the rate, rounding unless ``noise``."""
    eb = model.entropy_bottleneck
    z_noisy, z_lik = eb(z)  # noise in training mode
    if surrogate == "noise":
        return z_noisy, z_lik
    medians = eb._get_medians().detach()
    return ste_round(z - medians) + medians, z_lik


def _variable_rate_forward(model: nn.Module, x: Tensor, surrogate: Surrogate, run,
                           quality: Tensor | None) -> dict[str, Tensor]:
    """:func:`surrogate_forward` of a gain-unit, channel-conditional model: the codec's group loop
    (:meth:`~licq.models.channel.LicqChannelVR.code_groups`) with a surrogate in place of the quantizer."""
    if quality is None:
        quality = draw_qualities(x.shape[0])
    gain, inverse_gain = model.gains(quality)
    y = run(model.g_a, x).float() * gain
    z_dec, z_lik = _hyper_surrogate(model, run(model.h_a, y), surrogate)
    means, scales = run(model.hyper, z_dec)
    likelihoods: list[Tensor] = []

    def group(k: int, sl: slice, group_means: Tensor, group_scales: Tensor) -> Tensor:
        y_dec, y_lik = _latent_surrogate(model.gaussian_conditional, y[:, sl], group_means, group_scales, surrogate)
        likelihoods.append(y_lik)
        return y_dec

    y_dec = model.code_groups(means, scales, group)
    x_hat = run(model.g_s, run(lambda t: model.synthesis_input(t, means, inverse_gain), y_dec))
    return {"x_hat": x_hat, "y_lik": torch.cat(likelihoods, 1), "z_lik": z_lik,
            "lmbda": quality_lambda(quality).to(x.device)}


def rd_terms(out: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """(bits per pixel, MSE on the [0, 1] scale) of a surrogate forward pass."""
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bits = -(torch.log2(out["y_lik"]).sum() + torch.log2(out["z_lik"]).sum())
    return bits / num_pixels, torch.mean((out["x_hat"] - x) ** 2)


def rd_loss(out: dict[str, Tensor], x: Tensor, lmbda: float, balance: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """(``R + λ·255²·MSE``, bpp, MSE) of a surrogate forward pass; with ``out["lmbda"]`` (variable rate)
    each image has its own λ (:func:`variable_rate_loss`, with ``balance``)."""
    bpp, mse = rd_terms(out, x)
    if "lmbda" not in out:
        return bpp + lmbda * 255 ** 2 * mse, bpp, mse
    pixels = x.shape[2] * x.shape[3]
    bits = -(torch.log2(out["y_lik"]).flatten(1).sum(1) + torch.log2(out["z_lik"]).flatten(1).sum(1))
    mses = ((out["x_hat"] - x) ** 2).flatten(1).mean(1)
    return variable_rate_loss(bits / pixels, mses, out["lmbda"], balance), bpp, mse


def variable_rate_loss(bpps: Tensor, mses: Tensor, lmbdas: Tensor, balance: float = 0.0) -> Tensor:
    """Loss of a batch whose images each have their own λ: the mean of ``w·(R + λ·255²·MSE)`` over images.

    An image's loss grows with its λ (roughly as λ^0.45 along the zoo's curve: 0.18 bpp at q1,
    1.05 bpp at q7), so with equal weights the high qualities dominate the gradient of the shared
    transforms. ``balance`` β weighs each image by ``(λ_ref/λ)^β`` (λ_ref: the reference quality's),
    β ≈ 0.45 giving every quality about the same pull; 0 is the plain mean.
    """
    return torch.mean(quality_weight(lmbdas, balance) * (bpps + lmbdas * 255 ** 2 * mses))
