"""The command-line options the timing benchmarks share: the thread count (applied) and the results file."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def parse_timed(ap: argparse.ArgumentParser, out: Path, threads: int = 2) -> argparse.Namespace:
    """Add ``--threads`` and ``--out`` to ``ap``, parse, and run torch with that many threads: a timing
    is only meaningful with its thread count, which each script also records."""
    ap.add_argument("--threads", type=int, default=threads, help="torch intra-op threads")
    ap.add_argument("--out", type=Path, default=out, help="results JSON")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    return a
