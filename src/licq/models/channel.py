"""A channel-conditional, variable-rate hyperprior: one model for the whole quality range.

Two additions to the mean-scale hyperprior (:class:`~.hyperprior.LicqMeanScale`), whose
transforms it keeps (so it warm-starts from the zoo's weights):

* **Channel-conditional entropy model** (Minnen & Singh 2020, "ChARM"; the uneven groups of
  He et al. 2022, ELIC). The latents are split into channel groups of 16, 16, 32, 64 and the
  rest. Group k's μ and σ come from a small network over the hyper-decoder's output and every
  earlier group's ŷ, so decoding takes five sequential steps, each fully parallel over space.
  The networks predict a residual on h_s's own μ and σ, with the last layer zero at
  initialisation: a warm-started model starts exactly where its mean-scale source was. They run
  in exact integer arithmetic (:mod:`.integer`), like h_s, because their μ and σ decide the coded
  symbols. Latent residual prediction (LRP) adds ``0.5·tanh(·)`` of a further network to each
  group before the synthesis transform; it only shapes pixels, so it stays floating point.
* **Variable rate by gain units** (Cui et al. 2021). The latents are multiplied by a learned
  per-channel gain before quantization and by an inverse gain before synthesis. There is one
  gain vector per anchor quality 1-7 (CompressAI's λ of its q1-q7); a fractional quality
  interpolates the log-gains and log-λ linearly, so the quality knob is continuous and trained
  as such (every training crop draws its own quality).

The quantizers see the gained latents unchanged, so every quantizer of :mod:`licq.quantizers`
codes each group as it codes a mean-scale model's latents.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from ..container import QUALITY_SCALE
from ..errors import LicqError
from ..fixed_point import FRACTION_BITS, MAX_FIXED, to_fixed
from .hyperprior import LicqMeanScale
from .integer import ExactHyperDecoder

#: λ of the anchor qualities 1..7 (CompressAI's mbt2018-mean q1-q7): the range one model covers
QUALITY_LAMBDAS: tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932)
#: the continuous quality range
QUALITY_RANGE: tuple[float, float] = (1.0, float(len(QUALITY_LAMBDAS)))
#: the quality of a variable-rate file when none is asked for: that of the zoo's default licq-q3
DEFAULT_QUALITY = 3.0
#: the anchor whose gains start at 1 unless a warm start names another (that of the zoo model it comes
#: from: licq-q4 gives 4; training/train.py); also λ_ref of the quality balance
REFERENCE_QUALITY = 3
#: fraction bits of the context networks' inputs and activations: fewer than h_s's 16, which leaves
#: room for the ±2**12 range of their inputs (hyper features and latents) with every sum exact
CONTEXT_BITS = 8
#: sizes of the first channel groups (ELIC); the last group takes the remaining channels
LEADING_GROUPS: tuple[int, ...] = (16, 16, 32, 64)


def group_sizes(M: int) -> tuple[int, ...]:
    """Channel groups of an ``M``-channel latent: 16, 16, 32, 64 and the rest; below 129 channels
    (test models) the same proportions as at M = 192: M/12, M/12, M/6, M/3 and the rest."""
    if M > sum(LEADING_GROUPS):
        return LEADING_GROUPS + (M - sum(LEADING_GROUPS),)
    if M < 12:
        raise LicqError(f"a channel-conditional model needs at least 12 latent channels, got {M}")
    leading = (M // 12, M // 12, M // 6, M // 3)
    return leading + (M - sum(leading),)


def checked_quality(quality: float) -> float:
    """``quality`` rounded to the header's resolution (:data:`licq.container.QUALITY_SCALE`), refused
    outside :data:`QUALITY_RANGE`: the number both encoder and decoder compute the gains from."""
    lo, hi = QUALITY_RANGE
    if isinstance(quality, bool) or not (isinstance(quality, (int, float)) and math.isfinite(quality)
                                         and lo <= quality <= hi):
        raise LicqError(f"quality must be a number in [{lo:g}, {hi:g}], got {quality!r}")
    return round(quality * QUALITY_SCALE) / QUALITY_SCALE


def draw_qualities(n: int, bounds: tuple[float, float] | None = None) -> Tensor:
    """``n`` qualities drawn uniformly from ``bounds`` (None: :data:`QUALITY_RANGE`; global RNG):
    training and finetuning give every crop its own, so the whole continuous knob is trained
    (finetuning may keep to part of it: ``licq finetune --qualities``)."""
    lo, hi = bounds or QUALITY_RANGE
    return lo + (hi - lo) * torch.rand(n)


def _anchor_weights(quality: Tensor) -> tuple[Tensor, Tensor]:
    """(lower anchor index, weight of the upper anchor) of each quality: linear interpolation."""
    pos = (quality.to(torch.float32) - QUALITY_RANGE[0]).clamp(0, len(QUALITY_LAMBDAS) - 1)
    i = pos.floor().clamp(max=len(QUALITY_LAMBDAS) - 2)
    return i.long(), pos - i


def quality_lambda(quality: Tensor) -> Tensor:
    """The training λ of each quality: log-λ interpolated between the anchors."""
    logs = torch.log(torch.tensor(QUALITY_LAMBDAS, dtype=torch.float32, device=quality.device))
    i, t = _anchor_weights(quality)
    return torch.exp(logs[i] * (1 - t) + logs[i + 1] * t)


def anchor_of_lambda(lmbda: float | None) -> int | None:
    """The anchor quality (1-7) trained at ``lmbda``, if there is one."""
    return next((q for q, lam in enumerate(QUALITY_LAMBDAS, 1) if lmbda is not None and math.isclose(lam, lmbda)), None)


def quality_weight(lmbda: Tensor, balance: float) -> Tensor:
    """Training weight ``(λ_ref/λ)^balance`` of a crop coded at ``lmbda`` (λ_ref: the reference quality's)."""
    if not balance:
        return torch.ones_like(lmbda)
    return (QUALITY_LAMBDAS[REFERENCE_QUALITY - 1] / lmbda) ** balance


def _context_network(inputs: int, outputs: int) -> nn.Sequential:
    """Group parameters from hyper features and earlier groups: 1x1, 3x3, 1x1 (last layer zero).

    Small on purpose: it runs in exact (float64) arithmetic on the decoder's critical path, five
    times per image. Twice these widths (192 and 128 channels) made decoding about 1.8x the
    mean-scale model's time on Kodak; the bound is 1.5x.
    """
    net = nn.Sequential(nn.Conv2d(inputs, 128, 1), nn.LeakyReLU(), nn.Conv2d(128, 64, 3, padding=1),
                        nn.LeakyReLU(), nn.Conv2d(64, outputs, 1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


def _lrp_network(inputs: int, outputs: int) -> nn.Sequential:
    """Latent residual prediction of one group (last layer zero: no correction at initialisation)."""
    net = nn.Sequential(nn.Conv2d(inputs, 96, 1), nn.LeakyReLU(), nn.Conv2d(96, outputs, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


#: what a group step does with group ``k``'s latents given its (μ, σ): quantize them (codec),
#: or round / add noise and keep the likelihood (training); returns the group's ŷ
GroupStep = Callable[[int, slice, Tensor, Tensor], Tensor]


class LicqChannelVR(LicqMeanScale):
    """Mean-scale transforms + channel-conditional entropy model + gain units (one model, qualities 1-7)."""

    arch = "channel-vr"
    variable_rate = True
    #: parameters a mean-scale model lacks: a warm start from one leaves them at their initial values
    fresh_parameters = ("context.", "lrp.", "gain", "inverse_gain")

    def __init__(self, N: int = 128, M: int = 192, **kwargs) -> None:
        super().__init__(N=N, M=M, **kwargs)
        self.groups = group_sizes(M)
        starts = [sum(self.groups[:k]) for k in range(len(self.groups))]
        self.slices = [slice(s, s + g) for s, g in zip(starts, self.groups)]
        self.context = nn.ModuleList(_context_network(2 * M + s, 2 * g) for s, g in zip(starts, self.groups))
        self.lrp = nn.ModuleList(_lrp_network(M + s + g, g) for s, g in zip(starts, self.groups))
        self.gain = nn.Parameter(torch.zeros(len(QUALITY_LAMBDAS), M))
        self.inverse_gain = nn.Parameter(torch.zeros(len(QUALITY_LAMBDAS), M))
        self.start_gains(REFERENCE_QUALITY)

    @torch.no_grad()
    def start_gains(self, reference: int) -> None:
        """Initial gains: 1 at anchor quality ``reference``, so that a model warm-started from a mean-scale
        model trained at that anchor's λ is exactly that model there."""
        # high-rate scalar quantization: D ∝ Δ² and D ∝ 1/λ at the RD slope λ, so the step the
        # gain emulates (1/gain) scales as λ^-1/2
        ref = math.log(QUALITY_LAMBDAS[reference - 1])
        log_gain = torch.tensor([0.5 * (math.log(lam) - ref) for lam in QUALITY_LAMBDAS])
        self.gain.copy_(log_gain[:, None].expand_as(self.gain))
        self.inverse_gain.copy_(-log_gain[:, None].expand_as(self.inverse_gain))

    def gains(self, quality: Tensor) -> tuple[Tensor, Tensor]:
        """(gain, inverse gain) of each quality in ``quality`` (shape (B,)), each (B, M, 1, 1)."""
        i, t = _anchor_weights(quality.to(self.gain.device))
        t = t[:, None]

        def interpolate(table: Tensor) -> Tensor:
            return torch.exp(table[i] * (1 - t) + table[i + 1] * t)[:, :, None, None]

        return interpolate(self.gain), interpolate(self.inverse_gain)

    def exact_context(self, k: int, inputs: Tensor) -> Tensor:
        """Group ``k``'s context network in exact integer arithmetic (straight-through when training)."""
        exact = self.__dict__.setdefault("_exact_context", {})
        if k not in exact:
            exact[k] = ExactHyperDecoder(up=1, bits=CONTEXT_BITS)
        return exact[k](self.context[k], inputs)

    def group_parameters(self, k: int, means: Tensor, scales: Tensor, previous: list[Tensor]) -> tuple[Tensor, Tensor]:
        """(μ, σ) of group ``k``: h_s's own plus the context network's residual, exact fixed point."""
        inputs = torch.cat([scales, means, *previous], 1)
        delta_scales, delta_means = self.exact_context(k, inputs).chunk(2, 1)
        sl = self.slices[k]
        return _fixed_sum(means[:, sl], delta_means), _fixed_sum(scales[:, sl], delta_scales)

    def code_groups(self, means: Tensor, scales: Tensor, step: GroupStep) -> Tensor:
        """Run ``step`` on each group in order, each with the (μ, σ) its predecessors' ŷ give: the one
        loop of encoder, decoder and training. Returns ŷ of all groups (before LRP)."""
        done: list[Tensor] = []
        for k, sl in enumerate(self.slices):
            group_means, group_scales = self.group_parameters(k, means, scales, done)
            done.append(step(k, sl, group_means, group_scales))
        return torch.cat(done, 1)

    def synthesis_input(self, y_hat: Tensor, means: Tensor, inverse_gain: Tensor) -> Tensor:
        """What g_s reads: each group plus its latent residual prediction, then the inverse gain."""
        out = [y_hat[:, sl] + 0.5 * torch.tanh(net(torch.cat([means, y_hat[:, :sl.stop]], 1)))
               for sl, net in zip(self.slices, self.lrp)]
        return torch.cat(out, 1) * inverse_gain


def _fixed_sum(a: Tensor, b: Tensor) -> Tensor:
    """``a + b`` for two fixed-point tensors, exact (in integers), clamped to the representable range;
    with gradients, those of both terms flow through."""
    exact = (to_fixed(a) + to_fixed(b)).clamp_(-MAX_FIXED, MAX_FIXED).to(torch.float32) * 2.0 ** -FRACTION_BITS
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
        approx = a + b
        return approx + (exact - approx).detach()
    return exact
