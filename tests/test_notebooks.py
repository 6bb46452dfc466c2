"""Structure of the committed notebooks: executed in one clean run, mostly validated by nbval."""
import re

import pytest

from notebook_utils import ROOT, is_ignored, is_validated, notebooks, read

CHAPTERS = notebooks("notebooks", "solutions")
MIN_VALIDATED = 0.60


def _id(path):
    return f"{path.parent.name}/{path.name}"


def test_every_chapter_has_solutions_and_exercises():
    for nb in notebooks("solutions"):
        assert (ROOT / "exercises" / nb.name).exists(), f"exercises/{nb.name} missing: run `make exercises`"
    for nb in notebooks("notebooks"):
        assert (ROOT / "solutions" / nb.name).exists(), f"chapter {nb.name} has no solutions/{nb.name}"


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_mostly_validated(path):
    """At least 60% of output-producing code cells are compared by nbval. A cell whose
    only output is a figure (nbval skips images; the `<Figure ...>` repr checks nothing)
    or a widget counts as not validated."""
    cells = [c for c in read(path).cells if c.cell_type == "code" and c.get("outputs")]
    assert cells, f"{_id(path)} has no outputs: execute it with `make notebooks`"
    validated = [c for c in cells if is_validated(c)]
    share = len(validated) / len(cells)
    assert share >= MIN_VALIDATED, (f"{_id(path)}: only {len(validated)}/{len(cells)} = {share:.0%} of output "
                                    f"cells are validated by nbval (need {MIN_VALIDATED:.0%}); ignore only "
                                    f"machine-dependent output, and let figure cells also print a checked fact")


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_executed_top_to_bottom_in_one_run(path):
    counts = [c.execution_count for c in read(path).cells if c.cell_type == "code" and c.source.strip()]
    assert None not in counts, f"{_id(path)} has unexecuted cells: run `make notebooks`"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{_id(path)} was not executed top to bottom from a clean kernel (execution counts {counts[:12]}...)")


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_no_stored_errors(path):
    for index, cell in enumerate(read(path).cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or "raises-exception" in tags:
            continue
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{_id(path)} cell {index} stored an error: {errors[0].ename}: {errors[0].evalue}"


OUTSIDE_PATH = re.compile(r"(\.\./)+shared/|shared/seeds|seeds/[\w-]+\.md")


@pytest.mark.parametrize("path", CHAPTERS + notebooks("exercises"), ids=_id)
def test_no_path_outside_the_repository(path):
    """Claims cite sources a reader can see: a report described in words, not a path that
    exists only on the machine the course was written on."""
    for index, cell in enumerate(read(path).cells):
        texts = [cell.source] + [str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                                 for o in cell.get("outputs", [])]
        for text in texts:
            found = OUTSIDE_PATH.search(text)
            assert not found, f"{_id(path)} cell {index} mentions {found.group(0)!r}, a path outside the repository"
