"""Helpers shared by the notebook tests."""
import re
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


FIGURE_REPR = re.compile(r"^<(Figure|matplotlib\.[\w.]+|Axes[\w]*) [^>]*>$|^\[?<matplotlib\.[^>]*>(, <matplotlib\.[^>]*>)*\]?$")


def compared_text(cell) -> list[str]:
    """The outputs of `cell` that nbval really compares: stream text, errors and
    `text/plain` results, but not a figure's `<Figure size 640x480 with 1 Axes>` repr
    (nbval skips the image itself, so such a cell checks nothing) nor a widget's view."""
    texts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type == "error":
            texts.append(out.ename)
        else:
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                continue
            plain = data.get("text/plain", "")
            plain = plain if isinstance(plain, str) else "".join(plain)
            if plain.strip() and not FIGURE_REPR.match(plain.strip()):
                texts.append(plain)
    return [t for t in texts if t.strip()]


def is_validated(cell) -> bool:
    """True when nbval compares something real in this cell's output."""
    return not is_ignored(cell) and bool(compared_text(cell))
