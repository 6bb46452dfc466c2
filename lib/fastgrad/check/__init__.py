"""Exercise checkers, one module per chapter (`fastgrad.check.ch00`, `...ch01`, ...).

Each checker takes the learner's function, runs it on fixed, random and adversarial
cases, prints a verdict a learner can act on and returns a `CheckResult`.
"""
import importlib

from ._base import (TIME_LIMIT, Case, CaseFailed, CheckResult, expect_close, expect_equal, expect_new_array,
                    expect_unchanged, learner_frame, read_only, run_cases)

__all__ = ["TIME_LIMIT", "Case", "CaseFailed", "CheckResult", "expect_close", "expect_equal", "expect_new_array",
           "expect_unchanged", "learner_frame", "read_only", "run_cases"]


def __getattr__(name):
    # `fastgrad.check.ch01` works after `import fastgrad.check`, without importing every chapter.
    if name.startswith("ch") and name[2:].isdigit():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(name)
