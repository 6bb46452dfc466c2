"""The exercise pipeline: exercises/ is generated from solutions/ and runs top to bottom."""
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_utils import ROOT, notebooks, read

sys.path.insert(0, str(ROOT / "tools"))
import make_exercises  # noqa: E402


def test_strip_keeps_indentation_and_code_around():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\nprint(f)"
    stripped = make_exercises.strip_solution(source)
    assert stripped == f"def f(x):\n    y = 1\n    {make_exercises.STUB}\n\nprint(f)"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "without END"),
    ("x = 1\n### END SOLUTION", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_bad_markers_are_errors(source, problem):
    with pytest.raises(make_exercises.MarkerError, match=problem):
        make_exercises.strip_solution(source, "demo.ipynb cell 3")


def test_exercise_cells_are_cleared_and_solution_only_cells_dropped():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                          execution_count=3, outputs=[nbformat.v4.new_output("stream", text="hi")]),
                nbformat.v4.new_code_cell("secret = 42", metadata={"tags": ["solution-only"]})]
    nb.metadata["widgets"] = {"state": {}}
    exercise = make_exercises.make_exercise(nb)
    assert len(exercise.cells) == 1
    cell = exercise.cells[0]
    assert cell.outputs == [] and cell.execution_count is None and "return 1" not in cell.source
    assert "widgets" not in exercise.metadata


def test_exercises_are_in_sync_with_solutions():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", notebooks("solutions"), ids=lambda p: p.name)
def test_solutions_have_exercises_and_checks(path):
    sources = [c.source for c in read(path).cells if c.cell_type == "code"]
    assert any("### BEGIN SOLUTION" in s for s in sources), f"{path.name} has no exercise"
    assert any("check." in s for s in sources), f"{path.name} has no check cell"


@pytest.mark.slow
@pytest.mark.parametrize("path", notebooks("exercises"), ids=lambda p: p.name)
def test_blank_exercise_notebook_runs_top_to_bottom(path, tmp_path):
    """A learner who runs the untouched exercise notebook sees friendly 'not implemented yet' verdicts."""
    nb = read(path)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.output_type == "stream")
    checks = sum(c.source.count("check.ch") for c in nb.cells if c.cell_type == "code")
    assert text.count("not implemented yet") >= checks > 0, (
        f"{path.name}: expected a 'not implemented yet' verdict from each of {checks} check cells:\n{text}")
    assert "Traceback" not in text
