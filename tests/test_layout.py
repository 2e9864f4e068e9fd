"""The package's shape: the layer order, no import circle, no import back up into a package's __init__, no private
name imported from another module, no long function, `import wavegen` without torch, help on every flag."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "wavegen"
MAX_FUNCTION_LINES = 80
# The layers, lowest first (docs/architecture.md): a module imports from its own layer and the ones below, never
# from one above. A name stands for the module or package and everything under it.
LAYERS = (
    ("wavegen.errors", "wavegen.statkeys", "wavegen.presets", "wavegen.console"),
    ("wavegen.atomic",),
    ("wavegen.runfolder",),
    ("wavegen.runlock",),
    ("wavegen.data", "wavegen.models"),
    ("wavegen.config", "wavegen.checkpoint", "wavegen.sampling"),
    ("wavegen.evaluation",),
    ("wavegen.training",),
    ("wavegen.reports",),
    ("wavegen.export", "wavegen.sweep"),
    ("wavegen.cli", "wavegen.__main__", "wavegen"),
)
ROOTS = ("wavegen", "bench", "tests", "experiments")  # where no private name may be imported from another module


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


def _layer(module: str) -> int:
    best = max((n for layer in LAYERS for n in layer if module == n or module.startswith(n + ".")), key=len,
               default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layout.py"
    return next(i for i, layer in enumerate(LAYERS) if best in layer)


def test_no_module_imports_a_layer_above_its_own():
    up = []
    for name, path in MODULES.items():
        for target in _imports(name, path):
            if _layer(target) > _layer(name):
                up.append(f"{name} imports {target}")
    assert not up, up


def test_the_layers_keep_the_pipeline_order():
    assert _layer("wavegen.data") < _layer("wavegen.training") and _layer("wavegen.models") < _layer("wavegen.training")
    assert _layer("wavegen.evaluation") < _layer("wavegen.reports") and _layer("wavegen.training") < _layer("wavegen.cli")


def test_no_import_runs_back_up_into_a_package_init():
    """A submodule may import its sibling modules, never names its package's __init__ (or an ancestor's) defines:
    that __init__ is still running when the submodule is imported."""
    back = []
    for name, path in MODULES.items():
        is_pkg = path.name == "__init__.py"
        own = name.split(".") if is_pkg else name.split(".")[:-1]
        ancestors = {".".join(own[:i]) for i in range(1, len(own) + 1)}
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = ".".join(own[:len(own) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            if base in ancestors and not (is_pkg and base == name):
                back += [f"{name}: from {base} import {a.name}" for a in node.names if f"{base}.{a.name}" not in MODULES]
    assert not back, back


def test_no_private_name_is_imported_from_another_module():
    found = []
    for root in ROOTS:
        for path in sorted((PKG.parent / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                    found += [f"{path.relative_to(PKG.parent)}: from {'.' * node.level}{node.module or ''} import "
                              f"{a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


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


def test_one_version():
    """pyproject.toml reads the version from wavegen.__version__ (setuptools' dynamic attr), so the two cannot
    disagree; the installed metadata says the same."""
    from importlib.metadata import version

    import wavegen

    text = (PKG.parent / "pyproject.toml").read_text()
    project = text[text.index("[project]"):].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.M) and re.search(r'^dynamic = \["version"\]', project, re.M)
    assert 'version = { attr = "wavegen.__version__" }' in text
    assert version("wavegen") == wavegen.__version__


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    found: set[str] = set()
    for m in re.finditer(r"^#+\s+(.*)$", page.read_text(), re.M):
        base = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in found:
            n += 1
            anchor = f"{base}-{n}"
        found.add(anchor)
    return found


def test_doc_links_reach_their_files_and_headings():
    """Every relative link in README.md, docs/ and the folders' READMEs names a file that exists and, with a #,
    one of its headings."""
    root = PKG.parent
    bad = []
    for page in [root / "README.md", *root.glob("docs/*.md"), *root.glob("*/README.md")]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # commands, not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            if not dest.exists():
                bad.append(f"{page.relative_to(root)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{page.relative_to(root)}: {target} (no such heading)")
    assert not bad, bad

