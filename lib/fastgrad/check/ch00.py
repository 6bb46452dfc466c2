"""Checkers for chapter 00 (measuring): arithmetic intensity of kernels, the roofline's
verdict (memory- or compute-bound) and its attainable GFLOP/s, and an honest timing loop.

Each checker runs the learner's function on fixed and adversarial cases (the ridge point
itself, a kernel with no FLOPs, dtypes given as strings) and, for a wrong answer, names
the case, shows expected versus got and recognises the usual mistakes: 8 bytes per element
whatever the dtype, bits for bytes, integer division, the matmul counted as n elements,
max instead of min on the roofline, a 1e9 too many, `<=` at the ridge point; for the
timer: no warm-up, too few or too many calls, the minimum, mean, sum or last repeat
instead of the median, the total of a repeat instead of the time per call, the wrong
unit or clock. Every case has a short time limit, so a hung answer is stopped and named.
"""
from __future__ import annotations

import math
import numbers
import time
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CaseTimeout, CheckResult, learner_frame, run_cases

__all__ = ["arithmetic_intensity", "attainable_gflops", "my_timer", "predict_bound"]

QUICK = 2.0      # seconds per case for the arithmetic exercises: a right answer takes microseconds
TIMER_LIMIT = 3.0  # seconds per timer case: a right answer sleeps well under 0.2 s in each


def _number(value, what: str, pair_hint: str = "") -> float:
    """The learner's answer as a float, or a CaseFailed saying why it is not a number."""
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, np.ndarray):
        raise CaseFailed(f"expected {what} as a number, got a NumPy array {value!r}; return a single "
                         "float, e.g. float(x).")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = f" Hint: {pair_hint}" if pair_hint and isinstance(value, (tuple, list)) else ""
        raise CaseFailed(f"expected {what} as a number, got {type(value).__name__} {value!r}.{hint}")
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        raise CaseFailed(f"expected {what} as a float64, got a {value.dtype} scalar ({value!r}, about "
                         f"{np.finfo(value.dtype).precision} significant digits). Return a Python float: "
                         "compute with Python numbers and `/`, without np.float32(...).")
    return float(value)


def _close(expected: float, got: float, rtol: float = 1e-9) -> bool:
    return math.isclose(got, expected, rel_tol=rtol, abs_tol=1e-12)


def _timed_out(limit: float, advice: str) -> CaseFailed:
    return CaseFailed(f"did not finish within {limit:g} s and was stopped. Hint: {advice}")


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
        (flops / (nbytes / itemsize), "you divided by elements, not bytes: multiply the elements by the "
         "itemsize (np.dtype(dtype).itemsize)."),
        (flops / (nbytes * 8), "you counted bits, not bytes: np.finfo(dtype).bits is 8 times the itemsize "
         "(bits // 8 bytes, or np.dtype(dtype).itemsize)."),
        (flops // nbytes, "that is integer division (`//`), which rounds down: use `/`."),
    ]
    if kernel == "matmul":
        guesses += [(2 * n**3 / (3 * n * itemsize), "a matmul moves 3 n x n matrices (3 n^2 elements), not 3 n."),
                    (n**3 / (3 * n * n * itemsize), "a multiply-add is 2 FLOPs: the matmul does 2 n^3 FLOPs."),
                    (2 * n**3 / (3 * n**3 * itemsize), "count each matrix once (3 n^2 elements), as if caches "
                     "were perfect; 3 n^3 is the traffic of a naive loop without any reuse."),
                    (2 * n**3 / (2 * n * n * itemsize), "read A and B, and write C: 3 matrices of n^2 elements.")]
    if kernel in ("triad", "dot"):
        per_elem = {"triad": 3, "dot": 2}[kernel]
        guesses += [(1 / (per_elem * itemsize), "each element does a multiply AND an add: 2 FLOPs."),
                    (3 / (per_elem * itemsize), "2 FLOPs per element: one multiply and one add."),
                    (2 / ((per_elem - 1) * itemsize),
                     f"count every array the kernel touches: {per_elem} per element for {kernel}.")]
    if kernel == "triad":
        guesses.append((2 / (4 * itemsize), "the table counts 3 arrays for triad (reads b and c, writes a); "
                        "the scalar s is a single number held in a register, not an array."))
    if kernel == "dot":
        guesses.append((2 / (3 * itemsize), "the table counts 2 arrays for dot (reads x and y): the result is "
                        "free, a single number."))
    for value, hint in guesses:
        if not _close(value, flops / nbytes) and _close(value, got):
            return " Hint: " + hint
    return ""


