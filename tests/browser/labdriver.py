"""Drive JupyterLab for the browser suite: a server we own, a Chromium we own, and a
`NotebookRun` that opens one notebook, runs all cells and inspects what a learner sees.

Everything here is plain Python + Playwright's sync API; the pytest wiring is in
`conftest.py`. Kept separate so the detectors can be used (and self-tested) on any
notebook, e.g. one built on purpose with a broken widget.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FASTGRAD_CHROMIUM") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "artifacts" / "browser"
# Seconds; generous because the course machine is a shared 2-core box running numba builds.
RUN_TIMEOUT = float(os.environ.get("FASTGRAD_BROWSER_TIMEOUT", "300"))
START_TIMEOUT = float(os.environ.get("FASTGRAD_BROWSER_START_TIMEOUT", "180"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Top-level entries of the repository that the temporary lab root does not link to.
NOT_LINKED = {"notebooks", "exercises", "solutions", "artifacts"}


def missing_requirements() -> str | None:
    """Why the browser suite cannot run here, or None when it can."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright (.venv/bin/pip install playwright)")
    if missing:
        return "browser suite skipped: missing " + " and ".join(missing) + "; .ci/run installs both"
    return None


# --------------------------------------------------------------------------------------
# A working copy of the notebooks, so a browser run never touches the work tree
# --------------------------------------------------------------------------------------
def clean_copy(src: Path, dst: Path) -> None:
    """Copy notebook `src` to `dst` without outputs, execution counts or widget state,
    so everything the checks see afterwards was produced by the browser run."""
    import nbformat
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)


def make_lab_root(root: Path, dirs=("notebooks", "exercises")) -> Path:
    """A directory that looks like the repository: `dirs` are clean copies, every other
    top-level entry is a symlink to the real one (so `../data`, `../lib` still resolve)."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in REPO.iterdir():
        if entry.name.startswith(".") or entry.name in NOT_LINKED:
            continue
        (root / entry.name).symlink_to(entry)
    for name in dirs:
        for src in sorted((REPO / name).glob("*")):
            if src.suffix == ".ipynb":
                clean_copy(src, root / name / src.name)
            elif src.name != ".ipynb_checkpoints":  # data files next to the notebooks
                target = root / name / src.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(src)
        (root / name).mkdir(exist_ok=True)
    return root


# --------------------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------------------
LAB_SETTINGS = {
    # No "get notified about official Jupyter news?" popup, no update check, no network.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Every cell attached to the DOM, so DOM checks see all of them (JupyterLab 4 windowing).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # Never write to the (copied) notebooks.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if pytest itself is killed, so no server outlives the run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class LabServer:
    root: Path
    home: Path  # temporary JUPYTER_{CONFIG,DATA,RUNTIME}_DIR live here
    port: int = 0
    token: str = ""
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    def start(self) -> "LabServer":
        self.port, self.token = _free_port(), secrets.token_hex(24)
        env = dict(os.environ)
        env.update(JUPYTER_CONFIG_DIR=str(self.home / "config"), JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.runtime_dir), IPYTHONDIR=str(self.home / "ipython"))
        env.pop("JUPYTER_TOKEN", None)
        env.pop("JUPYTER_PATH", None)  # only the venv's kernelspec and lab extensions
        for name, values in LAB_SETTINGS.items():
            path = self.home / "config" / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        disabled = [n for n in os.environ.get("FASTGRAD_BROWSER_DISABLE_EXTENSIONS", "").split(",") if n]
        if disabled:  # e.g. @jupyter-widgets/jupyterlab-manager: see what a learner without it sees
            path = self.home / "config" / "labconfig" / "page_config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"disabledExtensions": {n: True for n in disabled}}))
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--KernelSpecManager.ensure_native_kernel=True", "--MappingKernelManager.default_kernel_name=python3"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = self.home / "jupyterlab.log"
        log = open(self.log_path, "wb")
        # Own process group, so stop() can signal the server and anything it forked.
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=5)
                self.api("GET", "/lab", raw=True, timeout=30)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, body=None, raw: bool = False, timeout: float = 30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
        if raw:
            return payload
        return json.loads(payload) if payload else None

    def shutdown_sessions(self, path: str | None = None) -> None:
        """Shut down the kernel sessions (all, or the one of notebook `path`)."""
        try:
            for session in self.api("GET", "/api/sessions"):
                if path is None or session.get("path") == path:
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=60)
        except Exception:
            pass

    def _kernel_pids(self) -> list[int]:
        """PIDs of kernels this server started (their command line names our runtime dir)."""
        marker = str(self.runtime_dir).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def stop(self) -> None:
        """Stop the server by its PID (its process group), and any kernel it left behind."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_sessions()
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        # Kernels run in their own sessions (jupyter_client), so the group signal misses them.
        for pid in self._kernel_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------------------------------
