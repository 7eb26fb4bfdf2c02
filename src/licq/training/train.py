"""End-to-end rate-distortion training: ``loss = R + λ·255²·MSE`` (CompressAI's convention).

Checkpoints are written atomically and hold everything needed to continue
exactly: model, both optimizers, scheduler, step, RNG state and the config.
Data order is a pure function of (seed, step), so a resumed run sees the same
crops it would have seen without the interruption.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..atomic import atomic_torch_save, atomic_write_bytes
from ..errors import LicqError
from ..models import build_model, state_dict_from_file
from ..models.channel import REFERENCE_QUALITY, anchor_of_lambda
from ..models.io import load_params, model_digest, save_weights
from .config import TrainConfig
from .loop import (StepSampler, TrainingLoop, average_gradients, clip_or_drop, drop_schedule,  # noqa: F401
                   forget_rows_after, init_distributed, psnr_db, rebase_lr, step_loader)
from .precision import Precision, prepare_for_training, resolve_precision
from .surrogates import rd_loss, rd_terms, surrogate_forward


class _Surrogate(nn.Module):
    """The training forward pass as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module, surrogate: str, precision: Precision) -> None:
        super().__init__()
        self.model, self.surrogate, self.precision = model, surrogate, precision

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return surrogate_forward(self.model, x, self.surrogate, self.precision)


def _save_snapshot(path: Path, model: nn.Module) -> None:
    """Half-precision weights and their hyper-latent tables (files coded with it decode on any machine):
    a point of the learning curve, a tenth of a checkpoint."""
    path.parent.mkdir(exist_ok=True)
    save_weights(model, path)


