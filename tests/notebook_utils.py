"""Helpers shared by the notebook tests."""
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip", "raises-exception", "nbval-raises-exception"}
IGNORE_COMMENTS = ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP", "# NBVAL_RAISES_EXCEPTION")


def notebooks(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).glob("*.ipynb"))]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def is_ignored(cell) -> bool:
    """True when nbval does not compare this cell's output."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    return bool(tags & IGNORE_TAGS) or cell.source.lstrip().startswith(IGNORE_COMMENTS)
