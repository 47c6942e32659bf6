"""The package's shape: small modules, short functions, no import cycle, argparse only in the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from e2s_utils import paths

PACKAGE = paths.PACKAGE_DIR
MAX_MODULE_LINES = 560  # "about 500": a module fits in one reading
MAX_FUNCTION_LINES = 80  # a function fits in one screen (its docstring not counted)
#: Modules that are tables of facts rather than logic (a model's recipes, the synthetic scene model).
FACT_TABLES: frozenset[str] = frozenset({"data/synthetic.py", "models/baselines.py"})


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``e2s_utils`` module a module imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # imports for type checking only create no runtime cycle
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    out: set[str] = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("e2s_utils")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("e2s_utils"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    known = {_name(p) for p in _modules()}
    return {m for m in out if m in known}


def _unit(module: str) -> str:
    """The top-level unit a module belongs to: ``e2s_utils.fusion.train`` -> ``fusion``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_modules_fit_in_one_reading() -> None:
    long = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        n = len(path.read_text().splitlines())
        limit = MAX_MODULE_LINES * (2 if rel in FACT_TABLES else 1)
        if n > limit:
            long[rel] = n
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
    ):
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_functions_fit_on_one_screen() -> None:
    long = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _body_lines(node)
                if n > MAX_FUNCTION_LINES:
                    long[f"{rel}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_units() -> None:
    """Top-level units (``fusion``, ``studies``, ``evaluate``, ``config``...) form a DAG."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        src = _unit(_name(path))
        graph.setdefault(src, set()).update(
            u for u in (_unit(m) for m in _imports(path)) if u != src
        )
    assert _find_cycle(graph) is None, f"import cycle between units: {_find_cycle(graph)}"


def test_no_import_cycle_between_modules() -> None:
    """Inside a unit, modules form a DAG too (a package's ``__init__`` re-exports are skipped)."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        if path.name == "__init__.py":
            continue
        src = _name(path)
        deps = {m for m in _imports(path) if m != src}
        graph[src] = {m for m in deps if not (PACKAGE.parent / (m.replace(".", "/"))).is_dir()}
    assert _find_cycle(graph) is None, f"import cycle between modules: {_find_cycle(graph)}"


def test_argparse_only_in_the_cli_package() -> None:
    users = [
        p.relative_to(PACKAGE).as_posix()
        for p in _modules()
        if "ArgumentParser" in p.read_text() and "cli" not in p.relative_to(PACKAGE).parts
    ]
    assert not users, f"argparse outside e2s_utils/cli: {users}"


@pytest.mark.parametrize("folder", ["e2s_utils", "benchmarks", "notebooks", "tests"])
def test_fmt_skip_only_on_aligned_tables(folder: str) -> None:
    """``# fmt: skip`` only where a reformat would break a hand-aligned table of numbers."""
    allowed = {"e2s_utils/bands.py", "e2s_utils/data/synthetic.py"}
    hits = [
        p.relative_to(paths.REPO_ROOT).as_posix()
        for p in (paths.REPO_ROOT / folder).rglob("*")
        if p.suffix in (".py", ".ipynb") and "fmt: skip" in p.read_text(errors="ignore")
    ]
    hits = [h for h in hits if h not in allowed and not h.endswith("test_architecture.py")]
    assert not hits, f"'# fmt: skip' outside aligned tables: {hits}"


def test_no_assert_as_control_flow_in_the_package() -> None:
    users = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                users.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno}")
    assert not users, f"assert used as control flow in library code: {users}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
