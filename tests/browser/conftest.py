"""The course tested the way learners use it: JupyterLab in a real (headless) Chromium.

What it does
    One JupyterLab server per test session (127.0.0.1, a free port, a random token, its own
    temporary JUPYTER_CONFIG_DIR / JUPYTER_DATA_DIR / JUPYTER_RUNTIME_DIR; the kernel is the
    venv's own `python3`), rooted at a temporary copy of the repository in which
    `notebooks/` and `exercises/` are clean copies (no outputs) and everything else is a
    symlink, so a browser run never changes the work tree. One Chromium (Debian's
    /usr/bin/chromium, driven by Playwright's sync API, fresh profile) per session.

    For every notebook in notebooks/: open it, wait for the kernel, run all cells, wait
    until the kernel is idle and no cell shows [*], then check there are no error outputs
    and that every widget rendered; for a speed-up explorer (fastgrad.widgets), move its
    controls, press Run and check the plot was redrawn. One exercise notebook is run
    blank and its check cells must show the friendly "not implemented yet". A self-test
    builds a notebook with a deliberately broken widget and a failing cell and checks the
    detectors flag both, naming the notebook.

    Screenshots: artifacts/browser/<notebook>.png (artifacts/ is git-ignored); the server log
    is copied to artifacts/browser/jupyterlab.log.

How to run
    make test-browser                      # or: .venv/bin/pytest -rs -m browser tests/browser
    .venv/bin/pytest -rs tests/browser -k 00_measure          # one notebook
    FASTGRAD_BROWSER_EXERCISES=all make test-browser           # every exercise notebook

    Needs /usr/bin/chromium (apt-get install chromium) and Playwright
    (.venv/bin/pip install playwright; no browser download, we use Debian's Chromium).
    Without them every test here is skipped with a reason saying what is missing
    (`make test` prints it before running; `-rs` lists it at the end).

    Environment knobs: FASTGRAD_CHROMIUM (path to chromium), FASTGRAD_BROWSER_TIMEOUT
    (seconds per notebook run, default 300), FASTGRAD_BROWSER_START_TIMEOUT (server start,
    default 180), FASTGRAD_BROWSER_HEADFUL=1 (watch it, needs a display),
    FASTGRAD_BROWSER_DISABLE_EXTENSIONS=@jupyter-widgets/jupyterlab-manager (start JupyterLab
    with that extension disabled: what a learner without working widget JS sees; the suite
    must then fail, naming each notebook and cell whose widget did not render).
    Per-notebook timings, stderr and browser console errors: artifacts/browser/*.report.json.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import labdriver as L  # noqa: E402

MISSING = L.missing_requirements()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if MISSING:
                item.add_marker(pytest.mark.skip(reason=MISSING))


# Closers of the session's server and browser, run (once) as soon as the last browser test
# is done, so they do not sit in memory while `make test` goes on with nbval; the session
# fixtures' finalizers call them too, for runs that stop early or fail.
_CLOSERS: list = []


def _close_all() -> None:
    while _CLOSERS:
        try:
            _CLOSERS.pop()()
        except Exception as exc:  # keep closing the rest
            print(f"browser suite: cleanup error: {exc!r}", file=sys.stderr)


def _is_browser_item(item) -> bool:
    return item is not None and Path(__file__).parent in Path(str(item.fspath)).parents


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    if _is_browser_item(item) and not _is_browser_item(nextitem):
        _close_all()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab server on a temporary copy of the repository; stopped by PID at the end."""
    if MISSING:
        pytest.skip(MISSING)
    base = tmp_path_factory.mktemp("lab")
    root = L.make_lab_root(base / "root")
    server = L.LabServer(root=root, home=base / "jupyter")

    def close():
        server.stop()
        L.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy(server.log_path, L.ARTIFACTS / "jupyterlab.log")
        except OSError:
            pass

    _CLOSERS.append(close)
    try:
        server.start()  # stops the server itself if it does not come up
        yield server
    finally:
        _close_all()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """One headless Chromium (Debian's), fresh profile, for the whole session."""
    if MISSING:
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    _CLOSERS.append(playwright.stop)
    try:
        headful = os.environ.get("FASTGRAD_BROWSER_HEADFUL") == "1"
        args = [a for a in L.CHROMIUM_ARGS if not (headful and a == "--headless")]
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=L.CHROMIUM, args=args,
            headless=not headful, viewport={"width": 1400, "height": 900}, timeout=120_000)
        _CLOSERS.append(context.close)
        yield context
    finally:
        _close_all()


@pytest.fixture(scope="session")
def lab(lab_server, browser_context):
    return L.Lab(lab_server, browser_context)
