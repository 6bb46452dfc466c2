"""Chapter 00 checkers as graders: right answers written several ways pass, a stub is
"not implemented yet", and each plausible wrong answer a learner writes gets a ❌ whose
message names the real mistake.

WRONG lists (checker, wrong answer, words the message must contain); RIGHT lists
alternative correct answers. A new mistake class seen in the wild becomes one more line.
"""
import fractions
import statistics
import time
import timeit

import numpy as np
import pytest

from fastgrad import measure
from fastgrad.check import ch00


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def _check(checker, fn):
    return checker(fn, show=False)


# ---------------------------------------------------------------- reference answers

def _counts(kernel, n, size):
    return {"triad": (2 * n, 3 * n * size), "dot": (2 * n, 2 * n * size),
            "matmul": (2 * n**3, 3 * n * n * size)}[kernel]


def intensity_ref(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, np.dtype(dtype).itemsize)
    return flops / nbytes


def bound_ref(intensity, bandwidth, peak):
    return "memory" if bandwidth * intensity < peak else "compute"


def attainable_ref(intensity, bandwidth, peak):
    return min(peak, bandwidth * intensity)


def timer_ref(fn, repeats=5, number=1):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return float(np.median(times))


# ---------------------------------------------------------------- right answers written other ways

def intensity_bits(kernel, n, dtype):
    size = np.finfo(dtype).bits // 8
    flops = 2 * n**3 if kernel == "matmul" else 2 * n
    elements = {"triad": 3 * n, "dot": 2 * n, "matmul": 3 * n * n}[kernel]
    return np.divide(flops, elements * size)          # a NumPy float64 is a float too


def intensity_loop(kernel, n, dtype):
    """Counting with a loop over the elements: slow, but fine for the vector kernels."""
    size = np.zeros(1, dtype=dtype).itemsize
    if kernel == "matmul":
        return fractions.Fraction(2 * n**3, 3 * n * n * size)   # an exact fraction is a number
    flops = nbytes = 0
    for _ in range(n):
        flops += 2
        nbytes += (3 if kernel == "triad" else 2) * size
    return flops / nbytes


def bound_ridge(intensity, bandwidth, peak):
    return "memory" if intensity < peak / bandwidth else "compute"


def bound_via_roof(intensity, bandwidth, peak):
    return "compute" if min(peak, bandwidth * intensity) == peak else "memory"


def attainable_branch(intensity, bandwidth, peak):
    return peak if intensity >= peak / bandwidth else bandwidth * intensity


def attainable_numpy(intensity, bandwidth, peak):
    return np.minimum(peak, bandwidth * intensity)


def attainable_factored(intensity, bandwidth, peak):
    return bandwidth * min(intensity, peak / bandwidth)


def timer_timeit(fn, repeats=5, number=1):
    fn()
    return statistics.median(t / number for t in timeit.repeat(fn, repeat=repeats, number=number))


