"""Quantization-aware finetuning (Borzechowski et al., ICIP 2024) on truly quantized latents.

After end-to-end training with a surrogate, the decoder has only ever seen
noisy or straight-through latents. Here the encoder side runs exactly as at
inference - hyper-latent rounded around the medians, μ and σ from the
hyper-decoder, latents quantized by the real SQ or the real TCQ Viterbi
search with the same Δ and λ_tcq - and only the decoder side learns:

* ``dec``: the synthesis transform g_s, on the distortion alone (the indices,
  hence the rate, do not change);
* ``dec+hyperdec``: g_s and the hyper-synthesis h_s. μ and σ then move, so the
  latents are re-quantized with the updated h_s at every step and the rate
  (bits of the chosen levels under the coded Gaussian, differentiable in σ)
  enters the loss: ``R + λ·255²·MSE``. The encoder g_a, h_a and the
  hyper-latent's entropy bottleneck stay frozen, so decoding cost is unchanged.

``control="noise"`` is the control experiment, not the method: g_s trains for
the same steps on the end-to-end surrogate's noisy latents ``y + U(-1/2, 1/2)``
(what CompressAI's ``forward`` feeds the decoder) instead of the real
quantizer's output. It separates the gain of seeing real quantized latents
from the gain of simply training the decoder longer.

``idempotence=β`` (generation loss, issue 15) adds ``β·λ·255²·MSE(x₂, x)``, where
x₂ is what re-encoding the decoded image gives: x̂ clamped and rounded to 8 bits
as a file holds it, coded again by the frozen encoder side with latents rounded
around the means (straight-through; on the fixed grid for ``sq-grid`` decoders).
The frozen g_a passes gradients to its input, so g_s learns outputs that survive
being encoded again (Kim et al., 2020, "Instability of successive deep image
compression"). ``idempotence_generations=K``
unrolls K such re-encodings (x₂ … x_{K+1}, gradients through all of them) and the
term takes the mean of their MSEs: drift that only runs away after several
generations is invisible to a single re-encoding. A variable-rate model re-encodes each crop at its
own quality, and the term weighs each crop's mean as its first-generation distortion is weighed
(its λ, and ``quality_balance``).

``anchor=β`` adds ``β·Σ‖θ − θ_base‖²`` over the trained tensors (L2-SP, Li et al., 2018,
"Explicit inductive bias for transfer learning with convolutional networks"): the decoder may
fit the real quantizer's latents only as far as it stays near the decoder end-to-end training
gave, which saw every photo the model was trained on: meant to make the gain hold on photos
outside the finetuning crops (what it did on licq-q4: docs/finetuning.md, "Does the gain hold
outside the training pool?"). The logged ``anchor`` column is the squared distance.

The result is a *decoder* file: the finetuned tensors only, tied to the base
model's digest and the quantizer setting they were trained for.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_torch_save, atomic_write_bytes
from ..errors import LicqError
from ..latents import encoder_side
from ..models import LoadedModel, resolve
from ..quantizers import Quantizer, make_quantizer
from ..quantizers.defaults import quantizer_defaults
from .config import FinetuneConfig
from .loop import TrainingLoop, average_gradients, clip_or_drop, drop_schedule, init_distributed, psnr_db, step_loader
from .precision import Precision, resolve_precision, transform_runner
from .surrogates import ste_round, surrogate_forward, variable_rate_loss

MODES = {"dec": ("g_s",), "dec+hyperdec": ("g_s", "h_s")}
#: the same for a variable-rate, channel-conditional model (:mod:`licq.models.channel`): its decoder
#: side also holds the latent residual prediction and the inverse gains, its entropy parameters
#: the context networks
VARIABLE_RATE_MODES = {"dec": ("g_s", "lrp", "inverse_gain"),
                       "dec+hyperdec": ("g_s", "lrp", "inverse_gain", "h_s", "context")}


def modes_of(net: nn.Module, train: str) -> tuple[str, ...]:
    """The parts of ``net`` that finetuning mode ``train`` trains."""
    return (VARIABLE_RATE_MODES if getattr(net, "variable_rate", False) else MODES)[train]


def _parameters(net: nn.Module, name: str) -> list[nn.Parameter]:
    part = getattr(net, name)
    return [part] if isinstance(part, nn.Parameter) else list(part.parameters())


def _state(net: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """The tensors of one trained part, keyed as in the model's state dict."""
    part = getattr(net, name)
    if isinstance(part, nn.Parameter):
        return {name: part.detach()}
    return {f"{name}.{k}": v for k, v in part.state_dict().items()}


