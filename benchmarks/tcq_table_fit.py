"""How much rate would entropy tables fitted to the real level statistics save? (issue 13, item 1b/3)

The coder's tables are Gaussian cell masses at the hyper-decoder's σ. This measures, at fixed
quantization decisions, the ideal code length of the latents of Kodak images under

* ``gauss``: the shipped tables (the bits the coder writes, to 0.1 %);
* ``sigma×α`` (SQ only; TCQ's decisions depend on the tables): the same tables picked at α·σ,
  i.e. a global scale correction that a header field could carry;
* ``fit/quantizer``: empirical level frequencies per (quantizer Q0/Q1, table index), counted on
  training images (never Kodak), smoothed towards the table index's pooled frequencies;
* ``fit/state``: the same per trellis *state* (the decoder knows the state: it is what picks
  Q0 or Q1), as VVC's dependent quantization conditions its contexts on the state.

Rates are of the latents y only (the hyper-latent is the same in every row).

    python benchmarks/tcq_table_fit.py --model licq-q3 [--fit-images 24]
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from licq.codec import image_to_tensor
from licq.evaluation.results import save_results
from licq.latents import encoder_side
from licq.models import resolve
from licq.quantizers import make_quantizer
from licq.quantizers.defaults import quantizer_defaults
from licq.quantizers.trellis import NEXT_STATE, index_of_level

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
K = 64  # symbols beyond ±K share one bin (never reached at these scales)
ALPHAS = (0.8, 0.85, 0.9, 0.95, 1.05)


def trellis_states(k: torch.Tensor, states: int) -> torch.Tensor:
    """The state in which each index of a rows-scan trellis was coded (replayed from the parities)."""
    rows = k.reshape(-1, k.shape[-1])
    nxt = torch.tensor(NEXT_STATE[states])
    out, s = torch.empty_like(rows), torch.zeros(rows.shape[0], dtype=torch.long)
    for j in range(rows.shape[1]):
        out[:, j] = s
        s = nxt[s, rows[:, j] & 1]
    return out.reshape(k.shape)


def symbols(m, q, x: torch.Tensor) -> dict:
    """Coded indices with their contexts, and the bits of the shipped tables (and σ×α for SQ)."""
    with torch.no_grad():
        side = encoder_side(m.net, x)
        lv, qid = q.levels(side.y, side.means, side.scales, m.entropy)
        out = {"idx": q.table_indexes(side.scales, m.entropy).long().flatten(),
               "gauss": float(q.bits(lv, qid, side.scales, m.entropy).sum())}
        if q.name == "sq":
            out["k"], out["quantizer"] = lv.long().flatten(), torch.zeros(lv.numel(), dtype=torch.long)
            out["alpha"] = {a: float(q.bits(lv, qid, side.scales * a, m.entropy).sum()) for a in ALPHAS}
        else:
            k = torch.where(qid == 0, index_of_level(lv, 0), index_of_level(lv, 1)).long()
            out["k"], out["quantizer"] = k.flatten(), qid.long().flatten()
            out["state"] = trellis_states(k, q.states).flatten()
    return out


def fitted_bits(fit: list[dict], ev: list[dict], ctx: str, n_ctx: int, n_idx: int, prior: float) -> float:
    """Ideal code length of ``ev`` under frequencies counted on ``fit`` per (context, table index)."""
    cnt = torch.zeros(n_ctx, n_idx, 2 * K + 1, dtype=torch.float64)
    for r in fit:
        cnt.index_put_((r[ctx], r["idx"], r["k"].clamp(-K, K) + K),
                       torch.ones(r["k"].numel(), dtype=torch.float64), accumulate=True)
    pooled = cnt.sum(0, keepdim=True) + 1e-3
    p = (cnt + prior * pooled / pooled.sum(-1, keepdim=True)) / (cnt.sum(-1, keepdim=True) + prior)
    return sum(float(-torch.log2(p[r[ctx], r["idx"], r["k"].clamp(-K, K) + K]).sum()) for r in ev)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="licq-q3")
    ap.add_argument("--fit-images", type=int, default=24, help="training images to count on (seeded choice)")
    ap.add_argument("--kodak", type=int, nargs="+", default=list(range(1, 25, 3)))
    ap.add_argument("--prior", type=float, default=10.0, help="smoothing weight of the pooled frequencies")
    ap.add_argument("--out", default=str(ROOT / "results" / "tcq"))
    a = ap.parse_args()
    Path(a.out).mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    m = resolve(a.model)
    pool = sorted(p for p in (DATA / "train").rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    random.Random(0).shuffle(pool)
    fit_paths = pool[:a.fit_images]
    ev_paths = [DATA / "kodak" / f"kodim{i:02d}.png" for i in a.kodak]
    images = [image_to_tensor(np.asarray(Image.open(p).convert("RGB"))) for p in fit_paths + ev_paths]
    n_idx = len(m.entropy.scale_table)
    rows = {}
    for states in (0, 4, 8):
        if states:
            d = quantizer_defaults(m.name, "tcq", None, states, None)
            q = make_quantizer("tcq", step=d["step"], states=states, tcq_lambda=d["tcq_lambda"])
        else:
            q = make_quantizer("sq")
        recs = [symbols(m, q, x) for x in images]
        fit, ev = recs[:len(fit_paths)], recs[len(fit_paths):]
        gauss = sum(r["gauss"] for r in ev)
        row = {"setting": asdict(q.spec()),
               "gauss_bits": gauss,
               "fit_quantizer_percent": 100 * (fitted_bits(fit, ev, "quantizer", 2, n_idx, a.prior) / gauss - 1)}
        if states:
            row["fit_state_percent"] = 100 * (fitted_bits(fit, ev, "state", states, n_idx, a.prior) / gauss - 1)
        else:
            row["sigma_alpha_percent"] = {str(al): 100 * (sum(r["alpha"][al] for r in ev) / gauss - 1)
                                          for al in ALPHAS}
        rows[f"tcq{states}" if states else "sq"] = row
        print(rows, flush=True)
    save_results(Path(a.out) / f"table-fit-{m.name}.json",
                 {"name": m.name, "model": m.name, "fit_images": [str(p.relative_to(DATA)) for p in fit_paths],
                  "kodak": [p.name for p in ev_paths], "prior": a.prior, "results": rows,
                  "command": "python benchmarks/tcq_table_fit.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
