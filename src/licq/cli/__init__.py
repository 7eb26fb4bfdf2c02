"""The ``licq`` command line: one module per group of subcommands.

Every expected failure is one line on stderr that starts with ``licq``, with no
traceback and no output file left behind (outputs are written atomically):

* a malformed command line (unknown option, value out of range, NaN, ...) is
  refused by the parser before anything runs: ``licq encode: error: argument
  --step: ...``, status 2 (see :mod:`licq.cli_args` for the validators);
* a well-formed command whose files or models are unusable (bad file, unknown
  model, unreadable image, missing output folder) raises
  :class:`~licq.errors.LicqError`: ``licq: error: ...``, status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..cli_args import Parser, one_line
from ..errors import LicqError
from ..training.config import SURROGATES
from .coding import add_decode_info_models, add_encode
from .options import EFFORTS, WEIGHTINGS, DefaultsHelp
from .results import add_eval, add_results_cmds
from .training import add_finetune, add_train

__all__ = ["EFFORTS", "WEIGHTINGS", "build_parser", "main", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    """The parser; its errors, and those of every subcommand, are one line (:class:`~licq.cli_args.Parser`)."""
    from .. import __version__
    from ..container import DEFAULT_MAX_PIXELS

    p = Parser(prog="licq", description="learned image codec with real quantization")
    p.add_argument("--version", action="version", version=f"licq {__version__}")
    sub = p.add_subparsers(dest="command", required=True)  # subparsers are Parsers too
    add_encode(sub, DEFAULT_MAX_PIXELS)
    add_decode_info_models(sub, DEFAULT_MAX_PIXELS)
    add_train(sub, SURROGATES)
    add_finetune(sub)
    add_eval(sub)
    add_results_cmds(sub)
    for sp in sub.choices.values():
        sp.formatter_class = DefaultsHelp
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check a command line; a bad one exits (SystemExit 2) after one line on stderr."""
    args = build_parser().parse_args(argv)
    check = getattr(args, "check", None)
    problem = check(args) if check else None
    if problem:
        args.parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run a command; return its exit status (0, 1 for a LicqError or OSError, 2 for a bad command line)."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line parser error
        return exc.code if isinstance(exc.code, int) else 0
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit notices from CompressAI
    warnings.formatwarning = lambda msg, cat, *rest: f"licq: warning: {one_line(msg)}\n"
    try:
        args.func(args)
    except LicqError as exc:
        print(f"licq: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as exc:  # a race after the checks: unreadable input, full disk, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"licq: error: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("licq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    return 0


def _closed_pipe() -> int:
    """The reader of our output went away (``licq models | head -3``): exit quietly, as SIGPIPE would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    return 141
