"""Training throughput: ``licq train`` against a plain CompressAI training loop, in one run.

Same model (mean-scale hyperprior, N/M), batch, crop size, loss (R + λ·255²·MSE),
optimizers (Adam + auxiliary Adam) and gradient clipping; the plain loop is the
one of CompressAI's examples/train.py (``MeanScaleHyperprior.forward``, noise
surrogate, fp32, contiguous tensors), licq runs its default mixed surrogate in
each of ``--precisions``. All read crops from the same in-memory dataset, on the
GPU when there is one. They run alternately (``--rounds``) and the steps/s after
a warm-up are compared. Writes results/train_speed.json (or ``--out``).

    python benchmarks/train_speed.py [--steps 20 --rounds 2 --precisions bf16 fp32]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from licq._compressai import MeanScaleHyperprior
from licq.evaluation.results import save_results
from licq.training.data import CropDataset
from licq.training.train import TrainConfig, train

from timed_args import parse_timed  # noqa: E402  (benchmarks/timed_args.py)

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"


def plain_compressai(data: CropDataset, a) -> float:
    """Steps/s of a textbook CompressAI loop (its examples/train.py, without the logging)."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = MeanScaleHyperprior(a.N, a.M).to(device).train()
    params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(aux, lr=1e-3)
    loader = DataLoader(data, batch_size=a.batch, shuffle=True, drop_last=True)
    t0 = None
    for i, x in enumerate(loader):
        if i == a.warmup:
            _sync()
            t0 = time.perf_counter()
        if i == a.warmup + a.steps:
            break
        x = x.to(device)
        out = net(x)
        n = x.shape[0] * x.shape[2] * x.shape[3]
        bpp = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()) / n
        loss = bpp + a.lmbda * 255 ** 2 * torch.mean((out["x_hat"] - x) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        aux_loss = net.aux_loss()
        aux_opt.zero_grad()
        aux_loss.backward()
        aux_opt.step()
    _sync()
    return a.steps / (time.perf_counter() - t0)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def licq_train(a, precision: str) -> float:
    """Steps/s of ``licq train`` measured from its own log (seconds since the loop started)."""
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(data=[str(a.data)], out=d, N=a.N, M=a.M, lmbda=a.lmbda, steps=a.warmup + a.steps,
                          batch=a.batch, crop=a.crop, threads=a.threads, checkpoint_every=10 ** 9,
                          log_every=1, precision=precision)
        train(cfg, progress=False)
        with open(Path(d) / "log.csv") as f:
            rows = list(csv.DictReader(f))
    t = {int(r["step"]): float(r["seconds"]) for r in rows}
    return a.steps / (t[a.warmup + a.steps] - t[a.warmup])


def _cpu_name() -> str:
    """CPU model and core count, e.g. 'AMD EPYC (2 threads, avx512_bf16)'."""
    import os
    import platform

    name, flags = platform.processor() or "cpu", ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        flags = ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f" {f}" in info)
    except (OSError, StopIteration):
        pass
    return f"{name} ({os.cpu_count()} logical CPUs{', ' + flags if flags else ''})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(TRAIN))
    ap.add_argument("--N", type=int, default=128)
    ap.add_argument("--M", type=int, default=192)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--precisions", nargs="+", default=["bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    a = parse_timed(ap, ROOT / "results" / "train_speed.json")
    data = CropDataset([a.data], crop=a.crop)
    plain, ours = [], {p: [] for p in a.precisions}
    for _ in range(a.rounds):
        plain.append(plain_compressai(data, a))
        print(f"compressai fp32: {plain[-1]:.3f} steps/s", flush=True)
        for p in a.precisions:
            ours[p].append(licq_train(a, p))
            print(f"licq {p}: {ours[p][-1]:.3f} steps/s", flush=True)
    res = {"config": {k: v for k, v in vars(a).items() if k != "out"},
           "device": torch.cuda.get_device_name() if torch.cuda.is_available() else _cpu_name(),
           "compressai_steps_per_s": plain,
           **{f"licq_{p}_steps_per_s": v for p, v in ours.items()},
           **{f"ratio_licq_{p}_over_compressai": statistics.median(v) / statistics.median(plain)
              for p, v in ours.items()}}
    save_results(a.out, res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
