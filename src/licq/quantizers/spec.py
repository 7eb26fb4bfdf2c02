"""Quantizer specs and the one registry of quantizer kinds (header codes, trellis states, scans).

A :class:`QuantizerSpec` is everything the header stores about a quantizer:
it turns into the header's fields and back (:meth:`QuantizerSpec.to_header`,
:meth:`QuantizerSpec.from_header`) and builds the quantizer it describes
(:meth:`QuantizerSpec.build`). The codec, the container and the command line
all read :data:`KINDS`, so adding a quantizer means its class in this package
and one line there.

This module imports neither torch nor numpy (the classes are imported by
:meth:`QuantizerSpec.build` only): the command line takes its choices from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Sequence

from ..errors import LicqError

if TYPE_CHECKING:  # pragma: no cover
    from .base import Quantizer


@dataclass(frozen=True)
class QuantizerKind:
    """One registered quantizer: its name, header codes and which parameters it takes."""

    name: str  #: as on the command line and in ``licq info``
    label: str  #: as in messages
    codes: tuple[int, ...]  #: header code of each scan, in the order of ``scans``
    scans: tuple[str | None, ...] = (None,)  #: the first is the default; (None,) = no scan to choose
    states: tuple[int, ...] = (0,)  #: allowed trellis states; (0,) = no trellis
    takes_lambda: bool = False  #: whether λ is a parameter (else the header stores 0)
    takes_weights: bool = False  #: whether the encoder takes per-channel distortion weights
    impl: str = ""  #: "module:Class" in this package, imported on build (keeps this module torch-free)

    @property
    def has_trellis(self) -> bool:
        """Whether ``--states`` applies."""
        return self.states != (0,)

    @property
    def has_scan(self) -> bool:
        """Whether ``--scan`` applies."""
        return self.scans != (None,)

    @property
    def default_states(self) -> int:
        """Trellis states when none are given: the largest allowed (0 without a trellis)."""
        return max(self.states)


#: the quantization step Δ every quantizer accepts, and the rate weight λ of TCQ and RDOQ (closed ranges)
STEP_RANGE: tuple[float, float] = (0.001, 64.0)
LAMBDA_RANGE: tuple[float, float] = (0.0, 1000.0)


#: The registry: every quantizer the codec knows. Codes are written into files: never reuse or renumber one.
KINDS: tuple[QuantizerKind, ...] = (
    QuantizerKind("sq", "scalar quantization", (0,), impl="sq:ScalarQuantizer"),
    QuantizerKind("tcq", "TCQ", (1, 2), ("rows", "raster"), (4, 8), True, True, "tcq:TrellisQuantizer"),
    QuantizerKind("rdoq", "RDOQ", (3,), takes_lambda=True, takes_weights=True, impl="rdoq:RdoqQuantizer"),
    QuantizerKind("sq-grid", "fixed-grid scalar quantization", (4,), impl="sq_grid:FixedGridQuantizer"),
)
BY_NAME: dict[str, QuantizerKind] = {k.name: k for k in KINDS}
#: header code -> (kind, scan)
BY_CODE: dict[int, tuple[QuantizerKind, str | None]] = {c: (k, s) for k in KINDS for c, s in zip(k.codes, k.scans)}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: every trellis state count and scan of any kind: the command line's choices (each kind checks its own)
ALL_STATES: tuple[int, ...] = tuple(sorted({s for k in KINDS for s in k.states if s}))
ALL_SCANS: tuple[str, ...] = tuple(dict.fromkeys(s for k in KINDS for s in k.scans if s))


def kind(name: str) -> QuantizerKind:
    """The registered kind called ``name``."""
    if name not in BY_NAME:
        raise LicqError(f"unknown quantizer {name!r}; known: {', '.join(NAMES)}")
    return BY_NAME[name]


def label_options(label: str) -> dict:
    """The encode options a short quantizer label names, as benchmarks and results name their rows:
    a kind ("sq", "rdoq", "sq-grid"), or a trellis kind with its states ("tcq8": TCQ with 8 states)."""
    if label in BY_NAME:
        return {"quantizer": label}
    name, digits = label.rstrip("0123456789"), label[len(label.rstrip("0123456789")):]
    k = BY_NAME.get(name)
    if k is None or not k.has_trellis or not digits or int(digits) not in k.states:
        raise LicqError(f"unknown quantizer label {label!r}: a quantizer ({', '.join(NAMES)}) or a trellis "
                        f"one with its states (e.g. tcq8)")
    return {"quantizer": name, "states": int(digits)}


@dataclass(frozen=True)
class QuantizerSpec:
    """A quantizer's parameters as the header stores them; checked on construction.

    ``scan`` None means the kind's default scan. Step and λ ranges are checked by the
    quantizer classes (encoder) and by :meth:`from_header` (files).
    """

    name: str
    step: float = 1.0
    states: int = 0
    lam: float = 0.0
    scan: str | None = None

    def __post_init__(self) -> None:
        k = kind(self.name)
        if self.scan is None:
            object.__setattr__(self, "scan", k.scans[0])
        if self.states not in k.states:
            raise LicqError(f"{k.label} supports {' or '.join(map(str, k.states))} states, got {self.states}"
                            if k.has_trellis else f"{k.label} takes no trellis states")
        if self.scan not in k.scans:
            raise LicqError(f"unknown scan {self.scan!r} for {k.label}; known: {', '.join(map(str, k.scans))}"
                            if k.has_scan else f"{k.label} takes no scan")
        if self.lam and not k.takes_lambda:
            raise LicqError(f"{k.label} takes no tcq-lambda")

    @property
    def kind(self) -> QuantizerKind:
        return BY_NAME[self.name]

    @property
    def header_code(self) -> int:
        """The header's one-byte quantizer code (it also tells the scan)."""
        k = self.kind
        return k.codes[k.scans.index(self.scan)]

    def to_header(self) -> tuple[int, int, float, float]:
        """(code, states, step, λ): the header's quantizer fields."""
        return self.header_code, self.states, self.step, self.lam

    @classmethod
    def from_header(cls, code: int, states: int, step: float, lam: float) -> "QuantizerSpec":
        """Inverse of :meth:`to_header`, refusing what no encoder writes (messages name the field)."""
        if code not in BY_CODE:
            raise LicqError(f"unknown quantizer code {code}")
        if not (math.isfinite(step) and step > 0) or not (math.isfinite(lam) and lam >= 0):
            raise LicqError(f"invalid quantizer parameters (step {step}, lambda {lam})")
        k, scan = BY_CODE[code]
        if states not in k.states:
            raise LicqError(f"{states} trellis states for quantizer code {code}")
        if lam and not k.takes_lambda:
            raise LicqError(f"lambda {lam} for quantizer code {code}, which takes none")
        return cls(k.name, step, states, lam, scan)

    def build(self, weights: Sequence[float] | None = None) -> "Quantizer":
        """The quantizer this spec describes; ``weights``: per-channel distortion weights (encoder only)."""
        k = self.kind
        if weights is not None and not k.takes_weights:
            raise LicqError(f"{k.label} takes no channel weighting (it makes no RD decision)")
        module, cls = k.impl.split(":")
        return getattr(import_module(f".{module}", __package__), cls).from_spec(self, weights)
