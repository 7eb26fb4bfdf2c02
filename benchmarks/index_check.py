"""How fragile are the entropy model's table indexes, and what does the check cost?

    python benchmarks/index_check.py [--images 24]

The rANS tables of each latent are chosen from σ, the hyper-decoder's float
output. Another machine computing σ with a relative error ε picks another
table wherever σ lies within ε of a table boundary; without a check the
decoder would silently desynchronise. This script perturbs σ on Kodak
(licq-q3) by relative noise ε and counts latents and images whose indexes
change (each such file is refused by the container's entropy-model check
instead of decoding to garbage), measures the actual σ difference between 1
and 2 threads, and the check's cost in bpp (4 header bytes).

Writes results/reliability/index_check.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from licq.atomic import atomic_write_bytes
from licq.codec import image_to_tensor
from licq.imageio import list_images, open_image, to_rgb_array
from licq.zoo import load_zoo


def sigma(m, arr, threads: int) -> torch.Tensor:
    torch.set_num_threads(threads)
    with torch.inference_mode():
        y = m.net.analysis(image_to_tensor(arr))
        z = m.net.h_a(y)
        z_hat = m.net.entropy_bottleneck.decompress(m.net.entropy_bottleneck.compress(z), z.shape[-2:])
        return m.net.hyper(z_hat)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kodak", default="../shared/data/kodak")
    p.add_argument("--images", type=int, default=24)
    a = p.parse_args()
    m = load_zoo("licq-q3")
    eps = [1e-7, 1e-6, 1e-5, 1e-4]
    gen = torch.Generator().manual_seed(0)
    changed = {e: [] for e in eps}
    thread_diff, thread_flips, pixels, n_latents = 0.0, 0, 0, 0
    for f in list_images([a.kodak])[: a.images]:
        arr, _ = to_rgb_array(open_image(f))
        pixels += arr.shape[0] * arr.shape[1]
        s1, s2 = sigma(m, arr, 1), sigma(m, arr, 2)
        thread_diff = max(thread_diff, float(((s1 - s2).abs() / s1.abs().clamp_min(1e-9)).max()))
        idx = m.entropy.indexes(s2)
        thread_flips += int((m.entropy.indexes(s1) != idx).sum())
        n_latents += idx.numel()
        for e in eps:
            noisy = s2 * (1 + e * torch.randn(s2.shape, generator=gen))
            changed[e].append(int((m.entropy.indexes(noisy) != idx).sum()))
    res = {"command": "python " + " ".join(sys.argv), "model": "licq-q3", "images": a.images,
           "latents_per_image": n_latents // a.images,
           "threads_1_vs_2": {"max_relative_sigma_difference": thread_diff, "changed_indexes": thread_flips},
           "relative_noise": [{"epsilon": e, "changed_indexes_total": sum(c),
                               "images_with_a_changed_index": sum(x > 0 for x in c)} for e, c in changed.items()],
           "check_cost_bpp": 32 * a.images / pixels}
    out = Path("results/reliability")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "index_check.json", json.dumps(res, indent=1).encode())
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
