"""The defaults of ``licq train`` and ``licq finetune`` are those of their config dataclasses
(one place, licq.training.config), and that module stays free of torch."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from licq.cli import build_parser
from licq.training import config, finetune, train
from licq.training.config import FinetuneConfig, TrainConfig


@pytest.mark.parametrize("argv, cls", [
    (["train", "data", "--out", "run"], TrainConfig),
    (["finetune", "data", "--base", "licq-q3", "--out", "run"], FinetuneConfig),
])
def test_parser_defaults_are_the_config_defaults(argv, cls):
    args = vars(build_parser().parse_args(argv))
    shared = [f for f in dataclasses.fields(cls) if f.name in args and f.default is not dataclasses.MISSING]
    assert len(shared) >= 8
    for f in shared:
        assert args[f.name] == f.default, f.name


def test_configs_keep_their_old_homes():
    assert train.TrainConfig is TrainConfig and finetune.FinetuneConfig is FinetuneConfig


def test_config_module_imports_no_torch():
    tree = ast.parse(Path(config.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m.split(".")[0] for m in imported} & {"torch", "numpy"}


def test_every_argument_has_help_and_defaults_are_shown(capsys):
    from licq.cli import build_parser, main

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sp in subs.items():
        for action in sp._actions:
            assert action.dest == "help" or action.help, f"licq {name} {action.option_strings or action.dest}"
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 128)" in out and "(default: mixed)" in out and "(default: 0)" in out  # --N, --surrogate, --seed