def _load_state(net: nn.Module, name: str, state: dict[str, torch.Tensor]) -> None:
    part = getattr(net, name)
    if isinstance(part, nn.Parameter):
        with torch.no_grad():
            part.copy_(state[name])
    else:
        part.load_state_dict({k.removeprefix(name + "."): v for k, v in state.items()})


def _control_noise(y: torch.Tensor) -> torch.Tensor:
    """The noise control's decoder input: the training surrogate's ``y + U(-1/2, 1/2)``."""
    return y + torch.empty_like(y).uniform_(-0.5, 0.5)


def quantized_forward(m: LoadedModel, q: Quantizer, x: torch.Tensor, modes: tuple[str, ...],
                      control: str | None = None, precision: Precision = "fp32",
                      qualities: tuple[float, float] | None = None) -> dict[str, torch.Tensor]:
    """Inference-exact encoder side, differentiable decoder side (noisy latents for the control).

    Everything that decides the quantized latents (g_a, h_a, h_s, the quantizer)
    runs in fp32 as at inference; ``precision`` applies to the synthesis g_s only.
    ``qualities`` (a variable-rate model): the range each crop's quality is drawn from.
    """
    net = m.net
    synthesize = partial(transform_runner(x, precision), net.g_s)
    if getattr(net, "variable_rate", False):
        return _variable_rate_forward(m, q, x, modes, synthesize, control, qualities)
    if control == "noise":  # the decoder input depends on y alone: no hyper path
        with torch.no_grad():
            y = net.analysis(x)
        return {"x_hat": synthesize(_control_noise(y))}
    # the codec's own encoder side; only h_s (μ, σ) may carry gradients
    with torch.set_grad_enabled("h_s" in modes):
        side = encoder_side(net, x)
    with torch.no_grad():
        levels, qid = q.levels(side.y, side.means.detach(), side.scales.detach(), m.entropy)
    y_hat = q.dequantize(side.means, levels)
    out = {"x_hat": synthesize(y_hat), "y_hat": y_hat, "levels": levels, "qid": qid}
    if "h_s" in modes:
        out["bits"] = q.bits(levels, qid, side.scales, m.entropy).sum()
    return out


