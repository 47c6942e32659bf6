"""The kernels the runner executes notebooks in, and what each notebook cost in memory.

Starting a kernel and importing torch, timm, torchgeo, pandas and matplotlib takes several seconds
of CPU per notebook; the sequence runs 13 notebooks. :class:`Kernels` therefore keeps one kernel
for the whole run by default (``shared``): before each notebook its namespace is cleared
(``%reset -f``), figures are closed and the working directory is set, so a notebook sees none of
the previous one's variables while the imported modules stay loaded. ``shared=False`` starts a
fresh kernel per notebook (nbval in CI always does, so each notebook is also checked on its own).

papermill hands a kernel manager to nbclient, which then reuses that kernel instead of starting
one; :class:`SharedKernelEngine` is papermill's nbclient engine with that manager passed through
and the client's channels closed after each notebook.

Peak memory per notebook is the kernel process's resident high-water mark (``VmHWM``), reset
before each notebook through ``/proc/<pid>/clear_refs`` (Linux); elsewhere it is not measured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from e2s_utils.errors import E2SError

ENGINE_NAME = "e2s_shared_kernel"
KERNEL_NAME = "python3"
_RESET = (
    "%reset -f\n"
    "import gc as _gc, os as _os\n"
    "import matplotlib.pyplot as _plt\n"
    "_plt.close('all')\n"
    "_os.chdir({cwd!r})\n"
    "_gc.collect()\n"
    "del _gc, _os, _plt\n"
)


class KernelError(E2SError, RuntimeError):
    """A kernel that could not be started or prepared for the next notebook."""


def _engine_class() -> type:
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class SharedKernelEngine(NBClientEngine):
        """papermill's nbclient engine, executing in the kernel manager it is given (``km``)."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            km = kwargs.pop("km")
            client = PapermillNotebookClient(
                nb_man,
                km=km,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            try:
                return client.execute()
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    return SharedKernelEngine


def register_engine() -> str:
    """Register :class:`SharedKernelEngine` with papermill (idempotent); its name."""
    from papermill.engines import papermill_engines

    if ENGINE_NAME not in papermill_engines._engines:
        papermill_engines.register(ENGINE_NAME, _engine_class())
    return ENGINE_NAME


def _pid(km: Any) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(km, "kernel", None), "pid", None)
    return int(pid) if pid else None


def reset_peak_memory(pid: int | None) -> bool:
    """Reset a process's resident high-water mark (Linux ``clear_refs``); whether it worked."""
    if pid is None:
        return False
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mb(pid: int | None) -> float | None:
    """A process's resident high-water mark in MB (``VmHWM``), or ``None`` where unreadable."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Kernels:
    """The runner's kernels: one shared by every notebook, or a fresh one per notebook.

    Use as a context manager; :meth:`acquire` gives the kernel manager for the next notebook,
    :meth:`release` ends its turn (and records its peak memory).

    Args:
        shared: keep one kernel for the whole run (namespace cleared between notebooks).
        kernel_name: the Jupyter kernel spec.
    """

    def __init__(self, shared: bool = True, kernel_name: str = KERNEL_NAME) -> None:
        self.shared = shared
        self.kernel_name = kernel_name
        self._km: Any = None
        self.starts = 0

    def __enter__(self) -> Kernels:
        register_engine()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, cwd: Path) -> Any:
        from jupyter_client.manager import KernelManager

        km = KernelManager(kernel_name=self.kernel_name)
        try:
            km.start_kernel(cwd=str(cwd))
        except Exception as err:
            raise KernelError(
                f"could not start the Jupyter kernel {self.kernel_name!r} ({err}); check "
                "`jupyter kernelspec list` in the project's environment"
            ) from err
        self.starts += 1
        return km

    def _reset(self, km: Any, cwd: Path) -> None:
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive(_RESET.format(cwd=str(cwd)), timeout=120)
        finally:
            kc.stop_channels()
        if reply["content"].get("status") != "ok":
            raise KernelError(f"could not clear the shared kernel: {reply['content']}")

    def acquire(self, cwd: Path) -> Any:
        """The kernel manager for the next notebook, its namespace empty and its peak reset."""
        if self.shared and self._km is not None and self._km.is_alive():
            self._reset(self._km, cwd)
            km = self._km
        else:
            self.close()
            km = self._start(cwd)
            if self.shared:
                self._km = km
        reset_peak_memory(_pid(km))
        return km

    def release(self, km: Any) -> float | None:
        """End a notebook's turn: its peak memory in MB; a fresh kernel is shut down."""
        peak = peak_memory_mb(_pid(km))
        if not self.shared:
            km.shutdown_kernel(now=True)
        return peak

    def close(self) -> None:
        """Shut the shared kernel down."""
        if self._km is not None:
            try:
                self._km.shutdown_kernel(now=True)
            finally:
                self._km = None
