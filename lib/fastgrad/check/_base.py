"""The machinery every exercise checker shares.

A checker runs a learner's function on a list of cases (fixed ones, random ones and
adversarial ones), stops at the first case that fails and returns a `CheckResult`
whose message a learner can act on: which case, expected versus got, the first wrong
index. It never lets an exception escape: an unfinished stub gets a friendly
"not implemented yet", a crash in the learner's code is reported as a failed case.

Every case runs under a time limit (`Case.time_limit`, default `TIME_LIMIT` seconds),
so an infinite loop or an exponential algorithm becomes a failed case that names
itself instead of a hung cell. The limit uses SIGALRM, which interrupts Python code
only: a loop inside a Numba-compiled function cannot be interrupted in-process (the
kernel's interrupt button is the only way out), and off the main thread or on
Windows cases run without a limit.
"""
from __future__ import annotations

import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

PASS, FAIL, TODO = "pass", "fail", "todo"
TIME_LIMIT = 10.0   # seconds per case; generous for a first Numba compile on a slow laptop


@dataclass
class CheckResult:
    """Outcome of one checker: `status` is "pass", "fail" or "todo" (not implemented yet)."""

    name: str
    status: str
    message: str
    cases_run: int = 0
    info: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        icon = {PASS: "✅", FAIL: "❌", TODO: "⏳"}[self.status]
        text = f"{icon} {self.name}: {self.message}"
        return "\n".join([text, *("   " + line for line in self.info)])

    def _ipython_display_(self) -> None:
        # The checker already printed itself; showing the return value again would repeat it.
        pass


class CaseFailed(Exception):
    """Raised inside a case when the learner's answer is wrong; the text says how."""


class CaseTimeout(BaseException):
    """Raised by the alarm when a case runs past its time limit. A BaseException, so a
    learner's `except Exception:` cannot swallow it."""


@dataclass
class Case:
    """One test case: a description a learner understands and a function that runs it.

    `run(fn)` calls the learner's `fn` and raises `CaseFailed` with an explanation when
    the answer is wrong.
    """

    description: str
    run: Callable[[Callable], None]
    time_limit: float | None = None     # seconds; None means TIME_LIMIT


