"""Command-line argument checking: a one-line-error parser, typed validators, early file checks.

Every bad command line must end in one line on stderr that starts with ``licq``
and names the offending argument or path, never in a traceback, and before any
work or output happens. Two kinds of failure, two exit statuses:

* the command line itself is malformed - an unknown option, a value out of its
  range, NaN, a non-integer where an integer is needed: :class:`Parser` prints
  ``licq <command>: error: argument --x: ...`` and exits with status 2
  (argparse's convention), with the allowed range in the message;
* the command line is well-formed but a file or model is not usable - a missing
  input, an output folder that does not exist, a training folder without usable
  images: :class:`~licq.errors.LicqError`, which ``licq.cli.main`` prints as
  ``licq: error: ...`` with status 1.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable, Sequence

from .errors import LicqError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block): ``licq encode: error: ...``.

    argparse's own ``error()`` prints the whole usage first, which buries the one
    line that says what is wrong; ``--help`` still shows the usage.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def one_line(text: object) -> str:
    """``text`` with all whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def _bounds(lo: float, hi: float | None, lo_open: bool = False) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    return f"in {'(' if lo_open else '['}{_num(lo)}, {_num(hi)}]"


def int_range(lo: int, hi: int | None = None, multiple: int = 1) -> Callable[[str], int]:
    """argparse type: an integer in [lo, hi] (no upper bound if ``hi`` is None), a multiple of ``multiple``."""
    what = "an integer" if multiple == 1 else f"a multiple of {multiple}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi) or value % multiple:
            raise argparse.ArgumentTypeError(f"expected {what} {_bounds(lo, hi)}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in [lo, hi] (or (lo, hi] with ``lo_open``); NaN and inf are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > lo if lo_open else value >= lo) and (hi is None or value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected a finite number {_bounds(lo, hi, lo_open)}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def path_arg(text: str) -> str:
    """argparse type: a path, which must not be empty (``""`` would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def quality_value(text: str) -> int | float:
    """argparse type of ``encode --quality``: a zoo quality level (an integer), or the quality of a
    variable-rate model (any number in its range; checked once the model is known)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return int(value) if value.is_integer() else value


def zoo_quality(text: str) -> int:
    """argparse type: a quality level that the zoo has (finetuned decoders have none)."""
    from .zoo import qualities

    known = qualities()
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in known:
        raise argparse.ArgumentTypeError(f"expected a zoo quality ({', '.join(map(str, known))}), got {text!r}")
    return value


def arch_name(text: str) -> str:
    """argparse type: a known architecture name (imported only when the option is given)."""
    from .models.io import ARCHITECTURES

    if text not in ARCHITECTURES:
        raise argparse.ArgumentTypeError(f"unknown architecture {text!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return text


def variable_rate_arch(name: str | None) -> bool:
    """Whether ``name`` is a variable-rate architecture (one that takes a quality)."""
    if name is None:
        return False
    from .models.io import ARCHITECTURES

    return bool(getattr(ARCHITECTURES.get(name), "variable_rate", False))


def variable_rate_model(model: str | None, arch: str | None) -> bool:
    """Whether a command's model takes a quality: a variable-rate ``--arch``, or without one a zoo
    model of a variable-rate architecture (the manifest is read without PyTorch)."""
    if arch is not None or model is None:
        return variable_rate_arch(arch)
    from .zoo import entry

    try:
        return variable_rate_arch(entry(model)["arch"])
    except LicqError:  # a weight file, or a name the zoo lacks (refused later, where it is opened)
        return False


def check_output_file(path: str) -> None:
    """Refuse an output file that cannot be created, before any work is done (LicqError)."""
    p = Path(path)
    if path == "-":
        return
    if p.is_dir():
        raise LicqError(f"cannot write {path}: is a directory")
    if not p.resolve().parent.is_dir():
        raise LicqError(f"cannot write {path}: folder {p.parent} does not exist")


def check_output_dir(path: str) -> None:
    """Refuse a run folder that exists as a file or lies below a file (it would fail after setup)."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise LicqError(f"cannot create folder {path}: {q} is a file")
            return


def check_images(folders: Sequence[str], min_side: int, what: str, hint: str = "",
                 exclude: Sequence[str] = ()) -> None:
    """Training/validation folders: each exists, every image's header reads, one is >= min_side pixels.

    Checked before a run folder is created, so that a bad folder is a one-line error
    and not a traceback from the data loader, with no run folder left behind.
    Only headers are read: this costs milliseconds per image.
    """
    from PIL import Image, UnidentifiedImageError

    from .imageio import list_images

    for f in folders:
        if not Path(f).exists():
            raise LicqError(f"{what} not found: {f}")
    held_out = set(exclude)
    files = [f for f in list_images(folders) if f.name not in held_out]
    if not files:
        raise LicqError(f"no images found in {what} {' '.join(folders)}")
    large = 0
    for f in files:
        try:
            with Image.open(f) as im:
                large += min(im.size) >= min_side
        except UnidentifiedImageError:  # its message repeats the path
            raise LicqError(f"cannot read image {f}: not an image file Pillow knows") from None
        except Exception as exc:  # noqa: BLE001 - any failure to read a header means an unusable file
            raise LicqError(f"cannot read image {f}: {one_line(exc)}") from None
    if not large:
        raise LicqError(f"no image in {what} {' '.join(folders)} is at least {min_side}x{min_side} pixels{hint}")
