"""Checkers for chapter 02 (SIMD elementwise kernels): a fused multiply-add written
into `out`, a broadcasting row add, the row-adding kernel `add_rows(x, out)` and the
sum along an axis built on it, and choosing the threading threshold from timings.

What is checked. Cases cover sizes 0 and 1, odd sizes (not a multiple of any SIMD
width), non-contiguous views (step slices, transposes), both float dtypes, NaN, and
one wrong element among many (every element is compared). Beyond the values:

* the contract of a function that writes into `out`: `out` starts full of garbage
  (NaN or 7.0) and every element must be written; `fused_multiply_add` must return
  `out` itself (not None, not a new array, not a copy in another dtype);
  `add_rows` must set `out` to zero itself — the hint says so when the garbage shows;
* inputs are compared with copies after each call (an input changed in place fails);
  a function that returns a new array must not return a view of its input or a
  read-only broadcast view, and its dtype is checked on every path (axis, keepdims,
  layout);
* a Numba kernel is re-compiled with bounds checking, so an index past an edge is an
  IndexError with a hint instead of silent memory corruption, and a kernel that reads
  a notebook global (say `n`) is told so;
* time: every case has a time limit. The first case of each Numba kernel runs its
  Python code (`py_func`) on a small input, so an endless loop is stopped there. A
  loop that only never ends in compiled code cannot be interrupted in-process: the
  kernel's interrupt/restart button is the only way out.

Not checked: that `fused_multiply_add` makes one pass over memory (the verdict says
so; the timing cell after it measures it against NumPy's two passes), and that a
kernel vectorises (chapter 02's notebook inspects the machine code for that).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._base import (Case, CaseFailed, CheckResult, bounds_checked, expect_close, expect_equal,
                    expect_new_array, expect_returned_out, precompile, python_function, run_cases,
                    with_globals_hint)

__all__ = ["fused_multiply_add", "add_row", "add_rows", "sum_axis", "choose_threshold"]

DTYPES = (np.float32, np.float64)
GARBAGE = 7.0            # what `out` (or freshly freed memory) holds before the learner's code runs
FIRST_RUN_LIMIT = None   # seconds for the first, Python-level run; None = the default TIME_LIMIT


def _random(shape, dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _strided(x: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view: every other element of a bigger array."""
    big = np.zeros(tuple(2 * n for n in x.shape), x.dtype)
    view = big[tuple(slice(None, None, 2) for _ in x.shape)]
    view[...] = x
    return view


def _first_run(description: str, make_args: Callable[[], tuple]) -> Case:
    """Run the function's Python code once on a small input, under the time limit: an
    endless loop is stopped here before it is compiled, where it could not be. Errors
    are ignored (the compiled cases report them, with their case)."""
    def run(fn):
        try:
            python_function(fn)(*make_args())
        except NotImplementedError:
            raise
        except Exception:
            pass
    return Case(f"first run of your Python code, {description}", run, time_limit=FIRST_RUN_LIMIT)


def _call(fn, *args, index_hint: str):
    """fn(*args), compiled first outside the time limit; an IndexError gets `index_hint`."""
    precompile(fn, *args)
    try:
        return fn(*args)
    except IndexError as exc:
        raise CaseFailed(f"IndexError ({exc}): an index ran past the end of an array. {index_hint}") from None


def _expect_inputs_unchanged(inputs: dict, copies: dict, advice: str) -> None:
    for name, x in inputs.items():
        before = copies[name]
        if x.shape != before.shape or not np.array_equal(x, before, equal_nan=True):
            raise CaseFailed(f"your function changed its input {name} in place; {advice}")


def _expect_not_an_input(got, *inputs) -> None:
    """A new array was asked for: fail on the input itself or a view of it, even when it is
    empty (np.shares_memory cannot see that for 0 elements)."""
    for x in inputs:
        if got is x or (isinstance(got, np.ndarray) and got.base is not None
                        and (got.base is x or got.base is x.base)):
            raise CaseFailed("the result is the input itself or a view of it (it shares memory with an input); "
                             "return a new array, even for an empty input or a length-1 axis.")