# Inspecting a notebook in the page
# --------------------------------------------------------------------------------------
_JS_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""

JS_STATE = "(path) => {" + _JS_FIND_PANEL + """
  const p = findPanel(path);
  if (!p) return {found: false};
  const sc = p.sessionContext;
  const cells = p.content.widgets;
  let running = 0, executed = 0, code = 0;
  for (const cell of cells) {
    if (cell.model.type !== 'code') continue;
    code += 1;
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    if (prompt && prompt.textContent.includes('*')) running += 1;
    if (cell.model.executionCount !== null && cell.model.executionCount !== undefined) executed += 1;
  }
  return {found: true, ready: !!sc.isReady, status: (sc.session && sc.session.kernel) ? sc.session.kernel.status : null,
          kernel: (sc.session && sc.session.kernel) ? sc.session.kernel.name : null,
          running, executed, code, cells: cells.length};
}"""

JS_RUN_ALL = "(path) => {" + _JS_FIND_PANEL + """
  const p = findPanel(path);
  window.jupyterapp.shell.activateById(p.id);
  // Not awaited on purpose: the promise can stay pending; the caller polls the kernel.
  window.jupyterapp.commands.execute('notebook:run-all-cells');
  return true;
}"""

JS_REPORT = "(path) => {" + _JS_FIND_PANEL + """
  const WIDGET = 'application/vnd.jupyter.widget-view+json';
  const p = findPanel(path);
  const clip = (s, n) => (s && s.length > n) ? s.slice(0, n) + '…' : (s || '');
  const widgetState = (node) => {
    const text = node.textContent || '';
    if (node.querySelector('.jupyter-widgets-error-widget')) return 'error: ' + clip(text.trim(), 200);
    if (text.startsWith('Error displaying widget')) return 'error: ' + clip(text.trim(), 200);
    if (text.startsWith('Loading widget')) return 'loading';
    if (node.classList.contains('lm-mod-hidden') || node.style.display === 'none') return 'hidden';
    if (node.querySelector('.jupyter-widgets')) return 'ok';
    return 'empty: ' + clip(text.trim(), 120);
  };
  return p.content.widgets.map((cell, index) => {
    const m = cell.model;
    const tags = (m.getMetadata ? m.getMetadata('tags') : (m.metadata && m.metadata.tags)) || [];
    const info = {index, type: m.type, tags, source: clip(m.sharedModel.getSource(), 5000)};
    if (m.type !== 'code') return info;
    info.execution_count = m.executionCount;
    info.outputs = [];
    for (let k = 0; k < m.outputs.length; k++) {
      const o = m.outputs.get(k).toJSON();
      const out = {output_type: o.output_type};
      if (o.output_type === 'stream') { out.name = o.name; out.text = clip(Array.isArray(o.text) ? o.text.join('') : o.text, 4000); }
      if (o.output_type === 'error') { out.ename = o.ename; out.evalue = clip(o.evalue, 2000);
                                       out.traceback = (o.traceback || []).slice(-6).map(t => clip(t, 1500)); }
      if (o.data) { out.mimes = Object.keys(o.data);
                    if (o.data['text/plain']) out.text = clip([].concat(o.data['text/plain']).join(''), 5000); }
      info.outputs.push(out);
    }
    // Top-level outputs: the k-th output area child shows model output k; a widget output
    // is rendered by the widget renderer (first in the mime order) when the extension works.
    const children = [...cell.node.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea > .jp-OutputArea-child, ' +
                                                    '.jp-OutputArea.jp-Cell-outputArea > .jp-OutputArea-child')];
    info.widgets = [];
    info.outputs.forEach((out, k) => {
      if (!(out.mimes || []).includes(WIDGET)) return;
      const node = children[k] && children[k].querySelector(':scope > .jp-OutputArea-output');
      info.widgets.push(node ? widgetState(node) : 'missing');
    });
    // What the page shows for error outputs (JupyterLab renders them as the stderr mime type,
    // so match them to the model's error outputs by position), plus any explicit error mime.
    info.dom_errors = [];
    info.outputs.forEach((out, k) => {
      if (out.output_type !== 'error') return;
      const node = children[k] && children[k].querySelector(':scope > .jp-OutputArea-output');
      info.dom_errors.push(node ? clip(node.textContent.trim(), 500) : '(error output not on the page)');
    });
    for (const node of cell.node.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]'))
      info.dom_errors.push(clip(node.textContent.trim(), 500));
    // Nested widget views (e.g. displayed inside an Output widget): only the failure texts.
    for (const node of cell.node.querySelectorAll('.jupyter-widgets .jp-OutputArea-output')) {
      const state = widgetState(node);
      if (state === 'loading' || state.startsWith('error')) info.widgets.push(state + ' (nested)');
    }
    info.text = clip(cell.node.querySelector('.jp-Cell-outputWrapper')?.innerText || '', 4000);
    return info;
  });
}"""

