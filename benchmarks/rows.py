"""Row logs of the long benchmarks: one JSON object per line, appended as each measurement
finishes, so that an interrupted run resumes where it stopped (``--resume``) instead of
starting again. Shared by refine_rd.py, refine_lr.py, refine_lambda_scale.py and
finetune_model_table.py; also the Kodak image list of the refinement sweeps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def kodak_files(indices: list[int], script: str, folder: Path = KODAK) -> list[Path]:
    """``kodimNN.png`` in ``folder`` for each index; exit with a clear message when one is missing
    (by default ../shared/data/kodak)."""
    files = [folder / f"kodim{i:02d}.png" for i in indices]
    missing = [f for f in files if not f.exists()]
    if missing:
        sys.exit(f"{script}: missing {missing[0]} (needs {folder})")
    return files


def load_rows(path: Path, resume: bool) -> list[dict]:
    """The rows already in ``path`` when resuming; otherwise remove the file and start empty."""
    if not resume:
        path.unlink(missing_ok=True)
        return []
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def row_log(folder: Path, name: str, resume: bool) -> tuple[Path, list[dict]]:
    """``folder/name`` (the folder created) and the rows it already holds when resuming."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name, load_rows(folder / name, resume)


def append_row(path: Path, row: dict) -> None:
    """Add one finished measurement to ``path`` (written through at once)."""
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
