"""CDF tables computed once and shipped, never rebuilt from floats on the decoding machine.

A quantized CDF is rounded from a floating-point Gaussian (or, for the hyper-latent,
from the learned factorized density); another CPU's ``erfc`` or ``softplus`` may land
one of its 16-bit entries on the other side of a rounding boundary, and a decoder
with a table one unit off desynchronises. So the tables of the scale ladder (SQ, TCQ
and fixed-grid SQ) and the hyper-latent tables of every zoo model are computed once,
when a release is made (``python -m licq.zoo.tables``), and stored as integers;
every machine codes with those. Tables no release stored (another ladder, a user's
model without its CDF buffers) are built at load time, as CompressAI does.
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..atomic import atomic_write_bytes
from .tables import CdfTables

#: the model-independent tables of the scale ladder
LADDER_STORE = Path(__file__).resolve().parent / "ladder_tables.npz"


def ladder_key(kind: str, ladder: tuple[float, ...]) -> str:
    """Store key of the tables of ``kind`` ("gaussian", "tcq", "sq-grid") for a scale ladder."""
    digest = hashlib.sha256(np.asarray(ladder, dtype="<f4").tobytes()).hexdigest()[:16]
    return f"{kind}-{digest}"


@functools.lru_cache(maxsize=4)
def read_store(path: Path) -> Mapping[str, np.ndarray]:
    """Every array of a store (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def unpack(store: Mapping[str, np.ndarray], key: str) -> CdfTables | None:
    """The tables stored under ``key``, or None."""
    if f"{key}.lengths" not in store:
        return None
    lengths = store[f"{key}.lengths"].astype(np.int64)
    flat = store[f"{key}.cdfs"].tolist()
    ends = np.cumsum(lengths).tolist()
    cdfs = [flat[e - n:e] for e, n in zip(ends, lengths.tolist())]
    return CdfTables(cdfs, lengths.tolist(), store[f"{key}.offsets"].astype(np.int64).tolist())


def pack(key: str, tables: CdfTables) -> dict[str, np.ndarray]:
    """Arrays that store ``tables`` under ``key``."""
    return {f"{key}.cdfs": np.asarray([v for row in tables.cdfs for v in row], dtype="<i4"),
            f"{key}.lengths": np.asarray(tables.lengths, dtype="<i4"),
            f"{key}.offsets": np.asarray(tables.offsets, dtype="<i4")}


def write_store(path: Path, entries: Mapping[str, CdfTables]) -> None:
    """Write ``entries`` (key → tables) as one compressed ``.npz``, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for key, tables in sorted(entries.items()):
        arrays.update(pack(key, tables))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    read_store.cache_clear()


def ladder_tables(kind: str, ladder: tuple[float, ...], build: Callable[[], CdfTables]) -> CdfTables:
    """The shipped tables of ``kind`` for this ladder; built here (``build``) for a ladder none shipped."""
    return unpack(read_store(LADDER_STORE), ladder_key(kind, ladder)) or build()
