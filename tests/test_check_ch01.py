"""Chapter 01 checkers as graders: right answers written several ways pass, a stub is
"not implemented yet", junk never crashes a checker, and each plausible wrong answer a
learner writes gets a ❌ whose message names the real mistake.

WRONG lists (checker, wrong answer, words the message must contain); RIGHT lists
alternative correct answers. A new mistake class seen in the wild becomes one more line.
"""
import itertools
import math
import operator
import time

import numpy as np
import pytest

from fastgrad import strided
from fastgrad.check import ch01


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def slice_view_ref(shape, strides, offset, slices):
    return strided.slice_view(shape, strides, offset, tuple(slices))


def flat_stride_ref(shape, strides):
    new = strided.reshape_strides(shape, strides, (math.prod(shape),))
    return None if new is None else new[0]


CHECKERS = [
    (ch01.contiguous_strides, strided.contiguous_strides),
    (ch01.offset_of, strided.offset_of),
    (ch01.broadcast_shapes, strided.broadcast_shapes),
    (ch01.permute_strides, strided.permute_strides),
    (ch01.slice_view, slice_view_ref),
    (ch01.flat_stride, flat_stride_ref),
]


@pytest.mark.parametrize("checker, ref", CHECKERS, ids=lambda x: getattr(x, "__name__", ""))
def test_reference_passes_and_stub_is_todo(checker, ref):
    result = checker(ref, show=False)
    assert result.passed, result.message
    todo = checker(stub, show=False)
    assert todo.status == "todo" and "not implemented yet" in todo.message


@pytest.mark.parametrize("checker, ref", CHECKERS, ids=lambda x: getattr(x, "__name__", ""))
def test_never_crashes_on_junk(checker, ref):
    for junk in (lambda *a: 3, lambda *a: "(1, 2)", lambda *a: 1 / 0, lambda *a: (1.5, None, []), lambda *a: True):
        result = checker(junk, show=False)
        assert result.status == "fail" and result.message
    assert checker(42, show=False).status == "fail"


def test_checkers_print_a_verdict(capsys):
    ch01.contiguous_strides(strided.contiguous_strides)
    assert "✅ contiguous_strides: all" in capsys.readouterr().out


# ---------------------------------------------------------------- right answers written other ways

def strides_loop(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.insert(0, step)
        step *= n
    return tuple(strides)


def strides_prod(shape):
    return tuple(math.prod(shape[k + 1:]) for k in range(len(shape)))


def strides_numpy_int(shape):
    return tuple(int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape)))


def strides_recursive(shape):
    if not shape:
        return ()
    rest = strides_recursive(shape[1:])
    return (math.prod(shape[1:]),) + rest


def offset_loop(index, strides, offset):
    for i, s in zip(index, strides):
        offset += i * s
    return offset


def offset_map(index, strides, offset):
    return offset + sum(map(operator.mul, index, strides))


def offset_numpy(index, strides, offset):
    return offset + int(np.dot(np.asarray(index, dtype=np.int64), np.asarray(strides, dtype=np.int64)))


