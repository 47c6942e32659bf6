"""Drive JupyterLab in a real headless browser: start ``e2s lab``, run notebooks through the UI.

:class:`LabServer` starts ``e2s lab`` (``python -m e2s_utils.cli lab``) on a free local port with a
token, in an isolated Jupyter configuration (its own settings, workspaces and runtime folders:
no news pop-up, no autosave, every cell attached to the page). :class:`LabBrowser` drives Chromium
through Playwright (``E2S_CHROMIUM``, default: ``chromium`` on ``PATH``; Playwright never downloads a
browser of its own here). For a notebook it opens the file, waits for its kernel, clicks
Run > Run All Cells in JupyterLab's menu bar, waits until the kernel is idle with no cell pending,
changes the pickers of every explorer, and returns a :class:`labjudge.NotebookSnapshot` of what the
notebook model holds and what the page shows, plus a screenshot.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from labjudge import CellSnapshot, NotebookSnapshot

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: JupyterLab settings of the test server: no news or update checks, no autosave, no windowing.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
VIEWPORT = {"width": 1280, "height": 860}


def with_parameters(nb: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a notebook whose ``parameters`` cell assigns ``values`` (literals, comments kept).

    Raises:
        KeyError: for a name the parameters cell does not declare.
    """
    nb = json.loads(json.dumps(nb))
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    for name, value in values.items():
        pattern = re.compile(rf"^({re.escape(name)}\s*:[^=]*=\s*)(.*?)(\s+#.*)?$")
        hits = [i for i, ln in enumerate(lines) if pattern.match(ln)]
        if not hits:
            raise KeyError(f"parameter {name!r} not in the parameters cell")
        m = pattern.match(lines[hits[0]])
        assert m is not None
        lines[hits[0]] = f"{m.group(1)}{value!r}{m.group(3) or ''}"
    cell["source"] = "\n".join(lines)
    return nb


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabServer:
    """``e2s lab`` running in the background on a free port with a random token.

    Args:
        work: a scratch folder (lab folder, Jupyter settings, server log).
        notebooks_dir: the source notebooks to serve (a copy: JupyterLab may write to them).
        profile: whose executed copies the lab links.
        env: the environment of the server and its kernels.
    """

    def __init__(self, work: Path, notebooks_dir: Path, profile: str, env: dict[str, str]) -> None:
        self.work, self.notebooks_dir, self.profile = Path(work), Path(notebooks_dir), profile
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.lab_dir = self.work / "lab"
        self.log_path = self.work / "jupyterlab.log"
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _isolate(self) -> None:
        settings = self.work / "settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        for var, sub in (
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
        ):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
            self.env[var] = str(self.work / sub)

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until its API answers.

        Raises:
            RuntimeError: when the server exits or does not answer in time (with its log's tail).
        """
        self._isolate()
        cmd = [
            sys.executable,
            "-m",
            "e2s_utils.cli",
            "lab",
            "--profile",
            self.profile,
            "--port",
            str(self.port),
            "--no-browser",
            "--lab-dir",
            str(self.lab_dir),
            "--notebooks-dir",
            str(self.notebooks_dir),
            "--",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.ip=127.0.0.1",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"e2s lab exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"e2s lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API (``/api/<path>``) with the token; return the JSON answer."""
        req = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """Shut the server and its kernels down: through the API, then by signal to its group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.api("shutdown", method="POST")
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)  # the group of the server started here, nothing else
            except ProcessLookupError:
                break
            time.sleep(wait if sig == signal.SIGTERM else 0)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


_COLLECT = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const strip = (o) => {
    const out = Object.assign({}, o);
    if (out.data) {
      out.data = Object.fromEntries(Object.entries(out.data).map(([k, v]) =>
        [k, k.startsWith('image/') ? String(v).length : v]));
    }
    return out;
  };
  return panel.content.widgets.map((cell, index) => {
    const m = cell.model;
    const isCode = m.type === 'code';
    const outs = isCode ? [...cell.node.querySelectorAll('.jp-OutputArea-output')] : [];
    const imgs = isCode ? [...cell.node.querySelectorAll('.jp-OutputArea img')] : [];
    return {
      index: index,
      cell_type: m.type,
      source: m.sharedModel.getSource(),
      tags: m.getMetadata('tags') || [],
      execution_count: isCode ? m.executionCount : null,
      outputs: isCode ? m.outputs.toJSON().map(strip) : [],
      dom_mimes: outs.map((o) => o.dataset.mimeType || ''),
      dom_texts: outs.map((o) => (o.innerText || '').slice(0, 2000)),
      dom_images: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
      dom_widgets: outs.filter((o) => !!o.querySelector('.jupyter-widgets')).length,
      explorers: cell.node.querySelectorAll('.e2s-explorer').length,
      explorer_errors: [...cell.node.querySelectorAll('.e2s-explorer-error')].map(
        (e) => e.innerText),
    };
  });
}
"""

_SETTLED = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session?.kernel;
  const pending = [...panel.content.node.querySelectorAll('.jp-InputPrompt')]
    .some((e) => e.textContent.includes('*'));
  const imgs = [...panel.content.node.querySelectorAll('.jp-OutputArea img')];
  return !!kernel && kernel.status === 'idle' && !pending && imgs.every((i) => i.complete);
}
"""

_KERNEL_STATE = """
() => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  const ctx = panel && panel.sessionContext;
  const dialog = document.querySelector('.jp-Dialog');
  const specs = app.serviceManager.kernelspecs.specs;
  return {
    ready: !!(ctx && ctx.session && ctx.session.kernel && ctx.session.kernel.status === 'idle'),
    started: ctx && ctx.session && ctx.session.kernel ? ctx.session.kernel.name : null,
    offered: specs ? Object.keys(specs.kernelspecs) : [],
    dialog: dialog ? dialog.innerText.slice(0, 300) : null,
  };
}
"""


class LabBrowser:
    """Headless Chromium on a :class:`LabServer`'s JupyterLab.

    Args:
        server: the running server.
        artifacts: where screenshots go.
        executable: the Chromium binary.
        block: URL patterns to refuse (e.g. a lab extension's files, to test without it).
        workspace: the JupyterLab workspace to open (a second browser needs its own).
    """

    def __init__(
        self,
        server: LabServer,
        artifacts: Path,
        executable: str | None = None,
        block: tuple[str, ...] = (),
        workspace: str | None = None,
        parent: LabBrowser | None = None,
    ) -> None:
        self.server, self.artifacts = server, Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._parent = parent
        if parent is None:
            from playwright.sync_api import sync_playwright

            exe = executable or os.environ.get("E2S_CHROMIUM") or shutil.which("chromium")
            if not exe:
                raise RuntimeError(
                    "no Chromium found; install it (apt-get install chromium) or "
                    "set E2S_CHROMIUM to its path"
                )
            self._pw = sync_playwright().start()
            self.browser = self._pw.chromium.launch(
                executable_path=exe, headless=True, args=CHROMIUM_ARGS
            )
        else:
            self._pw, self.browser = parent._pw, parent.browser
        self.context = self.browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.kernel_wanted = ""
        self.page.set_default_timeout(60_000)
        for pattern in block:
            self.page.route(pattern, lambda route: route.abort())
        where = f"/lab/workspaces/{workspace}" if workspace else "/lab"
        self.page.goto(f"{server.url}{where}?token={server.token}")
        self.page.wait_for_function("() => !!window.jupyterapp")
        self.page.evaluate("async () => { await window.jupyterapp.restored; }")
        self.page.wait_for_function("() => !!document.querySelector('.jp-DirListing-content')")

    def fork(self, *, block: tuple[str, ...] = (), workspace: str | None = None) -> LabBrowser:
        """A second page in the same browser, with its own context, blocked URLs and workspace."""
        return LabBrowser(
            self.server, self.artifacts, block=block, workspace=workspace, parent=self
        )

    def close(self) -> None:
        """Close this page's context, and the browser when this is not a fork."""
        self.context.close()
        if self._parent is None:
            self.browser.close()
            self._pw.stop()

    # ------------------------------------------------------------------ the file browser
    def listing(self) -> list[str]:
        """Names shown in the file browser's current folder."""
        self.page.wait_for_selector(".jp-DirListing-item")
        return self.page.eval_on_selector_all(
            ".jp-DirListing-item .jp-DirListing-itemText", "els => els.map(e => e.textContent)"
        )

    def double_click(self, name: str) -> None:
        """Double-click an entry of the file browser (open a folder or a notebook)."""
        text = self.page.locator(".jp-DirListing-itemText").get_by_text(name, exact=True)
        text.wait_for()
        text.dblclick()

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    # ------------------------------------------------------------------ notebooks
    def open(self, path: str, *, via_file_browser: bool = False) -> None:
        """Open a notebook (a path relative to the lab folder).

        The kernel the file names is read from the server first: JupyterLab rewrites the
        notebook's metadata when it falls back to another kernel.
        """
        self.dismiss_dialog()
        meta = self.server.api(f"contents/{urllib.parse.quote(path)}?content=1")["content"]
        self.kernel_wanted = (meta.get("metadata", {}).get("kernelspec") or {}).get("name", "")
        if via_file_browser:
            for part in [p for p in path.split("/") if p]:
                self.page.wait_for_selector(".jp-DirListing-item")
                self.double_click(part)
            self.page.evaluate(  # more room for the notebook in the screenshots
                "() => { window.jupyterapp.commands.execute('application:toggle-left-area');"
                " return true; }"
            )
        else:
            self.page.evaluate(
                "(p) => { window.jupyterapp.commands.execute('docmanager:open', "
                "{path: p, factory: 'Notebook'}); return true; }",
                path,
            )
        self.page.wait_for_function(
            "(p) => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.context && w.context.path === p && w.context.isReady; }",
            arg=path,
        )

    def _kernel_state(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.page.evaluate(_KERNEL_STATE)
            if state["ready"] or state["dialog"]:
                return state
            time.sleep(0.25)
        return state

    def run_all(self, name: str, *, timeout: float = 900.0) -> NotebookSnapshot:
        """Run every cell of the open notebook through the menu bar; snapshot the result.

        The seconds each phase took are appended to ``<artifacts>/timings.txt``.
        """
        t0 = time.monotonic()
        state = self._kernel_state(60.0)
        t_kernel = time.monotonic()
        snapshot = NotebookSnapshot(
            name=name,
            kernel_wanted=self.kernel_wanted,
            kernel_started=state.get("started"),
            kernels_offered=list(state.get("offered") or []),
            dialog=state.get("dialog"),
        )
        if not state.get("ready") or state.get("dialog") or state["started"] != self.kernel_wanted:
            self.screenshot(name)
            self.dismiss_dialog()
            return snapshot
        self.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        self.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        self.page.wait_for_function(
            "() => [...window.jupyterapp.shell.currentWidget.content.node"
            ".querySelectorAll('.jp-InputPrompt')].some(e => /\\[[*0-9]+\\]/.test(e.textContent))"
        )
        deadline, settled = time.monotonic() + timeout, 0
        while time.monotonic() < deadline and settled < 3:
            settled = settled + 1 if self.page.evaluate(_SETTLED) else 0
            time.sleep(0.5)
        snapshot.finished = settled >= 3
        snapshot.dialog_after = self.dismiss_dialog()  # e.g. "the kernel appears to have died"
        t_ran = time.monotonic()
        cells = [CellSnapshot.from_dict(c) for c in self.page.evaluate(_COLLECT)]
        for cell in cells:
            if "explorer" in cell.tags and cell.explorers:
                cell.interactions = self.exercise_explorer(cell.index)
        # the interactions may have changed the explorers' state: collect it again
        again = {c["index"]: c for c in self.page.evaluate(_COLLECT)}
        for cell in cells:
            cell.explorer_errors = again[cell.index]["explorer_errors"]
        snapshot.cells = cells
        self._show_for_screenshot(cells)
        self.screenshot(name)
        t_end = time.monotonic()
        with (self.artifacts / "timings.txt").open("a") as fh:
            fh.write(
                f"{name}: kernel {t_kernel - t0:.1f} s, run all {t_ran - t_kernel:.1f} s, "
                f"explorers and screenshot {t_end - t_ran:.1f} s\n"
            )
        return snapshot

    def _show_for_screenshot(self, cells: list[CellSnapshot]) -> None:
        """Scroll to the first error, else the first explorer, else the first image, else the top."""
        failed = [c for c in cells if any(o.get("output_type") == "error" for o in c.outputs)]
        target = (
            next(iter(failed), None)
            or next((c for c in cells if c.explorers), None)
            or next((c for c in cells if c.dom_images), None)
        )
        index = target.index if target else 0
        self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].node"
            ".scrollIntoView({block: 'start'})",
            index,
        )
        time.sleep(0.3)

    def exercise_explorer(self, index: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Change the first drop-down and the first toggle of an explorer; did the figures change?"""
        cell = self.page.locator(".jp-Notebook .jp-Cell").nth(index)
        box = cell.locator(".e2s-explorer").first
        box.scroll_into_view_if_needed()
        results = []
        actions = [
            ("select", box.locator("select").first),
            ("toggle", box.locator(".widget-toggle-button:not(.mod-active)").first),
        ]
        for kind, control in actions:
            if not control.count():
                continue
            before = box.locator("img").evaluate_all("els => els.map(e => e.src)")
            if kind == "select":
                values = control.evaluate("s => [...s.options].map(o => o.value)")
                current = control.evaluate("s => s.value")
                other = next((v for v in values if v != current), None)
                if other is None:
                    continue
                picker = control.evaluate(
                    "s => s.closest('.widget-dropdown').querySelector('label').textContent"
                )
                control.select_option(other)
            else:
                picker = control.inner_text()
                control.click()
            changed, error = False, None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                after = box.locator("img").evaluate_all(
                    "els => els.map(e => e.complete ? e.src : '')"
                )
                errors = box.locator(".e2s-explorer-error").all_inner_texts()
                if errors:
                    error = errors[0]
                    break
                if after != before and all(after):
                    changed = True
                    break
                time.sleep(0.25)
            results.append(
                {"picker": f"{kind} {picker}".strip(), "changed": changed, "error": error}
            )
        return results

    def dismiss_dialog(self) -> str | None:
        """Close a JupyterLab dialog if one is open (it would block the page); return its text."""
        dialog = self.page.locator(".jp-Dialog")
        if not dialog.count():
            return None
        text = dialog.first.inner_text()[:300]
        self.page.keyboard.press("Escape")
        dialog.first.wait_for(state="detached", timeout=5_000)
        return text

    def close_notebook(self) -> None:
        """Shut the current notebook's kernel down and close its tab without saving."""
        self.page.evaluate(
            "async () => { const w = window.jupyterapp.shell.currentWidget;"
            " if (!w) return; if (w.sessionContext) { await w.sessionContext.shutdown(); }"
            " w.dispose(); }"
        )
