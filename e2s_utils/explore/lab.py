"""``e2s lab``: open the study in JupyterLab, source notebooks beside their latest executed copies.

``jupyter lab notebooks/`` shows only the committed sources, which carry no outputs. ``e2s lab``
prepares a lab folder (default ``<output_root>/lab``) and starts JupyterLab there:

* ``notebooks_source/``: a link to the source notebooks (run these to reproduce a stage);
* ``notebooks_executed_<profile>/``: a link to the runner's executed copies of a profile
  (``<output_root>/executed/<profile>/``), every figure and table already in place;
* ``README.md``: which is which, and how to refresh the executed copies;
* ``.jupyter/kernels/python3/``: a kernelspec named ``python3`` (the notebooks' kernel name)
  that starts this very interpreter, displayed as "Python 3 (e2s)". The folder goes first on
  ``JUPYTER_PATH``, so a ``python3`` kernelspec of another environment cannot shadow it.

The server's environment drops a non-interactive ``MPLBACKEND`` (``Agg`` and the like, as test
scripts export): kernels then use ipykernel's inline backend and figures appear in the notebook.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from e2s_utils import config, paths
from e2s_utils.io import atomic_write_bytes

SOURCE_LINK = "notebooks_source"
EXECUTED_LINK = "notebooks_executed_{profile}"
#: The kernel name every notebook's metadata names (``tests/test_notebook_hygiene.py``).
KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (e2s)"
#: Backends that draw nothing in a notebook; dropped from the server's environment.
NON_INTERACTIVE_BACKENDS = frozenset({"agg", "pdf", "ps", "svg", "cairo", "pgf", "template"})


class LabError(RuntimeError):
    """The lab folder cannot be prepared (a name in the way, no notebooks)."""


@dataclass(frozen=True)
class LabFolder:
    """A prepared lab folder.

    Attributes:
        root: the folder JupyterLab serves.
        profile: the profile whose executed copies are linked.
        source: the link to the source notebooks.
        executed: the link to the executed copies.
        jupyter_dir: the folder put first on ``JUPYTER_PATH`` (it holds the kernelspec).
        n_source: how many source notebooks the link shows.
        n_executed: how many executed copies the link shows (0 before a run).
    """

    root: Path
    profile: str
    source: Path
    executed: Path
    jupyter_dir: Path
    n_source: int
    n_executed: int


def default_lab_dir() -> Path:
    """``<output_root>/lab`` (outside version control, like every other output)."""
    return paths.output_root() / "lab"


def kernel_spec(python: str | None = None) -> dict[str, object]:
    """The kernelspec of this environment's interpreter under the notebooks' kernel name."""
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def _link(path: Path, target: Path) -> None:
    """Point the symlink ``path`` at ``target``, replacing an older link but nothing else."""
    if path.is_symlink():
        if path.resolve() == target.resolve():
            return
        path.unlink()
    elif path.exists():
        raise LabError(f"{path} exists and is not a link; remove it or choose another --lab-dir")
    path.symlink_to(target.resolve(), target_is_directory=True)


def _readme(folder: LabFolder, notebooks_dir: Path, executed_dir: Path) -> str:
    executed = (
        f"{folder.n_executed} executed notebook(s)"
        if folder.n_executed
        else "no executed copies yet: run `e2s reproduce"
        + (
            ""
            if folder.profile == config.default_profile_name()
            else f" --profile {folder.profile}"
        )
        + "` to write them"
    )
    return (
        "# The e2s study in JupyterLab\n\n"
        f"* `{folder.source.name}/`: the source notebooks ({folder.n_source}), committed without "
        "outputs. Run one (Run > Run All Cells) to reproduce its stage; stages reuse what earlier "
        "runs left in the outputs folder.\n"
        f"* `{folder.executed.name}/`: the latest executed copies of profile "
        f"`{folder.profile}` ({executed}), written by `e2s reproduce` with every figure and table "
        "in place. Read them here; rerunning `e2s reproduce` replaces them.\n\n"
        f"Kernel: {KERNEL_DISPLAY_NAME} (`{sys.executable}`).\n\n"
        f"Sources: `{notebooks_dir}`; executed copies: `{executed_dir}`.\n"
    )


def prepare(
    lab_dir: Path | None = None,
    profile: str | None = None,
    *,
    notebooks_dir: Path = paths.NOTEBOOKS_DIR,
    executed_dir: Path | None = None,
) -> LabFolder:
    """Create or refresh the lab folder: the two links, its README and the kernelspec.

    Args:
        lab_dir: the folder to prepare (default :func:`default_lab_dir`).
        profile: whose executed copies to link (default :func:`e2s_utils.config.default_profile_name`).
        notebooks_dir: the source notebooks (default: the repository's).
        executed_dir: the executed copies of the profile (default
            ``<output_root>/executed/<profile>``; created empty when missing).

    Returns:
        The prepared folder.

    Raises:
        LabError: when ``notebooks_dir`` holds no notebook or a non-link file is in the way.
        e2s_utils.config.ConfigError: for an unknown profile.
    """
    profile = profile or config.default_profile_name()
    config.get_profile(profile)  # validates the name
    notebooks_dir = Path(notebooks_dir)
    n_source = len(list(notebooks_dir.glob("*.ipynb")))
    if not n_source:
        raise LabError(f"no notebooks in {notebooks_dir}; pass --notebooks-dir")
    executed_dir = Path(executed_dir or paths.executed_dir() / profile)
    executed_dir.mkdir(parents=True, exist_ok=True)
    root = Path(lab_dir or default_lab_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    source, executed = root / SOURCE_LINK, root / EXECUTED_LINK.format(profile=profile)
    _link(source, notebooks_dir)
    _link(executed, executed_dir)
    jupyter_dir = root / ".jupyter"
    spec = json.dumps(kernel_spec(), indent=2) + "\n"
    atomic_write_bytes(jupyter_dir / "kernels" / KERNEL_NAME / "kernel.json", spec.encode())
    folder = LabFolder(
        root=root,
        profile=profile,
        source=source,
        executed=executed,
        jupyter_dir=jupyter_dir,
        n_source=n_source,
        n_executed=len(list(executed_dir.glob("*.ipynb"))),
    )
    atomic_write_bytes(root / "README.md", _readme(folder, notebooks_dir, executed_dir).encode())
    return folder


def lab_environment(folder: LabFolder, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the lab's kernelspec first on ``JUPYTER_PATH``, no ``Agg`` backend."""
    env = dict(os.environ if environ is None else environ)
    rest = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join([str(folder.jupyter_dir), *rest])
    if env.get("MPLBACKEND", "").strip().lower() in NON_INTERACTIVE_BACKENDS:
        del env["MPLBACKEND"]
    return env


def lab_command(
    folder: LabFolder,
    *,
    port: int | None = None,
    open_browser: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command that starts JupyterLab on the lab folder.

    Args:
        folder: the prepared lab folder.
        port: the port; given, it is used or the start fails (no retry on the next port).
        open_browser: open the default browser on the lab.
        extra: further arguments for JupyterLab (``--IdentityProvider.token=...``).
    """
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.root}"]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd + list(extra)


def launch(
    folder: LabFolder,
    *,
    port: int | None = None,
    open_browser: bool = True,
    extra: Sequence[str] = (),
) -> NoReturn:
    """Replace this process with JupyterLab on the lab folder (signals reach the server directly)."""
    cmd = lab_command(folder, port=port, open_browser=open_browser, extra=extra)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, lab_environment(folder))
