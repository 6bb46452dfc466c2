#!/usr/bin/env python
"""Re-execute notebooks in place from a clean kernel (restart and run all).

    python tools/execute_notebooks.py notebooks/00_measure.ipynb solutions/*.ipynb
    python tools/execute_notebooks.py            # every notebook in notebooks/ and solutions/

Each notebook runs with its own directory as the working directory, as in JupyterLab.
Stops at the first cell that errors (unless it is tagged `raises-exception`).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path, timeout: int = 1800) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   record_timing=False).execute()
    nb.metadata.pop("widgets", None) if not _has_widget_outputs(nb) else None
    nbformat.write(nb, path)
    return time.perf_counter() - start


def _has_widget_outputs(nb) -> bool:
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb"))
    for path in paths:
        print(f"executing {path} ...", flush=True)
        print(f"  done in {execute(path.resolve()):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
