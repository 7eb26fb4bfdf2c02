"""End-to-end rate-distortion training: ``loss = R + λ·255²·MSE`` (CompressAI's convention).

Checkpoints are written atomically and hold everything needed to continue
exactly: model, both optimizers, scheduler, step, RNG state and the config.
Data order is a pure function of (seed, step), so a resumed run sees the same
crops it would have seen without the interruption.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Sampler

from ..atomic import atomic_write_bytes
from ..models import build_model, state_dict_from_file
from ..models.io import load_params
from .data import CropDataset
from .precision import Precision, prepare_for_training, resolve_precision
from .surrogates import rd_terms, surrogate_forward


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    arch: str = "mbt2018-mean"
    N: int = 128
    M: int = 192
    lmbda: float = 0.0067
    surrogate: str = "mixed"
    steps: int = 10_000
    batch: int = 8
    crop: int = 256
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    lr_drop: float = 0.85  # fraction of steps after which lr is divided by 10
    seed: int = 0
    workers: int = 0
    threads: int = 2
    checkpoint_every: int = 500
    max_seconds: float = 0.0  # >0: stop (with a checkpoint) after this much training time in this call
    snapshot_every: int = 0  # >0: also keep half-precision weights every so many steps (learning curves)
    log_every: int = 50
    warm_start: str | None = None
    val: list[str] | None = None  # held-out folder(s): real-rounding RD estimate every val_every steps
    val_every: int = 1000
    val_images: int = 8
    downscale: tuple[float, float] | None = (0.5, 0.75)
    precision: str = "auto"  # "fp32", "bf16" or "auto" (bf16 where the hardware has it)
    extra: dict = field(default_factory=dict)


class StepSampler(Sampler[int]):
    """Dataset indices for steps ``start..steps`` of one rank: a pure function of the step.

    Step ``s`` of rank ``r`` in a world of ``w`` ranks reads items
    ``(s·w + r)·batch ... + batch − 1``, so ranks never share crops and a
    resumed run reads exactly what the uninterrupted run would have.
    """

    def __init__(self, start_step: int, steps: int, batch: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.steps, self.batch, self.rank, self.world = start_step, steps, batch, rank, world

    def __iter__(self):
        for s in range(self.start, self.steps):
            base = (s * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return (self.steps - self.start) * self.batch


class _Surrogate(nn.Module):
    """The training forward pass as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module, surrogate: str, precision: Precision) -> None:
        super().__init__()
        self.model, self.surrogate, self.precision = model, surrogate, precision

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return surrogate_forward(self.model, x, self.surrogate, self.precision)


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _save_snapshot(path: Path, model: nn.Module) -> None:
    """Half-precision weights only: a point of the learning curve, a tenth of a checkpoint."""
    path.parent.mkdir(exist_ok=True)
    _save_checkpoint(path, {k: v.detach().half() if v.is_floating_point() else v
                            for k, v in model.state_dict().items()})


def _load_val(folders: list[str], count: int) -> list[torch.Tensor]:
    """Up to ``count`` held-out images, centre-cropped to at most 512x512 and a multiple of 64."""
    import numpy as np
    from PIL import Image

    from ..models import STRIDE
    from .data import list_images

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
    """Mean (bpp, PSNR) with latents rounded as at inference (likelihood-estimated bits)."""
    was_training = model.training
    model.eval()
    bpps, psnrs = [], []
    for x in images:
        x = x.to(device)
        bpp, mse = rd_terms(surrogate_forward(model, x, "ste"), x.clamp(0, 1))
        bpps.append(bpp.item())
        psnrs.append(-10 * math.log10(max(mse.item(), 1e-10)))
    model.train(was_training)
    return sum(bpps) / len(bpps), sum(psnrs) / len(psnrs)


def average_gradients(params, world: int) -> None:
    """Average gradients over ranks by hand, for parameters that DDP does not manage."""
    if world > 1:
        for p in params:
            dist.all_reduce(p.grad)
            p.grad /= world


