"""The checker machinery: verdicts for pass, stub, wrong answer and crash."""
import time

import numpy as np
import pytest

from fastgrad.check import Case, CaseFailed, expect_close, expect_equal, run_cases


def _square_cases():
    def case(x):
        def run(fn):
            expect_close(np.asarray(x) ** 2, fn(np.asarray(x)))
        return Case(f"x = {x}", run)
    return [case([1.0, 2.0]), case(np.arange(5, dtype=np.float32)), case(np.zeros(0))]


def test_pass():
    result = run_cases("square", lambda x: x * x, _square_cases(), show=False)
    assert result.passed and "all 3 cases pass" in str(result)


def test_stub_is_friendly():
    def stub(x):
        raise NotImplementedError("Exercise: write your code here")
    result = run_cases("square", stub, _square_cases(), show=False)
    assert result.status == "todo" and "not implemented yet" in str(result)


def test_wrong_answer_names_case_and_index():
    result = run_cases("square", lambda x: x * 2, _square_cases(), show=False)
    assert result.status == "fail"
    assert "case 1/3 (x = [1.0, 2.0])" in result.message
    assert "index (0,): expected 1.0, got 2.0 (1 of 2 elements wrong)" in result.message


def test_dtype_and_shape_and_none_are_reported():
    with pytest.raises(CaseFailed, match="dtype float64, expected float32"):
        expect_close(np.ones(3, np.float32), np.ones(3))
    with pytest.raises(CaseFailed, match=r"shape \(2,\), expected \(3,\)"):
        expect_close(np.ones(3), np.ones(2))
    with pytest.raises(CaseFailed, match="returned None"):
        expect_close(np.ones(3), None)
    with pytest.raises(CaseFailed, match="expected result"):
        expect_equal((1, 2), (2, 1))
    expect_equal((3, 1), [3, 1])  # a list where a tuple is expected is fine


def test_crash_is_reported_not_raised(capsys):
    def crashes(x):
        return x[99]
    result = run_cases("square", crashes, _square_cases())
    assert result.status == "fail" and "IndexError" in result.message and "at line" in result.message
    assert "❌ square" in capsys.readouterr().out


def test_not_a_function():
    assert run_cases("square", 3, _square_cases(), show=False).status == "fail"


def test_info_only_on_pass():
    result = run_cases("square", lambda x: x * x, _square_cases(), show=False, info=lambda fn: ["fast"])
    assert result.info == ["fast"] and "fast" in str(result)
    broken_info = run_cases("square", lambda x: x * x, _square_cases(), show=False, info=lambda fn: 1 / 0)
    assert broken_info.passed and "could not measure" in broken_info.info[0]


# ------------------------------------------------ time limits, aliasing, mutation
def test_endless_loop_is_stopped_and_named():
    def endless(x):
        while True:
            pass
    result = run_cases("loop", endless, [Case("first", lambda fn: fn(1), time_limit=0.3)], show=False)
    assert result.status == "fail"
    assert "case 1/1 (first) did not finish within 0.3 s" in result.message


def test_time_limit_cannot_be_swallowed_by_except_exception():
    def sneaky(x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass
    result = run_cases("sneaky", sneaky, [Case("first", lambda fn: fn(1), time_limit=0.2)], show=False)
    assert "did not finish" in result.message


def test_timer_is_cleared_after_a_fast_case():
    run_cases("fast", lambda x: x, [Case("first", lambda fn: fn(1), time_limit=0.2)], show=False)
    time.sleep(0.4)          # an alarm left armed would fire here and fail the test


def test_writing_into_a_read_only_input_is_named():
    from fastgrad.check import read_only

    def mutates(x):
        x *= 2
        return x
    result = run_cases("mut", mutates, [Case("ro", lambda fn: fn(read_only(np.ones(3))))], show=False)
    assert result.status == "fail" and "wrote into one of its inputs" in result.message


@pytest.mark.parametrize("got, words", [
    (None, "returned None"),
    ([1.0], "expected a NumPy array"),
    ("view", "shares memory with an input"),
    ("broadcast", "read-only"),
])
def test_expect_new_array(got, words):
    from fastgrad.check import expect_new_array
    x = np.ones((2, 3))
    got = {"view": x[:1], "broadcast": np.broadcast_to(np.ones(3), (2, 3))}.get(got, got) \
        if isinstance(got, str) else got
    with pytest.raises(CaseFailed, match=words):
        expect_new_array(got, x)
    expect_new_array(x.copy(), x)


def test_expect_unchanged():
    from fastgrad.check import expect_unchanged
    x = np.array([1.0, np.nan])
    expect_unchanged(x.copy(), x)
    with pytest.raises(CaseFailed, match="changed the input in place"):
        expect_unchanged(x.copy(), x * 2)
