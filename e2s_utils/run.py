"""The papermill runner: execute the numbered notebooks in order, checked before and after.

``e2s reproduce`` runs every ``notebooks/NN_topic.ipynb`` in
order into the executed-copies folder (never over a source notebook). Before running it checks every
``-p name value`` against the notebooks' ``parameters`` cells and refuses unknown names (papermill
itself only warns). It sweeps the extraction notebook over the registry's models, one executed copy
per model. Afterwards it verifies that every code cell ran, and it prints a closing table. A failing
notebook stops the sequence with a non-zero exit naming the notebook and the cell. Notebooks run in
one shared kernel by default (:mod:`e2s_utils.kernels`); each job records its wall time, the
kernel's peak memory, how much the outputs grew and the load average.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2s_utils import config, paths, provenance
from e2s_utils.errors import E2SError

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_([a-z0-9_]+)\.ipynb$")
#: The notebook swept over models, and the parameter that selects the model.
SWEEP_NOTEBOOK = "20_extract"
SWEEP_PARAMETER = "model"
#: What the runner's kernels inherit: exploration widgets drawn as static images, so executed
#: copies stay byte-stable (see :func:`e2s_utils.explore.widget_mode`).
KERNEL_ENV: dict[str, str] = {"E2S_WIDGETS": "static"}


class RunnerError(E2SError, RuntimeError):
    """A problem found before or after executing a notebook."""


@dataclass
class Job:
    """One executed copy to produce: a source notebook and its parameters."""

    source: Path
    output: Path
    parameters: dict[str, Any]

    @property
    def label(self) -> str:
        return self.output.stem


@dataclass
class JobResult:
    """What happened to one job."""

    label: str
    status: str
    seconds: float
    figures: int = 0
    message: str = ""
    output: Path | None = None
    peak_memory_mb: float | None = None
    outputs_growth_mb: float = 0.0
    load_start: float = 0.0
    load_end: float = 0.0


@dataclass
class RunSummary:
    """All job results of a runner invocation."""

    results: list[JobResult] = field(default_factory=list)
    cold: bool = False
    shared_kernel: bool = True
    kernel_starts: int = 0
    outputs_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results)

    def table(self) -> str:
        """The closing table: notebook, status, wall time, figures written."""
        rows = [("notebook", "status", "wall time", "figures")]
        rows += [(r.label, r.status, f"{r.seconds:8.1f} s", str(r.figures)) for r in self.results]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        total = sum(r.seconds for r in self.results)
        lines.append(f"total wall time {total:.1f} s")
        return "\n".join(lines)


def list_notebooks(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """The numbered source notebooks, in order.

    Raises:
        RunnerError: if a notebook in the folder does not follow the ``NN_topic.ipynb`` pattern.
    """
    found = sorted(p for p in notebooks_dir.glob("*.ipynb"))
    bad = [p.name for p in found if not NOTEBOOK_PATTERN.match(p.name)]
    if bad:
        raise RunnerError(f"notebooks not named NN_topic.ipynb in {notebooks_dir}: {bad}")
    return found


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Names and default values of a notebook's ``parameters`` cell.

    Raises:
        RunnerError: if the notebook has no cell tagged ``parameters`` or more than one.
    """
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RunnerError(
            f"{path.name} must have exactly one cell tagged 'parameters', has {len(cells)}"
        )
    source = "".join(cells[0]["source"])
    params: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            params[node.target.id] = ast.literal_eval(node.value) if node.value else None
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    params[target.id] = ast.literal_eval(node.value)
    return params


def parse_value(text: str) -> Any:
    """Parse a ``-p`` value as a Python literal, falling back to the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def sweep_models(profile: config.Profile) -> list[str]:
    """The models the extraction notebook is swept over: the profile's models, then baselines."""
    return list(profile.extract.all_models)


