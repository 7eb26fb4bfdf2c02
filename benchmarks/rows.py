"""Row logs of the long benchmarks: one JSON object per line, appended as each measurement
finishes, so that an interrupted run resumes where it stopped (``--resume``) instead of
starting again. Shared by refine_rd.py, refine_lr.py and finetune_model_table.py."""

from __future__ import annotations

import json
from pathlib import Path


def load_rows(path: Path, resume: bool) -> list[dict]:
    """The rows already in ``path`` when resuming; otherwise remove the file and start empty."""
    if not resume:
        path.unlink(missing_ok=True)
        return []
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def append_row(path: Path, row: dict) -> None:
    """Add one finished measurement to ``path`` (written through at once)."""
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
