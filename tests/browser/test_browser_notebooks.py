"""Every chapter notebook, run top to bottom in JupyterLab in Chromium (see conftest.py)."""
from __future__ import annotations

import pytest

import labdriver as L

pytestmark = pytest.mark.browser

NOTEBOOKS = L.repo_notebooks("notebooks")


@pytest.fixture(scope="module", params=NOTEBOOKS or [None], ids=lambda name: name or "none")
def notebook(request, lab):
    """The notebook, opened and run once; the three tests below inspect the same run."""
    if request.param is None:
        pytest.skip("no notebooks in notebooks/ yet")
    run = L.run_notebook(lab, f"notebooks/{request.param}")
    yield run
    lab.close(run)


def test_runs_without_errors(notebook):
    problems = notebook.error_problems()
    assert not problems, L.format_problems(notebook.name, "error outputs after Run All", problems)


def test_widgets_render(notebook):
    problems = notebook.widget_problems()
    assert not problems, L.format_problems(notebook.name, "widgets not rendered after Run All", problems)


def test_speedup_explorer_redraws(notebook, lab):
    explorers = notebook.page.evaluate(L.JS_EXPLORERS, notebook.name)
    expected = notebook.explorer_cells()
    if not explorers and not expected:
        pytest.skip(f"{notebook.name}: no speed-up explorer (a 'Run' button next to a 'max size' slider)")
    missing = sorted(set(expected) - {e["cell"] for e in explorers})
    assert not missing, (f"{notebook.name}: cell(s) {missing} create a speed-up explorer but none is on the page "
                         "(no 'Run' button next to a 'max size' slider)")
    for explorer in explorers:
        L.exercise_explorer(lab, notebook, explorer["n"])
    lab.screenshot(notebook, L.ARTIFACTS / f"{L.screenshot_name(notebook.name)}.explorer.png")
