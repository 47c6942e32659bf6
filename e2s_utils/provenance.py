"""Save every figure and table with its provenance, byte-stable across reruns.

Figures go to ``figures/<name>.png`` and ``.pdf``; tables to ``figures/<name>.csv`` and ``.md``.
Each save records, in ``figures/MANIFEST.json`` under the artifact's name: the notebook, the resolved
parameters, the profile, the git sha and dirty flag, package versions, the device and the sha256 of
every file written. No timestamps anywhere, so an unchanged rerun leaves every file byte-identical.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2s_utils import paths
from e2s_utils.io import atomic_write_bytes, sha256_file
from e2s_utils.plots.style import STYLE

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from e2s_utils.config import RunContext
    from e2s_utils.evaluate.protocol import Protocol

MANIFEST_NAME = "MANIFEST.json"
_VERSIONED_PACKAGES = (
    "e2s-utils",
    "torch",
    "torchvision",
    "timm",
    "torchgeo",
    "terratorch",
    "numpy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "xarray",
    "zarr",
    "papermill",
)


#: Paths a run itself writes into the repository: changes there do not make the code "dirty".
RUN_OUTPUTS: tuple[str, ...] = ("figures/", "README.md", "benchmarks/results/end_to_end_demo.md")


def git_state(repo: Path = paths.REPO_ROOT) -> dict[str, Any]:
    """``{"sha": ..., "dirty": ...}`` of the repository (``None`` values outside git).

    ``dirty`` means that tracked files other than the run's own outputs (:data:`RUN_OUTPUTS`:
    the figures, the README's generated section, the end-to-end record) differ from the commit,
    i.e. that the code differed from the commit.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"sha": None, "dirty": None}
    changed = [line[3:].strip().split(" -> ")[-1] for line in status.splitlines() if line.strip()]
    code = [p for p in changed if not any(p == o or p.startswith(o) for o in RUN_OUTPUTS)]
    return {"sha": sha, "dirty": bool(code)}


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape the study's numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_description(device: str) -> str:
    """A human-readable name of the device a run used (GPU model, or CPU and core count)."""
    if device.startswith("cuda"):
        import torch

        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return value.name
    return str(value)


def record(ctx: RunContext) -> dict[str, Any]:
    """The provenance record of a run context (no timestamps, so it is stable across reruns)."""
    return {
        "notebook": ctx.notebook,
        "profile": ctx.profile.name,
        "parameters": _json_safe(ctx.params),
        "git": git_state(),
        "versions": package_versions(),
        "device": device_description(ctx.device),
        "banner": ctx.banner,
    }


def _sha256(path: Path) -> str:
    return sha256_file(path)


def _update_manifest(out_dir: Path, name: str, entry: dict[str, Any]) -> None:
    manifest_path = out_dir / MANIFEST_NAME
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{manifest_path} is not valid JSON ({err}); delete it and rerun to rebuild it"
            ) from err
    manifest[name] = entry
    text = json.dumps(dict(sorted(manifest.items())), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(manifest_path, text.encode())


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"artifact name {name!r} must be a plain file stem such as 'fusion_curve'")


@dataclass(frozen=True)
class SavedFigure:
    """A figure saved by :func:`save_figure`: its files; a notebook displays it as the saved PNG.

    Attributes:
        paths: the written files (PNG, PDF).
    """

    paths: tuple[Path, ...]

    @property
    def png(self) -> Path:
        """The PNG file."""
        return self.paths[0]

    def _repr_png_(self) -> bytes:
        return self.png.read_bytes()


