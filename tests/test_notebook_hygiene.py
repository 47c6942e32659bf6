"""Notebook hygiene: names, stripped outputs, one literal ``parameters`` cell, thin narrative cells."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2s_utils import config, paths, run

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {
    "10_data_tour",
    "20_extract",
    "30_fusion",
    "40_ablation",
    "50_long_training",
    "60_controlled_fusion",
}
MAX_CODE_LINES = 20


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def nbstripout_report() -> str:
    """What ``nbstripout --verify`` says of every notebook (one process for all of them)."""
    result = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--verify", "--keep-id", *map(str, NOTEBOOKS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout + result.stderr


def test_the_numbered_sequence_is_complete() -> None:
    assert {p.stem for p in NOTEBOOKS} == EXPECTED
    assert set(config.NOTEBOOK_EXTRAS) == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_name_and_kernel(path: Path) -> None:
    assert run.NOTEBOOK_PATTERN.match(path.name)
    nb = _load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["nbformat"] == 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path: Path, nbstripout_report: str) -> None:
    for cell in _code_cells(_load(path)):
        assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: execution counts left in"
    assert str(path) not in nbstripout_report, f"nbstripout would change {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_of_annotated_literals(path: Path) -> None:
    nb = _load(path)
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    assert not any(
        "injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"]
    ), f"{path.name}: an injected-parameters cell was committed"
    source = _src(tagged[0])
    tree = ast.parse(source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), (
            f"{path.name}: '{ast.unparse(node)}' is not annotated"
        )
        ast.literal_eval(node.value)  # raises on anything but a literal
        names.append(node.target.id)  # type: ignore[union-attr]
    assert names[0] == "profile", f"{path.name}: the first parameter must be 'profile'"
    for line in source.strip().splitlines():
        assert "#" in line, f"{path.name}: parameter line without a comment: {line!r}"
    allowed = set(config.PARAMETERS) | set(config.NOTEBOOK_EXTRAS[path.stem]) | {"profile"}
    assert set(names) <= allowed, f"{path.name}: unknown parameters {set(names) - allowed}"
    # The parameters cell follows the imports, and the next cell resolves them through config.setup.
    index = nb["cells"].index(tagged[0])
    cell = ast.parse(_src(nb["cells"][index + 1]))
    calls = [
        node
        for node in ast.walk(cell)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "config.setup"
    ]
    assert len(calls) == 1, f"{path.name}: the cell after the parameters must call config.setup"
    assert [ast.literal_eval(a) for a in calls[0].args] == [path.stem]
    # every parameter is passed on by name, directly or through a dict of overrides
    passed = {
        k.arg
        for k in ast.walk(cell)
        if isinstance(k, ast.keyword) and ast.unparse(k.value) == k.arg
    }
    for name in names:
        assert name in passed, f"{path.name}: setup() does not receive {name!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_summary_and_sanity_checks(path: Path) -> None:
    nb = _load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and _src(first).startswith("# ")
    headings = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "markdown" and "## Summary" in _src(c)
    ]
    assert headings, f"{path.name}: no '## Summary' section"
    after = nb["cells"][headings[-1] + 1]
    assert after["cell_type"] == "code" and "print" in _src(after), "summary must be computed"
    last = nb["cells"][-1]
    assert last["cell_type"] == "code" and _src(last).startswith("# Sanity checks")
    assert "assert" in _src(last)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_logic_lives_in_the_package(path: Path) -> None:
    for cell in _code_cells(_load(path)):
        src = _src(cell)
        tree = ast.parse(src)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defs, f"{path.name}: define functions in e2s_utils, not in the notebook"
        lines = [ln for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        assert len(lines) <= MAX_CODE_LINES, f"{path.name}: a {len(lines)}-line cell: {src[:80]!r}"
        assert not re.search(r"['\"](/home|/Users|/root|/tmp)/", src), f"{path.name}: machine path"
