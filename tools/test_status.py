#!/usr/bin/env python
"""Say, before the tests run, which optional parts of `make test` can run here and why not.

- the browser suite (tests/browser) needs Debian's Chromium and Playwright;
- the PyTorch reference tests (tests/test_torch_reference.py) need torch (CPU build).
Both are skipped cleanly without them; this line makes the skip visible up front.
"""
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from labdriver import CHROMIUM, missing_requirements  # noqa: E402

reason = missing_requirements()
if reason is None:
    print(f"browser suite: will run (Chromium at {CHROMIUM}, Playwright installed)")
else:
    print(f"browser suite: SKIPPED ({reason.removeprefix('browser suite skipped: ')})")

if importlib.util.find_spec("torch") is None:
    print("PyTorch reference tests: SKIPPED (torch is not installed; `.venv/bin/pip install torch==2.13.0` "
          "or the CPU build from PyTorch's index runs them)")
else:
    from importlib.metadata import version
    print(f"PyTorch reference tests: will run (torch {version('torch')})")
