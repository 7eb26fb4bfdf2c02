"""Training throughput: ``licq train`` against a plain CompressAI training loop, in one run.

Same model (mean-scale hyperprior, N/M), batch, crop size, loss (R + λ·255²·MSE),
optimizers (Adam + auxiliary Adam) and gradient clipping; the plain loop uses
CompressAI's ``MeanScaleHyperprior.forward`` (noise surrogate), licq its default
mixed surrogate. Both read crops from the same in-memory dataset. The two are
run alternately (``--rounds``) and the steps/s after a warm-up are compared.
Writes results/train_speed.json.

    python benchmarks/train_speed.py [--steps 30 --rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
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

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"


def plain_compressai(data: CropDataset, a) -> float:
    """Steps/s of a textbook CompressAI loop (its examples/train.py, without the logging)."""
    torch.manual_seed(0)
    net = MeanScaleHyperprior(a.N, a.M).train()
    params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(aux, lr=1e-3)
    loader = DataLoader(data, batch_size=a.batch, shuffle=True, drop_last=True)
    t0 = None
    for i, x in enumerate(loader):
        if i == a.warmup:
            t0 = time.perf_counter()
        if i == a.warmup + a.steps:
            break
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
    return a.steps / (time.perf_counter() - t0)


def licq_train(a) -> float:
    """Steps/s of ``licq train`` measured from its own log (seconds since the loop started)."""
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(data=[str(a.data)], out=d, N=a.N, M=a.M, lmbda=a.lmbda, steps=a.warmup + a.steps,
                          batch=a.batch, crop=a.crop, threads=a.threads, checkpoint_every=10 ** 9,
                          log_every=1)
        train(cfg, progress=False)
        with open(Path(d) / "log.csv") as f:
            rows = list(csv.DictReader(f))
    t = {int(r["step"]): float(r["seconds"]) for r in rows}
    return a.steps / (t[a.warmup + a.steps] - t[a.warmup])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(TRAIN))
    ap.add_argument("--N", type=int, default=96)
    ap.add_argument("--M", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "train_speed.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = CropDataset([a.data], crop=a.crop)
    plain, ours = [], []
    for _ in range(a.rounds):
        plain.append(plain_compressai(data, a))
        ours.append(licq_train(a))
        print(f"compressai {plain[-1]:.3f} steps/s, licq {ours[-1]:.3f} steps/s", flush=True)
    res = {"config": {k: v for k, v in vars(a).items() if k != "out"},
           "compressai_steps_per_s": plain, "licq_steps_per_s": ours,
           "ratio_licq_over_compressai": statistics.median(ours) / statistics.median(plain),
           "command": " ".join(["python", "benchmarks/train_speed.py", *sys.argv[1:]])}
    save_results(a.out, res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
