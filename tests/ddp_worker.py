"""Run under torchrun by test_training.py: train a few steps, save this rank's weights."""

import sys

import torch

from licq.training.loop import finish_distributed
from licq.training.train import TrainConfig, train

data, out = sys.argv[1], sys.argv[2]
cfg = TrainConfig(data=[data], out=out, N=8, M=12, steps=4, batch=2, crop=64, threads=1,
                  checkpoint_every=2, log_every=1, downscale=None, lr=1e-3)
model = train(cfg, progress=False)
rank = torch.distributed.get_rank()
torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.pt")
finish_distributed()  # as licq train does: no abort at exit from gloo threads still running
