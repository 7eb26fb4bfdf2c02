"""The skeleton shared by end-to-end training and quantization-aware finetuning.

Both run the same outer loop: distributed set-up under ``torchrun``, a learning
rate divided by 10 after a fraction of the steps, a loader whose crops are a pure
function of (seed, step) so that a resumed run reads what the uninterrupted one
would have, a CSV log of averaged step values, a progress bar, and checkpoints at
a fixed cadence (and at the end, or when out of time). Only what one step
computes differs; it is passed in as a function.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Callable, Collection, Iterable, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from ..atomic import atomic_write_bytes
from ..errors import LicqError
from .data import CropDataset

#: consecutive steps with a non-finite loss or gradient after which a run stops
MAX_NONFINITE_STEPS = 25


class TrainingDiverged(LicqError):
    """Every step for :data:`MAX_NONFINITE_STEPS` in a row had a non-finite loss or gradient."""


def distributed() -> tuple[int, int]:
    """(rank, world size) under torchrun; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else (0, 1)


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size), with the process group started where there are several ranks (NCCL or gloo)."""
    rank, world = distributed()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world


def finish_distributed() -> None:
    """Wait for every rank, then close the process group: a process that exits with gloo's
    threads still running can abort ("terminate called without an active exception"), which
    torchrun reports as a failed run although the training had finished."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def average_gradients(params: Iterable[torch.nn.Parameter], world: int) -> None:
    """Average gradients over ranks by hand, for parameters that DDP does not manage."""
    if world > 1:
        for p in params:
            dist.all_reduce(p.grad)
            p.grad /= world


def clip_or_drop(params: Sequence[torch.nn.Parameter], max_norm: float = math.inf) -> bool:
    """Clip the gradients to ``max_norm``; when their norm is not finite, drop them and return False.

    One batch with an infinite or NaN gradient would otherwise reach Adam's moment
    estimates and make every weight NaN for good, checkpoints included (the first GPU
    leg: all four models NaN from about step 250 on). Adam leaves a parameter whose
    gradient is None untouched, so the optimizer's step may still be called.
    """
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    if bool(torch.isfinite(norm)):
        return True
    for p in params:
        p.grad = None
    return False


