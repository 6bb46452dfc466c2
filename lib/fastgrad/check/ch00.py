"""Checkers for chapter 00 (measuring): arithmetic intensity of kernels, the roofline's
verdict (memory- or compute-bound) and its attainable GFLOP/s, and an honest timing loop.

Each checker runs the learner's function on fixed and adversarial cases and, for a wrong
answer, names the case, shows expected versus got and recognises the usual mistakes
(8 bytes per element whatever the dtype, the matmul counted as n elements instead of
n x n matrices, max instead of min on the roofline, no warm-up, the mean instead of the
median, the total of a repeat instead of the time per call).
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, run_cases

__all__ = ["arithmetic_intensity", "attainable_gflops", "my_timer", "predict_bound"]


def _number(value, what: str) -> float:
    """The learner's answer as a float, or a CaseFailed saying why it is not a number."""
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CaseFailed(f"expected {what} as a number, got {type(value).__name__} {value!r}.")
    return float(value)


def _close(expected: float, got: float, rtol: float = 1e-9) -> bool:
    return math.isclose(got, expected, rel_tol=rtol, abs_tol=1e-12)


# ----------------------------------------------------------------------------- intensity

def _flops_bytes(kernel: str, n: int, itemsize: int) -> tuple[float, float]:
    """The course's counting rules (also written in the exercise)."""
    if kernel == "triad":    # a[i] = b[i] + s * c[i]: 2 FLOPs, 2 reads + 1 write per element
        return 2 * n, 3 * n * itemsize
    if kernel == "dot":      # s += x[i] * y[i]: 2 FLOPs, 2 reads per element
        return 2 * n, 2 * n * itemsize
    if kernel == "matmul":   # C = A @ B, n x n: 2 n^3 FLOPs, read A and B and write C once
        return 2 * n**3, 3 * n * n * itemsize
    raise ValueError(kernel)


def _intensity_hint(kernel: str, n: int, itemsize: int, got: float) -> str:
    """Recognise a likely mistake from the wrong value."""
    flops, nbytes = _flops_bytes(kernel, n, itemsize)
    guesses = [
        (_flops_bytes(kernel, n, 8)[0] / _flops_bytes(kernel, n, 8)[1],
         "this is the float64 answer: the bytes per element depend on the dtype "
         "(np.dtype(dtype).itemsize: 4 for float32, 8 for float64)."),
        (nbytes / flops, "this is bytes per FLOP; intensity is FLOPs divided by bytes."),
        (flops / (nbytes / itemsize), "you divided by elements, not bytes: multiply by the itemsize."),
    ]
    if kernel == "matmul":
        guesses += [(2 * n**3 / (3 * n * itemsize), "a matmul moves 3 n x n matrices (3 n^2 elements), not 3 n."),
                    (n**3 / (3 * n * n * itemsize), "a multiply-add is 2 FLOPs: the matmul does 2 n^3 FLOPs."),
                    (2 * n**3 / (3 * n**3 * itemsize), "count each matrix once (3 n^2 elements), as if caches "
                     "were perfect; 3 n^3 is the traffic of a naive loop without any reuse.")]
    if kernel in ("triad", "dot"):
        per_elem = {"triad": 3, "dot": 2}[kernel]
        guesses += [(1 / (per_elem * itemsize), "each element does a multiply AND an add: 2 FLOPs."),
                    (2 / ((per_elem - 1) * itemsize) if per_elem > 1 else -1,
                     f"count every array the kernel touches: {per_elem} per element for {kernel}.")]
    for value, hint in guesses:
        if value != flops / nbytes and _close(value, got):
            return " Hint: " + hint
    return ""