def learner_frame(exc: BaseException) -> str:
    """The last traceback line, so a learner sees where their code broke."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at line {last.lineno} in {last.name}: `{(last.line or '').strip()}`)"


def run_cases(name: str, fn: Callable, cases: Iterable[Case], *, show: bool = True,
              info: Callable[[Callable], list[str]] | None = None) -> CheckResult:
    """Run `cases` against `fn`, stop at the first failure, print and return the verdict."""
    result = _run(name, fn, list(cases))
    if result.passed and info is not None:
        try:
            result.info = list(info(fn))
        except Exception as exc:  # information only: never fail a correct answer over it
            result.info = [f"(could not measure: {type(exc).__name__}: {exc})"]
    if show:
        print(result)
    return result


def _alarm(signum, frame):
    raise CaseTimeout()


def _run_limited(case: Case, fn: Callable) -> None:
    """`case.run(fn)` interrupted by CaseTimeout after the case's time limit (where a
    SIGALRM timer is available: the main thread of a POSIX process)."""
    limit = TIME_LIMIT if case.time_limit is None else case.time_limit
    usable = (limit and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread())
    if not usable:
        case.run(fn)
        return
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        case.run(fn)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(name: str, fn: Callable, cases: list[Case]) -> CheckResult:
    if not callable(fn):
        return CheckResult(name, FAIL, f"expected a function, got {type(fn).__name__}.")
    for number, case in enumerate(cases, 1):
        try:
            _run_limited(case, fn)
        except CaseTimeout:
            limit = TIME_LIMIT if case.time_limit is None else case.time_limit
            return CheckResult(name, FAIL, f"case {number}/{len(cases)} ({case.description}) did not finish "
                               f"within {limit:g} s and was stopped: an endless loop, or an algorithm far "
                               "slower than needed (for example one that revisits shared work "
                               "exponentially often).", cases_run=number)
        except NotImplementedError:
            return CheckResult(name, TODO, "not implemented yet — replace the "
                               "`raise NotImplementedError` line with your code, then re-run this cell.")
        except CaseFailed as failure:
            return CheckResult(name, FAIL, f"case {number}/{len(cases)} ({case.description}): {failure}",
                               cases_run=number)
        except Exception as exc:
            if isinstance(exc, ValueError) and "read-only" in str(exc):
                return CheckResult(name, FAIL, f"case {number}/{len(cases)} ({case.description}): your "
                                   "function wrote into one of its inputs, which this case passes "
                                   f"read-only{learner_frame(exc)}. Compute into a new array (or the "
                                   "`out` you were given) and leave the inputs unchanged.", cases_run=number)
            return CheckResult(name, FAIL, f"case {number}/{len(cases)} ({case.description}) raised "
                               f"{type(exc).__name__}: {exc}{learner_frame(exc)}", cases_run=number)
    return CheckResult(name, PASS, f"all {len(cases)} cases pass.", cases_run=len(cases))


def expect_equal(expected: Any, got: Any, what: str = "result") -> None:
    """Exact comparison for ints, tuples and other plain values."""
    if _normalise(got) != _normalise(expected):
        raise CaseFailed(f"expected {what} {expected!r}, got {got!r}.")


def _normalise(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def expect_close(expected: np.ndarray, got: Any, *, rtol: float | None = None, atol: float | None = None,
                 what: str = "result", check_dtype: bool = True) -> None:
    """Compare arrays: shape, then dtype, then values; report the first wrong index.

    Tolerances default to a few units in the last place of the expected dtype.
    """
    expected = np.asarray(expected)
    if got is None:
        raise CaseFailed(f"the function returned None; expected the {what} (did you forget `return`?).")
    got_arr = np.asarray(got)
    if got_arr.shape != expected.shape:
        raise CaseFailed(f"{what} has shape {got_arr.shape}, expected {expected.shape}.")
    if check_dtype and expected.dtype.kind == "f" and got_arr.dtype != expected.dtype:
        raise CaseFailed(f"{what} has dtype {got_arr.dtype}, expected {expected.dtype}.")
    if expected.size == 0:
        return
    if expected.dtype.kind in "fc":
        eps = np.finfo(expected.dtype).eps
        rtol = 50 * eps if rtol is None else rtol
        atol = 50 * eps if atol is None else atol
        bad = ~np.isclose(got_arr, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = got_arr != expected
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = index if index else "()"
        count = int(bad.sum())
        raise CaseFailed(f"{what} differs at index {where}: expected {expected[index].item()!r}, got "
                         f"{got_arr[index].item()!r} ({count} of {bad.size} elements wrong).")


def read_only(*arrays: np.ndarray):
    """Copies of `arrays` that cannot be written to: a learner's function that mutates
    its input then raises, and the checker reports "wrote into one of its inputs"."""
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.setflags(write=False)
        out.append(a)
    return out[0] if len(out) == 1 else out


def expect_unchanged(before: np.ndarray, after: np.ndarray, what: str = "the input") -> None:
    """Fail when `after` (an input after the call) differs from its copy `before`."""
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
        raise CaseFailed(f"your function changed {what} in place; leave it unchanged and return a new array.")


def expect_new_array(got: Any, *inputs: np.ndarray, what: str = "result") -> None:
    """Fail when `got` is not an ndarray, or shares memory with one of `inputs`
    (a view of the input returned where a new array is asked for)."""
    if got is None:
        raise CaseFailed(f"the function returned None; expected the {what} (did you forget `return`?).")
    if not isinstance(got, np.ndarray):
        raise CaseFailed(f"{what} is a {type(got).__name__}, expected a NumPy array.")
    for x in inputs:
        if isinstance(x, np.ndarray) and np.shares_memory(got, x):
            raise CaseFailed(f"{what} shares memory with an input (a view such as a slice, reshape or "
                             "broadcast_to, or the input itself); return a new array so that writing to "
                             "it cannot change the input.")
    if not got.flags.writeable:
        raise CaseFailed(f"{what} is read-only (np.broadcast_to returns a read-only view); "
                         "return a writeable array, e.g. with .copy().")


def quick_time(fn: Callable, *args, repeats: int = 5) -> float:
    """Median seconds of `fn(*args)` after one warm-up call; for checkers' information lines."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ----------------------------------------------------------------------------- Numba kernels and `out=`
# Added for the chapter 02/03 checkers; generic for any checker of a learner's kernel.

def python_function(fn: Callable) -> Callable:
    """The plain Python function behind a Numba dispatcher (`fn.py_func`), else `fn`.

    Running a kernel's Python code first, on a small input, lets the case time limit
    stop an endless loop, which it could not do inside compiled code."""
    return getattr(fn, "py_func", fn)