def arithmetic_intensity(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `arithmetic_intensity(kernel, n, dtype) -> FLOP/byte` for "triad", "dot", "matmul"."""

    def case(kernel: str, n: int, dtype) -> Case:
        itemsize = np.dtype(dtype).itemsize
        flops, nbytes = _flops_bytes(kernel, n, itemsize)
        expected = flops / nbytes

        def run(f):
            try:
                answer = f(kernel, n, dtype)
            except CaseTimeout:
                raise _timed_out(QUICK, "count the FLOPs and bytes with the formulas in the table "
                                 "(2 n^3 FLOPs for a matmul), not by looping over the elements.") from None
            except (AttributeError, KeyError, TypeError) as exc:
                text = str(exc)
                if isinstance(dtype, str) or any(w in text for w in ("float", "itemsize", "dtype")):
                    raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: `dtype` may "
                                     "be a NumPy type (np.float32) or a string ('float32'); "
                                     "np.dtype(dtype).itemsize gives the bytes per element for both.") from None
                raise
            got = _number(answer, "the arithmetic intensity (FLOP per byte)",
                          "return one number, the FLOPs divided by the bytes.")
            if not _close(expected, got):
                raise CaseFailed(f"expected {expected:.6g} FLOP/byte ({flops:.6g} FLOPs / {nbytes:.6g} bytes), "
                                 f"got {got:.6g}.{_intensity_hint(kernel, n, itemsize, got)}")
        shown = f"{dtype!r}" if isinstance(dtype, str) else f"np.{np.dtype(dtype).name}"
        return Case(f"arithmetic_intensity({kernel!r}, {n}, {shown})", run, time_limit=QUICK)

    cases = [case("triad", 1_000_000, np.float64), case("dot", 1_000_000, np.float64),
             case("matmul", 1024, np.float64), case("triad", 1000, np.float32), case("dot", 10, np.float32),
             case("matmul", 512, np.float32), case("matmul", 1, np.float64), case("triad", 1, "float32"),
             case("matmul", 3000, "float64"), case("dot", 12_345, "float64"), case("matmul", 7, np.float32)]
    return run_cases("arithmetic_intensity", fn, cases, show=show)


# ----------------------------------------------------------------------------- roofline

def _verdict(value, expected: str) -> str:
    """The learner's verdict, or a CaseFailed saying why it is not 'memory' / 'compute'."""
    if value is None:
        raise CaseFailed("the function returned None; expected 'memory' or 'compute' (did you forget `return`?).")
    if value in ("memory", "compute"):
        return value
    hint = ""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("memory", "compute"):
            hint = " Hint: return exactly 'memory' or 'compute', in lower case."
        elif low.replace("_", "-").replace(" ", "-") in ("memory-bound", "compute-bound"):
            hint = " Hint: return exactly 'memory' or 'compute', without '-bound'."
    raise CaseFailed(f"expected the string 'memory' or 'compute', got {type(value).__name__} {value!r}.{hint}")


def _says(f, intensity: float, bandwidth: float, peak: float):
    """The learner's verdict on a probe input, or None if it fails; only used to refine a hint."""
    try:
        return f(intensity, bandwidth, peak)
    except Exception:
        return None


def predict_bound(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `predict_bound(intensity, bandwidth, peak) -> "memory" | "compute"`.

    Exactly at the ridge point (memory roof == peak) the answer is "compute": the
    exercise calls a kernel memory-bound only when its memory roof is strictly lower.
    The tie cases use numbers exact in binary, so `b * i < p` and `i < p / b` agree.
    """

    def case(intensity: float, bandwidth: float, peak: float) -> Case:
        ridge = peak / bandwidth
        roof = bandwidth * intensity
        expected = "memory" if roof < peak else "compute"

        def run(f):
            try:
                got = _verdict(f(intensity, bandwidth, peak), expected)
            except CaseTimeout:
                raise _timed_out(QUICK, "one comparison decides this; no loop is needed.") from None
            if got != expected:
                if roof == peak:
                    hint = (f"exactly at the ridge point both roofs are equal ({peak:g} GFLOP/s). The exercise "
                            "calls a kernel memory-bound only when the memory roof is strictly lower than the "
                            "peak, so this one is compute-bound: use `<`, not `<=` (or `>=` for compute).")
                elif expected == "memory" and _says(f, ridge * 1e-6, bandwidth, peak) == "compute":
                    hint = (f"your function calls even a kernel of {ridge * 1e-6:.3g} FLOP/byte, a millionth of "
                            f"the ridge point ({ridge:.3g}), compute-bound. Is there a factor 1e9? GB/s x FLOP/byte "
                            "is already GFLOP/s, the unit of the peak.")
                else:
                    side, lower = (("below", "lower") if expected == "memory" else ("above", "higher"))
                    hint = (f"the ridge point is peak / bandwidth = {ridge:.3g} FLOP/byte and this kernel is "
                            f"{side} it: the memory roof, bandwidth x intensity = {roof:.3g} GFLOP/s, is {lower} "
                            f"than the peak ({peak:.3g} GFLOP/s), so the kernel is {expected}-bound.")
                raise CaseFailed(f"expected {expected!r}, got {got!r}. Hint: {hint}")
        at_ridge = " (exactly at the ridge point)" if roof == peak else ""
        return Case(f"intensity {intensity:g} FLOP/byte on {bandwidth:g} GB/s, {peak:g} GFLOP/s "
                    f"(ridge {ridge:.3g}){at_ridge}", run, time_limit=QUICK)

    cases = [case(1 / 12, 40.0, 200.0), case(170.0, 40.0, 200.0), case(4.0, 40.0, 200.0),
             case(6.0, 40.0, 200.0), case(0.125, 100.0, 40.0), case(0.5, 100.0, 40.0),
             case(10.0, 45.0, 470.0), case(11.0, 45.0, 470.0), case(3.9, 12.5, 50.0), case(4.1, 12.5, 50.0),
             case(5.0, 40.0, 200.0), case(4.0, 12.5, 50.0), case(0.0, 40.0, 200.0)]
    return run_cases("predict_bound", fn, cases, show=show)


def _attainable_hint(f, intensity: float, bandwidth: float, peak: float, got: float) -> str:
    """Name the mistake behind a wrong attainable GFLOP/s, probing `f` where one value is ambiguous."""
    expected = min(peak, bandwidth * intensity)

    def probe(i: float):
        try:
            return float(f(i, bandwidth, peak))
        except Exception:  # a probe only refines the hint; the case already failed
            return None

    tiny = probe(1e-12)
    if _close(1e9 * expected, got, 1e-6) or (tiny is not None and _close(1e9 * bandwidth * 1e-12, tiny, 1e-6)):
        return (" Hint: GB/s x FLOP/byte is already GFLOP/s (1e9 bytes/s x FLOP/byte = 1e9 FLOP/s): "
                "no factor 1e9 is needed.")
    for digits in range(4):
        if got in (round(expected, digits), float(int(expected))) and got != expected:
            return " Hint: this looks rounded (round() or int()); return the value as computed, unrounded."
    if _close(peak / bandwidth, got):
        return (" Hint: that is the ridge point, peak / bandwidth, in FLOP/byte; the answer is GFLOP/s: "
                "min(peak, bandwidth * intensity).")
    if _close(bandwidth * intensity, got):
        return (" Hint: no kernel beats the peak: cap bandwidth x intensity at the peak, "
                "min(peak, bandwidth * intensity).")
    if _close(peak, got):
        return (f" Hint: below the ridge point ({peak / bandwidth:.3g} FLOP/byte) the memory roof, "
                f"bandwidth x intensity = {bandwidth * intensity:.3g} GFLOP/s, is lower than the peak: "
                "the lower roof wins, min(peak, bandwidth * intensity).")
    if intensity and (_close(bandwidth / intensity, got) or _close(intensity / bandwidth, got)):
        return " Hint: GB/s x FLOP/byte = GFLOP/s: multiply bandwidth by intensity."
    return ""


def attainable_gflops(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `attainable_gflops(intensity, bandwidth, peak) -> min(peak, bandwidth * intensity)`."""

    def case(intensity: float, bandwidth: float, peak: float, note: str = "") -> Case:
        expected = min(peak, bandwidth * intensity)

        def run(f):
            try:
                got = _number(f(intensity, bandwidth, peak), "the attainable GFLOP/s",
                              "return only the GFLOP/s, one number.")
            except CaseTimeout:
                raise _timed_out(QUICK, "one min() decides this; no loop is needed.") from None
            if not _close(expected, got):
                raise CaseFailed(f"expected {expected:.6g} GFLOP/s, got {got:.6g}."
                                 f"{_attainable_hint(f, intensity, bandwidth, peak, got)}")
        return Case(f"intensity {intensity:g} FLOP/byte on {bandwidth:g} GB/s, {peak:g} GFLOP/s{note}", run,
                    time_limit=QUICK)

    cases = [case(1 / 12, 40.0, 200.0), case(170.0, 40.0, 200.0), case(5.0, 40.0, 200.0, " (the ridge point)"),
             case(0.25, 45.0, 470.0), case(2.0, 100.0, 40.0), case(1e-3, 12.5, 50.0),
             case(0.0, 40.0, 200.0, " (no FLOPs at all, like a copy)")]
    return run_cases("attainable_gflops", fn, cases, show=show)


# ----------------------------------------------------------------------------- timing loop

_SPIN = 1e-3     # seconds: more than sleep overshoots on a busy machine


class _Workload:
    """A callable standing in for a kernel: call `k` (1-based) takes `plan(k)` seconds,
    asleep but for the last `_SPIN` seconds, which spin on the CPU so that the call ends
    on time even when sleep overshoots (a call of up to 3 `_SPIN` spins throughout).
    A long call thus uses little CPU time, which catches a timer reading the CPU clock.
    It records how long each
    call really took (wall clock and CPU time), so the checker knows what an honest
    timer around those calls must report, whatever the machine's load did to them.
    """

    def __init__(self, plan: Callable[[int], float]):
        self.plan = plan
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.entered: list[float] = []                     # perf_counter when each call began / ended
        self.exited: list[float] = []

    @property
    def calls(self) -> int:
        return len(self.wall)

    def __call__(self):
        seconds = self.plan(self.calls + 1)
        start, cpu = time.perf_counter(), time.process_time()
        if seconds > 3 * _SPIN:                            # short calls spin all the way
            time.sleep(seconds - _SPIN)
        while time.perf_counter() - start < seconds:      # spin to the planned end: sleep overshoots
            pass
        self.cpu.append(time.process_time() - cpu)
        end = time.perf_counter()
        self.wall.append(end - start)
        self.entered.append(start)
        self.exited.append(end)

    def widest_brackets(self, repeats: int, number: int, began: float, returned: float) -> list[float]:
        """The longest time an honest timer can report for each timed repeat: from the end of
        the call before the repeat's first call (or when my_timer was called) to the start of
        the call after its last one (or when my_timer returned). A pause of the process
        between two calls lands in there, so it is no reason to fail a right answer."""
        first = self.calls - repeats * number
        widest = []
        for j in range(repeats):
            i0, i1 = first + j * number, first + (j + 1) * number - 1
            lower = self.exited[i0 - 1] if i0 > 0 else began
            upper = self.entered[i1 + 1] if i1 + 1 < self.calls else returned
            widest.append(upper - lower)
        return widest


def _calls_problem(calls: int, repeats: int, number: int, defaults: bool) -> str | None:
    """What is wrong with the number of calls, or None when it is plausible.

    Allowed: 1 + repeats x number, plus a little more warm-up (up to one extra repeat)."""
    want = 1 + repeats * number
    if want <= calls <= want + number + 1:
        return None
    said = (f"fn was called {calls} times; expected {want} (1 warm-up call, then repeats x number = "
            f"{repeats} x {number} timed calls).")
    if defaults:
        return (f"my_timer(fn) called fn {calls} times; with the defaults repeats=5, number=1 it should call it "
                f"{want} times. Hint: keep the signature my_timer(fn, repeats=5, number=1).")
    if calls > want:
        if number > 1 and calls == 1 + repeats * number * number:
            return said + " Hint: too many calls: you call fn number x number times in each repeat (a loop " \
                          "over `number` nested in another)."
        return said + " Hint: too many calls: one warm-up call, then `number` calls in each of the `repeats`."
    if calls == repeats * number:
        return said + " Hint: no call was left untimed: call fn once before the timing loop (the warm-up)."
    if number > 1 and calls in (1 + repeats, repeats):
        return said + (" Hint: you call fn once per repeat: call it `number` times between the two clock "
                       "reads, then divide the elapsed time by `number`.")
    if repeats > 1 and calls in (1 + number, number):
        return said + (" Hint: you timed only one repeat: loop `repeats` times (is a `return` inside the "
                       "loop?).")
    if repeats > 1 and calls in (1 + (repeats - 1) * number, (repeats - 1) * number):
        return said + " Hint: one repeat too few: loop with range(repeats)."
    return said + " Hint: call fn once untimed, then `repeats` times call it `number` times."


def _timer_candidates(work: _Workload, repeats: int, number: int, began: float,
                      returned: float) -> tuple[float, list[tuple[float, str]], float]:
    """The honest answer for the calls `work` recorded, what common mistakes would return,
    and the highest answer an honest timer can give for them (the median of the widest
    brackets around each repeat's calls, per call)."""
    timed = work.wall[-repeats * number:]
    totals = [sum(timed[j * number:(j + 1) * number]) for j in range(repeats)]
    per = [t / number for t in totals]
    median = float(np.median(per))
    # A timer's bracket holds a little more than fn's own record of a call (the loop around it), and
    # on a busy machine the OS may pause the process right there, between two calls.
    ceiling = max(median, float(np.median(work.widest_brackets(repeats, number, began, returned))) / number)
    first = work.wall[0]
    cpu_timed = work.cpu[-repeats * number:]
    cpu_per = [sum(cpu_timed[j * number:(j + 1) * number]) / number for j in range(repeats)]
    cumulative = np.cumsum(totals) / number
    warm_kept = "the warm-up call was timed and its time kept: call fn once BEFORE you start timing, and " \
                "keep only the repeats' times."
    reset = ("the repeats' times grow: read start = time.perf_counter() again at the start of each repeat, "
             "so each repeat times only its own calls.")
    candidates = [
        (float(np.min(per)), "that is the fastest repeat (the minimum); the exercise asks for the median "
         "(np.median), the typical repeat."),
        (float(np.mean(per)), "that is the mean: the slow outlier repeats pulled it up; return the median "
         "(np.median), which a few outliers cannot move."),
        (float(np.max(per)), "that is the slowest repeat (the maximum); return the median (np.median)."),
        (float(np.sum(per)), "that is the sum of the repeats' times; return their median (np.median)."),
        (per[-1], "that is the time of the last repeat only: keep each repeat's time in a list and return "
         "the median of that list."),
        (float(np.median([first] + per)), warm_kept),
        (float(np.median([(first + totals[0]) / number] + per[1:])), warm_kept),
        (float(np.median(cumulative)), reset),
        (float(np.median(cumulative + first / number)), reset),
        (median * 1e3, "that is milliseconds: return seconds (time.perf_counter() differences are seconds)."),
        (median * 1e6, "that is microseconds: return seconds (time.perf_counter() differences are seconds)."),
        (median * 1e9, "that is nanoseconds (time.perf_counter_ns()): divide by 1e9 to return seconds."),
        (median / 1e3, "you divided by 1000, but time.perf_counter() differences are already seconds."),
        (float(np.median(cpu_per)), "that is CPU time (time.process_time() or similar): it leaves out the "
         "time fn spends waiting. Time with the wall clock, time.perf_counter()."),
    ]
    if number > 1:
        candidates += [(median * number, "that is the time of all `number` calls of a repeat: divide each "
                        "repeat's elapsed time by `number` to get the time per call."),
                       (median / number, "you divided by `number` twice.")]
    return median, candidates, ceiling


def _timer_case(description: str, plan: Callable[[int], float], repeats: int, number: int, hint: str,
                defaults: bool = False) -> Case:
    def run(f):
        work = _Workload(plan)
        began = time.perf_counter()
        try:
            answer = f(work) if defaults else f(work, repeats=repeats, number=number)
            returned = time.perf_counter()
        except CaseTimeout:
            raise _timed_out(TIMER_LIMIT, f"a right answer needs well under a second here (fn was called "
                             f"{work.calls} times before it was stopped): look for an endless loop, e.g. "
                             "a `while` whose condition never changes.") from None
        if isinstance(answer, (list, tuple, np.ndarray)) and len(answer) > 1:
            raise CaseFailed(f"the function returned a {type(answer).__name__} of {len(answer)} times; return one "
                             "number, the median of the per-call times (np.median of that list).")
        if answer is not None and hasattr(answer, "median") and not isinstance(answer, numbers.Real):
            raise CaseFailed(f"the function returned a {type(answer).__name__}; return its median in seconds "
                             "(a float), e.g. `.median`.")
        got = _number(answer, "the median seconds per call")
        problem = _calls_problem(work.calls, repeats, number, defaults)
        if problem:
            raise CaseFailed(problem)
        if not (math.isfinite(got) and got > 0):
            raise CaseFailed(f"expected a positive time in seconds, got {got!r}.")
        median, candidates, ceiling = _timer_candidates(work, repeats, number, began, returned)
        if median / 1.3 <= got <= 1.3 * ceiling:
            return
        said = (f"each call took about {median * 1e3:.3g} ms (the median over the repeats, as fn measured "
                f"itself), your timer says {got * 1e3:.3g} ms.")
        # Mistakes whose answer lies within 30% of yours, nearest first. On a busy machine two of them
        # can give nearly the same number for these calls; then both are named.
        matches = sorted((abs(math.log(got / value)), why) for value, why in candidates if value > 0)
        hints = list(dict.fromkeys(why for distance, why in matches if distance <= math.log(1.3)))[:2]
        if hints:
            raise CaseFailed(said + " Hint: " + " Or: ".join(hints))
        cpu = float(np.median(work.cpu[-repeats * number:]))
        if got < 0.05 * min(median, cpu if cpu > 0 else median):
            raise CaseFailed(said + " Hint: your timer measured almost no time: read the clock just before "
                             "and just after the `number` calls, so the two reads bracket the calls.")
        raise CaseFailed(said + " Hint: " + hint)
    return Case(description, run, time_limit=TIMER_LIMIT)


def _not_checked(fn) -> list[str]:
    return ["(not checked: an even `repeats`, where np.median averages the two middle times; the checks "
            "use odd ones.)"]


def my_timer(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `my_timer(fn, repeats=5, number=1) -> median seconds per call after a warm-up`.

    The workloads spin and sleep planned times and record what each call really took,
    so the verdict compares the learner's answer with what an honest timer around those
    same calls reports (a tolerance of 30%), and a wrong answer is matched against what
    the usual mistakes would give. It checks the structure of the loop (what is timed,
    how often fn is called, what is returned), not the speed of the machine.
    """
    ms = 1e-3
    outliers = {2: 30 * ms, 6: 30 * ms}                   # timed repeats 1 and 5 of 9 are slow
    unequal = [20 * ms, 4 * ms, 20 * ms, 60 * ms, 8 * ms]   # median 20 ms; min, last and max far from it
    cases = [
        _timer_case("fn takes 5 ms, repeats=7, number=2", lambda k: 5 * ms, 7, 2,
                    "time each repeat with time.perf_counter() around its `number` calls only."),
        _timer_case("the first call is slow (like a JIT compile: 150 ms), then 2 ms; repeats=1, number=1",
                    lambda k: 150 * ms if k == 1 else 2 * ms, 1, 1,
                    "the slow first call was timed: call fn once BEFORE you start timing (warm-up)."),
        _timer_case("fn takes 1 ms, repeats=3, number=10", lambda k: 1 * ms, 3, 10,
                    "divide each repeat's elapsed time by `number`."),
        _timer_case("outliers (a busy machine): repeats 1 and 5 of 9 take 30 ms, the others 1 ms; repeats=9, "
                    "number=1", lambda k: outliers.get(k, 1 * ms), 9, 1,
                    "return the median of the repeats (np.median), not the mean or the sum."),
        _timer_case("repeats of unequal length (20, 4, 20, 60, 8 ms, mostly waiting); repeats=5, number=1",
                    lambda k: 20 * ms if k == 1 else unequal[(k - 2) % 5], 5, 1,
                    "return the median of all the repeats' per-call times."),
        _timer_case("called with the defaults, my_timer(fn); fn takes 1 ms", lambda k: 1 * ms, 5, 1,
                    "with no arguments, repeats=5 and number=1.", defaults=True),
    ]
    return run_cases("my_timer", fn, cases, show=show, info=_not_checked)