def plan(
    profile_name: str,
    *,
    only: list[str] | None = None,
    start_from: str | None = None,
    overrides: dict[str, Any] | None = None,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    executed_dir: Path | None = None,
) -> list[Job]:
    """Build and check the jobs of a run, before anything executes.

    Args:
        profile_name: the profile every notebook runs in.
        only: notebook stems or their two-digit numbers to run (default: all).
        start_from: run from this notebook (stem or number) onwards.
        overrides: ``-p`` parameters; each must be declared by at least one selected notebook and
            goes to every selected notebook that declares it.
        notebooks_dir: where the source notebooks are.
        executed_dir: where executed copies go (default :func:`e2s_utils.paths.executed_dir`).

    Raises:
        RunnerError: for an unknown notebook selection or an unknown parameter name.
    """
    overrides = dict(overrides or {})
    executed_dir = (executed_dir or paths.executed_dir()) / profile_name
    sources = list_notebooks(notebooks_dir)
    if not sources:
        raise RunnerError(f"no notebooks found in {notebooks_dir}")

    def matches(path: Path, key: str) -> bool:
        return path.stem == key or path.stem.split("_", 1)[0] == key or path.name == key

    for key in (only or []) + ([start_from] if start_from else []):
        if not any(matches(p, key) for p in sources):
            raise RunnerError(
                f"no notebook {key!r}; choose from {[p.stem for p in sources]} (or their numbers)"
            )
    if start_from:
        first = next(i for i, p in enumerate(sources) if matches(p, start_from))
        sources = sources[first:]
    if only:
        sources = [p for p in sources if any(matches(p, k) for k in only)]

    declared = {p: notebook_parameters(p) for p in sources}
    for path, params in declared.items():
        if "profile" not in params:
            raise RunnerError(f"{path.name}: the parameters cell has no 'profile' parameter")
    unknown = [k for k in overrides if not any(k in params for params in declared.values())]
    if unknown:
        known = sorted({k for params in declared.values() for k in params})
        raise RunnerError(
            f"unknown parameter(s) {unknown} for notebooks {[p.stem for p in sources]}; "
            f"declared parameters are {known}"
        )
    profile = config.get_profile(
        profile_name, **{k: v for k, v in overrides.items() if k in config.PARAMETERS}
    )
    jobs: list[Job] = []
    for path, params in declared.items():
        base = {"profile": profile_name, **{k: v for k, v in overrides.items() if k in params}}
        if path.stem == SWEEP_NOTEBOOK and SWEEP_PARAMETER not in overrides:
            for model in sweep_models(profile):
                out = executed_dir / f"{path.stem}__{model}.ipynb"
                jobs.append(Job(path, out, {**base, SWEEP_PARAMETER: model}))
        else:
            jobs.append(Job(path, executed_dir / path.name, base))
    for job in jobs:
        if job.output.resolve() == job.source.resolve():
            raise RunnerError(f"refusing to write over the source notebook {job.source}")
    return jobs


def verify_executed(path: Path) -> None:
    """Check that every code cell of an executed notebook ran.

    Raises:
        RunnerError: naming the first code cell without an execution count.
    """
    nb = json.loads(path.read_text())
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        if cell.get("execution_count") is None:
            raise RunnerError(f"{path.name}: code cell {index} never executed")


def _artifacts_written_since(start: float) -> int:
    """How many figures and tables of the manifest were (re)written since ``start`` (epoch s)."""
    folder = paths.figures_dir()
    count = 0
    for entry in provenance.read_manifest(folder).values():
        files = [folder / name for name in entry.get("files", {})]
        if files and all(f.exists() and f.stat().st_mtime >= start for f in files):
            count += 1
    return count


class _KnownParametersFilter(logging.Filter):
    """Drop papermill's "Passed unknown parameter" warning: :func:`plan` has checked every name.

    papermill cannot parse union annotations such as ``str | None`` in a parameters cell, so it
    would warn about every parameter of every notebook.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Passed unknown parameter" not in record.getMessage()


@contextlib.contextmanager
def kernel_environment() -> Iterator[None]:
    """Set :data:`KERNEL_ENV` for the kernels started inside the block; restore it afterwards."""
    saved = {name: os.environ.get(name) for name in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def outputs_size_mb(root: Path) -> float:
    """Bytes under ``root`` in MB (files only; 0 when absent)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name), follow_symlinks=False).st_size
    return total / 1e6


def is_cold(profile_name: str) -> bool:
    """Whether nothing of the profile's outputs exists yet (a cold run computes everything)."""
    folder = paths.profile_dir(profile_name)
    return not folder.is_dir() or not any(folder.iterdir())


def execute(
    jobs: list[Job],
    profile: config.Profile,
    *,
    log_output: bool = False,
    shared_kernel: bool = True,
) -> RunSummary:
    """Execute the jobs in order with papermill; stop at the first failure.

    Args:
        jobs: the planned jobs.
        profile: their profile (cell timeout; the cold/warm check).
        log_output: stream the notebooks' output to the console.
        shared_kernel: one kernel for all notebooks (namespace cleared between them) instead of
            a fresh kernel per notebook.
    """
    from e2s_utils.kernels import Kernels

    papermill_logger = logging.getLogger("papermill")
    if not any(isinstance(f, _KnownParametersFilter) for f in papermill_logger.filters):
        papermill_logger.addFilter(_KnownParametersFilter())
    summary = RunSummary(cold=is_cold(profile.name), shared_kernel=shared_kernel)
    with kernel_environment(), Kernels(shared=shared_kernel) as kernels:
        _execute(jobs, profile, kernels, summary, log_output=log_output)
        summary.kernel_starts = kernels.starts
    summary.outputs_mb = outputs_size_mb(paths.output_root())
    return summary


