"""The package's shape: no import circle, no long function, `import wavegen` without torch, help on every flag."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "wavegen"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The wavegen modules `name` imports anywhere in its body (lazy imports too), with the packages whose
    __init__ Python runs first to reach them."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            parts = t.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(MODULES)
    own = name.split(".")
    ancestors = {".".join(own[:i]) for i in range(1, len(own) + 1)}  # already running when `name` runs
    return found - ancestors


def test_no_import_circle():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    graph["wavegen"] = set()  # its names are imported on first use (module __getattr__), not at import
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(path[path.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_no_function_longer_than_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, long


def test_import_wavegen_loads_no_torch():
    code = "import sys, wavegen, wavegen.cli, wavegen.config; wavegen.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_train_flag_has_help():
    from wavegen.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    missing = [a.option_strings for a in train._actions if a.option_strings and not a.help]
    assert not missing, missing
    assert len([a for a in train._actions if a.option_strings]) > 60


def test_config_docs_are_current():
    """docs/config.md is what `wavegen config --markdown` prints: regenerate it after changing a field."""
    from wavegen.config import markdown

    assert (PKG.parent / "docs" / "config.md").read_text() == markdown() + "\n"