def bounds_checked(fn: Callable) -> Callable:
    """A Numba dispatcher re-compiled from the same Python code with bounds checking (its
    other options kept, caching off), so an index past an edge raises IndexError instead
    of reading or corrupting memory; anything else is returned unchanged."""
    from numba.core.registry import CPUDispatcher

    if not isinstance(fn, CPUDispatcher):
        return fn
    import numba

    options = {k: v for k, v in fn.targetoptions.items() if k not in ("cache", "nopython", "boundscheck")}
    return numba.njit(boundscheck=True, **options)(fn.py_func)


def globals_read(fn: Callable) -> dict[str, Any]:
    """Global (or closure) names that `fn`'s code reads and that hold data — numbers,
    arrays, tuples — rather than modules, functions or types. Numba compiles such a value
    in as a constant: a kernel reading a notebook's `n` works for that one size only."""
    import dis
    import types

    func = python_function(fn)
    code = getattr(func, "__code__", None)
    if code is None:
        return {}
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(i.argval for i in dis.get_instructions(c) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME"))
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    values = dict(getattr(func, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(func, "__closure__", None) or ()):
        names.add(name)
        try:
            values[name] = cell.cell_contents
        except ValueError:
            pass
    data = (int, float, complex, np.number, np.ndarray, tuple, list)
    return {n: values[n] for n in sorted(names)
            if n in values and isinstance(values[n], data) and not isinstance(values[n], bool)}


def describe_globals(found: dict[str, Any], read: str = "Read every size from the arguments' .shape.") -> str:
    """A hint naming the data globals `globals_read` found (and what to `read` instead),
    or "" if there are none."""
    if not found:
        return ""
    def show(v):
        if isinstance(v, np.ndarray):
            return f"an array of shape {v.shape}"
        text = repr(v)
        return text if len(text) <= 30 else text[:27] + "..."
    names = ", ".join(f"`{n}` (= {show(v)})" for n, v in found.items())
    return (f" Hint: your function reads the global variable(s) {names} from the notebook instead of its "
            "arguments; Numba compiles a global's value in as a constant, so your kernel has a fixed size and "
            f"works for that one size only. {read}")


def expect_returned_out(got: Any, out: np.ndarray, name: str = "out") -> None:
    """Fail unless `got` is `out` itself (or a view of exactly the same memory): for a
    function that writes into `out` and returns it."""
    if got is out:
        return
    if got is None:
        raise CaseFailed(f"`{name}` holds the right values, but the function returned None; end it with "
                         f"`return {name}`.")
    same = (isinstance(got, np.ndarray) and got.shape == out.shape and got.dtype == out.dtype
            and got.strides == out.strides
            and got.__array_interface__["data"][0] == out.__array_interface__["data"][0])
    if not same:
        what = (f"a {type(got).__name__}" if not isinstance(got, np.ndarray) else
                f"another array (dtype {got.dtype}, shape {got.shape})")
        raise CaseFailed(f"`{name}` holds the right values, but the function returned {what}; "
                         f"return `{name}` itself, the array you wrote into (no copy, no .astype).")


def precompile(fn: Callable, *args) -> None:
    """Compile a Numba dispatcher for the types of `args` with the case's time limit
    paused, so that a slow first compile (seconds on a busy laptop) is not mistaken for
    an endless loop. Does nothing for a plain Python function."""
    from numba.core.registry import CPUDispatcher

    if not isinstance(fn, CPUDispatcher):
        return
    import numba

    try:
        signature = tuple(numba.typeof(a) for a in args)
    except ValueError:
        return
    remaining = signal.getitimer(signal.ITIMER_REAL)[0] if hasattr(signal, "getitimer") else 0.0
    if remaining:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        fn.compile(signature)
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining)


def with_globals_hint(cases: list[Case], fn: Callable,
                      read: str = "Read every size from the arguments' .shape.", allowed: tuple = ()) -> list[Case]:
    """`cases`, each of which appends the `describe_globals` hint to its failure message
    when `fn` reads data globals from the notebook (the usual cause of a fixed-size kernel)
    other than the `allowed` names (a tile size a kernel must take as a constant)."""
    hint = describe_globals({k: v for k, v in globals_read(fn).items() if k not in allowed}, read)
    if not hint:
        return cases

    def wrap(case: Case) -> Case:
        def run(f):
            try:
                case.run(f)
            except CaseFailed as failure:
                raise CaseFailed(f"{failure}{hint}") from None
        return Case(case.description, run, case.time_limit)
    return [wrap(c) for c in cases]