def drop_schedule(opt: torch.optim.Optimizer, steps: int, drop: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate ×1 until ``drop``·steps, then ×0.1.

    A plain lambda on purpose: ``LambdaLR`` then stores no state for it, so the
    scheduler's state dict (in every checkpoint) stays what it has always been.
    """
    drop_at = int(steps * drop)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < drop_at else 0.1)


def rebase_lr(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR,
              lr: float | list[float]) -> list[float]:
    """Make ``lr`` (one rate, or one per parameter group) the base rate of a resumed schedule; returns the
    base rates the checkpoint had.

    A restored scheduler keeps the base rate of the run that saved it, so a long run
    (the campaign) could never lower its rate. With this the command's ``--lr`` wins;
    when it equals the saved rate nothing changes (resume stays exact).
    """
    before = [float(b) for b in sched.base_lrs]
    rates = list(lr) if isinstance(lr, (list, tuple)) else [lr] * len(opt.param_groups)
    sched.base_lrs = rates
    for group, rate, factor in zip(opt.param_groups, rates, sched.lr_lambdas):
        group["initial_lr"] = rate
        group["lr"] = rate * factor(sched.last_epoch)
    sched._last_lr = [g["lr"] for g in opt.param_groups]
    return before


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


def step_loader(folders: Sequence[str], *, crop: int, downscale: tuple[float, float] | None, seed: int,
                start: int, steps: int, batch: int, rank: int, world: int, workers: int = 0,
                exclude: Collection[str] = (), saturation: float = 0.0, waves: float = 0.0) -> DataLoader:
    """Batches of random crops for steps ``start..steps`` of this rank (see :class:`StepSampler`)."""
    data = CropDataset(folders, crop=crop, length=steps * batch * world, downscale=downscale, seed=seed,
                       exclude=exclude, saturation=saturation, waves=waves)
    return DataLoader(data, batch_size=batch, sampler=StepSampler(start, steps, batch, rank, world),
                      num_workers=workers, drop_last=True,
                      # own generator: the loader must not draw from the (checkpointed) global RNG
                      generator=torch.Generator().manual_seed(seed))


def psnr_db(mse: float) -> float:
    """PSNR of an MSE on the [0, 1] scale (floored at 1e-10: 100 dB)."""
    return -10 * math.log10(max(mse, 1e-10))


def forget_rows_after(path: Path, step: int) -> None:
    """Drop the rows of a CSV log (first column: step) past ``step``, a header kept.

    A run cut off between checkpoints has logged steps that its resumed run trains again
    from the checkpoint; without this they would appear twice in the log.
    """
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = [ln for ln in lines if not ln.split(",", 1)[0].strip().isdigit() or int(ln.split(",", 1)[0]) <= step]
    if len(keep) < len(lines):
        atomic_write_bytes(path, "".join(keep).encode())


class TrainingLoop:
    """Runs step functions over a loader: log averaging, progress bar, checkpoint cadence, time limit.

    ``columns`` name the values a step returns (averaged over ``log_every`` steps
    into ``log.csv``, after ``step``); ``extra`` gives further columns (names, a
    function of nothing returning their text) written before ``seconds``. Only rank 0
    writes the log and shows the bar. A step that returns ``skipped`` true (its update
    was dropped, see :func:`clip_or_drop`) is reported and left out of the averages;
    :data:`MAX_NONFINITE_STEPS` of them in a row end the run with :class:`TrainingDiverged`.
    """

    def __init__(self, out: Path, *, rank: int, start: int, steps: int, columns: Sequence[str], desc: str,
                 log_every: int, checkpoint_every: int, max_seconds: float = 0.0, progress: bool = True,
                 extra: tuple[Sequence[str], Callable[[], list[str]]] = ((), list)) -> None:
        from tqdm import tqdm

        self.out, self.rank, self.step, self.steps = out, rank, start, steps
        self.columns, self.extra = list(columns), extra
        self.log_every, self.checkpoint_every, self.max_seconds = log_every, checkpoint_every, max_seconds
        self.bar = tqdm(total=steps, initial=start, disable=not progress or rank != 0, desc=desc,
                        dynamic_ncols=True)
        self.t0 = time.time()

    def seconds(self) -> float:
        """Wall time since the loop was set up (this call's share of a resumed run)."""
        return time.time() - self.t0

    def run(self, loader: Iterable, step_fn: Callable[[torch.Tensor], dict[str, float]],
            checkpoint: Callable[[int], None], after_step: Callable[[int], None] | None = None) -> int:
        """One ``step_fn`` per batch, then log, ``after_step`` and checkpoint when due; returns the last step.

        A checkpoint is due every ``checkpoint_every`` steps, at the last step, and when
        ``max_seconds`` (if > 0) has run out, which also ends the loop.
        """
        log = None
        if self.rank == 0:
            path = self.out / "log.csv"
            forget_rows_after(path, self.step)
            new = not path.exists()
            log = open(path, "a", newline="")
            if new:
                csv.writer(log).writerow(["step", *self.columns, *self.extra[0], "seconds"])
        self.t0, acc, in_a_row = time.time(), [], 0
        try:
            for x in loader:
                values = step_fn(x)
                self.step += 1
                if values.get("skipped"):
                    in_a_row += 1
                    if self.rank == 0:
                        self.bar.write(f"step {self.step}: loss or gradient not finite, update skipped "
                                       f"({in_a_row} in a row)")
                    if in_a_row >= MAX_NONFINITE_STEPS:
                        raise TrainingDiverged(
                            f"training diverged: {in_a_row} steps in a row up to step {self.step} had a "
                            f"non-finite loss or gradient; the last checkpoint in {self.out} holds finite "
                            "weights (try a lower --lr)")
                else:
                    in_a_row = 0
                    acc.append([values[c] for c in self.columns])
                self.bar.update(1)
                self.bar.set_postfix({k: f"{values[k]:.{2 if k == 'psnr' else 3}f}"
                                      for k in ("loss", "bpp", "psnr") if k in values})
                if self.step % self.log_every == 0 or self.step == self.steps:
                    if log is not None:
                        means = [f"{sum(c) / len(acc):.5f}" for c in zip(*acc)] if acc else ["nan"] * len(self.columns)
                        csv.writer(log).writerow([self.step, *means, *self.extra[1](), f"{self.seconds():.1f}"])
                        log.flush()
                    acc = []
                if after_step is not None:
                    after_step(self.step)
                out_of_time = self.max_seconds > 0 and self.seconds() >= self.max_seconds
                if self.step % self.checkpoint_every == 0 or self.step == self.steps or out_of_time:
                    checkpoint(self.step)
                if out_of_time:
                    break
        finally:
            self.bar.close()
            if log is not None:
                log.close()
        return self.step
