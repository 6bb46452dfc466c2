#!/usr/bin/env python
"""Say, before the tests run, whether the browser suite (tests/browser) can run here."""
import importlib.util
import shutil
import sys

sys.path.insert(0, "tests/browser")
chromium = shutil.which("chromium") or (shutil.os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium")
playwright = importlib.util.find_spec("playwright") is not None
if chromium and playwright:
    print(f"browser suite: will run (Chromium at {chromium}, Playwright installed)")
else:
    missing = [name for name, ok in (("Chromium (apt-get install chromium)", chromium),
                                     ("Playwright (.venv/bin/pip install playwright)", playwright)) if not ok]
    print("browser suite: SKIPPED, missing " + " and ".join(missing) + "; .ci/run installs both.")
