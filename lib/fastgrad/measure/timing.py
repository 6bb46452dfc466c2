"""Honest timing: warm up first (JIT compile, caches, first touch), then repeat and
report the median with min and max; compare implementations interleaved in one run.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


@dataclass
class Timing:
    """Seconds per call over `repeats` repeats, each averaging `number` calls.

    `times[i]` is the mean seconds per call of repeat `i`. Report the median: it
    shrugs off the odd repeat that an interrupt or another process slowed down,
    which the mean does not.
    """

    times: list[float]
    number: int

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def mean(self) -> float:
        return float(np.mean(self.times))

    @property
    def min(self) -> float:
        return float(np.min(self.times))

    @property
    def max(self) -> float:
        return float(np.max(self.times))

    @property
    def repeats(self) -> int:
        return len(self.times)

    def __repr__(self) -> str:
        return (f"Timing(median={format_seconds(self.median)}, min={format_seconds(self.min)}, "
                f"max={format_seconds(self.max)}, repeats={len(self.times)}, number={self.number})")


def format_seconds(seconds: float) -> str:
    """Human units with 3 significant digits: 12.3 ns, 4.56 µs, 7.89 ms, 1.23 s."""
    if not math.isfinite(seconds):
        return f"{seconds} s"
    if seconds < 0:
        return "-" + format_seconds(-seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds} s"  # pragma: no cover (the loop always returns)


def _loop(fn: Callable, args: tuple, number: int) -> float:
    """Mean seconds per call of `number` back-to-back calls of `fn(*args)`."""
    start = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - start) / number


def calibrate(fn: Callable, args: tuple = (), target: float = 0.02, max_number: int = 1_000_000) -> int:
    """How many calls make one repeat last about `target` seconds (at least 1).

    Short calls are looped so the timer's resolution and call overhead do not dominate.
    A call that already takes longer than `target` gives 1.
    """
    number = 1
    while True:
        elapsed = _loop(fn, args, number) * number
        if elapsed >= target or number >= max_number:
            return number
        number = min(max_number, number * (10 if elapsed < target / 10 else 2))


def time_fn(fn: Callable, *args, repeats: int = 7, number: int | None = None, warmup: int = 1,
            target: float = 0.02) -> Timing:
    """Time `fn(*args)`: `warmup` untimed calls (this is where Numba compiles, caches
    fill and fresh memory is touched), then `repeats` repeats of `number` calls each
    (`number` calibrated to last about `target` seconds when not given).

    Returns a `Timing` in seconds per call; read its `.median`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more, got {warmup}")
    for _ in range(warmup):
        fn(*args)
    if number is None:
        number = calibrate(fn, args, target)
    elif number < 1:
        raise ValueError(f"number must be at least 1, got {number}")
    return Timing([_loop(fn, args, number) for _ in range(repeats)], number)


@dataclass
class Comparison:
    """Several implementations timed interleaved; ratios are relative to `baseline`."""

    timings: dict[str, Timing]
    baseline: str
    work: float | None = None           # e.g. bytes moved or FLOPs per call
    work_unit: str = ""                 # "GB/s" or "GFLOP/s" for `work / time / 1e9`
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.baseline not in self.timings:
            raise ValueError(f"baseline {self.baseline!r} is not one of {list(self.timings)}")

    @property
    def names(self) -> list[str]:
        return list(self.timings)

    def median(self, name: str) -> float:
        return self.timings[name].median

    def speedup(self, name: str, over: str | None = None) -> float:
        """How many times faster `name` is than `over` (default: the baseline); >1 is faster.

        Both medians come from the same interleaved run, so the ratio is fair.
        """
        return self.median(over or self.baseline) / self.median(name)

    def speedups(self) -> dict[str, float]:
        """Speed-up of every implementation over the baseline."""
        return {name: self.speedup(name) for name in self.timings}

    def fastest(self) -> str:
        """The name with the smallest median time."""
        return min(self.timings, key=self.median)

    def rate(self, name: str) -> float | None:
        """`work` per second in units of 1e9 (GB/s or GFLOP/s), if `work` was given."""
        return None if self.work is None else self.work / self.median(name) / 1e9

    def table(self) -> str:
        """A text table: median, min..max, speed-up versus the baseline, and rate.

        Every column is as wide as its longest entry (header included), so long
        implementation or baseline names never push a column out of line.
        """
        header = ["implementation", "median", "min..max", f"vs {self.baseline}"]
        if self.work:
            header.append(self.work_unit or "rate")
        rows = [header]
        for name, t in self.timings.items():
            row = [name, format_seconds(t.median), f"{format_seconds(t.min)}..{format_seconds(t.max)}",
                   f"{self.speedup(name):.2f}x"]
            if self.work:
                row.append(f"{self.rate(name):.1f}")
            rows.append(row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])])
                 for row in rows]
        return "\n".join(lines + self.notes)

    def __repr__(self) -> str:
        return self.table()


def compare(impls: dict[str, Callable], *args, baseline: str | None = None, repeats: int = 7,
            warmup: int = 1, target: float = 0.02, work: float | None = None, work_unit: str = "") -> Comparison:
    """Time several implementations of the same thing on the same `args`, interleaved.

    Every implementation is first warmed up (`warmup` untimed calls: JIT compilation,
    caches) and calibrated (`number` calls per repeat lasting about `target` s).
    Then each round times every implementation once, in a rotating order, so a burst of
    noise on a shared machine hits all of them instead of one; ratios from one run
    are far more trustworthy than figures from separate runs.
    `work` (bytes or FLOPs per call) adds a rate column in units of 1e9 `work_unit`.
    """
    names = list(impls)
    if not names:
        raise ValueError("compare() needs at least one implementation")
    baseline = names[0] if baseline is None else baseline
    if baseline not in impls:
        raise ValueError(f"baseline {baseline!r} is not one of {names}")
    for name in names:
        if not callable(impls[name]):
            raise TypeError(f"implementation {name!r} is not callable: {impls[name]!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
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
    """`compare` at each size; `make_args(n)` builds the inputs for size `n`.

    Returns {size: Comparison}, ready for `plot_sweep`.
    """
    return {n: compare(impls, *make_args(n), baseline=baseline, repeats=repeats, target=target)
            for n in sizes}
