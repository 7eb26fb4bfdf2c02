"""The quantizer registry: specs round-trip through the header fields, bad fields are refused,
every registered kind is reachable from the command line, and the registry stays torch-free."""

from __future__ import annotations

import argparse
import ast
import itertools
from pathlib import Path

import pytest

from licq import container
from licq.cli import build_parser
from licq.errors import LicqError
from licq.quantizers import QUANTIZER_CODES, make_quantizer, quantizer_from_header, spec as spec_mod
from licq.quantizers.spec import BY_CODE, KINDS, QuantizerSpec, label_options
from licq.quantizers.trellis import NEXT_STATE


def _all_specs() -> list[QuantizerSpec]:
    """One spec per registered (kind, scan, states), with a λ where the kind takes one."""
    return [QuantizerSpec(k.name, 0.75, states, 0.125 if k.takes_lambda else 0.0, scan)
            for k in KINDS for scan, states in itertools.product(k.scans, k.states)]


@pytest.mark.parametrize("spec", _all_specs(), ids=repr)
def test_spec_header_roundtrip(spec):
    code, states, step, lam = spec.to_header()
    assert QuantizerSpec.from_header(code, states, step, lam) == spec
    q = spec.build()
    assert q.spec() == spec and q.code == code and q.header_params() == (states, step, lam)
    assert quantizer_from_header(code, states, step, lam).spec() == spec
    assert make_quantizer(spec.name, step, states, lam, spec.scan).spec() == spec


def test_codes_are_unique_and_match_the_old_table():
    codes = [c for k in KINDS for c in k.codes]
    assert len(codes) == len(set(codes)) and all(0 <= c < 256 for c in codes)
    # written into files: these numbers may never change
    assert QUANTIZER_CODES == {0: ("sq", None), 1: ("tcq", "rows"), 2: ("tcq", "raster"), 3: ("rdoq", None), 4: ("sq-grid", None)}
    assert {c: (k.name, s) for c, (k, s) in BY_CODE.items()} == QUANTIZER_CODES


def test_trellis_states_agree_with_the_state_machines():
    assert set(spec_mod.BY_NAME["tcq"].states) == set(NEXT_STATE)


@pytest.mark.parametrize("fields, message", [
    ((7, 0, 1.0, 0.0), "unknown quantizer code 7"),
    ((0, 8, 1.0, 0.0), "8 trellis states for quantizer code 0"),
    ((3, 4, 1.0, 0.1), "4 trellis states for quantizer code 3"),
    ((1, 6, 1.0, 0.1), "6 trellis states for quantizer code 1"),
    ((1, 0, 1.0, 0.1), "0 trellis states"),
    ((0, 0, 1.0, 0.5), "lambda"),
    ((0, 0, 0.0, 0.0), "invalid quantizer parameters"),
    ((1, 8, float("nan"), 0.1), "invalid quantizer parameters"),
    ((3, 0, 1.0, -1.0), "invalid quantizer parameters"),
])
def test_bad_header_fields_refused(fields, message):
    with pytest.raises(LicqError, match=message):
        QuantizerSpec.from_header(*fields)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "nosuch"}, "unknown quantizer 'nosuch'"),
    ({"name": "sq", "states": 4}, "no trellis states"),
    ({"name": "rdoq", "states": 8}, "no trellis states"),
    ({"name": "tcq", "states": 6}, "4 or 8 states"),
    ({"name": "tcq", "states": 8, "scan": "diagonal"}, "unknown scan"),
    ({"name": "sq", "scan": "rows"}, "no scan"),
    ({"name": "sq", "lam": 0.1}, "tcq-lambda"),
])
def test_bad_specs_refused(kwargs, message):
    with pytest.raises(LicqError, match=message):
        QuantizerSpec(**kwargs)


def test_spec_is_frozen_and_weights_only_where_taken():
    spec = QuantizerSpec("sq")
    with pytest.raises(AttributeError):
        spec.step = 2.0  # type: ignore[misc]
    with pytest.raises(LicqError, match="no channel weighting"):
        spec.build(weights=[1.0])


def test_container_refuses_codes_and_states_outside_the_registry(tiny_model, image):
    import licq

    header, streams = container.unpack(licq.encode(image, tiny_model, quantizer="tcq", states=4))
    assert header.quantizer_spec() == QuantizerSpec("tcq", header.step, 4, header.tcq_lambda, "rows")
    for code, states, message in ((9, 4, "unknown quantizer code 9"), (1, 2, "2 trellis states"),
                                  (3, 4, "4 trellis states for quantizer code 3")):
        header.quantizer, header.states = code, states
        with pytest.raises(LicqError, match=f"corrupt header: {message}"):
            container.unpack(container.pack(header, streams))


def _choices(sub: str, option: str) -> tuple:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subparsers.choices[sub]._actions if option in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize("sub", ["encode", "eval", "finetune"])
def test_every_registered_quantizer_is_a_cli_choice(sub):
    assert set(_choices(sub, "--quantizer")) == {k.name for k in KINDS}
    assert set(_choices(sub, "--states")) == {s for k in KINDS for s in k.states if s}
    if sub != "finetune":
        assert set(_choices(sub, "--scan")) == {s for k in KINDS for s in k.scans if s}


def test_registry_imports_neither_torch_nor_numpy():
    """The command line reads its choices from the registry; it must stay cheap to import."""
    tree = ast.parse(Path(spec_mod.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m.split(".")[0] for m in imported} & {"torch", "numpy", "compressai"}


def test_labels_name_a_kind_or_a_trellis_kind_with_its_states():
    assert label_options("sq") == {"quantizer": "sq"} and label_options("sq-grid") == {"quantizer": "sq-grid"}
    assert label_options("tcq") == {"quantizer": "tcq"}  # the kind's default states
    assert label_options("tcq8") == {"quantizer": "tcq", "states": 8}
    assert label_options("tcq4") == {"quantizer": "tcq", "states": 4}
    for bad in ("tcq5", "sq8", "rdoq2", "x8", ""):
        with pytest.raises(LicqError, match="unknown quantizer label"):
            label_options(bad)