def broadcast_loop(shape_a, shape_b, *, name_padded=False):
    ndim = max(len(shape_a), len(shape_b))
    a, b = (1,) * (ndim - len(shape_a)) + tuple(shape_a), (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    out = []
    for m, n in zip(a, b):
        if m != n and m != 1 and n != 1:
            named = (a, b) if name_padded else (shape_a, shape_b)
            raise ValueError(f"shapes {named[0]} and {named[1]} cannot be broadcast")
        out.append(n if m == 1 else m)
    return tuple(out)


def broadcast_zip_longest(shape_a, shape_b):
    out = []
    for m, n in itertools.zip_longest(reversed(shape_a), reversed(shape_b), fillvalue=1):
        if m == n or n == 1:
            out.append(m)
        elif m == 1:
            out.append(n)
        else:
            raise ValueError(f"cannot broadcast {list(shape_a)} with {list(shape_b)}")   # lists name them too
    return tuple(reversed(out))


def broadcast_numpy(a, b):
    return tuple(int(n) for n in np.broadcast_shapes(a, b))


def permute_ref_style(shape, strides, axes):
    if sorted(axes) != list(range(len(shape))):
        raise ValueError(f"axes {axes} is not a permutation")
    return tuple(shape[a] for a in axes), tuple(strides[a] for a in axes)


def permute_checks(shape, strides, axes):
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or any(not 0 <= a < len(shape) for a in axes):
        raise ValueError(f"bad axes {axes} for {len(shape)} axes")
    new_shape, new_strides = [], []
    for a in axes:
        new_shape.append(shape[a])
        new_strides.append(strides[a])
    return [tuple(new_shape), tuple(new_strides)]          # a list of the two tuples unpacks the same


def _slice_answer(shape, strides, offset, slices, *, use_offset=True, use_step=True, step_offset=False,
                  as_list=False, overwrite_offset=False):
    shape, strides = list(shape), list(strides)
    new_offset = offset if use_offset else 0
    for k, s in enumerate(slices):
        start, stop, step = s.indices(shape[k])
        move = start * strides[k] * (step if step_offset else 1)
        new_offset = (offset + move) if overwrite_offset else new_offset + move
        shape[k] = len(range(start, stop, step))
        strides[k] = strides[k] * step if use_step else strides[k]
    if as_list:
        return shape, strides, new_offset
    return tuple(shape), tuple(strides), new_offset


def slice_with_range(shape, strides, offset, slices):
    new_shape, new_strides = list(shape), list(strides)
    for axis, s in enumerate(slices):
        r = range(*s.indices(shape[axis]))
        new_shape[axis], new_strides[axis] = len(r), strides[axis] * r.step
        offset += r.start * strides[axis]
    return tuple(new_shape), tuple(new_strides), offset


def flat_loop(shape, strides):
    axes = [(n, s) for n, s in zip(shape, strides) if n != 1]
    if 0 in shape or not axes:
        return 1
    for (n, s), (n_next, s_next) in zip(axes, axes[1:]):
        if s != n_next * s_next:
            return None
    return axes[-1][1]


def flat_zero_for_tiny(shape, strides):
    """Any int is right for 0 or 1 elements; this one says 0."""
    if math.prod(shape) <= 1:
        return 0
    return flat_loop(shape, strides)


def flat_positions(shape, strides):
    """Walk the elements in row-major order and look at the steps between them."""
    positions = [sum(i * s for i, s in zip(index, strides)) for index in itertools.product(*map(range, shape))]
    steps = {b - a for a, b in zip(positions, positions[1:])}
    if len(steps) > 1:
        return None
    return steps.pop() if steps else 1


RIGHT = [
    (ch01.contiguous_strides, strides_loop), (ch01.contiguous_strides, strides_prod),
    (ch01.contiguous_strides, strides_numpy_int), (ch01.contiguous_strides, strides_recursive),
    (ch01.offset_of, offset_loop), (ch01.offset_of, offset_map), (ch01.offset_of, offset_numpy),
    (ch01.broadcast_shapes, broadcast_loop), (ch01.broadcast_shapes, broadcast_zip_longest),
    (ch01.broadcast_shapes, broadcast_numpy),
    (ch01.permute_strides, permute_ref_style), (ch01.permute_strides, permute_checks),
    (ch01.slice_view, _slice_answer), (ch01.slice_view, slice_with_range),
    (ch01.flat_stride, flat_loop), (ch01.flat_stride, flat_zero_for_tiny), (ch01.flat_stride, flat_positions),
]


@pytest.mark.parametrize("checker, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answers_pass(checker, fn):
    result = checker(fn, show=False)
    assert result.passed, result.message


# ---------------------------------------------------------------- wrong answers: contiguous strides

def strides_numpy_float(shape):
    return tuple(np.prod(shape[k + 1:]) for k in range(len(shape)))       # np.prod(()) is 1.0


def strides_cumprod(shape):
    return tuple(int(s) for s in np.cumprod((tuple(shape[1:]) + (1,))[::-1])[::-1])   # () -> (1,)


def strides_from_numpy(shape):
    return tuple(s // 8 for s in np.empty(shape).strides)


def strides_endless(shape):
    strides, k, step = [], len(shape) - 1, 1
    while k >= 0:
        strides.insert(0, step)
        step *= shape[k]          # forgets k -= 1
    return tuple(strides)


def strides_next_only(shape):
    return tuple(shape[k + 1] if k + 1 < len(shape) else 1 for k in range(len(shape)))


def strides_no_return(shape):
    strides_loop(shape)


WRONG_STRIDES = [
    (lambda shape: tuple(reversed(strided.contiguous_strides(shape))), ["(12, 4, 1)", "reverse order"]),
    (lambda shape: tuple(8 * s for s in strided.contiguous_strides(shape)), ["not bytes"]),
    (lambda shape: tuple(math.prod(shape[k:]) for k in range(len(shape))), ["AFTER axis k"]),
    (lambda shape: strided.contiguous_strides(tuple(max(n, 1) for n in shape)), ["(2, 0, 3)", "even when one"]),
    (lambda shape: tuple(math.prod(shape[:k]) for k in range(len(shape))), ["column-major"]),
    (lambda shape: list(strided.contiguous_strides(shape)), ["list", "tuple", "== (12, 4, 1) is False"]),
    (lambda shape: np.array(strided.contiguous_strides(shape)), ["NumPy array", "tuple"]),
    (strides_numpy_float, ["float", "np.prod"]),
    (strides_cumprod, ["shape ()", "one stride per axis"]),
    (strides_from_numpy, ["NumPy", "zero-size", "plain product"]),
    (strides_next_only, ["product of all the sizes after"]),
    (strides_endless, ["did not finish", "loop"]),
    (strides_no_return, ["returned None", "forget `return`"]),
]


# ---------------------------------------------------------------- wrong answers: offset

def offset_endless(index, strides, offset):
    k = 0
    while k < len(index):
        offset += index[k] * strides[k]          # forgets k += 1
    return offset


WRONG_OFFSET = [
    (lambda index, strides, offset: sum(i * s for i, s in zip(index, strides)),
     ["expected 15, got 5", "start from `offset`"]),
    (lambda index, strides, offset: offset + sum(i * s for i, s in zip(index, strides[::-1])),
     ["pair index[k] with strides[k]"]),
    (lambda index, strides, offset: offset + sum(index) * (strides[-1] if strides else 0), ["ITS axis's stride"]),
    (lambda index, strides, offset: offset + np.dot(index, strides), ["float", "empty", "int("]),
    (lambda index, strides, offset: offset + np.sum(np.multiply(index, strides)), ["float", "empty", "int("]),
    (lambda index, strides, offset: offset + sum(i * abs(s) for i, s in zip(index, strides)),
     ["negative stride", "abs"]),
    (lambda index, strides, offset: offset + sum(index[k] * strides[k] for k in range(len(index) - 1)),
     ["every axis", "last"]),
    (lambda index, strides, offset: offset + 8 * sum(i * s for i, s in zip(index, strides)), ["elements, not bytes"]),
    (lambda index, strides, offset: tuple(offset + i * s for i, s in zip(index, strides)), ["as an int", "tuple"]),
    (lambda index, strides, offset: float(offset + sum(i * s for i, s in zip(index, strides))), ["as an int", "float"]),
    (lambda index, strides, offset: print(offset), ["returned None", "forget `return`"]),
    (offset_endless, ["did not finish"]),
]


# ---------------------------------------------------------------- wrong answers: broadcasting

def _left_aligned(a, b):
    ndim = max(len(a), len(b))
    a, b = tuple(a) + (1,) * (ndim - len(a)), tuple(b) + (1,) * (ndim - len(b))
    out = []
    for m, n in zip(a, b):
        if m != n and 1 not in (m, n):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(n if m == 1 else m)
    return tuple(out)


def broadcast_max(a, b):
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + tuple(a), (1,) * (ndim - len(b)) + tuple(b)
    return tuple(max(m, n) for m, n in zip(a, b))


def broadcast_max_checked(a, b):
    for m, n in zip(reversed(a), reversed(b)):
        if m != n and 1 not in (m, n):
            raise ValueError(f"shapes {a} and {b} cannot be broadcast")
    return broadcast_max(a, b)


def broadcast_never_raises(a, b):
    try:
        return strided.broadcast_shapes(a, b)
    except ValueError:
        return ()


def broadcast_vague(a, b):
    try:
        return strided.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError("cannot broadcast") from None


def broadcast_assert(a, b):
    try:
        return strided.broadcast_shapes(a, b)
    except ValueError:
        assert False, f"{a} {b}"


def broadcast_no_padding(a, b):
    out = []
    for m, n in zip(reversed(a), reversed(b)):       # zip stops at the shorter shape
        if m != n and 1 not in (m, n):
            raise ValueError(f"shapes {a} and {b} cannot be broadcast")
        out.append(max(m, n) if 0 not in (m, n) else 0)
    return tuple(reversed(out))


def broadcast_min_is_one(a, b):
    ndim = max(len(a), len(b))
    pa, pb = (1,) * (ndim - len(a)) + tuple(a), (1,) * (ndim - len(b)) + tuple(b)
    out = []
    for m, n in zip(pa, pb):
        if m != n and min(m, n) != 1:               # 0 with 1 wrongly refused
            raise ValueError(f"shapes {a} and {b} cannot be broadcast")
        out.append(n if m == 1 else m)
    return tuple(out)


def broadcast_negative_index(a, b):
    out = []
    for k in range(1, max(len(a), len(b)) + 1):
        m, n = a[-k], b[-k]                          # IndexError on the shorter shape
        if m != n and 1 not in (m, n):
            raise ValueError(f"shapes {a} and {b} cannot be broadcast")
        out.insert(0, n if m == 1 else m)
    return tuple(out)


WRONG_BROADCAST = [
    (_left_aligned, ["RIGHT"]),
    (broadcast_max, ["(1, 0) with (5, 1)", "max() is wrong"]),
    (broadcast_max_checked, ["(1, 0) with (5, 1)", "max() is wrong"]),
    (broadcast_never_raises, ["must raise ValueError", "(2, 3) with (4,)"]),
    (broadcast_vague, ["name both shapes"]),
    (lambda a, b: broadcast_loop(a, b, name_padded=True), ["name both shapes as given", "(4,)"]),
    (broadcast_assert, ["expected ValueError, got AssertionError"]),
    (lambda a, b: list(strided.broadcast_shapes(a, b)), ["list", "tuple"]),
    (lambda a, b: np.array(strided.broadcast_shapes(a, b)), ["NumPy array"]),
    (broadcast_no_padding, ["as many axes as the longer shape"]),
    (broadcast_min_is_one, ["do broadcast", "0 included"]),
    (broadcast_negative_index, ["IndexError", "pad the shorter"]),
    (lambda a, b: print(a, b), ["returned None", "forget `return`"]),
]


# ---------------------------------------------------------------- wrong answers: permute

def permute_inverse(shape, strides, axes):
    order = np.argsort(axes)
    return tuple(shape[i] for i in order), tuple(strides[i] for i in order)


def permute_by_index(shape, strides, axes):
    if sorted(axes) != list(range(len(shape))):
        raise ValueError("bad axes")
    return (tuple(shape[list(axes).index(k)] for k in range(len(shape))),
            tuple(strides[list(axes).index(k)] for k in range(len(shape))))


def permute_no_check(shape, strides, axes):
    return tuple(shape[a] for a in axes), tuple(strides[a] for a in axes)


def permute_set_only(shape, strides, axes):
    if len(set(axes)) != len(shape):
        raise ValueError("bad axes")
    return permute_no_check(shape, strides, axes)


def permute_len_axes(shape, strides, axes):
    if sorted(axes) != list(range(len(axes))):
        raise ValueError("bad axes")
    return permute_no_check(shape, strides, axes)


def permute_max_only(shape, strides, axes):
    if len(axes) != len(shape) or max(axes, default=-1) >= len(shape):
        raise ValueError("bad axes")
    return permute_no_check(shape, strides, axes)


def permute_assert(shape, strides, axes):
    assert sorted(axes) == list(range(len(shape))), "bad axes"
    return permute_no_check(shape, strides, axes)


WRONG_PERMUTE = [
    (permute_inverse, ["3-cycle", "inverse permutation"]),
    (permute_by_index, ["inverse permutation"]),
    (permute_no_check, ["(0, 0) must raise ValueError"]),
    (permute_set_only, ["expected ValueError, got IndexError"]),
    (permute_len_axes, ["axes (0,)", "must raise ValueError"]),
    (permute_max_only, ["(0, 0) must raise ValueError"]),
    (permute_assert, ["expected ValueError, got AssertionError"]),
    (lambda shape, strides, axes: (tuple(shape[a] for a in axes), tuple(strides)), ["strides move with their axes"]),
    (lambda shape, strides, axes: permute_ref_style(shape, strides, axes)[::-1], ["(new_shape, new_strides)", "order"]),
    (lambda shape, strides, axes: tuple(list(x) for x in permute_ref_style(shape, strides, axes)), ["list", "tuple"]),
    (lambda shape, strides, axes: ((shape[a] for a in axes), (strides[a] for a in axes)), ["generator", "tuple("]),
    (lambda shape, strides, axes: permute_ref_style(shape, strides, axes)[1], ["a tuple of 2"]),
    (lambda shape, strides, axes: None, ["returned None", "forget `return`"]),
]


# ---------------------------------------------------------------- wrong answers: slicing

def slice_naive_length(shape, strides, offset, slices):
    shape, strides = list(shape), list(strides)
    for k, s in enumerate(slices):
        start = s.start or 0
        stop = shape[k] if s.stop is None else s.stop
        step = s.step or 1
        offset += start * strides[k]
        shape[k], strides[k] = (stop - start) // step, strides[k] * step
    return tuple(shape), tuple(strides), offset


def slice_floor_length(shape, strides, offset, slices):
    shape, strides = list(shape), list(strides)
    for k, s in enumerate(slices):
        start, stop, step = s.indices(shape[k])
        offset += start * strides[k]
        shape[k], strides[k] = max(0, (stop - start) // step), strides[k] * step
    return tuple(shape), tuple(strides), offset


def slice_ceil_unclipped(shape, strides, offset, slices):
    shape, strides = list(shape), list(strides)
    for k, s in enumerate(slices):
        start, stop, step = s.indices(shape[k])
        offset += start * strides[k]
        shape[k], strides[k] = -((start - stop) // step), strides[k] * step     # negative when empty
    return tuple(shape), tuple(strides), offset


def slice_count_with_while(shape, strides, offset, slices):
    shape, strides = list(shape), list(strides)
    for k, s in enumerate(slices):
        start, stop, step = s.indices(shape[k])
        length, i = 0, start
        while i != stop:              # misses stop when the step does not divide the distance
            length += 1
            i += step
        offset += start * strides[k]
        shape[k], strides[k] = length, strides[k] * step
    return tuple(shape), tuple(strides), offset


def slice_every_axis(shape, strides, offset, slices):
    new_shape, new_strides = list(shape), list(strides)
    for axis in range(len(shape)):
        start, stop, step = slices[axis].indices(shape[axis])       # IndexError: fewer slices than axes
        new_shape[axis] = len(range(start, stop, step))
        new_strides[axis] = strides[axis] * step
        offset += start * strides[axis]
    return tuple(new_shape), tuple(new_strides), offset


WRONG_SLICE = [
    (lambda *a: _slice_answer(*a, use_offset=False), ["input offset 7", "input's offset"]),
    (lambda *a: _slice_answer(*a, use_step=False), ["stride x step"]),
    (lambda *a: _slice_answer(*a, step_offset=True), ["start x the axis's own stride", "not x step"]),
    (lambda *a: _slice_answer(*a, overwrite_offset=True), ["add", "every sliced axis", "+="]),
    (lambda *a: _slice_answer(*a, as_list=True), ["list", "tuple"]),
    (slice_naive_length, ["s.indices(n)"]),
    (slice_floor_length, ["len(range(start, stop, step))"]),
    (slice_ceil_unclipped, ["empty", "never negative"]),
    (slice_count_with_while, ["did not finish", "negative step"]),
    (slice_every_axis, ["IndexError", "fewer slices", "kept whole"]),
    (lambda shape, strides, offset, slices: _slice_answer(shape, strides, offset, slices)[:2], ["a tuple of 3"]),
    (lambda *a: None, ["returned None", "forget `return`"]),
]


# ---------------------------------------------------------------- wrong answers: flattening as a view

def flat_contiguous_only(shape, strides):
    return 1 if strided.is_contiguous(shape, strides) else None


def flat_always_last(shape, strides):
    return strides[-1] if strides else 1


def flat_keeps_size_one(shape, strides):
    if 0 in shape or not shape:
        return 1
    for k in range(len(shape) - 1):
        if strides[k] != shape[k + 1] * strides[k + 1]:
            return None
    return strides[-1]


def flat_last_axis_stride(shape, strides):
    answer = flat_loop(shape, strides)
    return None if answer is None else (strides[-1] if shape and 0 not in shape and math.prod(shape) > 1 else answer)


def flat_own_size(shape, strides):
    axes = [(n, s) for n, s in zip(shape, strides) if n != 1]
    if 0 in shape or not axes:
        return 1
    for (n, s), (_, s_next) in zip(axes, axes[1:]):
        if s != n * s_next:                  # the size of axis k instead of axis k+1
            return None
    return axes[-1][1]


def flat_abs(shape, strides):
    axes = [(n, s) for n, s in zip(shape, strides) if n != 1]
    if 0 in shape or not axes:
        return 1
    for (n, s), (n_next, s_next) in zip(axes, axes[1:]):
        if abs(s) != n_next * abs(s_next):       # the signs matter
            return None
    return axes[-1][1]


def flat_empty_copies(shape, strides):
    return None if 0 in shape else flat_loop(shape, strides)


def flat_zero_d_crash(shape, strides):
    if shape[-1] == 0:                           # IndexError for the 0-d shape ()
        return 1
    return flat_loop(shape, strides)


def flat_assumes_unit(shape, strides):
    answer = flat_loop(shape, strides)
    return None if answer is None else 1


def flat_endless(shape, strides):
    k = 0
    while k < len(shape) - 1:
        if strides[k] != shape[k + 1] * strides[k + 1]:
            return None                      # forgets k += 1
    return flat_loop(shape, strides)


WRONG_FLAT = [
    (flat_contiguous_only, ["a view is possible", "evenly spaced"]),
    (flat_always_last, ["must copy", "not all equal"]),
    (flat_keeps_size_one, ["size 1", "never used"]),
    (flat_last_axis_stride, ["size 1", "innermost axis of size > 1"]),
    (flat_own_size, ["shape[k+1]"]),
    (flat_abs, ["must copy", "not all equal"]),
    (flat_empty_copies, ["no elements", "any int"]),
    (flat_zero_d_crash, ["0-d", "one element"]),
    (flat_assumes_unit, ["innermost", "2"]),
    (lambda shape, strides: (flat_loop(shape, strides),), ["as an int", "tuple"]),
    (lambda shape, strides: flat_loop(shape, strides) is not None, ["as an int", "bool"]),
    (lambda shape, strides: print(shape), ["forget `return`"]),
    (flat_endless, ["did not finish"]),
]

WRONG = ([(ch01.contiguous_strides, *w) for w in WRONG_STRIDES] + [(ch01.offset_of, *w) for w in WRONG_OFFSET]
         + [(ch01.broadcast_shapes, *w) for w in WRONG_BROADCAST] + [(ch01.permute_strides, *w) for w in WRONG_PERMUTE]
         + [(ch01.slice_view, *w) for w in WRONG_SLICE] + [(ch01.flat_stride, *w) for w in WRONG_FLAT])


@pytest.mark.parametrize("checker, fn, words", WRONG,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_wrong_answer_is_caught_with_the_real_cause(checker, fn, words):
    result = checker(fn, show=False)
    assert result.status == "fail", f"slipped through: {result.message}"
    for word in words:
        assert word in result.message, f"{word!r} missing from: {result.message}"


def test_flat_stride_cases_agree_with_numpy():
    """The checker's expected answers are NumPy's: reshape(-1, copy=False) is a view exactly then."""
    for shape, strides, _ in ch01.FLAT_CASES + ch01._flat_random_cases(105, 6):
        buffer = np.arange(1000, dtype=np.int64)
        size = math.prod(shape)
        low = sum(s * (n - 1) for n, s in zip(shape, strides) if s < 0 and n > 0)
        start = -low + 10
        view = np.lib.stride_tricks.as_strided(buffer[start:], shape, [8 * s for s in strides])
        try:
            flat = np.reshape(view, -1, copy=False)
            numpy_says = flat.strides[0] // 8 if size > 1 else "any"
        except ValueError:
            numpy_says = None
        ours = flat_stride_ref(shape, strides)
        assert (numpy_says == "any" and ours is not None) or numpy_says == ours, (shape, strides, numpy_says, ours)


def test_a_hung_answer_is_stopped_quickly():
    start = time.perf_counter()
    assert ch01.slice_view(slice_count_with_while, show=False).status == "fail"
    assert time.perf_counter() - start < 4


def test_checks_are_fast():
    for checker, ref in CHECKERS:
        start = time.perf_counter()
        assert checker(ref, show=False).passed
        assert time.perf_counter() - start < 0.5, checker.__name__
