"""Session-wide settings for the test suite."""
import importlib.util
import os
import tempfile

import pytest

# The lazy compiler's disk cache (fastgrad.lazy.codegen) goes to a fresh directory: tests and
# the notebooks nbval runs (their kernels inherit this environment) never read kernels an
# earlier run left in ~/.cache, so compile counts and timings are the same on every run.
os.environ["FASTGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastgrad-test-cache-")


def pytest_sessionstart(session):
    # CI sets FASTGRAD_REQUIRE_TORCH=1 after installing the CPU build of PyTorch: there the
    # reference tests must run, so a missing torch is an error rather than a quiet skip.
    if os.environ.get("FASTGRAD_REQUIRE_TORCH") == "1" and importlib.util.find_spec("torch") is None:
        raise pytest.UsageError("FASTGRAD_REQUIRE_TORCH=1 but torch is not installed: the PyTorch reference "
                                "tests (tests/test_torch_reference.py) would be skipped")