JS_HIDDEN_HEIGHT = "(path) => {" + _JS_FIND_PANEL + """
  // How many pixels of the notebook are scrolled out of view; scroll back to the top.
  const p = findPanel(path);
  let extra = 0;
  for (const n of [p.content.node, ...p.content.node.querySelectorAll('.jp-WindowedPanel-outer')]) {
    extra = Math.max(extra, n.scrollHeight - n.clientHeight);
    n.scrollTop = 0;
  }
  return extra;
}"""

IGNORE_ERROR_TAGS = {"raises-exception", "nbval-raises-exception"}


@dataclass
class Problem:
    cell: int | None
    kind: str
    text: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "notebook"
        return f"{where}: {self.kind}: {self.text}"


@dataclass
class NotebookRun:
    """One notebook opened in the browser, run top to bottom, and what came out of it."""
    name: str          # e.g. notebooks/00_measure.ipynb (path inside the lab root)
    page: object
    seconds: float = 0.0
    cells: list = field(default_factory=list)
    finished: bool = False
    timeline: list = field(default_factory=list)

    # -- checks, each a list of Problems ------------------------------------------------
    def error_problems(self) -> list[Problem]:
        problems = []
        if not self.finished:
            problems.append(Problem(None, "run did not finish", f"still running after {RUN_TIMEOUT:.0f} s"))
        for cell in self.cells:
            if cell["type"] != "code" or IGNORE_ERROR_TAGS & set(cell["tags"]):
                continue
            for out in cell["outputs"]:
                if out["output_type"] == "error":
                    tb = ANSI.sub("", "\n".join(out.get("traceback") or [])).strip()
                    problems.append(Problem(cell["index"], f"{out['ename']}: {out['evalue']}",
                                            "\n    " + tb.replace("\n", "\n    ") if tb else ""))
            if cell["dom_errors"] and not any(o["output_type"] == "error" for o in cell["outputs"]):
                problems.append(Problem(cell["index"], "error output shown", cell["dom_errors"][0]))
        not_run = [c["index"] for c in self.cells if c["type"] == "code" and c["execution_count"] is None
                   and c["source"].strip()]
        if not_run and self.finished:
            problems.append(Problem(not_run[0], "cells not executed",
                                    f"{len(not_run)} code cell(s) never ran (first: cell {not_run[0]}): "
                                    "the run stopped early"))
        return problems

    def widget_problems(self) -> list[Problem]:
        problems = []
        for cell in self.cells:
            for number, state in enumerate(cell.get("widgets", [])):
                if state not in ("ok", "hidden"):
                    kind = "widget stuck at 'Loading widget...'" if state.startswith("loading") else \
                        "Error displaying widget" if state.startswith("error") else \
                        "widget did not render (no widget view on the page: is the @jupyter-widgets/" \
                        "jupyterlab-manager extension installed and enabled?)"
                    problems.append(Problem(cell["index"], kind, f"widget view #{number}: {state}"))
        return problems

    def stderr(self) -> list[tuple[int, str]]:
        return [(c["index"], o["text"]) for c in self.cells if c["type"] == "code"
                for o in c["outputs"] if o["output_type"] == "stream" and o.get("name") == "stderr"]

    def explorer_cells(self) -> list[int]:
        """Cells that show a speed-up explorer according to the kernel (source or widget repr)."""
        return [c["index"] for c in self.cells if c["type"] == "code" and (
            "speedup_explorer(" in c["source"] or any(
                WIDGET_MIME in o.get("mimes", []) and "description='max size'" in o.get("text", "")
                for o in c["outputs"]))]

    def widget_count(self) -> int:
        return sum(len(c.get("widgets", [])) for c in self.cells)


