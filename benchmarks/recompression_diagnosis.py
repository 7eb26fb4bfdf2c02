"""Why re-encoding a licq output loses quality, and why latent refinement does not stop it (issue 15).

For a 256x256 crop of some Kodak images (default model, SQ): encode x0 -> decode x1 (generation 1);
then compare, against x1, the training objective ``L = bpp + λ·255²·MSE`` of

* ŷ0, the latents that made x1 (a file that decodes to x1 exactly: L = its bpp);
* plain re-encoding (effort 0) and refined re-encodings (efforts 1-3);

and split the plain re-encoding's PSNR loss into its hyper-latent part: generation 2 decoded from
the *original* ẑ0 with x1's own latent levels, against the plain generation 2. Finally a probe of
the remedy: a greedy discrete search over ẑ (each hyper-latent whose value lies within 0.25 of a
rounding boundary tried at its other neighbour, kept if the objective on x1 falls; latents rounded
around the resulting μ).

    nice -n 2 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/recompression_diagnosis.py

Writes results/refine/recompression_diagnosis.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import licq
from licq.codec import image_to_tensor
from licq.evaluation.metrics import psnr_images
from licq.evaluation.results import save_results
from licq.imageio import open_image
from licq.latents import encoder_side
from licq.models import resolve
from licq.zoo import model_lambda

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def objective(ref: Image.Image, recon: Image.Image, bpp: float, lmbda: float) -> float:
    mse = np.mean((np.asarray(recon, dtype=np.float64) - np.asarray(ref, dtype=np.float64)) ** 2) / 255 ** 2
    return bpp + lmbda * 255 ** 2 * mse


def hyper_split(model: str, x0: np.ndarray, lmbda: float) -> dict:
    """How much of generation 2's loss comes from re-deriving ẑ (vs keeping the original ẑ0)."""
    m = resolve(model)
    with torch.inference_mode():
        s0 = encoder_side(m.net, image_to_tensor(x0))
        levels0 = torch.round(s0.y - s0.means)
        x1 = m.net.synthesis(s0.means + levels0).clamp(0, 1).mul(255).round().div(255)
        s1 = encoder_side(m.net, x1)
        ref = image_to_tensor(x0)

        def psnr(x: torch.Tensor) -> float:
            x = x.clamp(0, 1).mul(255).round().div(255)
            return float(10 * torch.log10(1 / ((x - ref) ** 2).mean()))
        split = {"levels_changed_plain": float((torch.round(s1.y - s1.means) != levels0).float().mean()),
                "levels_changed_with_z0": float((torch.round(s1.y - s0.means) != levels0).float().mean()),
                "z_hat_changed": float((s1.z_hat != s0.z_hat).float().mean()),
                "psnr_gen1": psnr(x1),
                "psnr_gen2_plain": psnr(m.net.synthesis(s1.means + torch.round(s1.y - s1.means))),
                "psnr_gen2_with_z0": psnr(m.net.synthesis(s0.means + torch.round(s1.y - s0.means)))}
        return {**split, **greedy_z(m.net, s1.y, x1, ref, s0.z_hat, lmbda)}


def greedy_z(net, y1: torch.Tensor, x1: torch.Tensor, x0: torch.Tensor, z_hat0: torch.Tensor, lmbda: float) -> dict:
    """One greedy pass over the ambiguous hyper-latents of ``h_a(y1)`` on the estimated objective."""
    from licq.refine import relaxed_bits

    n = x1.shape[-2] * x1.shape[-1]
    eb = net.entropy_bottleneck

    def objective_and_psnr(z_hat: torch.Tensor) -> tuple[float, float]:
        mu, sc = net.hyper(z_hat)
        lv = torch.round(y1 - mu)
        rate = relaxed_bits(net, lv, sc, z_hat, 1.0) / n
        xr = net.synthesis(mu + lv).clamp(0, 1).mul(255).round().div(255)
        return (float(rate + lmbda * 255 ** 2 * ((xr - x1) ** 2).mean()),
                float(10 * torch.log10(1 / ((xr - x0) ** 2).mean())))

    z1 = net.h_a(y1)
    med = eb._get_medians()
    z_hat = torch.round(z1 - med) + med
    start, psnr_start = objective_and_psnr(z_hat)
    best, psnr_best = start, psnr_start
    frac = (z1 - med) - torch.floor(z1 - med)
    candidates = ((frac - 0.5).abs() < 0.25).nonzero().tolist()
    changed = 0
    for b, c, i, j in candidates:
        alt = z_hat.clone()
        alt[b, c, i, j] += 1.0 if z1[b, c, i, j] > z_hat[b, c, i, j] else -1.0
        obj, p = objective_and_psnr(alt)
        if obj < best:
            z_hat, best, psnr_best, changed = alt, obj, p, changed + 1
    return {"zsearch_candidates": len(candidates), "zsearch_changed": changed,
            "zsearch_objective_before": start, "zsearch_objective_after": best,
            "zsearch_objective_with_z0": objective_and_psnr(z_hat0)[0],
            "zsearch_psnr_gen2_before": psnr_start, "zsearch_psnr_gen2_after": psnr_best,
            "zsearch_z_hat_equal_z0": float((z_hat == z_hat0).float().mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", nargs="+", default=["kodim02", "kodim23"])
    p.add_argument("--model", default="licq-q3")
    p.add_argument("--efforts", type=int, nargs="+", default=[0, 1, 2, 3])
    a = p.parse_args()
    lmbda = model_lambda(a.model)
    rows = []
    for name in a.images:
        x0 = np.asarray(open_image(KODAK / f"{name}.png"))[100:356, 200:456]
        img0 = Image.fromarray(np.ascontiguousarray(x0))
        r0 = licq.encode_full(img0, a.model)
        x1 = licq.decode(r0.data)
        row = {"image": name, "crop": [100, 356, 200, 456], "gen1_psnr": psnr_images(img0, x1),
               "gen1_bpp": r0.bpp, "objective_of_yhat0_on_x1": r0.bpp, "reencode": []}
        for effort in a.efforts:
            r = licq.encode_full(x1, a.model, effort=effort)
            row["reencode"].append({"effort": effort, "bpp": r.bpp, "objective_on_x1": objective(x1, r.reconstruction,
                                                                                               r.bpp, lmbda),
                                    "psnr_vs_x1": psnr_images(x1, r.reconstruction),
                                    "psnr_vs_x0": psnr_images(img0, r.reconstruction)})
        row["hyper_split"] = hyper_split(a.model, x0, lmbda)
        rows.append(row)
        print(row)
    save_results(ROOT / "results" / "refine" / "recompression_diagnosis.json",
                 {"model": a.model, "lmbda": lmbda, "rows": rows})


if __name__ == "__main__":
    main()
