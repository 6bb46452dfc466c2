"""Where fastgrad keeps files it builds at run time (generated kernels, the cube's BFS table)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$FASTGRAD_CACHE_DIR`, else `~/.cache/fastgrad` (not created here)."""
    return Path(os.environ.get("FASTGRAD_CACHE_DIR") or Path.home() / ".cache" / "fastgrad")
