"""The checker machinery: verdicts for pass, stub, wrong answer and crash."""
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
