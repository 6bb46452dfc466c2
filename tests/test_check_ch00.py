"""Chapter 00 checkers: pass on a reference answer, "not implemented yet" on a stub,
and catch plausible wrong answers with a message that says what to fix."""
import time

import numpy as np
import pytest

from fastgrad.check import ch00


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ---------------------------------------------------------------- reference answers

def intensity_ref(kernel, n, dtype):
    size = np.dtype(dtype).itemsize
    flops, nbytes = {"triad": (2 * n, 3 * n * size), "dot": (2 * n, 2 * n * size),
                     "matmul": (2 * n**3, 3 * n * n * size)}[kernel]
    return flops / nbytes


def bound_ref(intensity, bandwidth, peak):
    return "memory" if intensity < peak / bandwidth else "compute"


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


def _check(checker, fn):
    return checker(fn, show=False)


@pytest.mark.parametrize("checker, ref", [(ch00.arithmetic_intensity, intensity_ref), (ch00.predict_bound, bound_ref),
                                          (ch00.attainable_gflops, attainable_ref), (ch00.my_timer, timer_ref)])
def test_reference_passes_and_stub_is_todo(checker, ref):
    result = _check(checker, ref)
    assert result.passed, result.message
    todo = _check(checker, stub)
    assert todo.status == "todo" and "not implemented yet" in todo.message


def test_checkers_print_a_verdict(capsys):
    ch00.predict_bound(bound_ref)
    assert "✅ predict_bound: all 10 cases pass." in capsys.readouterr().out


# ---------------------------------------------------------------- wrong answers

def test_intensity_ignoring_dtype():
    def always_8_bytes(kernel, n, dtype):
        return intensity_ref(kernel, n, np.float64)
    result = _check(ch00.arithmetic_intensity, always_8_bytes)
    assert result.status == "fail"
    assert "arithmetic_intensity('triad', 1000, np.float32)" in result.message
    assert "itemsize" in result.message


def test_intensity_matmul_counted_as_vectors():
    def matmul_3n(kernel, n, dtype):
        size = np.dtype(dtype).itemsize
        if kernel == "matmul":
            return 2 * n**3 / (3 * n * size)
        return intensity_ref(kernel, n, dtype)
    result = _check(ch00.arithmetic_intensity, matmul_3n)
    assert result.status == "fail" and "matmul" in result.message and "3 n^2" in result.message


def test_intensity_inverted_and_crashing_and_none():
    inverted = _check(ch00.arithmetic_intensity, lambda k, n, d: 1 / intensity_ref(k, n, d))
    assert inverted.status == "fail" and "FLOPs divided by bytes" in inverted.message
    crash = _check(ch00.arithmetic_intensity, lambda k, n, d: {"triad": 1}[k] / 0)
    assert crash.status == "fail" and "ZeroDivisionError" in crash.message
    none = _check(ch00.arithmetic_intensity, lambda k, n, d: None)
    assert none.status == "fail" and "returned None" in none.message
    text = _check(ch00.arithmetic_intensity, lambda k, n, d: "memory")
    assert text.status == "fail" and "as a number" in text.message


def test_predict_bound_wrong_answers():
    inverted = _check(ch00.predict_bound, lambda i, b, p: "compute" if i < p / b else "memory")
    assert inverted.status == "fail" and "ridge point" in inverted.message
    no_ridge = _check(ch00.predict_bound, lambda i, b, p: "memory" if i < p else "compute")
    assert no_ridge.status == "fail" and "expected 'compute', got 'memory'" in no_ridge.message
    wrong_type = _check(ch00.predict_bound, lambda i, b, p: i < p / b)
    assert wrong_type.status == "fail" and "'memory' or 'compute'" in wrong_type.message


def test_attainable_wrong_answers():
    with_max = _check(ch00.attainable_gflops, lambda i, b, p: max(p, b * i))
    assert with_max.status == "fail" and "the lower roof wins" in with_max.message
    uncapped = _check(ch00.attainable_gflops, lambda i, b, p: b * i)
    assert uncapped.status == "fail" and "cap" in uncapped.message
    divided = _check(ch00.attainable_gflops, lambda i, b, p: b / i)
    assert divided.status == "fail" and "multiply bandwidth by intensity" in divided.message


def test_timer_without_warmup():
    def no_warmup(fn, repeats=5, number=1):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
        return float(np.median(times))
    result = _check(ch00.my_timer, no_warmup)
    assert result.status == "fail" and "warm-up" in result.message and "called 3 times" in result.message


def test_timer_with_mean():
    def with_mean(fn, repeats=5, number=1):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
        return float(np.mean(times))
    result = _check(ch00.my_timer, with_mean)
    assert result.status == "fail" and "outlier" in result.message and "median" in result.message


def test_timer_returning_total():
    def total(fn, repeats=5, number=1):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))
    result = _check(ch00.my_timer, total)
    assert result.status == "fail" and "number=10" in result.message and "divide" in result.message


def test_timer_in_milliseconds():
    result = _check(ch00.my_timer, lambda fn, repeats=5, number=1: timer_ref(fn, repeats, number) * 1e-3)
    assert result.status == "fail" and "seconds per call" in result.message