def format_problems(name: str, what: str, problems: list[Problem]) -> str:
    lines = [f"{name}: {what} ({len(problems)} problem(s)):"] + [f"  - {p}" for p in problems]
    return "\n".join(lines)


class Lab:
    """Opens notebooks of a running LabServer in a browser context."""

    def __init__(self, server: LabServer, context):
        self.server, self.context, self._workspace = server, context, 0

    def open(self, name: str, timeout: float = START_TIMEOUT) -> NotebookRun:
        self._workspace += 1
        page = self.context.new_page()
        page.set_default_timeout(60_000)
        messages = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        run = NotebookRun(name, page)
        run.console = messages
        # A fresh workspace each time, so JupyterLab does not reopen earlier notebooks.
        page.goto(f"{self.server.url}/lab/workspaces/t{self._workspace}/tree/{name}?reset&token={self.server.token}",
                  wait_until="domcontentloaded", timeout=120_000)
        state = self.wait(run, lambda s: s.get("found") and s.get("ready") and s.get("status") == "idle",
                          timeout, "kernel idle after opening")
        run.kernel = state.get("kernel")
        self.dismiss_popups(page)
        # More room for the notebook (and its screenshot): hide the file browser.
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        return run

    def state(self, run: NotebookRun) -> dict:
        return run.page.evaluate(JS_STATE, run.name)

    def wait(self, run: NotebookRun, predicate, timeout: float, what: str, interval: float = 0.5) -> dict:
        deadline, state = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            try:
                state = self.state(run)
            except Exception as exc:  # page still booting: window.jupyterapp not there yet
                state = {"error": str(exc)[:200]}
            if predicate(state):
                return state
            time.sleep(interval)
        raise TimeoutError(f"{run.name}: timed out after {timeout:.0f} s waiting for {what}; last state {state}")

    @staticmethod
    def dismiss_popups(page) -> None:
        """The news question should be switched off by settings; answer it if it shows anyway."""
        for label in ("No",):
            button = page.locator(".jp-Notification-Toast button", has_text=label)
            try:
                if button.count():
                    button.first.click(timeout=2000)
            except Exception:
                pass

    def run_all(self, run: NotebookRun, timeout: float = RUN_TIMEOUT) -> NotebookRun:
        start = time.monotonic()
        run.page.evaluate(JS_RUN_ALL, run.name)
        # Done when the kernel is idle and no cell shows [*], stable for a couple of polls.
        # A run that stops at an error leaves later cells unexecuted: that is "done" too.
        stable, deadline, state, retried = 0, start + timeout, {}, False
        while time.monotonic() < deadline:
            state = self.state(run)
            if (not retried and state.get("executed") == 0 and state.get("running") == 0
                    and time.monotonic() - start > 20):
                run.page.evaluate(JS_RUN_ALL, run.name)  # the command did not take: ask once more
                retried = True
            idle = state.get("status") == "idle" and state.get("running") == 0 and state.get("executed", 0) > 0
            if idle and state["executed"] == state["code"]:
                stable += 1
                if stable >= 2:
                    break
            elif idle:
                stable += 1  # stopped early (an error) or empty cells: give it a few seconds
                if stable >= 8:
                    break
            else:
                stable = 0
            time.sleep(0.5)
        else:
            run.seconds = time.monotonic() - start
            run.finished = False
            self.settle_widgets(run, timeout=5)
            return run
        run.finished = True
        run.seconds = time.monotonic() - start
        self.settle_widgets(run)
        return run

    def settle_widgets(self, run: NotebookRun, timeout: float = 30) -> None:
        """Collect the report; re-collect while a widget still says 'Loading widget...'."""
        deadline = time.monotonic() + timeout
        while True:
            run.cells = run.page.evaluate(JS_REPORT, run.name)
            loading = any(s.startswith("loading") for c in run.cells for s in c.get("widgets", []))
            if not loading or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def screenshot(self, run: NotebookRun, path: Path) -> Path:
        """The whole notebook: JupyterLab scrolls inside a panel, so grow the viewport to fit."""
        path.parent.mkdir(parents=True, exist_ok=True)
        page = run.page
        size = page.viewport_size or {"width": 1400, "height": 900}
        try:
            extra = int(page.evaluate(JS_HIDDEN_HEIGHT, run.name))
            page.set_viewport_size({"width": size["width"], "height": min(size["height"] + extra + 40, 16000)})
            page.wait_for_timeout(700)
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        return path

    def close(self, run: NotebookRun) -> None:
        """Close without saving: shut the kernel down, drop the page."""
        self.server.shutdown_sessions(run.name)
        try:
            run.page.close(run_before_unload=False)
        except Exception:
            pass