def timer_ns(fn, repeats=5, number=1):
    fn()
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter_ns() - start) / number / 1e9)
    return sorted(per_call)[len(per_call) // 2]        # the middle one (repeats is odd in the checks)


def timer_library(fn, repeats=5, number=1):
    return measure.time_fn(fn, repeats=repeats, number=number).median


def timer_whole_repeat_as_warmup(fn, repeats=5, number=1):
    """Warm up with a full untimed repeat instead of one call: more warm-up is fine."""
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        if r:
            times.append((time.perf_counter() - start) / number)
    return float(np.median(times))


RIGHT = [
    (ch00.arithmetic_intensity, intensity_ref), (ch00.arithmetic_intensity, intensity_bits),
    (ch00.arithmetic_intensity, intensity_loop),
    (ch00.predict_bound, bound_ref), (ch00.predict_bound, bound_ridge), (ch00.predict_bound, bound_via_roof),
    (ch00.attainable_gflops, attainable_ref), (ch00.attainable_gflops, attainable_branch),
    (ch00.attainable_gflops, attainable_numpy), (ch00.attainable_gflops, attainable_factored),
    (ch00.my_timer, timer_ref), (ch00.my_timer, timer_timeit), (ch00.my_timer, timer_ns),
    (ch00.my_timer, timer_library), (ch00.my_timer, timer_whole_repeat_as_warmup),
]


@pytest.mark.parametrize("checker, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answers_pass(checker, fn):
    result = _check(checker, fn)
    assert result.passed, result.message


@pytest.mark.parametrize("checker", [ch00.arithmetic_intensity, ch00.predict_bound, ch00.attainable_gflops,
                                     ch00.my_timer], ids=lambda c: c.__name__)
def test_stub_is_todo(checker):
    todo = _check(checker, stub)
    assert todo.status == "todo" and "not implemented yet" in todo.message


def test_checkers_print_a_verdict(capsys):
    ch00.predict_bound(bound_ref)
    assert "✅ predict_bound: all" in capsys.readouterr().out


# ---------------------------------------------------------------- wrong answers: intensity

def _intensity_with(kernel_counts):
    """An intensity function that counts `kernel_counts[kernel](n, size)` and the rule otherwise."""
    def answer(kernel, n, dtype):
        size = np.dtype(dtype).itemsize
        flops, nbytes = kernel_counts.get(kernel, lambda n, s: _counts(kernel, n, s))(n, size)
        return flops / nbytes
    return answer


def intensity_no_return(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, np.dtype(dtype).itemsize)
    print(flops / nbytes)


def intensity_floor_division(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, np.dtype(dtype).itemsize)
    return flops // nbytes


def intensity_bits_not_bytes(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, np.finfo(dtype).bits)
    return flops / nbytes


def intensity_dtype_attribute(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, dtype(0).itemsize)        # fails for the string "float32"
    return flops / nbytes


def intensity_dict_of_types(kernel, n, dtype):
    size = {np.float32: 4, np.float64: 8}[dtype]                  # fails for the string "float32"
    return _counts(kernel, n, size)[0] / _counts(kernel, n, size)[1]


def intensity_float32_scalar(kernel, n, dtype):
    flops, nbytes = _counts(kernel, n, np.dtype(dtype).itemsize)
    return np.float32(flops) / np.float32(nbytes)


def intensity_triple_loop(kernel, n, dtype):
    flops = 0
    if kernel == "matmul":
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    flops += 2
        return flops / (3 * n * n * np.dtype(dtype).itemsize)
    return intensity_ref(kernel, n, dtype)


def intensity_pair(kernel, n, dtype):
    return _counts(kernel, n, np.dtype(dtype).itemsize)


WRONG_INTENSITY = [
    (lambda k, n, d: intensity_ref(k, n, np.float64), ["np.float32", "itemsize"]),
    (lambda k, n, d: 1 / intensity_ref(k, n, d), ["bytes per FLOP", "FLOPs divided by bytes"]),
    (_intensity_with({"matmul": lambda n, s: (2 * n**3, 3 * n * s)}), ["3 n^2", "not 3 n"]),
    (_intensity_with({"matmul": lambda n, s: (n**3, 3 * n * n * s)}), ["2 FLOPs", "2 n^3"]),
    (_intensity_with({"matmul": lambda n, s: (2 * n**3, 3 * n**3 * s)}), ["once", "3 n^3"]),
    (_intensity_with({"matmul": lambda n, s: (2 * n**3, 2 * n * n * s)}), ["write C", "3 matrices"]),
    (_intensity_with({"triad": lambda n, s: (n, 3 * n * s)}), ["multiply AND an add", "2 FLOPs"]),
    (_intensity_with({"triad": lambda n, s: (3 * n, 3 * n * s)}), ["2 FLOPs per element"]),
    (_intensity_with({"triad": lambda n, s: (2 * n, 4 * n * s)}), ["3 arrays", "triad", "scalar"]),
    (_intensity_with({"dot": lambda n, s: (2 * n, 3 * n * s)}), ["2 arrays", "dot", "result is free"]),
    (_intensity_with({"dot": lambda n, s: (2 * n, n * s)}), ["count every array", "2 per element"]),
    (lambda k, n, d: intensity_ref(k, n, d) * np.dtype(d).itemsize, ["elements, not bytes", "itemsize"]),
    (intensity_bits_not_bytes, ["bits", "bytes", "// 8"]),
    (intensity_floor_division, ["integer division", "`/`"]),
    (intensity_no_return, ["returned None", "forget `return`"]),
    (intensity_dtype_attribute, ["string", "np.dtype(dtype).itemsize"]),
    (intensity_dict_of_types, ["string", "np.dtype(dtype).itemsize"]),
    (intensity_float32_scalar, ["float32", "Python float"]),
    (intensity_triple_loop, ["did not finish", "formulas"]),
    (intensity_pair, ["tuple", "divide"]),
    (lambda k, n, d: "0.125", ["as a number", "str"]),
    (lambda k, n, d: {"triad": 1}[k] / 0, ["ZeroDivisionError"]),
]


# ---------------------------------------------------------------- wrong answers: roofline

def bound_no_return(intensity, bandwidth, peak):
    "memory" if bandwidth * intensity < peak else "compute"     # noqa: B018 (the missing return)


WRONG_BOUND = [
    (lambda i, b, p: "compute" if i < p / b else "memory", ["ridge point", "expected 'memory', got 'compute'"]),
    (lambda i, b, p: "memory" if i < p else "compute", ["expected 'compute', got 'memory'", "peak / bandwidth"]),
    (lambda i, b, p: "memory" if i < b / p else "compute", ["ridge point is peak / bandwidth"]),
    (lambda i, b, p: "memory" if b * i <= p else "compute", ["exactly at the ridge point", "`<`, not `<=`"]),
    (lambda i, b, p: "compute" if b * i > p else "memory", ["exactly at the ridge point", "compute-bound"]),
    (lambda i, b, p: "memory" if b * 1e9 * i < p else "compute", ["expected 'memory', got 'compute'", "1e9"]),
    (lambda i, b, p: "memory", ["expected 'compute', got 'memory'"]),
    (lambda i, b, p: i < p / b, ["'memory' or 'compute'", "bool"]),
    (lambda i, b, p: "Memory" if b * i < p else "Compute", ["exactly", "lower case"]),
    (lambda i, b, p: "memory-bound" if b * i < p else "compute-bound", ["exactly", "without '-bound'"]),
    (bound_no_return, ["returned None", "forget `return`"]),
]

WRONG_ATTAINABLE = [
    (lambda i, b, p: max(p, b * i), ["the lower roof wins", "min"]),
    (lambda i, b, p: b * i, ["cap", "peak"]),
    (lambda i, b, p: b / i, ["multiply bandwidth by intensity"]),
    (lambda i, b, p: i / b, ["multiply bandwidth by intensity"]),
    (lambda i, b, p: min(p, b * 1e9 * i), ["already GFLOP/s", "1e9"]),
    (lambda i, b, p: min(p * 1e9, b * 1e9 * i), ["already GFLOP/s", "1e9"]),
    (lambda i, b, p: round(min(p, b * i), 1), ["round"]),
    (lambda i, b, p: int(min(p, b * i)), ["round"]),
    (lambda i, b, p: p / b, ["ridge point", "FLOP/byte"]),
    (lambda i, b, p: (min(p, b * i), "memory"), ["as a number", "tuple"]),
    (lambda i, b, p: print(min(p, b * i)), ["returned None", "forget `return`"]),
    (lambda i, b, p: p / max(1.0, p / (b * i)), ["ZeroDivisionError", "intensity 0"]),
]


# ---------------------------------------------------------------- wrong answers: timer

def _timer(*, warmup=1, per_repeat="number", stat=np.median, divide=True, reset_start=True, scale=1.0,
           clock=time.perf_counter, repeat_count=None, time_warmup=False):
    """A family of timers, each with one mistake switched on."""
    def my_timer(fn, repeats=5, number=1):
        calls = number if per_repeat == "number" else (number * number if per_repeat == "squared" else 1)
        start = clock()
        if time_warmup:
            fn()
            times = [(clock() - start)]
        else:
            for _ in range(warmup):
                fn()
            times = []
        for _ in range(repeats if repeat_count is None else repeat_count(repeats)):
            if reset_start:
                start = clock()
            for _ in range(calls):
                fn()
            elapsed = clock() - start
            times.append(elapsed / number / (number if divide == "twice" else 1) if divide else elapsed)
        return float(stat(times)) * scale
    return my_timer


def timer_clock_outside(fn, repeats=5, number=1):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        stop = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((stop - start) / number)
    return float(np.median(times))


def timer_returns_list(fn, repeats=5, number=1):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return times


def timer_last_repeat(fn, repeats=5, number=1):
    fn()
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = (time.perf_counter() - start) / number
    return elapsed


def timer_endless(fn, repeats=5, number=1):
    fn()
    times = []
    while len(times) < repeats:          # forgets to append
        start = time.perf_counter()
        fn()
        _ = time.perf_counter() - start
    return float(np.median(times))


def timer_wrong_defaults(fn, repeats=3, number=1):
    return timer_ref(fn, repeats, number)


WRONG_TIMER = [
    (_timer(stat=np.min), ["minimum", "median"]),
    (_timer(stat=np.mean), ["mean", "median", "outlier"]),
    (_timer(stat=np.max), ["slowest", "median"]),
    (_timer(stat=np.sum), ["sum", "median"]),
    (_timer(warmup=0), ["called 14 times", "warm-up", "once before"]),
    (_timer(warmup=0, time_warmup=True), ["first call", "timed", "warm-up"]),
    (_timer(per_repeat="once"), ["once per repeat", "`number` times"]),
    (_timer(per_repeat="squared"), ["too many", "number x number"]),
    (_timer(repeat_count=lambda r: 1), ["one repeat", "`repeats` times"]),
    (_timer(repeat_count=lambda r: r - 1), ["one repeat too few", "range(repeats)"]),
    (_timer(divide=False), ["divide", "number"]),
    (_timer(divide="twice"), ["divided by `number` twice"]),
    (_timer(scale=1e3), ["milliseconds", "seconds"]),
    (_timer(scale=1e-3), ["divided by 1000", "seconds"]),
    (_timer(clock=time.perf_counter_ns), ["nanoseconds", "1e9"]),
    (_timer(clock=time.process_time), ["process_time", "perf_counter"]),
    (_timer(reset_start=False), ["start = time.perf_counter()", "each repeat"]),
    (timer_clock_outside, ["bracket", "calls"]),
    (timer_returns_list, ["list", "median"]),
    (timer_last_repeat, ["last repeat", "median"]),
    (timer_endless, ["did not finish", "endless loop"]),
    (timer_wrong_defaults, ["my_timer(fn)", "repeats=5"]),
    (lambda fn, repeats=5, number=1: None, ["returned None", "forget `return`"]),
]

WRONG = ([(ch00.arithmetic_intensity, *w) for w in WRONG_INTENSITY] + [(ch00.predict_bound, *w) for w in WRONG_BOUND]
         + [(ch00.attainable_gflops, *w) for w in WRONG_ATTAINABLE] + [(ch00.my_timer, *w) for w in WRONG_TIMER])


@pytest.mark.parametrize("checker, fn, words", WRONG,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_wrong_answer_is_caught_with_the_real_cause(checker, fn, words):
    result = _check(checker, fn)
    if checker is ch00.my_timer and not all(word in result.message for word in words):
        # The timer checker works from the times the calls really took: on a heavily loaded
        # machine one paused repeat can make two mistakes give the same number (seen once
        # with the whole suite and a second test run sharing 2 cores). One retry.
        result = _check(checker, fn)
    assert result.status == "fail", f"slipped through: {result.message}"
    for word in words:
        assert word in result.message, f"{word!r} missing from: {result.message}"


def test_a_hung_timer_is_stopped_quickly():
    start = time.perf_counter()
    result = _check(ch00.my_timer, timer_endless)
    assert result.status == "fail" and time.perf_counter() - start < 5


def test_checks_are_fast():
    for checker, fn in [(ch00.arithmetic_intensity, intensity_ref), (ch00.predict_bound, bound_ref),
                        (ch00.attainable_gflops, attainable_ref), (ch00.my_timer, timer_ref)]:
        start = time.perf_counter()
        assert _check(checker, fn).passed
        assert time.perf_counter() - start < 2.0, checker.__name__