def arithmetic_intensity(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `arithmetic_intensity(kernel, n, dtype) -> FLOP/byte` for "triad", "dot", "matmul"."""

    def case(kernel: str, n: int, dtype) -> Case:
        itemsize = np.dtype(dtype).itemsize
        flops, nbytes = _flops_bytes(kernel, n, itemsize)
        expected = flops / nbytes

        def run(f):
            got = _number(f(kernel, n, dtype), "the arithmetic intensity (FLOP per byte)")
            if not _close(expected, got):
                raise CaseFailed(f"expected {expected:.6g} FLOP/byte ({flops:.6g} FLOPs / {nbytes:.6g} bytes), "
                                 f"got {got:.6g}.{_intensity_hint(kernel, n, itemsize, got)}")
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        shown = f"{dtype!r}" if isinstance(dtype, str) else f"np.{name}"
        return Case(f"arithmetic_intensity({kernel!r}, {n}, {shown})", run)

    cases = [case("triad", 1_000_000, np.float64), case("dot", 1_000_000, np.float64),
             case("matmul", 1024, np.float64), case("triad", 1000, np.float32), case("dot", 10, np.float32),
             case("matmul", 512, np.float32), case("matmul", 1, np.float64), case("triad", 1, "float32"),
             case("matmul", 3000, "float64"), case("dot", 12_345, "float64")]
    return run_cases("arithmetic_intensity", fn, cases, show=show)


# ----------------------------------------------------------------------------- roofline

_MACHINES = [(40.0, 200.0), (45.0, 470.0), (12.5, 50.0), (100.0, 40.0)]  # (GB/s, GFLOP/s)


def predict_bound(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `predict_bound(intensity, bandwidth, peak) -> "memory" | "compute"`."""

    def case(intensity: float, bandwidth: float, peak: float) -> Case:
        ridge = peak / bandwidth
        expected = "memory" if bandwidth * intensity < peak else "compute"

        def run(f):
            got = f(intensity, bandwidth, peak)
            if got not in ("memory", "compute"):
                raise CaseFailed(f"expected the string 'memory' or 'compute', got {got!r}.")
            if got != expected:
                roof = bandwidth * intensity
                side, lower = (("below", "lower") if expected == "memory" else ("above", "higher"))
                hint = (f"the ridge point is peak / bandwidth = {ridge:.3g} FLOP/byte and this kernel is {side} "
                        f"it: the memory roof, bandwidth x intensity = {roof:.3g} GFLOP/s, is {lower} than the "
                        f"peak ({peak:.3g} GFLOP/s), so the kernel is {expected}-bound.")
                raise CaseFailed(f"expected {expected!r}, got {got!r}. Hint: {hint}")
        return Case(f"intensity {intensity:g} FLOP/byte on {bandwidth:g} GB/s, {peak:g} GFLOP/s "
                    f"(ridge {ridge:.3g})", run)

    cases = [case(1 / 12, 40.0, 200.0), case(170.0, 40.0, 200.0), case(4.0, 40.0, 200.0),
             case(6.0, 40.0, 200.0), case(0.125, 100.0, 40.0), case(0.5, 100.0, 40.0),
             case(10.0, 45.0, 470.0), case(11.0, 45.0, 470.0), case(3.9, 12.5, 50.0), case(4.1, 12.5, 50.0)]
    return run_cases("predict_bound", fn, cases, show=show)


def attainable_gflops(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `attainable_gflops(intensity, bandwidth, peak) -> min(peak, bandwidth * intensity)`."""

    def case(intensity: float, bandwidth: float, peak: float) -> Case:
        expected = min(peak, bandwidth * intensity)

        def run(f):
            got = _number(f(intensity, bandwidth, peak), "the attainable GFLOP/s")
            if not _close(expected, got):
                hint = ""
                if _close(bandwidth * intensity, got):
                    hint = (" Hint: no kernel beats the peak: cap bandwidth x intensity at the peak, "
                            "min(peak, bandwidth * intensity).")
                elif _close(peak, got):
                    hint = (f" Hint: below the ridge point ({peak / bandwidth:.3g} FLOP/byte) the memory roof, "
                            f"bandwidth x intensity = {bandwidth * intensity:.3g} GFLOP/s, is lower than the peak: "
                            "the lower roof wins, min(peak, bandwidth * intensity).")
                elif _close(bandwidth / intensity, got) or _close(intensity / bandwidth, got):
                    hint = " Hint: GB/s x FLOP/byte = GFLOP/s: multiply bandwidth by intensity."
                raise CaseFailed(f"expected {expected:.6g} GFLOP/s, got {got:.6g}.{hint}")
        return Case(f"intensity {intensity:g} FLOP/byte on {bandwidth:g} GB/s, {peak:g} GFLOP/s", run)

    cases = [case(1 / 12, 40.0, 200.0), case(170.0, 40.0, 200.0), case(5.0, 40.0, 200.0),
             case(0.25, 45.0, 470.0), case(2.0, 100.0, 40.0), case(1e-3, 12.5, 50.0)]
    return run_cases("attainable_gflops", fn, cases, show=show)


# ----------------------------------------------------------------------------- timing loop

class _Workload:
    """A callable that sleeps a planned time per call and counts its calls.

    `first`: seconds for the very first call (a JIT compile); `outlier`: seconds for
    every `every`-th later call (another process stealing the CPU); otherwise `base`.
    """

    def __init__(self, base: float, first: float | None = None, outlier: float | None = None, every: int = 4):
        self.base, self.first, self.outlier, self.every = base, first, outlier, every
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls == 1 and self.first is not None:
            time.sleep(self.first)
        elif self.outlier is not None and self.calls % self.every == 2:
            time.sleep(self.outlier)
        else:
            time.sleep(self.base)


def _timer_case(description: str, work: _Workload, repeats: int, number: int, hint_slow: str) -> Case:
    def run(f):
        got = _number(f(work, repeats=repeats, number=number), "the median seconds per call")
        if work.calls < repeats * number + 1:
            raise CaseFailed(f"fn was called {work.calls} times; expected at least {repeats * number + 1} "
                             f"(1 warm-up call, then repeats x number = {repeats} x {number}). "
                             "Hint: call fn once before you start timing.")
        if not got > 0:
            raise CaseFailed(f"expected a positive time in seconds, got {got!r}.")
        if got < 0.5 * work.base:
            raise CaseFailed(f"each call takes about {work.base * 1e3:g} ms, your timer says {got * 1e3:.3g} ms. "
                             "Hint: return seconds per call (time.perf_counter() differences), not "
                             "milliseconds, and don't divide by more than `number`.")
        if got > 4 * work.base:
            raise CaseFailed(f"each call (after the first) takes about {work.base * 1e3:g} ms, your timer says "
                             f"{got * 1e3:.3g} ms. Hint: {hint_slow}")
    return Case(description, run)


def my_timer(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `my_timer(fn, repeats, number) -> median seconds per call after a warm-up`.

    The workloads sleep, so the checks are about the structure of the loop (what is
    timed, what is returned) with tolerances of 2x to 4x, not about speed.
    """
    cases = [
        _timer_case("fn takes 2 ms, repeats=3, number=1", _Workload(0.002), 3, 1,
                    "time each repeat with time.perf_counter() around the calls only."),
        _timer_case("the first call is slow (like a JIT compile: 150 ms), then 2 ms; repeats=1, number=1",
                    _Workload(0.002, first=0.15), 1, 1,
                    "the slow first call was timed: call fn once BEFORE you start timing (warm-up)."),
        _timer_case("fn takes 1 ms, repeats=3, number=10", _Workload(0.001), 3, 10,
                    "that is the total of `number` calls: divide each repeat's time by `number`."),
        _timer_case("an outlier (a busy machine): every 4th call takes 60 ms, the others 1 ms; "
                    "repeats=9, number=1", _Workload(0.001, outlier=0.06), 9, 1,
                    "the outliers pulled the answer up: return the median of the repeats "
                    "(np.median), not the mean or the sum."),
    ]
    return run_cases("my_timer", fn, cases, show=show)
