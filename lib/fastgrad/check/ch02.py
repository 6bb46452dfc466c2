"""Checkers for chapter 02 (SIMD elementwise kernels): a fused multiply-add written
into `out`, a broadcasting row add, a sum along an axis of a matrix, and choosing the
threading threshold from measured timings.

Cases cover sizes 0 and 1, odd sizes (not a multiple of any SIMD width),
non-contiguous views (step slices, transposes) and both float dtypes. A wrong answer
gets the case, expected versus got, and a hint for the usual mistakes (the wrong axis,
a float64 result for float32 input, a loop that stops one element early, a threshold
taken from a single lucky measurement).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, expect_close, expect_equal, run_cases

__all__ = ["fused_multiply_add", "add_row", "sum_axis", "choose_threshold"]

DTYPES = (np.float32, np.float64)


def _random(shape, dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _strided(x: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view: every other element of a bigger array."""
    big = np.zeros(tuple(2 * n for n in x.shape), x.dtype)
    view = big[tuple(slice(None, None, 2) for _ in x.shape)]
    view[...] = x
    return view


# ----------------------------------------------------------------------------- fma

def fused_multiply_add(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(a, b, c, out)`: writes a*b + c into `out` (1-D arrays of one dtype)."""

    def case(n: int, dtype, layout: str) -> Case:
        def run(fn):
            a, b, c = (_random(n, dtype, seed) for seed in (1, 2, 3))
            if layout == "strided":
                a, b, c = _strided(a), _strided(b), _strided(c)
            out = np.full(n, np.nan, dtype)
            fn(a, b, c, out)
            # FMA rounds once, a*b + c twice: allow the rounding of both terms.
            expected = a.astype(np.float64) * b + c
            scale = np.abs(a.astype(np.float64) * b) + np.abs(c)
            if n and np.isnan(out).any():
                first = int(np.argmax(np.isnan(out)))
                raise CaseFailed(f"out[{first}] was never written ({int(np.isnan(out).sum())} of {n} elements "
                                 "left untouched). Does your loop run over range(out.shape[0])?")
            bad = np.abs(out - expected) > 4 * np.finfo(dtype).eps * scale + 1e-30
            if bad.any():
                i = int(np.argmax(bad))
                hint = ""
                if np.isclose(out[i], a[i] * b[i]):
                    hint = " It looks like a*b without + c."
                raise CaseFailed(f"out differs at index {i}: expected {expected[i].astype(dtype)!r}, "
                                 f"got {out[i]!r} ({int(bad.sum())} of {n} elements wrong).{hint}")
        return Case(f"n={n}, {np.dtype(dtype).name}, {layout}", run)

    cases = [case(n, dtype, "contiguous") for dtype in DTYPES for n in (1, 7, 1000, 1023)]
    cases += [case(0, np.float32, "contiguous"), case(33, np.float32, "strided"), case(65, np.float64, "strided")]

    return run_cases("fused_multiply_add", fn, cases, show=show)


# ----------------------------------------------------------------------------- broadcasting

def add_row(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(m, row) -> m + row`: m is (n, k), row is (k,), the result a new (n, k) array."""

    def case(shape, dtype, layout: str) -> Case:
        def run(fn):
            m = _random(shape, dtype, 4)
            row = _random(shape[1], dtype, 5)
            if layout == "transposed":
                m = np.ascontiguousarray(m.T).T          # same values, column-major: not C-contiguous
            elif layout == "strided":
                m, row = _strided(m), _strided(row)
            before = m.copy()
            got = fn(m, row)
            if isinstance(got, np.ndarray) and got.dtype == np.float64 and dtype == np.float32:
                raise CaseFailed("the result is float64 for float32 input. np.empty(shape) defaults to float64: "
                                 "use np.empty(shape, m.dtype) or np.empty_like(m).")
            if not np.array_equal(m, before):
                raise CaseFailed("your function changed its input m; write the sum into a new array.")
            expected = m + row
            if (isinstance(got, np.ndarray) and got.shape == expected.shape and 1 < shape[0] <= shape[1]
                    and np.allclose(got, m + row[:shape[0], None])):
                raise CaseFailed("you added row[i] to row i (a column vector); the row vector is added "
                                 "to every row: out[i, j] = m[i, j] + row[j].")
            expect_close(expected, got, what="m + row")
        return Case(f"shape {shape}, {np.dtype(dtype).name}, {layout} m", run)

    cases = [case(shape, dtype, "contiguous") for dtype in DTYPES for shape in [(3, 4), (5, 5), (1, 1), (17, 33)]]
    cases += [case((0, 3), np.float64, "contiguous"), case((3, 0), np.float32, "contiguous"),
              case((6, 6), np.float32, "transposed"), case((9, 7), np.float64, "transposed"),
              case((5, 8), np.float32, "strided")]

    return run_cases("add_row", fn, cases, show=show)


# ----------------------------------------------------------------------------- reduction

def sum_axis(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fn(x, axis, keepdims) -> x.sum(axis, keepdims=keepdims)` for a 2-D x and
    axis in 0, 1, -1, -2."""

    def case(shape, dtype, axis: int, keepdims: bool, layout: str = "contiguous") -> Case:
        def run(fn):
            x = _random(shape, dtype, 6)
            if layout == "transposed":
                x = np.ascontiguousarray(x.T).T
            elif layout == "strided":
                x = _strided(x)
            got = fn(x, axis, keepdims)
            expected = x.astype(np.float64).sum(axis=axis, keepdims=keepdims).astype(dtype)
            if isinstance(got, np.ndarray) and got.shape != expected.shape:
                other = x.sum(axis=1 - axis % 2, keepdims=keepdims)
                if got.shape == other.shape:
                    raise CaseFailed(f"result has shape {got.shape}, expected {expected.shape}: that is the sum "
                                     f"over the other axis. axis={axis} is the axis that disappears "
                                     f"(or becomes 1 with keepdims).")
                if got.shape == x.sum(axis=axis).shape and keepdims:
                    raise CaseFailed(f"result has shape {got.shape}, expected {expected.shape}: with keepdims=True "
                                     "the summed axis stays, with length 1.")
            if isinstance(got, np.ndarray) and got.dtype == np.float64 and dtype == np.float32:
                raise CaseFailed("the result is float64 for float32 input; allocate it with x.dtype.")
            tolerance = 1e-5 if dtype == np.float32 else 1e-12
            atol = tolerance * max(1.0, float(np.abs(x).sum(axis=axis).max(initial=0.0)))
            expect_close(expected, got, rtol=tolerance, atol=atol, what=f"sum over axis {axis}")
        return Case(f"shape {shape}, {np.dtype(dtype).name}, axis={axis}, keepdims={keepdims}, {layout}", run)

    cases = [case((3, 5), dtype, axis, keepdims) for dtype in DTYPES for axis in (0, 1) for keepdims in (False, True)]
    cases += [case((4, 7), np.float64, -1, False), case((4, 7), np.float32, -2, True),
              case((0, 3), np.float64, 0, False), case((3, 0), np.float32, 1, True), case((1, 1), np.float32, 0, False),
              case((6, 9), np.float32, 0, False, "transposed"), case((6, 9), np.float64, 1, True, "strided"),
              case((33, 65), np.float32, 1, False), case((65, 33), np.float64, 0, True)]
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
    from which the parallel kernel is faster at that size and every larger size."""
    sizes = [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
    scenarios = [
        ("a clean crossover at 30000", [1, 3, 10, 30, 100, 300, 1000], [20, 20, 21, 25, 60, 170, 520], 30_000),
        ("a noisy win at 3000 before the real crossover", [1, 3, 10, 30, 100, 300, 1000],
         [20, 2.5, 21, 25, 60, 170, 520], 30_000),
        ("a tie at 100000 (a tie is not a win)", [1, 3, 10, 30, 100, 300, 1000], [20, 20, 21, 25, 100, 170, 520],
         300_000),
        ("parallel wins everywhere", [10, 30, 100, 300, 1000, 3000, 10000], [9, 20, 60, 170, 520, 1600, 5100], 1_000),
        ("parallel never wins", [1, 3, 10, 30, 100, 300, 1000], [20, 20, 21, 35, 110, 330, 1100], None),
        ("parallel loses again at the largest size", [1, 3, 10, 30, 100, 300, 1000],
         [20, 20, 21, 25, 60, 170, 1100], None),
    ]

    def case(description, serial, parallel, expected, *, shuffle=False, arrays=False, scale=1e-6) -> Case:
        def run(fn):
            n, s, p = list(sizes), [t * scale for t in serial], [t * scale for t in parallel]
            if shuffle:   # measured in a random order: the answer must not depend on it
                order = [3, 0, 6, 2, 5, 1, 4]
                n, s, p = [n[i] for i in order], [s[i] for i in order], [p[i] for i in order]
            if arrays:
                n, s, p = np.array(n), np.array(s), np.array(p)
            got = fn(n, s, p)
            if got is not None and (isinstance(got, bool) or not isinstance(got, (int, np.integer))):
                raise CaseFailed(f"expected an int size (or None), got {type(got).__name__} {got!r}.")
            if got != expected:
                first_win = next((size for size, a, b in sorted(zip(sizes, serial, parallel)) if b < a), None)
                hint = ""
                if got == first_win and expected != first_win:
                    hint = (" That is the FIRST size where parallel wins; the threshold is the size from which it "
                            "wins at every larger size too (one lucky measurement is noise).")
                elif expected is None:
                    hint = " When parallel is not faster at the largest size, there is no threshold: return None."
                raise CaseFailed(f"expected {expected!r}, got {got!r}.{hint}")
            expect_equal(expected, got, "threshold")
        return Case(description, run)

    cases = [case(*s) for s in scenarios]
    cases += [case("sizes in a shuffled order", *scenarios[1][1:], shuffle=True),
              case("NumPy arrays as input", *scenarios[0][1:], arrays=True),
              case("timings in seconds of any scale", *scenarios[1][1:], scale=1.0)]
    return run_cases("choose_threshold", fn, cases, show=show)