# --------------------------------------------------------------------------------------
# The speed-up explorer (fastgrad.widgets.speedup_explorer)
# --------------------------------------------------------------------------------------
JS_EXPLORERS = """(path) => {""" + _JS_FIND_PANEL + """
  const p = findPanel(path);
  const found = [];
  p.content.widgets.forEach((cell, index) => {
    cell.node.querySelectorAll('.widget-vbox').forEach((box) => {
      const button = [...box.querySelectorAll(':scope > .widget-hbox button')].find(b => b.textContent.trim() === 'Run');
      const slider = [...box.querySelectorAll(':scope > .widget-hbox .widget-slider')]
          .find(s => (s.querySelector('.widget-label')?.textContent || '').trim() === 'max size');
      if (button && slider) {
        const n = found.length;
        box.setAttribute('data-fastgrad-explorer', String(n));
        found.push({cell: index, n});
      }
    });
  });
  return found;
}"""


def explorer_state(page, n: int) -> dict:
    return page.evaluate("""(n) => {
      const box = document.querySelector('[data-fastgrad-explorer="' + n + '"]');
      const status = box.querySelector(':scope > .widget-html')?.innerText || '';
      const img = box.querySelector(':scope > .widget-output img');
      const readout = box.querySelector('.widget-slider .widget-readout')?.textContent || '';
      const select = box.querySelector('.widget-dropdown select');
      const button = [...box.querySelectorAll('button')].find(b => b.textContent.trim() === 'Run');
      const m = status.match(/Run (\\d+)/);
      return {status, run: m ? Number(m[1]) : 0, img: img ? img.src.slice(-200) + ':' + img.src.length : null,
              readout, dtype: select ? select.value : null, disabled: button ? button.disabled : null};
    }""", n)


def repo_notebooks(folder: str) -> list[str]:
    """Notebook names in the repository's notebooks/ or exercises/, found at collection time."""
    return sorted(p.name for p in (REPO / folder).glob("*.ipynb"))


def screenshot_name(name: str) -> str:
    """notebooks/00_measure.ipynb -> 00_measure; anything else -> folder__stem."""
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    return stem.split("/", 1)[1] if stem.startswith("notebooks/") else stem.replace("/", "__")