def _distributed() -> tuple[int, int]:
    """(rank, world size) under torchrun; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> nn.Module:
    """Run (or continue) a training run; return the trained model.

    Under ``torchrun --nproc_per_node K`` the same call trains with
    DistributedDataParallel (NCCL on GPUs, gloo on CPU); ``batch`` is per rank.
    Only rank 0 writes checkpoints, logs and the progress bar.
    """
    from tqdm import tqdm

    rank, world = _distributed()
    device = torch.device("cpu")
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank

    model = build_model(cfg.arch, cfg.N, cfg.M)
    if cfg.warm_start and not (resume and ckpt_path.exists()):
        load_params(model, state_dict_from_file(cfg.warm_start))
    model.to(device).train()
    precision = resolve_precision(cfg.precision, device)
    prepare_for_training(model, device, precision)
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr)
    drop_at = int(cfg.steps * cfg.lr_drop)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < drop_at else 0.1)
    step, elapsed_before = 0, 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        load_params(model, ck["model"])
        opt.load_state_dict(ck["opt"])
        aux_opt.load_state_dict(ck["aux_opt"])
        sched.load_state_dict(ck["sched"])
        step = ck["step"]
        elapsed_before = float(ck.get("elapsed_s", 0.0))
        torch.set_rng_state(ck["rng"][rank] if isinstance(ck["rng"], list) else ck["rng"])
    else:
        torch.manual_seed(cfg.seed * 1000 + rank)  # per-rank noise
    forward: nn.Module = _Surrogate(model, cfg.surrogate, precision)
    if world > 1:
        DDP._set_params_and_buffers_to_ignore_for_model(
            forward, [f"model.{n}" for n, _ in model.named_parameters() if n.endswith(".quantiles")])
        forward = DDP(forward, device_ids=[device.index] if device.type == "cuda" else None)

    def checkpoint() -> None:
        rngs = [torch.get_rng_state()]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, torch.get_rng_state())
        if rank == 0:
            _save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                "sched": sched.state_dict(), "step": step, "rng": rngs if world > 1 else rngs[0],
                "config": asdict(cfg), "world_size": world,
                "elapsed_s": elapsed_before + time.time() - t0})

    if rank == 0:
        atomic_write_bytes(out / "config.json", json.dumps(asdict(cfg), indent=2).encode())
    if step >= cfg.steps:
        return model
    data = CropDataset(cfg.data, crop=cfg.crop, length=cfg.steps * cfg.batch * world,
                       downscale=cfg.downscale, seed=cfg.seed)
    loader = DataLoader(data, batch_size=cfg.batch,
                        sampler=StepSampler(step, cfg.steps, cfg.batch, rank, world),
                        num_workers=cfg.workers, drop_last=True,
                        # own generator: the loader must not draw from the (checkpointed) global RNG
                        generator=torch.Generator().manual_seed(cfg.seed))
    log = writer = None
    if rank == 0:
        log_path = out / "log.csv"
        new_log = not log_path.exists()
        log = open(log_path, "a", newline="")
        writer = csv.writer(log)
        if new_log:
            writer.writerow(["step", "loss", "bpp", "psnr", "aux", "lr", "seconds"])
    val_images = _load_val(cfg.val, cfg.val_images) if cfg.val and rank == 0 else []
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc=f"train ({precision})",
               dynamic_ncols=True)
    t0, acc = time.time(), []
    for x in loader:
        x = x.to(device, non_blocking=True)
        bpp, mse = rd_terms(forward(x), x)
        loss = bpp + cfg.lmbda * 255 ** 2 * mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(main_params, cfg.clip)
        opt.step()
        sched.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        average_gradients(aux_params, world)
        aux_opt.step()
        step += 1
        psnr = -10 * math.log10(max(mse.item(), 1e-10))
        acc.append((loss.item(), bpp.item(), psnr, aux.item()))
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", bpp=f"{bpp.item():.3f}", psnr=f"{psnr:.2f}")
        if writer is not None and (step % cfg.log_every == 0 or step == cfg.steps):
            m = [sum(c) / len(acc) for c in zip(*acc)]
            writer.writerow([step, *(f"{v:.5f}" for v in m), f"{sched.get_last_lr()[0]:.2e}",
                             f"{time.time() - t0:.1f}"])
            log.flush()
            acc = []
        if val_images and (step % cfg.val_every == 0 or step == cfg.steps):
            vb, vp = validate(model, val_images, device)
            with open(out / "val.csv", "a") as f:
                f.write(f"{step},{vb:.5f},{vp:.4f},{vb + cfg.lmbda * 255 ** 2 * 10 ** (-vp / 10):.5f}\n")
            bar.write(f"step {step}: validation {vb:.4f} bpp, {vp:.3f} dB")
        out_of_time = cfg.max_seconds > 0 and time.time() - t0 >= cfg.max_seconds
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
            checkpoint()
        if rank == 0 and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            _save_snapshot(out / "snapshots" / f"step-{step:07d}.pt", model)
        if out_of_time:
            break
    bar.close()
    if log is not None:
        log.close()
    return model
