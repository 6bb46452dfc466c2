"""Run a file of simulator tests in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1.

Numba reads the variable once, when it is first imported, and the main test process
imported numba long ago; so the CUDA-simulator tests live in tests/simulator_*.py (names
pytest does not collect by itself) and a normal test runs each of them through this."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def assert_passes_on_simulator(name: str, timeout: float = 900) -> None:
    """Run tests/<name> on the simulator; fail with its output unless every test passed."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / name)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
