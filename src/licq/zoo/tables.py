"""The CDF tables a release ships: the scale ladder's and each zoo model's hyper-latent tables.

    python -m licq.zoo.tables        # at a release, after the zoo changed: rewrite both stores

Decoders use these integers as they are (:mod:`licq.entropy.stored`), so that no
machine rebuilds a table from floating point and lands one entry off.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..entropy import CdfTables, conditional_tables
from ..entropy.stored import LADDER_STORE, ladder_key, read_store, unpack, write_store
from ..models.io import build_model, hyperlatent_digest, hyperlatent_tables, infer_sizes, load_params, \
    state_dict_from_file
from ..quantizers.sq_grid import build_grid_tables
from ..quantizers.tcq import build_tcq_tables

ZOO_DIR = Path(__file__).resolve().parent
#: the hyper-latent tables of every zoo model, keyed by the digest of its entropy bottleneck
ZOO_TABLES = ZOO_DIR / "hyperlatent_tables.npz"


def _key(state: dict) -> str:
    return f"hyper-{hyperlatent_digest(state)}"


def stored_hyperlatent_tables(state: dict) -> CdfTables | None:
    """The shipped hyper-latent tables of the model whose weights are ``state``, or None."""
    return unpack(read_store(ZOO_TABLES), _key(state))


def _updated(arch: str, state: dict):
    net = build_model(arch, *infer_sizes(state))
    load_params(net, state)
    net.update(force=True)
    return net


def write_release_tables(zoo_dir: Path = ZOO_DIR) -> tuple[Path, Path]:
    """Compute and store the ladder tables and the hyper-latent tables of every base model in the manifest."""
    entries = json.loads((zoo_dir / "manifest.json").read_text())["models"]
    hyper: dict[str, CdfTables] = {}
    net = None
    for e in entries:
        if "base" in e:  # a finetuned decoder codes ẑ with its base's tables
            continue
        state = state_dict_from_file(zoo_dir / e["file"])
        net = _updated(e["arch"], state)
        hyper[_key(state)] = hyperlatent_tables(net)
    if net is None:
        raise SystemExit("no base model in the manifest")
    ladder = tuple(net.gaussian_conditional.scale_table.tolist())
    write_store(LADDER_STORE, {ladder_key("gaussian", ladder): conditional_tables(net.gaussian_conditional),
                               ladder_key("tcq", ladder): build_tcq_tables(ladder),
                               ladder_key("sq-grid", ladder): build_grid_tables(ladder)})
    out = zoo_dir / ZOO_TABLES.name
    write_store(out, hyper)
    return LADDER_STORE, out


def main() -> None:
    for path in write_release_tables():
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
