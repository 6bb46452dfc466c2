#!/usr/bin/env python
"""Generate exercises/ from solutions/ (nbformat only; nbgrader's markers).

In every code cell of solutions/NN_slug.ipynb, the lines between
`### BEGIN SOLUTION` and `### END SOLUTION` (markers included) are replaced by
`raise NotImplementedError("...")` at the marker's indentation. Outputs, execution
counts and stored widget state are cleared. Cells tagged `solution-only` are dropped.

    python tools/make_exercises.py           # write exercises/
    python tools/make_exercises.py --check   # exit 1 if exercises/ is stale
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
STUB = 'raise NotImplementedError("Exercise: write your code here, then run the check cell below.")'


class MarkerError(ValueError):
    pass


def strip_solution(source: str, where: str = "") -> str:
    """Replace every BEGIN/END SOLUTION block in `source` with an indented stub."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where} line {number}: BEGIN SOLUTION inside another solution block")
            inside = True
            out.append(begin.group(1) + STUB)
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{where} line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """The exercise notebook for one solution notebook."""
    nb = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(nb.cells):
        if "solution-only" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source = strip_solution(cell.source, f"{name} cell {index}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        cell.pop("id", None)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    # Cell ids are dropped and the notebook written as nbformat 4.4 so regenerating is byte-stable.
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when exercises/ is out of date")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)

    stale = []
    expected_names = set()
    for path in sorted(args.solutions.glob("*.ipynb")):
        expected_names.add(path.name)
        text = render(make_exercise(nbformat.read(path, as_version=4), path.name))
        target = args.exercises / path.name
        if not target.exists() or target.read_text() != text:
            stale.append(target)
            if not args.check:
                args.exercises.mkdir(exist_ok=True)
                target.write_text(text)
                print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    extra = [p for p in args.exercises.glob("*.ipynb") if p.name not in expected_names]
    if args.check:
        if stale or extra:
            for p in stale:
                print(f"stale: {p.name} (solutions/ changed; run `make exercises`)")
            for p in extra:
                print(f"orphan: exercises/{p.name} has no solutions/{p.name}")
            return 1
        print(f"exercises/ is in sync with solutions/ ({len(expected_names)} notebooks)")
        return 0
    for p in extra:
        p.unlink()
        print(f"removed orphan {p.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
