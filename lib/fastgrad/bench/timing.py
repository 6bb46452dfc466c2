"""Honest timing: warm up first (JIT compile, caches, first touch), then repeat and
report the median with min and max; compare implementations interleaved in one run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


@dataclass
class Timing:
    """Seconds per call over `repeats` repeats, each averaging `number` calls."""

    times: list[float]
    number: int

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def min(self) -> float:
        return float(np.min(self.times))

    @property
    def max(self) -> float:
        return float(np.max(self.times))

    def __repr__(self) -> str:
        return (f"Timing(median={format_seconds(self.median)}, min={format_seconds(self.min)}, "
                f"max={format_seconds(self.max)}, repeats={len(self.times)}, number={self.number})")


def format_seconds(seconds: float) -> str:
    """Human units: 12.3 ns, 4.56 µs, 7.89 ms, 1.23 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds} s"


def _loop(fn: Callable, args: tuple, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - start) / number


def calibrate(fn: Callable, args: tuple = (), target: float = 0.02) -> int:
    """How many calls make one repeat last about `target` seconds (at least 1).

    Short calls are looped so the timer's resolution and call overhead do not dominate.
    """
    number = 1
    while True:
        elapsed = _loop(fn, args, number) * number
        if elapsed >= target or number >= 1_000_000:
            return number
        number *= 10 if elapsed < target / 10 else 2


def time_fn(fn: Callable, *args, repeats: int = 7, number: int | None = None, warmup: int = 1,
            target: float = 0.02) -> Timing:
    """Time `fn(*args)`: `warmup` untimed calls (this is where Numba compiles), then
    `repeats` repeats of `number` calls each. Returns seconds per call.
    """
    for _ in range(warmup):
        fn(*args)
    if number is None:
        number = calibrate(fn, args, target)
    return Timing([_loop(fn, args, number) for _ in range(repeats)], number)


@dataclass
class Comparison:
    """Several implementations timed interleaved; ratios are relative to `baseline`."""

    timings: dict[str, Timing]
    baseline: str
    work: float | None = None           # e.g. bytes moved or FLOPs per call
    work_unit: str = ""                 # "GB/s" or "GFLOP/s" for `work / time / 1e9`
    notes: list[str] = field(default_factory=list)

    def median(self, name: str) -> float:
        return self.timings[name].median

    def speedup(self, name: str) -> float:
        """How many times faster `name` is than the baseline (>1 is faster)."""
        return self.median(self.baseline) / self.median(name)

    def rate(self, name: str) -> float | None:
        """`work` per second in units of 1e9 (GB/s or GFLOP/s), if `work` was given."""
        return None if self.work is None else self.work / self.median(name) / 1e9

    def table(self) -> str:
        """A text table: median, min-max, speed-up versus the baseline, and rate."""
        rows = [f"{'implementation':<24}{'median':>12}{'min..max':>24}{'vs ' + self.baseline:>16}"
                + (f"{self.work_unit:>10}" if self.work else "")]
        for name, t in self.timings.items():
            spread = f"{format_seconds(t.min)}..{format_seconds(t.max)}"
            row = f"{name:<24}{format_seconds(t.median):>12}{spread:>24}{self.speedup(name):>15.2f}x"
            if self.work:
                row += f"{self.rate(name):>10.1f}"
            rows.append(row)
        return "\n".join(rows + self.notes)

    def __repr__(self) -> str:
        return self.table()


def compare(impls: dict[str, Callable], *args, baseline: str | None = None, repeats: int = 7,
            warmup: int = 1, target: float = 0.02, work: float | None = None, work_unit: str = "") -> Comparison:
    """Time several implementations of the same thing on the same `args`, interleaved.

    Each round times every implementation once, in a rotating order, so a burst of
    noise on a shared machine hits all of them instead of one; ratios from one run
    are far more trustworthy than figures from separate runs.
    """
    names = list(impls)
    if not names:
        raise ValueError("compare() needs at least one implementation")
    baseline = baseline or names[0]
    if baseline not in impls:
        raise ValueError(f"baseline {baseline!r} is not one of {names}")
    numbers = {}
    for name in names:
        for _ in range(warmup):
            impls[name](*args)
        numbers[name] = calibrate(impls[name], args, target)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(_loop(impls[name], args, numbers[name]))
    return Comparison({n: Timing(times[n], numbers[n]) for n in names}, baseline, work, work_unit)


def sweep(impls: dict[str, Callable], make_args: Callable[[int], tuple], sizes: Sequence[int], *,
          baseline: str | None = None, repeats: int = 5, target: float = 0.01) -> dict[int, Comparison]:
    """`compare` at each size; `make_args(n)` builds the inputs for size `n`."""
    return {n: compare(impls, *make_args(n), baseline=baseline, repeats=repeats, target=target)
            for n in sizes}