def _variable_rate_forward(m: LoadedModel, q: Quantizer, x: torch.Tensor, modes: tuple[str, ...],
                           synthesize, control: str | None = None,
                           qualities: tuple[float, float] | None = None) -> dict[str, torch.Tensor]:
    """:func:`quantized_forward` of a variable-rate model: each crop at its own quality (drawn
    uniformly from the model's range, or from ``qualities``), the codec's group loop with the real quantizer's levels
    (for the noise control, each group's latents plus uniform noise instead, which the later groups'
    contexts then read). Adds ``"quality"`` and ``"lmbda"`` (each crop's) and, when the entropy
    parameters train, ``"bits"`` per crop."""
    from ..models.channel import draw_qualities, quality_lambda

    net = m.net
    quality = draw_qualities(x.shape[0], qualities)
    gain, inverse_gain = net.gains(quality)
    entropy = "h_s" in modes
    with torch.set_grad_enabled(entropy):
        side = encoder_side(net, x, gain.detach())
    bits: list[torch.Tensor] = []

    def group(k: int, sl: slice, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        if control == "noise":
            return _control_noise(side.y[:, sl])
        with torch.no_grad():
            levels, qid = q.levels(side.y[:, sl], means.detach(), scales.detach(), m.entropy)
        if entropy:
            bits.append(q.bits(levels, qid, scales, m.entropy).flatten(1).sum(1))
        return q.dequantize(means, levels)

    y_hat = net.code_groups(side.means, side.scales, group)
    out = {"x_hat": synthesize(net.synthesis_input(y_hat, side.means, inverse_gain)), "y_hat": y_hat,
           "lmbda": quality_lambda(quality), "quality": quality}
    if entropy:
        out["bits"] = torch.stack(bits).sum(0)
    return out


def second_generation(net: nn.Module, x_hat: torch.Tensor, precision: Precision = "fp32",
                      grid_step: float | None = None, quality: torch.Tensor | None = None) -> torch.Tensor:
    """The reconstruction of re-encoding ``x_hat``: 8-bit pixels and rounded latents, straight-through.

    Latents are rounded around the means, as SQ (and, approximately, RDOQ and TCQ) does; with
    ``grid_step`` Δ on the fixed grid ``Δ·round(y/Δ)`` instead, as ``sq-grid`` does, whose
    reconstruction does not depend on the hyper-latent at all. A variable-rate model re-encodes
    each crop at its ``quality`` (its group loop, latents rounded around each group's means).
    """
    x1 = ste_round(x_hat.clamp(0, 1) * 255) / 255
    if grid_step is None:
        return surrogate_forward(net, x1, "ste", precision, quality=quality)["x_hat"]
    run = transform_runner(x1, precision)
    y = run(net.g_a, x1)
    return run(net.g_s, ste_round(y / grid_step) * grid_step)


def later_generations_mse(net: nn.Module, x_hat: torch.Tensor, x: torch.Tensor, generations: int,
                          precision: Precision = "fp32", grid_step: float | None = None,
                          quality: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over ``generations`` successive re-encodings of ``x_hat`` of their MSE against ``x``, per
    crop (shape (B,)); a variable-rate model's crops each at their ``quality``."""
    total, xk = x_hat.new_zeros(x.shape[0]), x_hat
    for _ in range(generations):
        xk = second_generation(net, xk, precision, grid_step, quality)
        total = total + ((xk - x) ** 2).flatten(1).mean(1)
    return total / generations


def finetune(cfg: FinetuneConfig, resume: bool = False, progress: bool = True) -> Path:
    """Finetune the decoder side of ``cfg.base``; return the path of the decoder file."""
    return finetune_model(cfg, resume, progress)[0]


def _check(cfg: FinetuneConfig) -> None:
    """Refuse option combinations finetuning does not support, before any work."""
    if cfg.train not in MODES:
        raise LicqError(f"--train must be one of {', '.join(MODES)}")
    if cfg.control not in (None, "noise"):
        raise LicqError("--control must be 'noise'")
    if cfg.control and (cfg.train != "dec" or cfg.quantizer != "sq"):
        raise LicqError("the noise control trains g_s only and is evaluated with SQ: use --train dec --quantizer sq")
    if not cfg.idempotence >= 0:
        raise LicqError(f"--idempotence must be >= 0, got {cfg.idempotence}")
    if cfg.idempotence and cfg.control:
        raise LicqError("--idempotence trains on the real quantizer's output: not with --control")
    if not (isinstance(cfg.idempotence_generations, int) and 1 <= cfg.idempotence_generations <= 16):
        raise LicqError(f"--idempotence-generations must be an integer from 1 to 16, got {cfg.idempotence_generations}")
    if not 0 <= cfg.anchor <= 1000:
        raise LicqError(f"--anchor must be from 0 to 1000, got {cfg.anchor}")
    if cfg.idempotence_generations > 1 and not cfg.idempotence:
        raise LicqError("--idempotence-generations unrolls the idempotence term: give --idempotence BETA too")


def _check_qualities(bounds: tuple[float, float], name: str, variable: bool) -> None:
    """``--qualities LO HI``: a part of a variable-rate model's range, LO ≤ HI."""
    from ..models.channel import QUALITY_RANGE

    if not variable:
        raise LicqError(f"--qualities draws the qualities of a variable-rate model; {name} has one λ")
    lo, hi = bounds
    if not QUALITY_RANGE[0] <= lo <= hi <= QUALITY_RANGE[1]:
        raise LicqError(f"--qualities must be LO HI with {QUALITY_RANGE[0]:g} <= LO <= HI <= {QUALITY_RANGE[1]:g}, "
                        f"got {lo:g} {hi:g}")


def _base_lmbda(cfg: FinetuneConfig, base: LoadedModel) -> float:
    """The rate weight: ``cfg.lmbda``, else the base model's λ from the zoo manifest."""
    if cfg.lmbda is not None:
        return cfg.lmbda
    from ..zoo import entry

    if base.name.startswith("@"):
        raise LicqError("give --lmbda for a model that is not in the zoo")
    return entry(base.name)["lmbda"]


def _trainable_copy(base: LoadedModel, modes: tuple[str, ...]) -> tuple[LoadedModel, list[nn.Parameter]]:
    """A private copy of the base model (the zoo cache keeps the original) with only ``modes`` trainable."""
    m = LoadedModel(base.name, base.digest, copy.deepcopy(base.net), base.entropy)
    for p in m.net.parameters():
        p.requires_grad_(False)
    trained = [p for name in modes for p in _parameters(m.net, name)]
    for p in trained:
        p.requires_grad_(True)
    for name in modes:
        if isinstance(getattr(m.net, name), nn.Module):
            getattr(m.net, name).train()
    return m, trained


def _write_decoder(out: Path, net: nn.Module, modes: tuple[str, ...], meta: dict, step: int) -> None:
    """The finetuned tensors (half precision) and their description; ``decoder.pt`` last: it marks completion."""
    tensors = {k: v.detach().half().clone() for n in modes for k, v in _state(net, n).items()}
    atomic_write_bytes(out / "decoder.json", json.dumps({**meta, "steps": step}, indent=2).encode())
    atomic_torch_save(out / "decoder.pt", tensors)


def _start_from(m: LoadedModel, modes: tuple[str, ...], cfg: FinetuneConfig) -> dict:
    """Lay the decoder of the earlier run ``cfg.init`` over ``m``; returns that run's record (its
    ``decoder.json``, and the wall time of it and of every stage before it), which this run's record
    keeps as ``init``.

    A second stage starts where a finished run ended (fresh optimizer, its own schedule), so that a
    term such as the idempotence penalty can be added without repeating the first stage's steps.
    """
    from ..zoo.export import read_decoder_run, require_base, run_seconds

    run = Path(cfg.init)
    meta, tensors, _ = read_decoder_run(run)
    require_base(run, meta, m.digest.hex())
    if meta["train"] != cfg.train:
        raise LicqError(f"--init: {run} trained --train {meta['train']}, this run trains {cfg.train}")
    for name in modes:
        _load_state(m.net, name, {k: v.float() for k, v in tensors.items() if k == name or k.startswith(name + ".")})
    return {**meta, "run": str(run), "wall_seconds": run_seconds(run, meta)}


def finetune_model(cfg: FinetuneConfig, resume: bool = False, progress: bool = True) -> tuple[Path, nn.Module]:
    """:func:`finetune`, also returning this rank's finetuned network.

    Under ``torchrun --nproc_per_node K`` each rank quantizes its own crops
    (``batch`` is per rank) and the decoder gradients are averaged over ranks
    with ``all_reduce`` before every step, which is what DDP does; the encoder
    side has no gradients to synchronise. Finetuning runs on the CPU (gloo);
    only rank 0 writes checkpoints, logs and the progress bar.
    """
    rank, world = init_distributed(torch.device("cpu"))
    _check(cfg)
    torch.set_num_threads(cfg.threads)
    base = resolve(cfg.base, arch=cfg.arch)
    params = quantizer_defaults(base.name, cfg.quantizer, cfg.step, cfg.states, cfg.tcq_lambda)
    q = make_quantizer(cfg.quantizer, **params)
    variable = getattr(base.net, "variable_rate", False)
    lmbda, modes = (None if variable else _base_lmbda(cfg, base)), modes_of(base.net, cfg.train)
    if variable and cfg.idempotence and cfg.quantizer == "sq-grid":
        raise LicqError("the idempotence term of a variable-rate model re-encodes around the means: "
                        "not with --quantizer sq-grid")
    if cfg.quality_balance and not variable:
        raise LicqError("--quality-balance weighs the qualities of a variable-rate model; "
                        f"{base.name} has one λ")
    if cfg.qualities is not None:
        _check_qualities(cfg.qualities, base.name, variable)
    precision = resolve_precision(cfg.precision, torch.device("cpu"))
    m, trained = _trainable_copy(base, modes)
    init = _start_from(m, modes, cfg) if cfg.init else None
    anchors = [p.detach().clone() for p in trained] if cfg.anchor else []
    opt = torch.optim.Adam(trained, lr=cfg.lr)
    sched = drop_schedule(opt, cfg.steps, cfg.lr_drop)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, step = out / "finetune.pt", 0
    torch.manual_seed(cfg.seed * 1000 + rank)  # per-rank noise (control run only)
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        for name in modes:
            _load_state(m.net, name, ck["modules"][name])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step = ck["step"]
    meta = {"base": base.name, "base_digest": base.digest.hex(), "quantizer": cfg.quantizer, **params,
            "train": cfg.train, "control": cfg.control, "lmbda": lmbda, "config": asdict(cfg), "world_size": world}
    if init is not None:
        meta["init"] = init
    if rank == 0:
        atomic_write_bytes(out / "config.json", json.dumps(meta, indent=2).encode())

    def checkpoint(step: int) -> None:
        if rank == 0:
            atomic_torch_save(ckpt_path, {"modules": {n: _state(m.net, n) for n in modes},
                                          "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                                          "meta": meta})

    def train_step(x: torch.Tensor) -> dict[str, float]:
        o = quantized_forward(m, q, x, modes, cfg.control, precision, cfg.qualities)
        mse = torch.mean((o["x_hat"] - x) ** 2)
        pixels = x.shape[2] * x.shape[3]
        if "lmbda" in o:  # variable rate: each crop with its own λ
            mses = ((o["x_hat"] - x) ** 2).flatten(1).mean(1)
            bpps = o["bits"] / pixels if "bits" in o else torch.zeros_like(mses)
            loss, bpp = variable_rate_loss(bpps, mses, o["lmbda"], cfg.quality_balance), bpps.mean()
        else:
            bpp = o["bits"] / (x.shape[0] * pixels) if "bits" in o else torch.zeros(())
            loss = bpp + lmbda * 255 ** 2 * mse
        logged = {}
        if cfg.idempotence:
            mse2 = later_generations_mse(m.net, o["x_hat"], x, cfg.idempotence_generations, precision,
                                         params["step"] if cfg.quantizer == "sq-grid" else None, o.get("quality"))
            if "lmbda" in o:  # each crop's re-encodings weigh as its own distortion does
                term = variable_rate_loss(torch.zeros_like(mse2), mse2, o["lmbda"], cfg.quality_balance)
            else:
                term = lmbda * 255 ** 2 * mse2.mean()
            loss = loss + cfg.idempotence * term
            logged["psnr2"] = psnr_db(mse2.mean().item())
        if anchors:
            distance = sum(((p - a) ** 2).sum() for p, a in zip(trained, anchors))
            loss = loss + cfg.anchor * distance
            logged["anchor"] = distance.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(trained, world)
        finite = clip_or_drop(trained, 1.0)
        opt.step()
        sched.step()
        return {"loss": loss.item(), "bpp": bpp.item(), "psnr": psnr_db(mse.item()), **logged, "skipped": not finite}

    if step < cfg.steps:
        loader = step_loader(cfg.data, crop=cfg.crop, downscale=cfg.downscale, seed=cfg.seed, start=step,
                             steps=cfg.steps, batch=cfg.batch, rank=rank, world=world, exclude=cfg.exclude,
                             saturation=cfg.saturation, waves=cfg.waves)
        columns = ("loss", "bpp", "psnr", *(("psnr2",) if cfg.idempotence else ()), *(("anchor",) if anchors else ()))
        loop = TrainingLoop(out, rank=rank, start=step, steps=cfg.steps, columns=columns,
                            desc=f"finetune {cfg.train} ({precision})", log_every=cfg.log_every,
                            checkpoint_every=cfg.checkpoint_every, progress=progress)
        step = loop.run(loader, train_step, checkpoint)  # the last step's checkpoint included
    if rank == 0:
        _write_decoder(out, m.net, modes, meta, step)
    return out / "decoder.pt", m.net
