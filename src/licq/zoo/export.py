"""Add a trained checkpoint to the shipped zoo (maintainers' tool).

    python -m licq.zoo.export runs/q3/checkpoint.pt --name licq-q3 --quality 3 [--default]

Writes ``<name>.pt`` (half precision) next to the manifest and adds or replaces
the manifest entry with the sha256, the training config and step count.
"""

from __future__ import annotations

import argparse
import json

import torch

from ..atomic import atomic_write_bytes
from ..models import build_model, model_digest, state_dict_from_file
from ..models.io import infer_sizes, load_params, save_weights
from . import MANIFEST, ZOO_DIR


def export(checkpoint: str, name: str, quality: int | None, default: bool, notes: str = "") -> dict:
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = ck.get("config", {})
    state = state_dict_from_file(checkpoint)
    arch = cfg.get("arch", "mbt2018-mean")
    N, M = infer_sizes(state)
    model = build_model(arch, N, M)
    load_params(model, state)
    file = f"{name}.pt"
    sha = save_weights(model, ZOO_DIR / file, half=True)
    half_state = state_dict_from_file(ZOO_DIR / file)
    entry = {"name": name, "arch": arch, "N": N, "M": M, "lmbda": cfg.get("lmbda"),
             "quality": quality, "file": file, "sha256": sha,
             "digest": model_digest(half_state)[:16], "steps": ck.get("step"),
             "training": {k: cfg.get(k) for k in ("data", "surrogate", "batch", "crop", "lr", "seed",
                                                   "warm_start")}, "notes": notes}
    man = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"default": name, "models": []}
    man["models"] = [m for m in man["models"] if m["name"] != name] + [entry]
    man["models"].sort(key=lambda m: (m.get("quality") or 0, m["name"]))
    if default or not man.get("default"):
        man["default"] = name
    atomic_write_bytes(MANIFEST, (json.dumps(man, indent=2) + "\n").encode())
    return entry


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True)
    p.add_argument("--quality", type=int)
    p.add_argument("--default", action="store_true")
    p.add_argument("--notes", default="")
    a = p.parse_args()
    print(json.dumps(export(a.checkpoint, a.name, a.quality, a.default, a.notes), indent=2))


if __name__ == "__main__":
    main()
