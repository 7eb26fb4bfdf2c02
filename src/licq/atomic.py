"""Safe file output: regular files atomically, anything else written in place.

A regular file is written to a temporary file in its folder and renamed over the
target, so an interrupted licq command leaves the old file or none, never a
half-written one. A rename replaces whatever the name points at, so it is used only
for regular files (or names that do not exist yet): a symlink is followed and its
target replaced; a character device (``/dev/null``, ``/dev/stdout``), a FIFO or a
socket is opened and written in place, streaming, and never replaced. ``-`` is
standard output.
"""

from __future__ import annotations

import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LicqError

#: the output name that means standard output
STDOUT = "-"


def is_special(path: str | Path) -> bool:
    """Whether ``path`` is ``-`` or exists as something other than a regular file (after symlinks):
    a device, FIFO or socket is written in place, never renamed over."""
    if str(path) == STDOUT:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_in_place(path: str | Path, data: bytes) -> None:
    """Write ``data`` to standard output (``-``) or into an existing special file, without replacing it."""
    try:
        if str(path) == STDOUT:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        with open(path, "wb") as f:
            f.write(data)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise LicqError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; it replaces ``path`` only if the block succeeds.

    A symlink is followed: its target is replaced, the link stays. A failure to write
    (missing folder, no permission, full disk) is a :class:`~licq.errors.LicqError`
    that names ``path``, the file the caller asked for, not the temporary file, whose
    name means nothing to a user. Outputs that may be special files go through
    :func:`atomic_write_bytes`, which writes those in place.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise LicqError(f"cannot write {str(path)!r}: not a file name")
    if path.is_symlink():
        path = path.resolve()
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
    """Write ``data`` to ``path``: atomically (:func:`atomic_path`), or in place for ``-`` and special files."""
    if is_special(path):
        write_in_place(path, data)
        return
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
