"""A blank exercise notebook runs top to bottom and its checks say "not implemented yet"."""
from __future__ import annotations

import os
import re

import pytest

import labdriver as L

pytestmark = pytest.mark.browser

EXERCISES = L.repo_notebooks("exercises")
if os.environ.get("FASTGRAD_BROWSER_EXERCISES") != "all":
    # One is enough to show the checks render in the browser; prefer the first chapter.
    EXERCISES = EXERCISES[:1]
CHECK_CALL = re.compile(r"\b(?:check\.)?ch\d+\.\w+\(")
VERDICT = re.compile(r"(✅|❌|⏳) \w+:")


@pytest.fixture(scope="module", params=EXERCISES or [None], ids=lambda name: name or "none")
def exercise(request, lab):
    if request.param is None:
        pytest.skip("no notebooks in exercises/ yet (make exercises)")
    run = L.run_notebook(lab, f"exercises/{request.param}")
    yield run
    lab.close(run)


def test_exercise_runs_blank_with_friendly_checks(exercise):
    name = exercise.name
    problems = exercise.error_problems() + exercise.widget_problems()
    assert not problems, L.format_problems(name, "a blank exercise notebook must run without errors", problems)
    verdicts = {c["index"]: VERDICT.findall(c["text"]) for c in exercise.cells if c["type"] == "code"}
    todo = [i for i, c in enumerate(exercise.cells) if "not implemented yet" in c.get("text", "")]
    assert todo, f"{name}: no check cell shows the friendly 'not implemented yet' message"
    failing = [i for i, v in verdicts.items() if "❌" in v]
    assert not failing, (f"{name}: check cell(s) {failing} report a failure on the blank stubs instead of "
                         f"'not implemented yet': " + "; ".join(exercise.cells[i]["text"][:300] for i in failing))
    silent = [c["index"] for c in exercise.cells if c["type"] == "code" and CHECK_CALL.search(c["source"])
              and not verdicts.get(c["index"])]
    assert not silent, f"{name}: check cell(s) {silent} call a checker but show no verdict on the page"
