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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from ..atomic import atomic_write_bytes
from ..models import build_model, state_dict_from_file
from ..models.io import load_params
from .data import CropDataset
from .surrogates import rd_terms, surrogate_forward


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    arch: str = "mbt2018-mean"
    N: int = 96
    M: int = 128
    lmbda: float = 0.0067
    surrogate: str = "mixed"
    steps: int = 10_000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    lr_drop: float = 0.85  # fraction of steps after which lr is divided by 10
    seed: int = 0
    workers: int = 0
    threads: int = 2
    checkpoint_every: int = 500
    log_every: int = 50
    warm_start: str | None = None
    downscale: tuple[float, float] | None = (0.5, 0.75)
    extra: dict = field(default_factory=dict)


class StepSampler(Sampler[int]):
    """Yields dataset indices ``start*batch, start*batch+1, ...``: resumable data order."""

    def __init__(self, start_step: int, steps: int, batch: int) -> None:
        self.start, self.stop = start_step * batch, steps * batch

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run (or continue) a training run; return the path of the final checkpoint."""
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    torch.manual_seed(cfg.seed)

    model = build_model(cfg.arch, cfg.N, cfg.M)
    if cfg.warm_start and not (resume and ckpt_path.exists()):
        load_params(model, state_dict_from_file(cfg.warm_start))
    model.train()
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=cfg.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=cfg.aux_lr)
    drop_at = int(cfg.steps * cfg.lr_drop)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < drop_at else 0.1)
    step = 0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        load_params(model, ck["model"])
        opt.load_state_dict(ck["opt"])
        aux_opt.load_state_dict(ck["aux_opt"])
        sched.load_state_dict(ck["sched"])
        torch.set_rng_state(ck["rng"])
        step = ck["step"]

    def checkpoint() -> None:
        _save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
            "sched": sched.state_dict(), "step": step, "rng": torch.get_rng_state(),
            "config": asdict(cfg)})

    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    if step >= cfg.steps:
        return ckpt_path
    data = CropDataset(cfg.data, crop=cfg.crop, length=cfg.steps * cfg.batch,
                       downscale=cfg.downscale, seed=cfg.seed)
    loader = DataLoader(data, batch_size=cfg.batch, sampler=StepSampler(step, cfg.steps, cfg.batch),
                        num_workers=cfg.workers, drop_last=True)
    log_path = out / "log.csv"
    new_log = not log_path.exists()
    log = open(log_path, "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["step", "loss", "bpp", "psnr", "aux", "lr", "seconds"])
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="train", dynamic_ncols=True)
    t0, acc = time.time(), []
    for x in loader:
        out_fw = surrogate_forward(model, x, cfg.surrogate)
        bpp, mse = rd_terms(out_fw, x)
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
        aux_opt.step()
        step += 1
        psnr = -10 * math.log10(max(mse.item(), 1e-10))
        acc.append((loss.item(), bpp.item(), psnr, aux.item()))
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", bpp=f"{bpp.item():.3f}", psnr=f"{psnr:.2f}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            m = [sum(c) / len(acc) for c in zip(*acc)]
            writer.writerow([step, *(f"{v:.5f}" for v in m), f"{sched.get_last_lr()[0]:.2e}",
                             f"{time.time() - t0:.1f}"])
            log.flush()
            acc = []
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    bar.close()
    log.close()
    return ckpt_path