def _execute(
    jobs: list[Job], profile: config.Profile, kernels: Any, summary: RunSummary, *, log_output: bool
) -> None:
    import papermill as pm

    from e2s_utils.kernels import ENGINE_NAME

    for job in jobs:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        print(f"==> {job.label}  {json.dumps(job.parameters)}", flush=True)
        size0, load0 = outputs_size_mb(paths.output_root()), os.getloadavg()[0]
        start, wall_start = time.perf_counter(), time.time() - 0.05  # coarse fs clocks
        km, peak, failure = None, None, None
        try:
            km = kernels.acquire(job.output.parent)
            pm.execute_notebook(
                str(job.source),
                str(job.output),
                parameters=job.parameters,
                kernel_name=kernels.kernel_name,
                engine_name=ENGINE_NAME,
                km=km,
                cwd=str(job.output.parent),
                execution_timeout=profile.cell_timeout_s,
                progress_bar=False,
                log_output=log_output,
                report_mode=False,
            )
            verify_executed(job.output)
        except Exception as err:  # noqa: BLE001 - reported with the notebook and cell, then exit 1
            failure = _describe_failure(job, err)
        finally:
            if km is not None:
                peak = kernels.release(km)
        seconds = time.perf_counter() - start
        result = JobResult(
            job.label,
            "FAILED" if failure else "ok",
            seconds,
            0 if failure else _artifacts_written_since(wall_start),
            message=failure or "",
            output=None if failure else job.output,
            peak_memory_mb=peak,
            outputs_growth_mb=outputs_size_mb(paths.output_root()) - size0,
            load_start=load0,
            load_end=os.getloadavg()[0],
        )
        summary.results.append(result)
        if failure:
            return


def _describe_failure(job: Job, err: Exception) -> str:
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    where = "before any cell ran"
    located = _locate_failed_cell(job.output)
    if located is not None:
        index, first_line = located
        where = f"cell {index} ({first_line!r})"
    return f"{job.label} failed at {where}: {ename}: {evalue} (executed copy: {job.output})"


def _locate_failed_cell(path: Path) -> tuple[int, str] | None:
    """The failing cell's index in the *source* notebook and its first line.

    The executed copy holds cells the source does not (papermill's injected parameters and its
    error banners); they are left out so the index points into the source notebook.
    """
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, json.JSONDecodeError, KeyError):
        return None
    added = {"injected-parameters", "papermill-error-cell-tag"}
    source_cells = [c for c in cells if not added & set(c.get("metadata", {}).get("tags", []))]
    for index, cell in enumerate(source_cells):
        failed = cell.get("metadata", {}).get("papermill", {}).get("status") == "failed"
        if failed or any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            lines = "".join(cell["source"]).strip().splitlines()
            return index, (lines[0][:60] if lines else "")
    return None


def record_complete_run(summary: RunSummary, profile_name: str) -> None:
    """After a complete run: record its costs; refresh the README when figures/ is the repo's.

    The demo profile's record also goes to ``benchmarks/results/end_to_end_demo.md`` (its cold or
    warm section), when the run wrote into the repository's ``figures/``.
    """
    from e2s_utils import report

    rows = [
        {
            "notebook": r.label,
            "seconds": round(r.seconds, 1),
            "peak memory (MB)": None if r.peak_memory_mb is None else round(r.peak_memory_mb),
            "outputs growth (MB)": round(r.outputs_growth_mb, 1),
            "load avg (start, end)": f"{r.load_start:.1f}, {r.load_end:.1f}",
            "figures and tables": r.figures,
        }
        for r in summary.results
    ]
    record = report.RunRecord(
        profile=profile_name,
        cold=summary.cold,
        shared_kernel=summary.shared_kernel,
        kernel_starts=summary.kernel_starts,
        outputs_mb=summary.outputs_mb,
    )
    report.write_run_times(rows, record)
    if paths.figures_dir().resolve() == (paths.REPO_ROOT / "figures").resolve():
        if profile_name == "demo":
            report.update_end_to_end(rows, record)
        if report.update_readme():
            print("README.md results section updated from this run's artifacts")
        from e2s_utils import footprint

        if footprint.update_readme():
            print("README.md registry block updated from the model registry")