def run_notebook(lab: Lab, name: str) -> NotebookRun:
    """Open `name` (a path inside the lab root), run all cells, screenshot it; caller closes."""
    t0 = time.monotonic()
    run = lab.open(name)
    run.open_seconds = time.monotonic() - t0
    try:
        lab.run_all(run)
        t1 = time.monotonic()
        run.screenshot_path = lab.screenshot(run, ARTIFACTS / f"{screenshot_name(name)}.png")
        run.screenshot_seconds = time.monotonic() - t1
        write_report(run)
    except BaseException:
        try:
            lab.screenshot(run, ARTIFACTS / f"{screenshot_name(name)}.failed.png")
        except Exception:
            pass
        lab.close(run)
        raise
    return run


def write_report(run: NotebookRun) -> Path:
    """artifacts/browser/<name>.report.json: timing, problems, stderr, browser console errors."""
    path = ARTIFACTS / f"{screenshot_name(run.name)}.report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "notebook": run.name, "kernel": getattr(run, "kernel", None), "finished": run.finished,
        "open_seconds": round(getattr(run, "open_seconds", 0), 1), "run_seconds": round(run.seconds, 1),
        "screenshot_seconds": round(getattr(run, "screenshot_seconds", 0), 1), "widgets": run.widget_count(),
        "problems": [str(p) for p in run.error_problems() + run.widget_problems()],
        "stderr": [{"cell": i, "text": t[:1000]} for i, t in run.stderr()],
        "console_errors": getattr(run, "console", [])[:50]}, indent=1, ensure_ascii=False))
    return path


def exercise_explorer(lab: Lab, run: NotebookRun, n: int, timeout: float = 240) -> dict:
    """Move explorer `n`'s size slider and dtype, press Run, wait for the redraw.

    Returns before/after states; raises AssertionError naming the notebook when the plot
    was not redrawn or the explorer reported an error."""
    page, where = run.page, f"{run.name}: speed-up explorer #{n}"
    box = page.locator(f'[data-fastgrad-explorer="{n}"]')
    box.scroll_into_view_if_needed()
    # The explorer may still be measuring its first run (button disabled): let it finish.
    deadline = time.monotonic() + timeout
    while explorer_state(page, n)["disabled"] and time.monotonic() < deadline:
        time.sleep(0.5)
    before = explorer_state(page, n)
    assert "Error" not in before["status"], f"{where} shows an error before any interaction: {before['status']}"

    handle = box.locator(".widget-slider .noUi-handle").first
    handle.focus()
    key = "ArrowLeft"
    handle.press(key)
    page.wait_for_timeout(300)
    if explorer_state(page, n)["readout"] == before["readout"]:  # already at the minimum
        key = "ArrowRight"
        handle.press(key)
    handle.press(key)
    handle.blur()
    select = box.locator(".widget-dropdown select").first
    options = select.locator("option").all_inner_texts()
    if len(options) > 1:
        select.select_option(label=next(o for o in options if o != before["dtype"]))
    page.wait_for_timeout(500)  # let the new values reach the kernel before Run reads them
    moved = explorer_state(page, n)
    assert (moved["readout"], moved["dtype"]) != (before["readout"], before["dtype"]), \
        f"{where}: moving the slider / dtype changed nothing on the page ({before} -> {moved})"

    box.locator("button", has_text="Run").first.click()
    deadline, after = time.monotonic() + timeout, moved
    while time.monotonic() < deadline:
        after = explorer_state(page, n)
        if (after["run"] > before["run"] and not after["disabled"]) or "Error" in after["status"]:
            break
        time.sleep(0.5)
    assert "Error" not in after["status"], f"{where}: Run failed: {after['status']}"
    assert after["run"] > before["run"], \
        f"{where}: pressing Run did not finish a new run within {timeout:.0f} s (status: {after['status']!r})"
    assert after["img"] and after["img"] != before["img"], \
        f"{where}: status says run {after['run']} but the plot image did not change"
    match = re.search(r"up to ([\d,]+)", after["status"])
    try:
        wanted = int(round(float(moved["readout"])))
    except ValueError:
        wanted = None
    if match and wanted:
        got = int(match.group(1).replace(",", ""))
        # The readout has one significant digit (".0e"), so compare orders of magnitude.
        assert abs(math.log10(max(got, 1) / wanted)) < 0.35, \
            f"{where}: slider shows max size {moved['readout']} but Run measured up to {got:,}"
    return {"before": before, "moved": moved, "after": after}
