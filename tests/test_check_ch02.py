"""Chapter 02 checkers: pass on a reference answer, "not implemented yet" on a stub,
and catch plausible wrong answers with a message that says what to fix."""
import numba
import numpy as np
import pytest

from fastgrad.check import ch02


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ---------------------------------------------------------------- reference answers
@numba.njit
def fma_ref(a, b, c, out):
    for i in range(out.shape[0]):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit
def add_row_ref(m, row):
    out = np.empty_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[j]
    return out


def sum_axis_ref(x, axis, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


def threshold_ref(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel), reverse=True):
        if p >= s:
            break
        threshold = int(n)
    return threshold


REFERENCES = [(ch02.fused_multiply_add, fma_ref), (ch02.add_row, add_row_ref), (ch02.sum_axis, sum_axis_ref),
              (ch02.choose_threshold, threshold_ref)]


@pytest.mark.parametrize("checker, ref", REFERENCES, ids=lambda x: getattr(x, "__name__", ""))
def test_reference_passes_and_stub_is_todo(checker, ref):
    result = checker(ref, show=False)
    assert result.passed, result.message
    todo = checker(stub, show=False)
    assert todo.status == "todo" and "not implemented yet" in todo.message


def test_library_kernels_pass():
    from fastgrad.kernels import elementwise as E
    assert ch02.fused_multiply_add(lambda a, b, c, out: E.fma(a, b, c, out=out), show=False).passed
    assert ch02.add_row(E.add, show=False).passed
    assert ch02.sum_axis(E.sum, show=False).passed


def test_verdict_is_printed(capsys):
    ch02.choose_threshold(threshold_ref)
    assert "✅ choose_threshold: all 9 cases pass." in capsys.readouterr().out
    ch02.add_row(stub)
    assert "⏳ add_row: not implemented yet" in capsys.readouterr().out


# ---------------------------------------------------------------- wrong answers
@numba.njit
def fma_stops_early(a, b, c, out):
    for i in range(out.shape[0] - 1):
        out[i] = a[i] * b[i] + c[i]


def fma_forgets_c(a, b, c, out):
    np.multiply(a, b, out=out)


def fma_returns_instead(a, b, c, out):
    return a * b + c                      # never writes out


def test_fma_wrong_answers():
    early = ch02.fused_multiply_add(fma_stops_early, show=False)
    assert early.status == "fail" and "never written" in early.message and "range(out.shape[0])" in early.message
    no_c = ch02.fused_multiply_add(fma_forgets_c, show=False)
    assert no_c.status == "fail" and "without + c" in no_c.message
    assert ch02.fused_multiply_add(fma_returns_instead, show=False).status == "fail"


@numba.njit
def add_row_float64(m, row):
    out = np.empty(m.shape)               # float64 whatever m's dtype
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[j]
    return out


@numba.njit
def add_row_wrong_axis(m, row):
    out = np.empty_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[i]
    return out


def add_row_in_place(m, row):
    m += row
    return m


def add_row_flat(m, row):
    # Treats m's memory as C-ordered: wrong for transposed or sliced views.
    flat = np.lib.stride_tricks.as_strided(m, shape=(m.size,), strides=(m.itemsize,))
    out = (flat.reshape(m.shape[0], m.shape[1]) + row).copy()
    return out


def test_add_row_wrong_answers():
    f64 = ch02.add_row(add_row_float64, show=False)
    assert f64.status == "fail" and "float64" in f64.message and "empty_like" in f64.message
    axis = ch02.add_row(add_row_wrong_axis, show=False)
    assert axis.status == "fail" and "every row" in axis.message
    in_place = ch02.add_row(add_row_in_place, show=False)
    assert in_place.status == "fail" and "changed its input" in in_place.message
    flat = ch02.add_row(add_row_flat, show=False)
    assert flat.status == "fail" and ("transposed" in flat.message or "strided" in flat.message)


def sum_wrong_axis(x, axis, keepdims=False):
    return x.sum(axis=1 - axis % 2, keepdims=keepdims)


def sum_no_keepdims(x, axis, keepdims=False):
    return x.sum(axis=axis)


def sum_float64(x, axis, keepdims=False):
    return x.astype(np.float64).sum(axis=axis, keepdims=keepdims)


def test_sum_axis_wrong_answers():
    wrong = ch02.sum_axis(sum_wrong_axis, show=False)
    assert wrong.status == "fail" and "other axis" in wrong.message
    keep = ch02.sum_axis(sum_no_keepdims, show=False)
    assert keep.status == "fail" and "keepdims" in keep.message
    f64 = ch02.sum_axis(sum_float64, show=False)
    assert f64.status == "fail" and "float64" in f64.message


def threshold_first_win(sizes, serial, parallel):
    for n, s, p in sorted(zip(sizes, serial, parallel)):
        if p < s:
            return int(n)
    return None


def threshold_unsorted(sizes, serial, parallel):
    threshold = None
    for n, s, p in reversed(list(zip(sizes, serial, parallel))):
        if p >= s:
            break
        threshold = int(n)
    return threshold


def threshold_returns_list(sizes, serial, parallel):
    return [n for n, s, p in zip(sizes, serial, parallel) if p < s]


def test_choose_threshold_wrong_answers():
    first = ch02.choose_threshold(threshold_first_win, show=False)
    assert first.status == "fail" and "FIRST size" in first.message
    unsorted = ch02.choose_threshold(threshold_unsorted, show=False)
    assert unsorted.status == "fail" and "shuffled" in unsorted.message
    weird = ch02.choose_threshold(threshold_returns_list, show=False)
    assert weird.status == "fail" and "expected an int" in weird.message


def test_checkers_never_crash_on_garbage():
    for checker in (ch02.fused_multiply_add, ch02.add_row, ch02.sum_axis, ch02.choose_threshold):
        for bad in (lambda *a: None, lambda *a: 1 / 0, lambda *a: "text", 42):
            result = checker(bad, show=False)
            assert result.status == "fail", (checker.__name__, result)
