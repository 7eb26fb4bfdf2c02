"""How much a channel-conditional model's context can tell about each group's latents.

For a ``channel-vr`` weight file, the latents of a few training photos are coded at one quality;
for every channel group, linear least squares (per latent pixel, with an intercept) predicts
``y - μ`` (what the context networks' mean residual must learn) and ``|y - μ|`` (what their scale
residual must learn) from h_s's μ and σ alone, and from those plus the earlier groups' ŷ
(``|ŷ - μ|`` for the magnitude). The gap between the two R² is the share of the variance that the
earlier groups explain linearly: near zero means the latents are already nearly independent
across groups given the hyperprior, so the context networks have little to learn until the
transforms change. Beside it, what the trained context networks save: the ideal code length of
the rounded latents under the groups' μ and σ against h_s's own; and, for comparison, what a
spatial context (a checkerboard's second pass) could see: the same fits per latent from its own μ
and σ, with and without the coded levels of its four neighbours in the same channel (one fit
pooled over all channels).

    python benchmarks/context_information.py WEIGHTS [--quality 3] [--photos 12] [--label L]

Appends to results/campaign/context-information.json (``--out`` names another file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from licq.codec import image_to_tensor
from licq.evaluation.results import provenance
from licq.latents import encoder_side
from licq.models.resolve import resolve
from licq.training.data import list_images

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train"


class Latents(NamedTuple):
    """What :func:`measure_latents` gathers over the photos (tensors float64, one row per latent pixel)."""

    features: torch.Tensor  #: [μ, σ, ŷ] of every channel
    targets: torch.Tensor  #: y - μ of every channel
    slices: list[slice]  #: the channel groups
    bits_hyper: np.ndarray  #: each group's ideal code length under h_s's μ and σ (rounded latents)
    bits_context: np.ndarray  #: the same under the context networks' μ and σ
    spatial: torch.Tensor  #: per latent and channel: :func:`_neighbourhood`


def measure_latents(weights: str, photos: list[Path], quality: float) -> Latents:
    """Code ``photos`` at ``quality`` and gather what the fits and the bit counts need."""
    net = resolve(weights, arch="channel-vr").net
    gc = net.gaussian_conditional
    rows, targets, spatial = [], [], []
    bits_hyper, bits_context = np.zeros(len(net.slices)), np.zeros(len(net.slices))

    def bits(y: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> float:
        y_hat = torch.round(y - means) + means
        return float(-torch.log2(gc.likelihood_lower_bound(gc._likelihood(y_hat, scales, means))).sum())

    for path in photos:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im = im.crop((0, 0, im.width // 64 * 64, im.height // 64 * 64))
            x = image_to_tensor(np.asarray(im))
        with torch.inference_mode():
            side = encoder_side(net, x, net.gains(torch.tensor([quality]))[0])
            done: list[torch.Tensor] = []
            for k, sl in enumerate(net.slices):
                means, scales = net.group_parameters(k, side.means, side.scales, done)
                bits_hyper[k] += bits(side.y[:, sl], side.means[:, sl], side.scales[:, sl])
                bits_context[k] += bits(side.y[:, sl], means, scales)
                done.append(torch.round(side.y[:, sl] - means) + means)
        y_hat = torch.round(side.y - side.means) + side.means
        spatial.append(_neighbourhood(side.y - side.means, side.means, side.scales))
        rows.append(torch.cat([side.means, side.scales, y_hat], 1)[0].flatten(1).T.double())
        targets.append((side.y - side.means)[0].flatten(1).T.double())
    return Latents(torch.cat(rows), torch.cat(targets), list(net.slices), bits_hyper, bits_context, torch.cat(spatial))


def _neighbourhood(residual: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Per inner latent: [y - μ, μ, σ, the four neighbours' coded levels, their magnitudes], float64."""
    r = torch.round(residual)[0].double()
    inner = [a[0].double()[:, 1:-1, 1:-1].flatten() for a in (residual, means, scales)]
    around = [r[:, :-2, 1:-1], r[:, 2:, 1:-1], r[:, 1:-1, :-2], r[:, 1:-1, 2:]]
    return torch.stack(inner + [a.flatten() for a in around] + [a.abs().flatten() for a in around], 1)


def r2(x: torch.Tensor, y: torch.Tensor) -> float:
    """R² of the least-squares fit of ``y`` on ``x`` (an intercept column added)."""
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    residual = y - x @ torch.linalg.lstsq(x, y).solution
    return float(1 - (residual ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--quality", type=float, default=3.0)
    ap.add_argument("--photos", type=int, default=12, help="training photos, spread evenly over the pool")
    ap.add_argument("--label", help="name of this row (default: the file's stem)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "campaign" / "context-information.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    pool = list_images([str(TRAIN)])
    photos = [Path(p) for p in pool[::max(1, len(pool) // a.photos)][:a.photos]]
    f, t, slices, bits_hyper, bits_context, sp = measure_latents(a.weights, photos, a.quality)
    M = t.shape[1]
    hyper = f[:, :2 * M]
    groups = []
    for k, sl in enumerate(slices):
        earlier = f[:, 2 * M:2 * M + sl.start]
        means = f[:, :M]
        row = {"group": k, "channels": sl.stop - sl.start,
               "mean_r2_hyper": r2(hyper, t[:, sl]), "mean_r2_with_earlier": r2(torch.cat([hyper, earlier], 1), t[:, sl]),
               "magnitude_r2_hyper": r2(hyper, t[:, sl].abs()),
               "magnitude_r2_with_earlier": r2(torch.cat([hyper, (earlier - means[:, :sl.start]).abs()], 1),
                                               t[:, sl].abs()),
               "bits_hyper": bits_hyper[k], "bits_context": bits_context[k]}
        groups.append(row)
        print(f"group {k} ({row['channels']} channels): y-μ R² {row['mean_r2_hyper']:.3f} -> "
              f"{row['mean_r2_with_earlier']:.3f}, |y-μ| R² {row['magnitude_r2_hyper']:.3f} -> "
              f"{row['magnitude_r2_with_earlier']:.3f}; the context saves "
              f"{100 * (1 - bits_context[k] / bits_hyper[k]):.2f} % of its bits", flush=True)
    print(f"all groups: the context saves {100 * (1 - bits_context.sum() / bits_hyper.sum()):.2f} % of the latent bits")
    spatial = {"mean_r2_own": r2(sp[:, 1:3], sp[:, :1]), "mean_r2_with_neighbours": r2(sp[:, 1:], sp[:, :1]),
               "magnitude_r2_own": r2(sp[:, 1:3], sp[:, :1].abs()),
               "magnitude_r2_with_neighbours": r2(sp[:, 1:], sp[:, :1].abs())}
    print(f"spatial (4 neighbours, same channel): y-μ R² {spatial['mean_r2_own']:.3f} -> "
          f"{spatial['mean_r2_with_neighbours']:.3f}, |y-μ| R² {spatial['magnitude_r2_own']:.3f} -> "
          f"{spatial['magnitude_r2_with_neighbours']:.3f}")
    out = json.loads(a.out.read_text()) if a.out.is_file() else {"rows": []}
    out["rows"].append({"label": a.label or Path(a.weights).stem, "weights": a.weights, "quality": a.quality,
                        "context_saves_percent": 100 * (1 - bits_context.sum() / bits_hyper.sum()),
                        "photos": [p.name for p in photos], "latent_pixels": len(t), "groups": groups, "spatial": spatial,
                        **provenance()})
    out.update(provenance())  # the latest run's; every row keeps its own
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
