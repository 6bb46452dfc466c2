#!/usr/bin/env python
"""Say, before the tests run, whether the browser suite (tests/browser) can run here."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from labdriver import CHROMIUM, missing_requirements  # noqa: E402

reason = missing_requirements()
if reason is None:
    print(f"browser suite: will run (Chromium at {CHROMIUM}, Playwright installed)")
else:
    print(f"browser suite: SKIPPED ({reason.removeprefix('browser suite skipped: ')})")
