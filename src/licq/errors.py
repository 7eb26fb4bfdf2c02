"""The one exception type licq raises for bad input, and the file read that turns OS errors into it."""

from __future__ import annotations

from pathlib import Path


class LicqError(Exception):
    """Invalid input (bitstream, image, model file or option).

    Every problem a user can cause - a corrupt or truncated ``.licq`` file, a
    stream made with another model, an unreadable image, a tampered model file -
    raises this exception with a one-line message saying what is wrong. The CLI
    prints that line and exits with status 1.
    """


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The bytes of ``path``; a missing or unreadable file (a folder, no permission) is a one-line
    LicqError naming it as ``what``."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LicqError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise LicqError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
