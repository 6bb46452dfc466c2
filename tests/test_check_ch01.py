"""Chapter 01 checkers: pass on the library's reference, "not implemented yet" on a stub,
and catch plausible wrong answers with a message that says what to fix."""
import numpy as np
import pytest

from fastgrad import strided
from fastgrad.check import ch01


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def slice_view_ref(shape, strides, offset, slices):
    return strided.slice_view(shape, strides, offset, tuple(slices))


CHECKERS = [
    (ch01.contiguous_strides, strided.contiguous_strides),
    (ch01.offset_of, strided.offset_of),
    (ch01.broadcast_shapes, strided.broadcast_shapes),
    (ch01.permute_strides, strided.permute_strides),
    (ch01.slice_view, slice_view_ref),
]


@pytest.mark.parametrize("checker, ref", CHECKERS, ids=lambda x: getattr(x, "__name__", ""))
def test_reference_passes_and_stub_is_todo(checker, ref):
    result = checker(ref, show=False)
    assert result.passed, result.message
    todo = checker(stub, show=False)
    assert todo.status == "todo" and "not implemented yet" in todo.message


@pytest.mark.parametrize("checker, ref", CHECKERS, ids=lambda x: getattr(x, "__name__", ""))
def test_never_crashes_on_junk(checker, ref):
    for junk in (lambda *a: None, lambda *a: 3, lambda *a: "(1, 2)", lambda *a: 1 / 0, lambda *a: (1.5, None, [])):
        result = checker(junk, show=False)
        assert result.status == "fail" and result.message
    assert checker(42, show=False).status == "fail"


def test_checkers_print_a_verdict(capsys):
    ch01.contiguous_strides(strided.contiguous_strides)
    assert "✅ contiguous_strides: all 17 cases pass." in capsys.readouterr().out


# ---------------------------------------------------------------- plausible wrong answers

def test_contiguous_strides_reversed():
    result = ch01.contiguous_strides(lambda shape: tuple(reversed(strided.contiguous_strides(shape))), show=False)
    assert not result.passed and "(12, 4, 1)" in result.message and "reverse order" in result.message


def test_contiguous_strides_in_bytes():
    result = ch01.contiguous_strides(lambda shape: tuple(8 * s for s in strided.contiguous_strides(shape)),
                                     show=False)
    assert not result.passed and "not bytes" in result.message


def test_contiguous_strides_including_own_size():
    result = ch01.contiguous_strides(lambda shape: tuple(int(np.prod(shape[k:])) for k in range(len(shape))),
                                     show=False)
    assert not result.passed and "AFTER axis k" in result.message


def test_contiguous_strides_zero_size_clipped():
    def clipped(shape):
        return strided.contiguous_strides(tuple(max(n, 1) for n in shape))
    result = ch01.contiguous_strides(clipped, show=False)
    assert not result.passed and "(2, 0, 3)" in result.message and "even when one of them is 0" in result.message


def test_offset_of_forgetting_the_offset():
    result = ch01.offset_of(lambda index, strides, offset: sum(i * s for i, s in zip(index, strides)), show=False)
    assert not result.passed and "expected 15, got 5" in result.message and "start from `offset`" in result.message


def test_offset_of_reversed_strides():
    result = ch01.offset_of(lambda index, strides, offset: offset + sum(i * s for i, s in zip(index, strides[::-1])),
                            show=False)
    assert not result.passed and "pair index[k] with strides[k]" in result.message


def _left_aligned(a, b):
    ndim = max(len(a), len(b))
    a, b = tuple(a) + (1,) * (ndim - len(a)), tuple(b) + (1,) * (ndim - len(b))
    out = []
    for m, n in zip(a, b):
        if m != n and 1 not in (m, n):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(n if m == 1 else m)
    return tuple(out)


def test_broadcast_aligned_from_the_left():
    result = ch01.broadcast_shapes(_left_aligned, show=False)
    assert not result.passed and "RIGHT" in result.message


def test_broadcast_with_max_and_no_error():
    def sloppy(a, b):
        ndim = max(len(a), len(b))
        a, b = (1,) * (ndim - len(a)) + tuple(a), (1,) * (ndim - len(b)) + tuple(b)
        return tuple(max(m, n) for m, n in zip(a, b))
    result = ch01.broadcast_shapes(sloppy, show=False)
    assert not result.passed and "(1, 0) with (5, 1)" in result.message and "max() is wrong" in result.message


def test_broadcast_never_raising():
    def no_error(a, b):
        try:
            return strided.broadcast_shapes(a, b)
        except ValueError:
            return ()
    result = ch01.broadcast_shapes(no_error, show=False)
    assert not result.passed and "must raise ValueError" in result.message and "(2, 3) with (4,)" in result.message


def test_broadcast_error_must_name_both_shapes():
    def vague(a, b):
        try:
            return strided.broadcast_shapes(a, b)
        except ValueError:
            raise ValueError("cannot broadcast") from None
    result = ch01.broadcast_shapes(vague, show=False)
    assert not result.passed and "name both shapes" in result.message


def test_broadcast_wrong_exception_type():
    def assertion(a, b):
        try:
            return strided.broadcast_shapes(a, b)
        except ValueError:
            assert False, f"{a} {b}"
    result = ch01.broadcast_shapes(assertion, show=False)
    assert not result.passed and "expected ValueError, got AssertionError" in result.message


def test_permute_inverse_permutation():
    def inverse(shape, strides, axes):
        order = np.argsort(axes)
        return tuple(shape[i] for i in order), tuple(strides[i] for i in order)
    result = ch01.permute_strides(inverse, show=False)
    assert not result.passed and "3-cycle" in result.message and "inverse permutation" in result.message


def test_permute_without_validation():
    result = ch01.permute_strides(lambda shape, strides, axes: (tuple(shape[a] for a in axes),
                                                                tuple(strides[a] for a in axes)), show=False)
    assert not result.passed and "(0, 0) must raise ValueError" in result.message


def _slice_answer(shape, strides, offset, slices, *, use_offset=True, use_step=True):
    shape, strides = list(shape), list(strides)
    new_offset = offset if use_offset else 0
    for k, s in enumerate(slices):
        start, stop, step = s.indices(shape[k])
        new_offset += start * strides[k]
        shape[k] = len(range(start, stop, step))
        strides[k] = strides[k] * step if use_step else strides[k]
    return tuple(shape), tuple(strides), new_offset


def test_slice_view_correct_learner_answer_passes():
    assert ch01.slice_view(_slice_answer, show=False).passed


def test_slice_view_forgetting_the_offset():
    result = ch01.slice_view(lambda *a: _slice_answer(*a, use_offset=False), show=False)
    assert not result.passed and "input offset 7" in result.message and "input's offset" in result.message


def test_slice_view_forgetting_the_step():
    result = ch01.slice_view(lambda *a: _slice_answer(*a, use_step=False), show=False)
    assert not result.passed and "stride x step" in result.message


def test_slice_view_naive_length():
    def naive(shape, strides, offset, slices):
        shape, strides = list(shape), list(strides)
        for k, s in enumerate(slices):
            start = s.start or 0
            stop = shape[k] if s.stop is None else s.stop
            step = s.step or 1
            offset += start * strides[k]
            shape[k], strides[k] = (stop - start) // step, strides[k] * step
        return tuple(shape), tuple(strides), offset
    result = ch01.slice_view(naive, show=False)
    assert not result.passed and "s.indices(n)" in result.message
