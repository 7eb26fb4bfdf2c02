"""The package's structure: no import cycles, and each layer imports only the layers below it.

Only module-level imports count (those that run when a module is imported); an import inside a
function, or under ``if TYPE_CHECKING``, is a deliberate deferral. The layers, top to bottom, are
the README's Layout.
"""

from __future__ import annotations

import ast
from pathlib import Path

import licq

SRC = Path(licq.__file__).resolve().parent

#: top to bottom; a module may import its own layer's modules and those of the layers below
LAYERS = [
    ["licq.cli", "licq.cli_args", "licq.__main__"],
    ["licq.evaluation", "licq.training", "licq.rate_control"],
    ["licq.codec", "licq.refine", "licq.latents", "licq"],
    ["licq.zoo"],
    ["licq.models"],
    ["licq.quantizers"],
    ["licq.entropy"],
    ["licq.container", "licq.imageio", "licq.atomic", "licq.fixed_point", "licq._compressai", "licq.errors",
     "licq.version", "licq.hardware"],
]


def module_name(path: Path) -> str:
    parts = ["licq", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _top_level_imports(tree: ast.Module):
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            stack.extend(node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", []))


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import cycle: " + " -> ".join(path[path.index(n):] + [n]) \
                if n in path else f"import cycle through {n}"
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def _layer(module: str) -> int:
    best = max((p for layer in LAYERS for p in layer if module == p or module.startswith(p + ".")), key=len)
    return next(i for i, layer in enumerate(LAYERS) if best in layer)


def test_layers_import_only_downwards():
    wrong = [f"{m} -> {n}" for m, deps in import_graph().items() for n in deps
             if _layer(n) < _layer(m) and not (m == "licq" or n == "licq")]
    assert not wrong, wrong


def test_every_module_has_a_layer():
    for m in import_graph():
        _layer(m)
