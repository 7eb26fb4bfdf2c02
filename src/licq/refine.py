"""Encoder-side latent refinement: search the latents that minimise this image's rate + λ·distortion.

The analysis transform is amortised inference: one forward pass that is good on
average, not the best latents for *this* image. Refinement starts from
``y = g_a(x)``, ``z = h_a(y)`` and takes gradient steps on the training objective
of the model, ``bpp + λ·255²·MSE``, measured on this image through the same
entropy models and the decoder the file names (Campos et al. 2019). Rounding is
replaced by stochastic Gumbel annealing (SGA, Yang, Bamler & Mandt 2020): each
latent is a random mix of its two nearest levels whose randomness is annealed
away, so at the end the latents being optimised are the quantized ones.

Only the encoder changes: the refined ``y`` and ``z`` go through the usual
quantizer and entropy coder, so any licq decoder reads the files. It also
stops generation loss: a decoded image ``g_s(ŷ)`` has a perfect latent, ``ŷ``
itself, which ``g_a`` does not find but the search does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from .models.hyperprior import LATENT_STRIDE
from .models.tiling import tile_boxes
from .quantizers.base import dequantize, level_centres
from .quantizers.cells import rate_bits, sq_cell_probability
from .hardware import cpu_has_bf16

#: --effort level -> refinement iterations (0: the single forward pass of g_a)
EFFORT_ITERATIONS: dict[int, int] = {0: 0, 1: 20, 2: 60, 3: 200}
EFFORTS = tuple(EFFORT_ITERATIONS)
#: SGA temperature: from TAU_START down to TAU_END over the iterations (Yang et al. start at 0.5)
TAU_START, TAU_END = 0.5, 0.02
#: Adam's initial step on latents (their units: levels of Δ = 1), decayed to 0 on a cosine
LEARNING_RATE = 0.02


@dataclass(frozen=True)
class RefineSettings:
    """How hard to search: iterations, the RD trade-off λ and the quantization step of the surrogate."""

    iterations: int
    lmbda: float  #: loss = bpp + λ·255²·MSE: the model's training λ over Δ² (codec.refine_settings)
    step: float = 1.0  #: Δ of the scalar grid the latents are annealed onto
    fixed_grid: bool = False  #: the grid Δ·k (``--quantizer sq-grid``) instead of μ + Δ·k
    learning_rate: float = LEARNING_RATE  #: Adam's initial step
    tau_start: float = TAU_START  #: SGA temperature at the first iteration
    tau_end: float = TAU_END  #: and at the last


def sga_round(t: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
    """Stochastic Gumbel annealing of ``t`` onto the integers (Yang et al. 2020, eq. 5).

    A relaxed draw between ⌊t⌋ and ⌈t⌉, favouring the nearer one; as ``tau`` → 0
    the draw becomes hard rounding, so the objective seen last is the real one.
    """
    lo = torch.floor(t)
    frac = (t - lo).clamp(1e-5, 1 - 1e-5)
    logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], dim=-1) / tau
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
    gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-10)))
    w = torch.softmax((logits + gumbel) / tau, dim=-1)
    return lo + w[..., 1]


def _z_bits(eb: nn.Module, z: Tensor) -> Tensor:
    """Bits of relaxed hyper-latents under the factorized prior (CompressAI's ``_likelihood`` layout)."""
    c = z.shape[1]
    lik, _, _ = eb._likelihood(z.transpose(0, 1).reshape(c, 1, -1))
    if eb.use_likelihood_bound:
        lik = eb.likelihood_lower_bound(lik)
    return rate_bits(lik).sum()


def latent_bits(net: nn.Module, levels: Tensor, scales: Tensor, step: float) -> Tensor:
    """Bits of (possibly relaxed) levels of ``y`` in cells of width Δ around μ, differentiable in both."""
    s = (scales / step).clamp_min(float(net.gaussian_conditional.lower_bound_scale.bound))
    return rate_bits(sq_cell_probability(levels, s)).sum()


def _distortion_grad(net: nn.Module, y_tilde: Tensor, x: Tensor, h: int, w: int,
                     bf16: bool = False) -> tuple[float, Tensor]:
    """Sum of squared errors of ``g_s(ỹ)`` on the image's own h×w pixels, and its gradient in ``ỹ``.

    ``bf16`` runs g_s in bf16 autocast: twice as fast on CPUs with native bf16, and a
    search direction needs no more precision (the file is then coded in fp32 as always).

    Computed tile by tile, each tile reading a halo of latents (the tiles of
    :func:`licq.models.hyperprior.tiled`): every tile's error on its own pixels
    back-propagates into all the latents it read, so the gradients add up to the
    whole image's, while memory stays that of one tile's backward pass.
    """
    grad = torch.zeros_like(y_tilde)
    total = 0.0
    s = LATENT_STRIDE
    for (a0, a1, b0, b1), (i0, i1, j0, j1) in tile_boxes(tuple(y_tilde.shape[-2:]), net.tile_pixels // s,
                                                        net.halo_pixels // s):
        hi, wj = min(i1 * s, h) - i0 * s, min(j1 * s, w) - j0 * s
        if hi <= 0 or wj <= 0:  # a tile of padding only
            continue
        part = y_tilde[..., a0:a1, b0:b1].detach().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net._g_s(part).float()
        oi, oj = (i0 - a0) * s, (j0 - b0) * s
        err = (out[..., oi:oi + hi, oj:oj + wj] - x[..., i0 * s:i0 * s + hi, j0 * s:j0 * s + wj]).square().sum()
        g, = torch.autograd.grad(err, part)
        grad[..., a0:a1, b0:b1] += g
        total += float(err.detach())
    return total, grad


def _relaxed_latents(net: nn.Module, y: Tensor, z_tilde: Tensor, settings: RefineSettings, tau: float,
                     gen: torch.Generator, inverse_gain: Tensor | None) -> tuple[Tensor, Tensor]:
    """(bits of the relaxed ỹ given z̃, what g_s reads): ``y``'s levels annealed around their centres,
    a channel-conditional model's group by group with the codec's own loop (each group's μ and σ from
    the relaxed groups before it), then its LRP and inverse gain."""
    means, scales = net.hyper(z_tilde)
    step = settings.step

    def relax(y_part: Tensor, group_means: Tensor) -> tuple[Tensor, Tensor]:
        centres = level_centres(group_means, step, settings.fixed_grid)  # as Quantizer.centres
        v = sga_round((y_part - centres) / step, tau, gen)
        return v, dequantize(centres, step, v)  # the codec's reconstruction rule, on relaxed levels

    if inverse_gain is None:
        v, y_tilde = relax(y, means)
        return latent_bits(net, v, scales, step), y_tilde
    bits: list[Tensor] = []

    def group(k: int, sl: slice, group_means: Tensor, group_scales: Tensor) -> Tensor:
        v, y_part = relax(y[:, sl], group_means)
        bits.append(latent_bits(net, v, group_scales, step))
        return y_part

    y_tilde = net.code_groups(means, scales, group)
    return torch.stack(bits).sum(), net.synthesis_input(y_tilde, means, inverse_gain)


def refine_latents(net: nn.Module, x: Tensor, h: int, w: int, settings: RefineSettings,
                   progress: Callable[[int], None] | None = None,
                   gains: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Refined ``(y, z)`` for one padded image ``x`` (1, 3, H, W) whose first ``h``×``w`` pixels count.

    The objective is the model's training loss on this image with real entropy
    models: ``(bits(ỹ | z̃) + bits(z̃)) / (h·w) + λ·255²·MSE``, the rate of ``ỹ``
    priced in cells of width Δ around μ (or around the fixed grid's anchor) as the SQ coder prices them.
    A variable-rate model's ``gains`` (gain, inverse gain) of the file's quality scale ``y`` as the
    codec does; the ``y`` returned is then the scaled one.
    """
    with torch.no_grad():
        y = net.analysis(x)
        if gains is not None:
            y = y * gains[0]
        y = y.detach().clone().requires_grad_(True)
        z = net.h_a(y).detach().clone().requires_grad_(True)
    gen = torch.Generator().manual_seed(0)  # the same image gives the same file
    lr = settings.learning_rate
    opt = torch.optim.Adam([y, z], lr=lr)
    medians = net.entropy_bottleneck._get_medians().detach()
    bf16 = cpu_has_bf16()
    n, scale = h * w, settings.lmbda * 255.0 ** 2 / (3 * h * w)
    inverse_gain = None if gains is None else gains[1]
    for it in range(settings.iterations):
        tau = settings.tau_start * (settings.tau_end / settings.tau_start) ** (it / max(1, settings.iterations - 1))
        with torch.enable_grad():
            z_tilde = sga_round(z - medians, tau, gen) + medians
            y_bits, g_in = _relaxed_latents(net, y, z_tilde, settings, tau, gen, inverse_gain)
            rate = (y_bits + _z_bits(net.entropy_bottleneck, z_tilde)) / n
            _, g_y = _distortion_grad(net, g_in, x, h, w, bf16)
            opt.zero_grad(set_to_none=True)
            # only into y and z: the model's parameters get no .grad (the zoo model is shared and cached)
            torch.autograd.backward([rate, g_in], [torch.ones_like(rate), scale * g_y], inputs=[y, z])
        opt.step()
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (it + 1) / settings.iterations))
        if progress is not None:
            progress(1)
    return y.detach(), z.detach()