def save_figure(
    fig: Figure, name: str, ctx: RunContext, *, out_dir: Path | None = None
) -> SavedFigure:
    """Save a figure as PNG and PDF with its provenance; stamp it when the run is not the paper's.

    The figure is rendered in the study's style (:data:`e2s_utils.plots.style.STYLE`) and then
    released (closed if pyplot knew it). The returned object displays as the saved PNG, so a
    notebook cell ending in ``save_figure(...)`` shows exactly the file that was written, under any
    matplotlib backend.

    Args:
        fig: the matplotlib figure.
        name: file stem, e.g. ``"fusion_q_vs_epoch"``.
        ctx: the run context (from :func:`e2s_utils.config.setup`).
        out_dir: folder to write to (default :func:`e2s_utils.paths.figures_dir`).

    Returns:
        The :class:`SavedFigure` (PNG, PDF).
    """
    import io

    import matplotlib

    _check_name(name)
    out_dir = out_dir or paths.figures_dir()
    if ctx.banner and not getattr(fig, "_e2s_banner", False):
        fig.text(0.5, 0.003, ctx.banner, ha="center", va="bottom", fontsize=7, color="#b2182b")
        fig._e2s_banner = True  # type: ignore[attr-defined]
    written = []
    meta_png = {
        "Software": None,
        "Title": name,
        "Source": f"e2s {ctx.notebook} ({ctx.profile.name})",
    }
    meta_pdf = {
        "Creator": None,
        "Producer": None,
        "CreationDate": None,
        "ModDate": None,
        "Title": name,
    }
    for ext, meta in (("png", meta_png), ("pdf", meta_pdf)):
        buf = io.BytesIO()
        with matplotlib.rc_context(STYLE):
            fig.savefig(buf, format=ext, dpi=150, bbox_inches="tight", metadata=meta)
        path = out_dir / f"{name}.{ext}"
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    entry = {"kind": "figure", **record(ctx), "files": {p.name: _sha256(p) for p in written}}
    _update_manifest(out_dir, name, entry)
    _release(fig)
    return SavedFigure(tuple(written))


def _release(fig: Figure) -> None:
    """Close a figure pyplot knows (figures built by the plots package are not registered)."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and getattr(fig.canvas, "manager", None) is not None:
        pyplot.close(fig)


def save_table(
    df: pd.DataFrame,
    name: str,
    ctx: RunContext,
    *,
    out_dir: Path | None = None,
    float_format: str = "{:.4g}",
    index: bool = False,
    protocol: Protocol | None = None,
) -> list[Path]:
    """Save a table as CSV and Markdown with its provenance.

    The Markdown copy carries the run's banner above the table when the run is synthetic or uses
    randomly initialised models. A results table names its benchmark ``protocol``: a ``protocol``
    column in the CSV, a ``Protocol:`` line above the Markdown table, every value in the manifest.

    Returns:
        The written paths (CSV, Markdown).
    """
    _check_name(name)
    out_dir = out_dir or paths.figures_dir()
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    if protocol is not None:
        df = df.assign(protocol=protocol.label())
    atomic_write_bytes(csv_path, df.to_csv(index=index, lineterminator="\n").encode())
    shown = df.drop(columns="protocol") if protocol is not None else df.copy()
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            shown[col] = shown[col].map(lambda v: "" if v != v else float_format.format(v))
    md = shown.to_markdown(index=index)
    if protocol is not None:
        md = f"Protocol: {protocol.label()}\n\n{md}"
    if ctx.banner:
        md = f"_{ctx.banner}_\n\n{md}"
    atomic_write_bytes(md_path, (md + "\n").encode())
    written = [csv_path, md_path]
    entry = {"kind": "table", **record(ctx), "files": {p.name: _sha256(p) for p in written}}
    if protocol is not None:
        entry["protocol"] = protocol.to_dict()
    _update_manifest(out_dir, name, entry)
    return written


def save_findings(
    text: str,
    name: str,
    ctx: RunContext,
    *,
    out_dir: Path | None = None,
    protocol: Protocol | None = None,
) -> Path:
    """Save findings written as sentences, one per line, as a Markdown list with provenance.

    Returns:
        The written Markdown path.
    """
    _check_name(name)
    out_dir = out_dir or paths.figures_dir()
    md_path = out_dir / f"{name}.md"
    body = "\n".join(f"- {line.strip()}" for line in text.splitlines() if line.strip())
    if protocol is not None:
        body = f"Protocol: {protocol.label()}\n\n{body}"
    if ctx.banner:
        body = f"_{ctx.banner}_\n\n{body}"
    atomic_write_bytes(md_path, (body + "\n").encode())
    entry = {"kind": "findings", **record(ctx), "files": {md_path.name: _sha256(md_path)}}
    if protocol is not None:
        entry["protocol"] = protocol.to_dict()
    _update_manifest(out_dir, name, entry)
    return md_path


def read_manifest(out_dir: Path | None = None) -> dict[str, Any]:
    """Load ``MANIFEST.json`` (empty dict when absent)."""
    path = (out_dir or paths.figures_dir()) / MANIFEST_NAME
    return json.loads(path.read_text()) if path.exists() else {}
