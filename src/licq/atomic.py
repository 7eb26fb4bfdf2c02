"""Atomic file output: a temporary file in the target folder, then a rename.

An interrupted licq command leaves the old file or none, never a half-written one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LicqError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; it replaces ``path`` only if the block succeeds.

    A failure to write (missing folder, no permission, full disk) is a
    :class:`~licq.errors.LicqError` that names ``path``, the file the caller asked
    for, not the temporary file, whose name means nothing to a user.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise LicqError(f"cannot write {str(path)!r}: not a file name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise LicqError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself is gone or unwritable: there is nothing to clean up


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_torch_save(path: str | Path, obj: object) -> bytes:
    """``torch.save`` into memory, then :func:`atomic_write_bytes`: a checkpoint is whole or absent.

    Returns the bytes written (callers hash them). torch is imported here, not at
    module level, so that commands which never save tensors do not pay for it.
    """
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data