def _float32_precision_hint(expected: np.ndarray, got, dtype) -> str:
    """" Looks like float32 precision ..." when a float64 answer is right to float32 accuracy only."""
    if np.dtype(dtype) != np.float64 or not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return ""
    scale = np.abs(expected).max(initial=0.0) + 1e-300
    error = float(np.nanmax(np.abs(got.astype(np.float64) - expected), initial=0.0)) / scale
    if 1e-12 < error < 1e-5:
        return (" The error is the size of float32 precision: for float64 inputs compute in float64 "
                "(no np.float32(...) conversions, no float32 accumulator).")
    return ""




# ----------------------------------------------------------------------------- fma

def fused_multiply_add(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(a, b, c, out)`: writes a*b + c into `out` (1-D arrays of one dtype) and
    returns `out`."""

    def case(n: int, dtype, layout: str) -> Case:
        def run(fn):
            a, b, c = (_random(n, dtype, seed) for seed in (1, 2, 3))
            if layout == "strided":
                a, b, c = _strided(a), _strided(b), _strided(c)
            inputs = {"a": a, "b": b, "c": c}
            copies = {k: v.copy() for k, v in inputs.items()}
            out = np.full(n, np.nan, dtype)
            got = _call(fn, a, b, c, out, index_hint="Loop over range(out.shape[0]) (all four arrays have "
                        "that length).")
            _expect_inputs_unchanged(inputs, copies, "write the result only into out.")
            untouched = np.isnan(out)
            if n and untouched.all() and isinstance(got, np.ndarray) and not np.shares_memory(got, out):
                raise CaseFailed("out was never written: your function returned a new array instead. Write the "
                                 "results into the `out` you were given (out[i] = ..., or out[:] = ...), then "
                                 "return it; `out = a * b + c` makes a new array and only rebinds the local name.")
            if untouched.any():
                first = int(np.argmax(untouched))
                raise CaseFailed(f"out[{first}] was never written ({int(untouched.sum())} of {n} elements left "
                                 "untouched). Does your loop run over range(out.shape[0])?")
            # FMA rounds once, a*b + c twice: allow the rounding of both terms.
            expected = a.astype(np.float64) * b + c
            scale = np.abs(a.astype(np.float64) * b) + np.abs(c)
            bad = np.abs(out - expected) > 4 * np.finfo(dtype).eps * scale + 1e-30
            if bad.any():
                i = int(np.argmax(bad))
                hint = ""
                if np.isclose(out[i], a[i] * b[i]):
                    hint = " It looks like a*b without + c."
                hint = hint or _float32_precision_hint(expected, out, dtype)
                raise CaseFailed(f"out differs at index {i}: expected {expected[i].astype(dtype)!r}, "
                                 f"got {out[i]!r} ({int(bad.sum())} of {n} elements wrong).{hint}")
            expect_returned_out(got, out)
        return Case(f"n={n}, {np.dtype(dtype).name}, {layout}", run)

    def small():
        a, b, c = (_random(9, np.float64, seed) for seed in (1, 2, 3))
        return a, b, c, np.empty(9)

    cases = [case(n, dtype, "contiguous") for dtype in DTYPES for n in (1, 7, 1000, 1023)]
    cases += [case(0, np.float32, "contiguous"), case(33, np.float32, "strided"), case(65, np.float64, "strided")]
    cases = [_first_run("n=9", small)] + with_globals_hint(cases, fn)

    def info(_):
        return ["not checked: that your kernel makes one pass over memory (the timing cell below compares it "
                "with NumPy's two passes)."]
    return run_cases("fused_multiply_add", bounds_checked(fn), cases, show=show, info=info)


# ----------------------------------------------------------------------------- broadcasting

def _lines_hint(expected: np.ndarray, got: np.ndarray) -> str:
    """Name the last column or row when only it is wrong (a loop that stops one short)."""
    if got.ndim != 2 or got.shape != expected.shape or got.size == 0:
        return ""
    bad = ~np.isclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    rows, cols = np.nonzero(bad)
    if cols.size and (cols == expected.shape[1] - 1).all():
        return " Only the last column is wrong: does your j loop run over range(m.shape[1])?"
    if rows.size and (rows == expected.shape[0] - 1).all():
        return " Only the last row is wrong: does your i loop run over range(m.shape[0])?"
    return ""


def add_row(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(m, row) -> m + row`: m is (n, k), row is (k,), the result a new (n, k)
    array of m's dtype; m and row are left unchanged."""

    def case(shape, dtype, layout: str, nan: bool = False) -> Case:
        def run(fn):
            m = _random(shape, dtype, 4)
            row = _random(shape[1], dtype, 5)
            if nan:
                m[shape[0] // 2, shape[1] // 2] = np.nan
            if layout == "transposed":
                m = np.ascontiguousarray(m.T).T          # same values, column-major: not C-contiguous
            elif layout == "strided":
                m, row = _strided(m), _strided(row)
            copies = {"m": m.copy(), "row": row.copy()}
            try:
                got = _call(fn, m, row, index_hint="Loop i over range(m.shape[0]) (rows) and j over "
                            "range(m.shape[1]) (columns); row has m.shape[1] elements.")
            except ValueError as exc:
                if "broadcast" not in str(exc):
                    raise
                raise CaseFailed(f"NumPy could not broadcast ({exc}). The row vector, of shape (k,), is added to "
                                 "every row: out[i, j] = m[i, j] + row[j], which is m + row; row[:, None] would "
                                 "be a column.") from None
            _expect_inputs_unchanged({"m": m, "row": row}, copies,
                                     "write the sum into a new array (np.empty_like(m)).")
            _expect_not_an_input(got, m, row)
            expect_new_array(got, m, row, what="the result")
            if got.dtype == np.float64 and dtype == np.float32:
                raise CaseFailed("the result is float64 for float32 input. np.empty(shape) defaults to float64: "
                                 "use np.empty(shape, m.dtype) or np.empty_like(m).")
            expected = m + row
            if (got.shape == expected.shape and 1 < shape[0] <= shape[1]
                    and np.allclose(got, m + row[:shape[0], None], equal_nan=True)):
                raise CaseFailed("you added row[i] to row i (a column vector); the row vector is added "
                                 "to every row: out[i, j] = m[i, j] + row[j].")
            try:
                expect_close(expected, got, what="m + row")
            except CaseFailed as failure:
                raise CaseFailed(f"{failure}{_lines_hint(expected, np.asarray(got))}") from None
        nan_text = ", a NaN in m" if nan else ""
        return Case(f"shape {shape}, {np.dtype(dtype).name}, {layout} m{nan_text}", run)

    def small():
        return _random((3, 4), np.float64, 4), _random(4, np.float64, 5)

    cases = [case(shape, dtype, "contiguous") for dtype in DTYPES for shape in [(3, 4), (5, 5), (1, 1), (17, 33)]]
    cases += [case((0, 3), np.float64, "contiguous"), case((3, 0), np.float32, "contiguous"),
              case((1, 6), np.float32, "contiguous"), case((6, 6), np.float32, "transposed"),
              case((9, 7), np.float64, "transposed"), case((5, 8), np.float32, "strided"),
              case((4, 6), np.float64, "contiguous", nan=True)]
    cases = [_first_run("shape (3, 4)", small)] + with_globals_hint(cases, fn)
    return run_cases("add_row", bounds_checked(fn), cases, show=show)


# ----------------------------------------------------------------------------- add_rows

def add_rows(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(x, out)`: writes the sum over axis 0 of x (n, k) into out (k,):
    out[j] = x[0, j] + x[1, j] + ... `out` arrives holding garbage (here 7.0): add_rows
    sets it to zero itself before adding. The return value is not used."""

    def case(shape, dtype, layout: str = "contiguous") -> Case:
        def run(fn):
            x = _random(shape, dtype, 7)
            if layout == "transposed":
                x = np.ascontiguousarray(x.T).T
            elif layout == "strided":
                x = _strided(x)
            copy = x.copy()
            out = np.full(shape[1], GARBAGE, dtype)
            empty_note = (" x has no rows here: the sum of no rows is 0, so out must come out all zeros."
                          if shape[0] == 0 else "")
            _call(fn, x, out, index_hint=f"Loop i over range(x.shape[0]) (rows) and j over range(x.shape[1]) "
                  f"(columns); out has x.shape[1] elements.{empty_note}")
            _expect_inputs_unchanged({"x": x}, {"x": copy}, "add into out only.")
            expected = x.astype(np.float64).sum(axis=0).astype(dtype)
            n, k = shape
            tol = {"rtol": 1e-5, "atol": 1e-5 * max(1, n)}
            strict = 1e-5 if dtype == np.float32 else 1e-12
            if np.allclose(expected, out, rtol=strict, atol=strict * max(1, n)):
                return
            hint = ""
            if k and np.all(out == GARBAGE):
                hint = (f" out still holds the {GARBAGE} it came in with: write the sums into out itself "
                        "(out[j] += ...). `out = np.zeros(...)` makes a new array and only rebinds the local "
                        "name, and a returned array is not used.")
            elif k and np.allclose(out - expected, GARBAGE, **tol):
                hint = (f" Every element is off by {GARBAGE}, the value out held before the call: out arrives "
                        "holding other values, so add_rows must set it to zero itself (out[:] = 0) before "
                        "adding the rows.")
            elif n >= 2 and np.allclose(out, x[-1], **tol):
                hint = (" out equals the last row of x: accumulate with out[j] += x[i, j], and set out to zero "
                        "once, before the loop over rows (not inside it).")
            elif n >= 2 and np.allclose(out, x[:-1].sum(axis=0), **tol):
                hint = " out is the sum of all rows but the last: loop i over range(x.shape[0])."
            elif n >= 2 and k >= 2 and np.allclose(out[:min(n, k)], x.sum(axis=1)[:min(n, k)], **tol):
                hint = (" These look like sums along each row (axis 1); add_rows sums over axis 0: "
                        "out[j] = x[0, j] + x[1, j] + ...")
            elif n == 0:
                hint = empty_note
            hint = hint or _float32_precision_hint(x.astype(np.float64).sum(axis=0), out, dtype)
            try:
                expect_close(expected, out, what="out", rtol=strict, atol=strict * max(1, n))
            except CaseFailed as failure:
                raise CaseFailed(f"{failure}{hint}") from None
        return Case(f"x of shape {shape}, {np.dtype(dtype).name}, {layout}, out pre-filled with {GARBAGE}", run)

    def small():
        return _random((3, 4), np.float64, 7), np.full(4, GARBAGE)

    cases = [case((3, 5), dtype) for dtype in DTYPES]
    cases += [case((1, 4), np.float32), case((0, 3), np.float64), case((5, 1), np.float64),
              case((6, 9), np.float32, "transposed"), case((7, 5), np.float64, "strided"),
              case((33, 65), np.float32), case((65, 33), np.float64)]
    cases = [_first_run("x of shape (3, 4)", small)] + with_globals_hint(cases, fn)
    return run_cases("add_rows", bounds_checked(fn), cases, show=show)


# ----------------------------------------------------------------------------- reduction

def _poison(size: int) -> None:
    """Leave GARBAGE in freshly freed memory blocks for `size` elements of either float
    dtype: NumPy (and malloc) hand a just-freed block of the same size to the next
    np.empty, so a result allocated with np.empty and never zeroed shows the garbage
    instead of passing on zeroed pages by luck."""
    for dtype in (np.float64, np.float32):
        junk = np.full(max(1, size), GARBAGE, dtype)
        del junk


def sum_axis(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(x, axis, keepdims) -> x.sum(axis, keepdims=keepdims)` for a 2-D x and
    axis in 0, 1, -1, -2: a new array of x's dtype on every path; x unchanged."""

    def case(shape, dtype, axis: int, keepdims: bool, layout: str = "contiguous", nan: bool = False) -> Case:
        def run(fn):
            x = _random(shape, dtype, 6)
            if nan:
                x[shape[0] // 2, shape[1] // 2] = np.nan
            if layout == "transposed":
                x = np.ascontiguousarray(x.T).T
            elif layout == "strided":
                x = _strided(x)
            copy = x.copy()
            expected = x.astype(np.float64).sum(axis=axis, keepdims=keepdims).astype(dtype)
            _poison(expected.size)
            got = fn(x, axis, keepdims)
            _expect_inputs_unchanged({"x": x}, {"x": copy}, "read it and return the sum in a new array.")
            _expect_not_an_input(got, x)
            expect_new_array(got, x, what="the result")
            if got.shape != expected.shape:
                other = x.sum(axis=1 - axis % 2, keepdims=keepdims)
                if got.shape == other.shape:
                    negative = (f" A negative axis counts from the end: axis={axis} is axis {axis % 2}."
                                if axis < 0 else "")
                    raise CaseFailed(f"result has shape {got.shape}, expected {expected.shape}: that is the sum "
                                     f"over the other axis. axis={axis} is the axis that disappears "
                                     f"(or becomes 1 with keepdims).{negative}")
                if got.shape == x.sum(axis=axis).shape and keepdims:
                    raise CaseFailed(f"result has shape {got.shape}, expected {expected.shape}: with keepdims=True "
                                     "the summed axis stays, with length 1.")
                if keepdims and sorted(got.shape) == sorted(expected.shape):
                    raise CaseFailed(f"result has shape {got.shape}, expected {expected.shape}: with keepdims=True "
                                     "the summed axis becomes 1 where it was, (1, k) for axis 0 and (n, 1) for "
                                     "axis 1.")
            if got.dtype == np.float64 and dtype == np.float32:
                raise CaseFailed("the result is float64 for float32 input; allocate it with x.dtype (on every "
                                 "path: each axis, with and without keepdims).")
            tolerance = 1e-5 if dtype == np.float32 else 1e-12
            atol = tolerance * max(1.0, float(np.nanmax(np.abs(x).sum(axis=axis), initial=0.0)))
            try:
                expect_close(expected, got, rtol=tolerance, atol=atol, what=f"sum over axis {axis}")
            except CaseFailed as failure:
                hint = ""
                if got.shape == expected.shape:
                    if nan and np.isnan(expected).any() and not np.isnan(got).any():
                        hint = (" A NaN in x must give NaN in its sum, as x.sum does (np.nansum skips NaN; "
                                "the exercise asks for the plain sum).")
                    elif np.allclose(got - expected, GARBAGE, rtol=1e-4, atol=1e-4 * max(1, shape[axis % 2])):
                        hint = (f" Every sum is off by {GARBAGE}, the value that was left in the memory your "
                                "result was allocated in: np.empty does not zero memory, so your add_rows must "
                                "set out to zero before adding rows into it.")
                    elif got.dtype == expected.dtype:
                        hint = _float32_precision_hint(expected.astype(np.float64), got.astype(np.float64),
                                                       dtype)
                raise CaseFailed(f"{failure}{hint}") from None
        nan_text = ", a NaN in x" if nan else ""
        return Case(f"shape {shape}, {np.dtype(dtype).name}, axis={axis}, keepdims={keepdims}, {layout}{nan_text}",
                    run)

    cases = [case((3, 5), dtype, axis, keepdims) for dtype in DTYPES for axis in (0, 1) for keepdims in (False, True)]
    cases += [case((4, 7), np.float64, -1, False), case((4, 7), np.float32, -1, True),
              case((4, 7), np.float32, -2, True), case((4, 7), np.float64, -2, False),
              case((0, 3), np.float64, 0, False), case((3, 0), np.float32, 1, True), case((1, 1), np.float32, 0, False),
              case((1, 4), np.float64, 0, True), case((5, 1), np.float32, 1, False),
              case((6, 9), np.float32, 0, False, "transposed"), case((6, 9), np.float64, 1, True, "strided"),
              case((5, 6), np.float64, 0, False, nan=True), case((6, 5), np.float32, 1, True, nan=True),
              case((33, 65), np.float32, 1, False), case((65, 33), np.float64, 0, True)]
    cases[0].time_limit = FIRST_RUN_LIMIT
    return run_cases("sum_axis", fn, cases, show=show)


# ----------------------------------------------------------------------------- threshold

def _threshold_reference(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel), reverse=True):
        if p < s:
            threshold = n
        else:
            break
    return threshold


def choose_threshold(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(sizes, serial_times, parallel_times) -> int or None`: the smallest size
    from which the parallel kernel is faster at that size and every larger size. The
    input lists must be left unchanged."""
    sizes = [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
    serial = [1, 3, 10, 30, 100, 300, 1000]
    scenarios = [
        ("a clean crossover at 30000", serial, [20, 20, 21, 25, 60, 170, 520], 30_000, ""),
        ("a noisy win at 3000 before the real crossover", serial, [20, 2.5, 21, 25, 60, 170, 520], 30_000, ""),
        ("a tie at 100000 (a tie is not a win)", serial, [20, 20, 21, 25, 100, 170, 520], 300_000,
         " Equal times at 100000 are a tie, not a win: count a win only when parallel < serial.", True),
        ("parallel wins everywhere", [10, 30, 100, 300, 1000, 3000, 10000], [9, 20, 60, 170, 520, 1600, 5100],
         1_000, " When parallel wins at every size, the threshold is the smallest size."),
        ("parallel never wins", serial, [20, 20, 21, 35, 110, 330, 1100], None, ""),
        ("parallel loses again at the largest size", serial, [20, 20, 21, 25, 60, 170, 1100], None, ""),
        ("two noisy wins in a row (3000, 10000) before the real crossover at 100000", serial,
         [20, 2.5, 9, 35, 60, 170, 520], 100_000, ""),
        ("a narrow win at 30000 (29.5 against 30) is a win", serial, [20, 20, 21, 29.5, 60, 170, 520], 30_000,
         " Parallel is faster at 30000, if only narrowly: any win counts (no margin), only a tie or a loss "
         "does not."),
    ]

    def case(description, serial, parallel, expected, hint_text, priority=False, *, shuffle=False, arrays=False,
             scale=1e-6) -> Case:
        def run(fn):
            n, s, p = list(sizes), [t * scale for t in serial], [t * scale for t in parallel]
            if shuffle:   # measured in a random order: the answer must not depend on it
                order = [3, 0, 6, 2, 5, 1, 4]
                n, s, p = [n[i] for i in order], [s[i] for i in order], [p[i] for i in order]
            if arrays:
                n, s, p = np.array(n), np.array(s), np.array(p)
            copies = [np.array(v, copy=True) for v in (n, s, p)]
            got = fn(n, s, p)
            for name, before, after in zip(("sizes", "serial_times", "parallel_times"), copies, (n, s, p)):
                if not np.array_equal(before, np.asarray(after)):
                    raise CaseFailed(f"your function changed its input {name} in place (sizes.sort() sorts the "
                                     "sizes but not the timings paired with them); leave the inputs unchanged and "
                                     "use sorted(zip(sizes, serial_times, parallel_times)).")
            if got is not None and (isinstance(got, bool) or not isinstance(got, (int, np.integer))):
                raise CaseFailed(f"expected an int size (or None), got {type(got).__name__} {got!r}.")
            if got != expected:
                ordered = sorted(zip(sizes, serial, parallel))
                first_win = next((size for size, a, b in ordered if b < a), None)
                wins = [size for size, a, b in ordered if b < a]
                times = {size: (a, b) for size, a, b in ordered}
                hint = ""
                if shuffle:
                    hint = (" The same timings in size order give the right answer: yours depends on the order "
                            "of the measurements. Sort by size, keeping each size with its timings "
                            "(sorted(zip(sizes, serial_times, parallel_times))).")
                elif expected is None:
                    hint = (" When parallel is not faster at the largest size, no size has a win at every larger "
                            "size: return None.")
                elif got == first_win and expected != first_win:
                    hint = (" That is the FIRST size where parallel wins; the threshold is the size from which it "
                            "wins at every larger size too (one lucky measurement is noise).")
                elif wins and got == max(wins) and expected != got:
                    hint = (" That is the LARGEST size where parallel wins; the threshold is the SMALLEST size "
                            "from which it wins at that size and every larger one.")
                elif got is not None and 0 <= got < len(sizes) and got not in sizes:
                    hint = " That looks like an index into the sorted sizes: return the size itself."
                elif got is not None and got > expected and times[expected][1] > 0.8 * times[expected][0]:
                    s_at, p_at = times[expected]
                    hint = (f" Parallel is already faster at {expected} ({p_at:g} against {s_at:g}) and at every "
                            "larger size: a win counts however narrow it is (no margin); only a tie or a loss "
                            "does not.")
                if priority:
                    hint = hint_text
                raise CaseFailed(f"expected {expected!r}, got {got!r}.{hint or hint_text}")
            expect_equal(expected, got, "threshold")
        return Case(description, run)

    cases = [case(*s) for s in scenarios]
    cases += [case("sizes in a shuffled order", *scenarios[1][1:], shuffle=True),
              case("NumPy arrays as input", *scenarios[0][1:], arrays=True),
              case("timings in seconds of any scale", *scenarios[1][1:], scale=1.0)]
    cases[0].time_limit = FIRST_RUN_LIMIT
    return run_cases("choose_threshold", fn, cases, show=show)
