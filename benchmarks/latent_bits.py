"""Bits of the latents y and the hyper-latent z, and the mean σ, of models on the first Kodak images.

Ideal code lengths (Gaussian cells around μ, the factorized prior for z) of SQ-rounded latents; used
to see where an encoder change moves the rate (results/idempotence/README.md).

    python benchmarks/latent_bits.py licq-q3 /root/proto/b10/checkpoint.pt [--images 3]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from licq.models import resolve  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("models", nargs="+", help="zoo names or mbt2018-mean weight files")
p.add_argument("--kodak", default="../shared/data/kodak")
p.add_argument("--images", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(1)
for name in a.models:
    m = resolve(name, arch="mbt2018-mean" if Path(name).is_file() else None); net = m.net.eval()
    eb, gc = net.entropy_bottleneck, net.gaussian_conditional
    yb = zb = px = 0
    sig = []
    for f in sorted(Path(a.kodak).glob("*.png"))[:a.images]:
        x = torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            y = net.g_a(x); z = net.h_a(y); zh, zl = eb(z, training=False)
            mu, s = net.hyper(zh); yh = torch.round(y - mu) + mu
            yb += -torch.log2(gc._likelihood(yh, s, mu).clamp_min(1e-9)).sum().item(); zb += -torch.log2(zl.clamp_min(1e-9)).sum().item()
            px += x.shape[2] * x.shape[3]
            sig.append(s.mean().item())
    print(f"{name}: y {yb / px:.4f} bpp, z {zb / px:.4f} bpp, mean σ {np.mean(sig):.3f}")
