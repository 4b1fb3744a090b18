"""The package's layers import one way: core -> data -> analysis -> store -> report -> run -> deliver -> demo -> cli.

Every module's imports are read with ``ast``: an import of a higher layer, a cycle between modules, or an
import inside a function without a comment on its line saying why (start-up cost) fails the test.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "soe_helpers"
LAYERS = ["core", "data", "analysis", "store", "report", "run", "deliver", "demo", "cli"]


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = f
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cli"  # soe_helpers/__init__ and cli.py sit at the top


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported soe_helpers module, line, inside a function) for every import of the package."""
    tree = ast.parse(path.read_text())
    out = []

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("soe_helpers"):
                if child.level:
                    raise AssertionError(f"{path}: relative import on line {child.lineno}; use soe_helpers.<layer>")
                for a in child.names:
                    sub = f"{child.module}.{a.name}"
                    out.append((sub if sub in MODULES else child.module, child.lineno, f))
            elif isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, f) for a in child.names if a.name.startswith("soe_helpers"))
            visit(child, f)

    visit(tree, False)
    return out


MODULES = _modules()


def test_every_module_sits_in_a_layer():
    assert {_layer(m) for m in MODULES} <= set(LAYERS)
    assert not [m for m in MODULES if m.count(".") == 1 and m not in ("soe_helpers.cli",)
                and not (PKG / m.split(".")[1]).is_dir()], "flat modules left at the top of soe_helpers"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_only(module):
    src = MODULES[module].read_text().splitlines()
    rank = LAYERS.index(_layer(module))
    for target, line, in_func in _imports(MODULES[module]):
        tl = _layer(target)
        assert LAYERS.index(tl) <= rank, f"{module} (layer {_layer(module)}) imports {target} (layer {tl}), line {line}"
        if in_func:
            assert "#" in src[line - 1], (f"{module} line {line}: an import inside a function needs a comment saying "
                                          "why (start-up cost)")


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def dfs(m, stack):
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                dfs(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            dfs(m, [m])