def _load_val(folders: list[str], count: int) -> list[torch.Tensor]:
    """Up to ``count`` held-out images, centre-cropped to at most 512x512 and a multiple of 64."""
    import numpy as np
    from PIL import Image

    from ..imageio import list_images
    from ..models import STRIDE

    out = []
    for f in list_images(folders)[:count]:
        with Image.open(f) as im:
            arr = np.asarray(im.convert("RGB"))
        h, w = (min(d, 512) // STRIDE * STRIDE for d in arr.shape[:2])
        if h and w:
            top, left = (arr.shape[0] - h) // 2, (arr.shape[1] - w) // 2
            out.append(torch.from_numpy(arr[top:top + h, left:left + w].copy()).permute(2, 0, 1)[None].float() / 255)
    return out


@torch.no_grad()
def validate(model: nn.Module, images: list[torch.Tensor], device: torch.device) -> tuple[float, float]:
    """Mean (bpp, PSNR) with latents rounded as at inference (likelihood-estimated bits); a variable-rate
    model at its reference quality (that of the zoo model it usually starts from)."""
    was_training = model.training
    model.eval()
    bpps, psnrs = [], []
    for x in images:
        x = x.to(device)
        quality = torch.full((1,), float(REFERENCE_QUALITY)) if getattr(model, "variable_rate", False) else None
        bpp, mse = rd_terms(surrogate_forward(model, x, "ste", quality=quality), x.clamp(0, 1))
        bpps.append(bpp.item())
        psnrs.append(psnr_db(mse.item()))
    model.train(was_training)
    return sum(bpps) / len(bpps), sum(psnrs) / len(psnrs)


def _device() -> torch.device:
    """This rank's GPU when there is one (``LOCAL_RANK`` under torchrun), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def _build(cfg: TrainConfig, device: torch.device, warm_start: bool) -> tuple[nn.Module, Precision]:
    """The model, seeded identically on every rank, warm-started if asked, prepared for ``cfg.precision``."""
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build_model(cfg.arch, cfg.N, cfg.M)
    if warm_start:
        state = state_dict_from_file(cfg.warm_start)
        load_params(model, state, fresh=getattr(model, "fresh_parameters", ()))
        _start_gains_at_warm_start(model, state)
    model.to(device).train()
    precision = resolve_precision(cfg.precision, device)
    prepare_for_training(model, device, precision)
    return model, precision


def _start_gains_at_warm_start(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """A variable-rate model warm-started from a zoo model trained at an anchor's λ (licq-q4: quality 4)
    starts with gain 1 at that anchor, so it is exactly that model there; other sources keep the
    default reference (quality 3)."""
    if not hasattr(model, "start_gains") or "gain" in state:
        return
    from ..zoo import lambda_of_weights

    anchor = anchor_of_lambda(lambda_of_weights(model_digest(state)[:16]))
    if anchor is not None:
        model.start_gains(anchor)


def _keep_warm_start(cfg: TrainConfig, out: Path) -> TrainConfig:
    """A resumed leg keeps the warm start its run was begun from.

    ``--warm-start`` only acts when a run starts, so a leg resumed without it would otherwise
    overwrite config.json with ``warm_start: null`` and the exported training record would lose
    where the weights came from.
    """
    saved = out / "config.json"
    if cfg.warm_start or not saved.is_file():
        return cfg
    try:
        first = json.loads(saved.read_text()).get("warm_start")
    except (ValueError, AttributeError):
        return cfg
    return replace(cfg, warm_start=first) if first else cfg


def _is_aux(name: str) -> bool:
    """The entropy bottleneck's quantiles: learned by the auxiliary loss alone, so they stay out of the main
    optimizer and of DDP's gradient reduction."""
    return name.endswith(".quantiles")


def _main_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Parameter groups of the main optimizer. With ``cfg.fresh_lr``, the parameters a warm start leaves at
    their initial values (a model's ``fresh_parameters``: context networks, gains) learn at their own
    rate, so they can catch up without the warm-started transforms moving as fast."""
    params = [(n, p) for n, p in model.named_parameters() if not _is_aux(n)]
    fresh = tuple(getattr(model, "fresh_parameters", ()))
    if cfg.fresh_lr is None or not fresh:
        return [{"params": [p for _, p in params], "lr": cfg.lr}]
    return [{"params": [p for n, p in params if not n.startswith(fresh)], "lr": cfg.lr},
            {"params": [p for n, p in params if n.startswith(fresh)], "lr": cfg.fresh_lr}]


def _rates(rates: list[float]) -> str:
    return " / ".join(f"{r:.2e}" for r in rates)


def _resume(path: Path, model: nn.Module, optimizers: dict, rank: int) -> tuple[int, float]:
    """Restore a checkpoint (model, ``opt``/``aux_opt``/``sched`` states, this rank's RNG); (step, seconds so far)."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    load_params(model, ck["model"])
    for key, obj in optimizers.items():
        try:
            obj.load_state_dict(ck[key])
        except ValueError:  # Adam: another number of parameter groups
            raise LicqError(f"{path}: its optimizer has other parameter groups than this command's "
                            "(--fresh-lr given or dropped); start a new run from it with --warm-start") from None
    torch.set_rng_state(ck["rng"][rank] if isinstance(ck["rng"], list) else ck["rng"])
    return ck["step"], float(ck.get("elapsed_s", 0.0))


def _forward(model: nn.Module, cfg: TrainConfig, precision: Precision, world: int, device: torch.device) -> nn.Module:
    """The surrogate forward pass, wrapped in DDP (entropy-bottleneck quantiles excluded) with several ranks."""
    forward: nn.Module = _Surrogate(model, cfg.surrogate, precision)
    if world > 1:
        DDP._set_params_and_buffers_to_ignore_for_model(
            forward, [f"model.{n}" for n, _ in model.named_parameters() if _is_aux(n)])
        forward = DDP(forward, device_ids=[device.index] if device.type == "cuda" else None)
    return forward


def _step_function(cfg: TrainConfig, model: nn.Module, forward: nn.Module, opt, aux_opt, sched,
                   world: int, device: torch.device) -> Callable[[torch.Tensor], dict[str, float]]:
    """One training step: ``R + λ·255²·MSE`` on the main parameters, then the auxiliary (quantile) loss."""
    main_params = [p for group in opt.param_groups for p in group["params"]]
    aux_params = [p for group in aux_opt.param_groups for p in group["params"]]

    def step(x: torch.Tensor) -> dict[str, float]:
        x = x.to(device, non_blocking=True)
        loss, bpp, mse = rd_loss(forward(x), x, cfg.lmbda, cfg.quality_balance)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        finite = clip_or_drop(main_params, cfg.clip if cfg.clip > 0 else math.inf)
        opt.step()
        sched.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        average_gradients(aux_params, world)
        if clip_or_drop(aux_params):
            aux_opt.step()
        return {"loss": loss.item(), "bpp": bpp.item(), "psnr": psnr_db(mse.item()), "aux": aux.item(),
                "skipped": not finite}

    return step


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> nn.Module:
    """Run (or continue) a training run; return the trained model.

    Under ``torchrun --nproc_per_node K`` the same call trains with
    DistributedDataParallel (NCCL on GPUs, gloo on CPU); ``batch`` is per rank.
    Only rank 0 writes checkpoints, logs and the progress bar.
    """
    device = _device()
    rank, world = init_distributed(device)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    resuming = resume and ckpt_path.exists()
    if resuming:
        cfg = _keep_warm_start(cfg, out)
    model, precision = _build(cfg, device, warm_start=bool(cfg.warm_start) and not resuming)
    groups = _main_groups(model, cfg)
    opt = torch.optim.Adam(groups)
    aux_opt = torch.optim.Adam([p for n, p in model.named_parameters() if _is_aux(n)], lr=cfg.aux_lr)
    sched = drop_schedule(opt, cfg.steps, cfg.lr_drop)
    step, elapsed_before = 0, 0.0
    if resuming:
        step, elapsed_before = _resume(ckpt_path, model, {"opt": opt, "aux_opt": aux_opt, "sched": sched}, rank)
        rates = [g["lr"] for g in groups]
        saved = rebase_lr(opt, sched, rates)
        if rank == 0 and saved != rates:
            print(f"resumed at step {step}: base learning rate {_rates(saved)} -> {_rates(rates)}", flush=True)
    else:
        torch.manual_seed(cfg.seed * 1000 + rank)  # per-rank noise
    if rank == 0:  # as log.csv (TrainingLoop): rows past the start step belong to a run this one replaces
        forget_rows_after(out / "val.csv", step)
    forward = _forward(model, cfg, precision, world, device)
    if rank == 0:
        atomic_write_bytes(out / "config.json", json.dumps(asdict(cfg), indent=2).encode())
    if step >= cfg.steps:
        return model
    loader = step_loader(cfg.data, crop=cfg.crop, downscale=cfg.downscale, seed=cfg.seed, start=step,
                         steps=cfg.steps, batch=cfg.batch, rank=rank, world=world, workers=cfg.workers,
                         saturation=cfg.saturation, waves=cfg.waves, exclude=cfg.exclude)
    val_images = _load_val(cfg.val, cfg.val_images) if cfg.val and rank == 0 else []
    loop = TrainingLoop(out, rank=rank, start=step, steps=cfg.steps, columns=("loss", "bpp", "psnr", "aux"),
                        desc=f"train ({precision})", log_every=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every, max_seconds=cfg.max_seconds, progress=progress,
                        extra=(("lr",), lambda: [f"{sched.get_last_lr()[0]:.2e}"]))

    def checkpoint(step: int) -> None:
        rngs = [torch.get_rng_state()]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, torch.get_rng_state())
        if rank == 0:
            atomic_torch_save(ckpt_path, {
                "model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                "sched": sched.state_dict(), "step": step, "rng": rngs if world > 1 else rngs[0],
                "config": asdict(cfg), "world_size": world, "elapsed_s": elapsed_before + loop.seconds()})

    def after_step(step: int) -> None:
        if val_images and (step % cfg.val_every == 0 or step == cfg.steps):
            vb, vp = validate(model, val_images, device)
            with open(out / "val.csv", "a") as f:
                f.write(f"{step},{vb:.5f},{vp:.4f},{vb + cfg.lmbda * 255 ** 2 * 10 ** (-vp / 10):.5f}\n")
            loop.bar.write(f"step {step}: validation {vb:.4f} bpp, {vp:.3f} dB")
        if rank == 0 and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            _save_snapshot(out / "snapshots" / f"step-{step:07d}.pt", model)

    loop.run(loader, _step_function(cfg, model, forward, opt, aux_opt, sched, world, device), checkpoint, after_step)
    return model
