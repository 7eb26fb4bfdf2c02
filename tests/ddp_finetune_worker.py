"""Run under torchrun by test_finetune.py: finetune a few steps, save this rank's decoder-side weights."""

import sys

import torch

from licq.training.finetune import FinetuneConfig, finetune_model
from licq.training.loop import finish_distributed

model, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = FinetuneConfig(base=model, arch="mbt2018-mean", lmbda=0.01, data=[data], out=out, quantizer="tcq", states=4,
                     train="dec+hyperdec", steps=3, batch=1, crop=64, threads=1, downscale=None, log_every=1,
                     lr=1e-3)
_, net = finetune_model(cfg, progress=False)
rank = torch.distributed.get_rank()
torch.save({k: v.clone() for k, v in net.state_dict().items() if k.startswith(("g_s", "h_s"))},
           f"{out}/rank{rank}.pt")
finish_distributed()  # as licq finetune does: no abort at exit from gloo threads still running
