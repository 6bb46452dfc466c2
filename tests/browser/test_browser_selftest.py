"""The suite's own detectors, proved on notebooks built here (never committed):
a good one (venv kernel, a slider, a tiny speed-up explorer) must pass every check, and a
broken one (a widget whose JavaScript cannot load, a failing cell) must be flagged with
messages that name the notebook and the cell."""
from __future__ import annotations

import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import labdriver as L

pytestmark = pytest.mark.browser

KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}

GOOD = [
    "import sys\nprint(sys.executable)",
    "import ipywidgets as W\nW.IntSlider(value=3, description='n')",
    ("import numpy as np\nfrom fastgrad.widgets import speedup_explorer\n"
     "speedup_explorer({'add': lambda a, b: a + b, 'copy+add': lambda a, b: a.copy() + b},\n"
     "                 lambda n, dtype: (np.ones(n, dtype), np.ones(n, dtype)),\n"
     "                 min_size=10, max_size=10**4, default_size=10**3, points=3, repeats=1)"),
]

BROKEN_WIDGET = """import ipywidgets as W
from traitlets import Unicode

class Broken(W.DOMWidget):
    # A front-end module that does not exist: what a learner sees when widget JS fails to load.
    _model_module = Unicode('fastgrad-no-such-widget-module').tag(sync=True)
    _model_module_version = Unicode('^0.0.1').tag(sync=True)
    _model_name = Unicode('NoSuchModel').tag(sync=True)
    _view_module = Unicode('fastgrad-no-such-widget-module').tag(sync=True)
    _view_module_version = Unicode('^0.0.1').tag(sync=True)
    _view_name = Unicode('NoSuchView').tag(sync=True)

Broken()"""


# A widget view whose model the kernel never created (e.g. state from another session).
MISSING_MODEL = """from IPython.display import display
display({'application/vnd.jupyter.widget-view+json': {'model_id': 'fastgrad0no0such0model',
         'version_major': 2, 'version_minor': 0}, 'text/plain': 'a widget'}, raw=True)"""


def write_notebook(root, name, sources, tags=None):
    cells = [new_markdown_cell(f"# self-test {name}")]
    for index, source in enumerate(sources, 1):
        cell = new_code_cell(source)
        if tags and index in tags:
            cell.metadata["tags"] = tags[index]
        cells.append(cell)
    path = root / "selftest" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(new_notebook(cells=cells, metadata=KERNELSPEC), path)
    return f"selftest/{name}"


def test_good_notebook_passes_every_check(lab, lab_server):
    name = write_notebook(lab_server.root, "good.ipynb", GOOD)
    run = L.run_notebook(lab, name)
    try:
        assert run.kernel == "python3"
        executable = run.cells[1]["outputs"][0]["text"].strip()
        assert executable == sys.executable, f"kernel runs {executable}, expected the venv's {sys.executable}"
        problems = run.error_problems() + run.widget_problems()
        assert not problems, L.format_problems(name, "self-test notebook", problems)
        assert run.widget_count() >= 2
        explorers = run.page.evaluate(L.JS_EXPLORERS, run.name)
        assert [e["cell"] for e in explorers] == [3], explorers
        result = L.exercise_explorer(lab, run, 0)
        assert result["after"]["run"] == 2 and result["after"]["dtype"] == "float64", result
    finally:
        lab.close(run)


def test_broken_widget_and_error_are_flagged_with_the_notebook_name(lab, lab_server):
    sources = ["import ipywidgets as W\nW.IntSlider(value=3)", BROKEN_WIDGET, MISSING_MODEL,
               "raise ValueError('expected: tagged raises-exception')", "1 / 0", "print('never runs')"]
    name = write_notebook(lab_server.root, "broken.ipynb", sources, tags={4: ["raises-exception"]})
    run = L.run_notebook(lab, name)
    try:
        widget_problems = run.widget_problems()
        assert [p.cell for p in widget_problems] == [2, 3], widget_problems
        message = L.format_problems(run.name, "widgets not rendered after Run All", widget_problems)
        assert "selftest/broken.ipynb" in message and "cell 2" in message
        assert "Error displaying widget" in message, message
        assert widget_problems[1].kind in ("Error displaying widget", "widget stuck at 'Loading widget...'")

        errors = run.error_problems()
        assert [p.cell for p in errors] == [5, 6], errors  # 1/0, then the cell that never ran
        message = L.format_problems(run.name, "error outputs after Run All", errors)
        assert "selftest/broken.ipynb" in message and "ZeroDivisionError" in message, message
        assert "cell 4" not in message  # tagged raises-exception: expected
        assert run.cells[5]["dom_errors"] and "ZeroDivisionError" in run.cells[5]["dom_errors"][0]

        # The real test functions, fed this run, fail with the notebook's name and the cell.
        import test_browser_notebooks as T
        with pytest.raises(AssertionError, match=r"selftest/broken\.ipynb: widgets not rendered[\s\S]*cell 2"):
            T.test_widgets_render(run)
        with pytest.raises(AssertionError, match=r"selftest/broken\.ipynb: error outputs[\s\S]*cell 5: ZeroDivision"):
            T.test_runs_without_errors(run)
    finally:
        lab.close(run)
