"""Checkers for chapter 01 (tensors): contiguous strides, the offset of an index,
broadcast shapes, permuted strides, the view a tuple of slices makes, and whether a
strided array can be flattened as a view.

The reference answers come from `fastgrad.strided`. Cases include the adversarial
ones: the empty shape (), zero-size and size-1 axes, negative strides and steps,
slices past the end, stride-0 (broadcast) axes and shapes that cannot broadcast.
A wrong answer gets the case, expected versus got, and a hint when the mistake is
a usual one (strides in reverse order, bytes instead of elements, the offset
forgotten, shapes aligned on the left, the inverse permutation, a copy where a view
is possible or a view where the elements are not evenly spaced, ...).

Shapes and strides must come back as tuples, as NumPy gives them: a list never
equals a tuple in Python, so a list would break code that compares with `.shape`.
Every case has a short time limit, so an endless loop is stopped and named.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np

from .. import strided
from ._base import Case, CaseFailed, CaseTimeout, CheckResult, learner_frame, run_cases

__all__ = ["broadcast_shapes", "contiguous_strides", "flat_stride", "offset_of", "permute_strides", "slice_view"]

QUICK = 2.0     # seconds per case: a right answer takes microseconds, so more means a loop that never ends
_ENDLESS = "look for a loop that never ends (a `while` whose counter is never updated)."


# ----------------------------------------------------------------------------- helpers

def _call(f, *args, advice: str = _ENDLESS):
    """`f(*args)`, with a timed-out call reported as a failed case with `advice`."""
    try:
        return f(*args)
    except CaseTimeout:
        raise CaseFailed(f"did not finish within {QUICK:g} s and was stopped; a right answer takes "
                         f"microseconds. Hint: {advice}") from None


def _int_tuple(value, what: str, expected=None) -> tuple[int, ...]:
    """The learner's answer as a tuple of ints, or a CaseFailed saying why it is not one."""
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, np.ndarray):
        raise CaseFailed(f"expected {what} as a tuple of ints, got a NumPy array {value!r}; return a tuple, "
                         "e.g. tuple(int(v) for v in ...).")
    if isinstance(value, list):
        example = (f" ({list(expected)} == {tuple(expected)} is False)" if expected is not None else "")
        raise CaseFailed(f"expected {what} as a tuple of ints, got the list {value!r}. Return a tuple, like "
                         f"NumPy's .shape and .strides: a list never equals a tuple in Python{example}, so "
                         "comparing with NumPy would silently fail. tuple(...) converts.")
    if not isinstance(value, tuple):
        hint = (" Hint: a generator expression in parentheses is not a tuple: wrap it in tuple(...)."
                if type(value).__name__ == "generator" else "")
        raise CaseFailed(f"expected {what} as a tuple of ints, got {type(value).__name__} {value!r}.{hint}")
    out = []
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            hint = ""
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                hint = (" np.prod of an empty tuple is 1.0, a float (and NumPy may give floats elsewhere): "
                        "use math.prod(...) or int(...).")
            raise CaseFailed(f"expected {what} as a tuple of ints, got {value!r} "
                             f"(it holds the {type(v).__name__} {v!r}).{hint}")
        out.append(int(v))
    return tuple(out)


def _int(value, what: str, hint: str = "") -> int:
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise CaseFailed(f"expected {what} as an int, got {type(value).__name__} {value!r}.{hint}")
    return int(value)


def _parts(value, count: int, what: str) -> tuple:
    """A tuple (or list) of `count` parts, each itself a sequence or number as the exercise says."""
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise CaseFailed(f"expected {what}, a tuple of {count} things, got {value!r}.")
    return tuple(value)


def _random_shapes(seed: int, count: int, max_ndim: int = 4, max_size: int = 5) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(int(n) for n in rng.integers(1, max_size + 1, size=rng.integers(1, max_ndim + 1)))
            for _ in range(count)]


# ----------------------------------------------------------------------------- contiguous strides

def _strides_hint(shape, got) -> str:
    expected = strided.contiguous_strides(shape)
    prods = [math.prod(shape[k:]) for k in range(len(shape))]
    fortran = tuple(math.prod(shape[:k]) for k in range(len(shape)))
    guesses = [
        (tuple(reversed(expected)), "your strides are in reverse order: the LAST axis has stride 1 and each "
         "axis to its left steps over the whole block of axes to its right."),
        (fortran, "that is column-major (Fortran) order; NumPy's default is row-major (C): the last axis "
         "has stride 1."),
        (tuple(prods), "the stride of axis k is the product of the sizes AFTER axis k (shape[k+1:]), "
         "not including shape[k] itself."),
        (tuple(shape[k + 1] if k + 1 < len(shape) else 1 for k in range(len(shape))),
         "the stride of axis k is the product of all the sizes after axis k, not just the next one."),
        (tuple(8 * s for s in expected), "count elements, not bytes: these are NumPy's byte strides for "
         "8-byte items; divide by the itemsize."),
        (tuple(4 * s for s in expected), "count elements, not bytes: divide by the itemsize."),
    ]
    if 0 in shape:
        clipped = strided.contiguous_strides(tuple(max(n, 1) for n in shape))
        guesses.append((clipped, "use the plain product of the later sizes, even when one of them is 0 "
                        "(no element is ever addressed then, but we keep one rule for every shape)."))
        numpy_strides = tuple(s // 8 for s in np.empty(shape).strides)
        guesses.append((numpy_strides, "that is what NumPy reports for a zero-size array (np.empty(shape).strides "
                        "// itemsize): with no elements NumPy picks its own strides. Use the plain product "
                        "rule, which gives " + f"{expected}."))
    if len(got) != len(shape):
        if not shape:
            return " Hint: a 0-d array (shape ()) has no axes, so no strides: one stride per axis gives ()."
        return f" Hint: shape {shape} has {len(shape)} axes, so it has {len(shape)} strides: one stride per axis."
    for value, hint in guesses:
        if value != expected and value == got:
            return " Hint: " + hint
    return ""


def contiguous_strides(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `contiguous_strides(shape) -> strides` (row-major, in elements, a tuple of ints)."""

    def case(shape) -> Case:
        expected = strided.contiguous_strides(shape)

        def run(f):
            got = _int_tuple(_call(f, shape), f"the strides for shape {shape}", expected)
            if got != expected:
                raise CaseFailed(f"expected strides {expected}, got {got}.{_strides_hint(shape, got)}")
        return Case(f"shape {shape}", run, time_limit=QUICK)

    shapes = [(2, 3, 4), (5,), (3, 2), (), (1,), (1, 1), (4, 1, 3), (2, 0, 3), (0,), (3, 0), (7, 5, 3, 2)]
    shapes += _random_shapes(101, 6)
    return run_cases("contiguous_strides", fn, [case(s) for s in shapes], show=show)


# ----------------------------------------------------------------------------- offset of an index

def offset_of(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `offset_of(index, strides, offset) -> offset + sum(index[k] * strides[k])`, an int."""

    def case(index, strides, offset, note: str = "") -> Case:
        expected = strided.offset_of(index, strides, offset)

        def run(f):
            answer = _call(f, index, strides, offset)
            type_hint = ""
            if isinstance(answer, (float, np.floating)):
                type_hint = (" Hint: np.dot and np.sum give 0.0, a float, for empty sequences (a 0-d array has "
                             "index ()): wrap the sum in int(...), or add in plain Python." if not index else
                             " Hint: positions in a buffer are whole numbers: return an int.")
            got = _int(answer, "the position in the buffer", type_hint)
            if got != expected:
                terms = [i * s for i, s in zip(index, strides)]
                hint = ""
                if got == expected - offset:
                    hint = " Hint: start from `offset`, where element (0, 0, ...) lives, then add index x stride."
                elif len(index) > 1 and got == offset + sum(i * s for i, s in zip(index, reversed(strides))):
                    hint = " Hint: pair index[k] with strides[k] (same axis), not with the reversed strides."
                elif got == offset + sum(i * abs(s) for i, s in zip(index, strides)):
                    hint = (" Hint: a negative stride steps backwards through the buffer (a reversed view): "
                            "use the stride with its sign, not abs().")
                elif terms and got == offset + sum(terms[:-1]):
                    hint = " Hint: add index x stride for every axis, the last one included."
                elif got == offset + 8 * sum(terms) or got == offset + 4 * sum(terms):
                    hint = " Hint: the strides here count elements, not bytes: don't multiply by the itemsize."
                elif got == offset + sum(index) * (strides[-1] if strides else 0) or got == offset + sum(index):
                    hint = " Hint: multiply each index by ITS axis's stride before adding."
                raise CaseFailed(f"expected {expected}, got {got}.{hint}")
        return Case(f"index {index}, strides {strides}, offset {offset}{note}", run, time_limit=QUICK)

    cases = [
        case((2, 1), (3, 1), 0), case((0, 0), (3, 1), 0), case((1, 2), (3, 1), 10, " (a view into a bigger buffer)"),
        case((), (), 7, " (a 0-d array: just the offset)"), case((4,), (1,), 0), case((2,), (5,), 3),
        case((1, 2, 3), (12, 4, 1), 0), case((2, 1), (1, 3), 0, " (a transposed matrix)"),
        case((0, 1), (3, -1), 2, " (a negative stride, from a[:, ::-1])"),
        case((2, 3), (4, -1), 3, " (a negative stride)"),
        case((3, 1), (0, 1), 0, " (stride 0: a broadcast axis)"),
        case((0, 0, 0), (12, 4, 1), 5, " (the first element is at the offset)"),
    ]
    rng = np.random.default_rng(11)
    for shape in _random_shapes(102, 5):
        strides = tuple(int(s) for s in rng.integers(-20, 21, size=len(shape)))
        index = tuple(int(rng.integers(0, n)) for n in shape)
        base = int(rng.integers(0, 100))
        cases.append(case(index, strides, base))
    return run_cases("offset_of", fn, cases, show=show)


# ----------------------------------------------------------------------------- broadcast shapes

def _left_aligned(a, b):
    ndim = max(len(a), len(b))
    a, b = tuple(a) + (1,) * (ndim - len(a)), tuple(b) + (1,) * (ndim - len(b))
    if any(m != n and 1 not in (m, n) for m, n in zip(a, b)):
        return None
    return tuple(n if m == 1 else m for m, n in zip(a, b))


def _names_shape(message: str, shape) -> bool:
    return str(tuple(shape)) in message or str(list(shape)) in message


def broadcast_shapes(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `broadcast_shapes(shape_a, shape_b) -> shape`, raising ValueError when impossible."""

    def good(a, b, note: str = "") -> Case:
        expected = strided.broadcast_shapes(a, b)

        def run(f):
            try:
                answer = _call(f, a, b)
            except ValueError as exc:
                hint = ""
                if 0 in a + b:
                    hint = " Hint: a size-1 axis stretches to the other size, any size, 0 included."
                elif _left_aligned(a, b) is None:
                    hint = (" Hint: align the shapes on the RIGHT (trailing axes): pad the shorter one with 1s "
                            "at the front.")
                raise CaseFailed(f"these shapes do broadcast, to {expected}, but your function raised "
                                 f"ValueError: {exc}.{hint}") from None
            except IndexError as exc:
                if len(a) == len(b):
                    raise
                raise CaseFailed(f"raised IndexError: {exc}{learner_frame(exc)}. Hint: the shapes have different "
                                 "lengths: pad the shorter one with 1s at the front first (or zip the reversed "
                                 "shapes with itertools.zip_longest(..., fillvalue=1)).") from None
            got = _int_tuple(answer, "the broadcast shape", expected)
            if got != expected:
                hint = ""
                if got == _left_aligned(a, b):
                    hint = (" Hint: align the shapes on the RIGHT (trailing axes): pad the shorter one with "
                            "1s at the front.")
                elif len(got) != len(expected):
                    hint = " Hint: the result has as many axes as the longer shape."
                elif 0 in expected and got == tuple(max(m, n) for m, n in zip(
                        (1,) * (len(expected) - len(a)) + tuple(a), (1,) * (len(expected) - len(b)) + tuple(b))):
                    hint = (" Hint: a size-1 axis stretches to the other size, even when that size is 0; "
                            "max() is wrong then.")
                raise CaseFailed(f"expected {expected}, got {got}.{hint}")
        return Case(f"{a} with {b}{note}", run, time_limit=QUICK)

    def bad(a, b, note: str = "") -> Case:
        def run(f):
            try:
                answer = _call(f, a, b)
            except ValueError as exc:
                message = str(exc)
                if not (_names_shape(message, a) and _names_shape(message, b)):
                    raise CaseFailed(f"right to raise ValueError, but the message should name both shapes as "
                                     f"given, {a} and {b}, so the user sees what clashed; yours says: "
                                     f"{message!r}") from None
                return
            except (NotImplementedError, CaseFailed):
                raise
            except Exception as exc:
                raise CaseFailed(f"these shapes cannot broadcast; expected ValueError, got "
                                 f"{type(exc).__name__}: {exc}") from None
            hint = (" Hint: align on the RIGHT; sizes must be equal or one of them 1."
                    if _left_aligned(a, b) is not None and answer == _left_aligned(a, b) else "")
            raise CaseFailed(f"these shapes cannot broadcast, so the function must raise ValueError, "
                             f"but it returned {answer!r}.{hint}")
        return Case(f"{a} with {b} must raise ValueError{note}", run, time_limit=QUICK)

    cases = [
        good((3, 1), (4,)), good((2, 3), (2, 3)), good((4,), (3, 1)), good((), (5,), " (a scalar)"),
        good((5,), ()), good((), ()), good((8, 1, 6, 1), (7, 1, 5)), good((2, 1, 4), (3, 1)),
        good((1, 0), (5, 1), " (a zero-size axis)"), good((0,), (1,)), good((1,), (0,)), good((1, 1), (1,)),
        good((3, 1, 2), (1, 4, 1)),
        bad((2, 3), (4,)), bad((3,), (4,)), bad((2, 1), (8, 4, 3)), bad((0,), (3,), " (0 is not 1)"),
        bad((4, 3), (4,), " (would work if aligned on the left)"),
    ]
    return run_cases("broadcast_shapes", fn, cases, show=show)


# ----------------------------------------------------------------------------- permuted strides

def _permute_not_checked(fn) -> list[str]:
    return ["(not checked: negative axes such as -1, which NumPy accepts and this exercise does not ask for.)"]


def permute_strides(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `permute_strides(shape, strides, axes) -> (new_shape, new_strides)`; ValueError
    when `axes` is not a permutation of range(ndim). The pair may be a tuple or a list (it
    is unpacked); each of its two parts must be a tuple of ints."""

    def result(answer) -> tuple:
        new_shape, new_strides = _parts(answer, 2, "(new_shape, new_strides)")
        if any(isinstance(p, (int, np.integer)) for p in (new_shape, new_strides)):
            raise CaseFailed(f"expected (new_shape, new_strides), a tuple of 2 tuples, got {answer!r}.")
        return new_shape, new_strides

    def good(shape, strides, axes, note: str = "") -> Case:
        expected = strided.permute_strides(shape, strides, axes)

        def run(f):
            new_shape, new_strides = result(_call(f, shape, strides, axes))
            got = (_int_tuple(new_shape, "new_shape", expected[0]), _int_tuple(new_strides, "new_strides", expected[1]))
            if got != expected:
                inverse = np.argsort(axes)
                hint = ""
                if got == (tuple(shape[i] for i in inverse), tuple(strides[i] for i in inverse)):
                    hint = (" Hint: that is the inverse permutation. Axis k of the result is axis axes[k] of the "
                            "input: new_shape[k] = shape[axes[k]], new_strides[k] = strides[axes[k]].")
                elif got == (expected[1], expected[0]):
                    hint = (" Hint: you returned (new_strides, new_shape); return them in the order "
                            "(new_shape, new_strides).")
                elif got[0] == expected[0]:
                    hint = " Hint: the strides move with their axes, just like the sizes."
                raise CaseFailed(f"expected (shape, strides) {expected}, got {got}.{hint}")
        return Case(f"shape {shape}, strides {strides}, axes {axes}{note}", run, time_limit=QUICK)

    def bad(shape, strides, axes) -> Case:
        def run(f):
            try:
                answer = _call(f, shape, strides, axes)
            except ValueError:
                return
            except (NotImplementedError, CaseFailed):
                raise
            except Exception as exc:
                raise CaseFailed(f"axes {axes} is not a permutation of {tuple(range(len(shape)))}; expected "
                                 f"ValueError, got {type(exc).__name__}: {exc}") from None
            raise CaseFailed(f"axes {axes} is not a permutation of {tuple(range(len(shape)))}, so the function "
                             f"must raise ValueError, but it returned {answer!r}.")
        return Case(f"shape {shape}, axes {axes} must raise ValueError", run, time_limit=QUICK)

    cases = [
        good((2, 3), (3, 1), (1, 0), " (a matrix transpose)"), good((2, 3), (3, 1), (0, 1), " (no change)"),
        good((2, 3, 4), (12, 4, 1), (2, 0, 1), " (a 3-cycle: not its own inverse)"),
        good((2, 3, 4), (12, 4, 1), (1, 2, 0)), good((), (), (), " (0-d)"), good((5,), (1,), (0,)),
        good((4, 0, 3), (0, 3, 1), (1, 2, 0), " (a zero-size axis)"), good((1, 5, 1), (5, 1, 1), (2, 1, 0)),
        good((4, 3), (6, -2), (1, 0), " (a view with a negative stride)"),
        good((2, 3, 4, 5), (60, 20, 5, 1), (3, 1, 0, 2)), good((3, 4), (0, 1), (1, 0), " (a broadcast axis)"),
        bad((2, 3), (3, 1), (0, 0)), bad((2, 3), (3, 1), (0,)), bad((2, 3), (3, 1), (0, 2)),
        bad((2, 3, 4), (12, 4, 1), (0, 1, 2, 3)), bad((3, 3, 3), (9, 3, 1), (0, 0, 1)),
    ]
    rng = np.random.default_rng(5)
    for shape in _random_shapes(103, 4):
        axes = tuple(int(a) for a in rng.permutation(len(shape)))
        cases.append(good(shape, strided.contiguous_strides(shape), axes))
    return run_cases("permute_strides", fn, cases, show=show, info=_permute_not_checked)


# ----------------------------------------------------------------------------- slicing view

def _show_slice(s: slice) -> str:
    text = lambda v: "" if v is None else str(v)          # noqa: E731
    return f"{text(s.start)}:{text(s.stop)}" + ("" if s.step is None else f":{s.step}")


def _slice_not_checked(fn) -> list[str]:
    return ["(not checked: the offset and the strides of empty axes when a slice is empty; no element is "
            "ever read through them.)"]


def slice_view(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `slice_view(shape, strides, offset, slices) -> (shape, strides, offset)` for a
    tuple of slices (one per leading axis; missing trailing axes are taken whole).

    For an empty result only the shape (and the strides of non-empty axes) is
    compared: no element is ever read through it, so its offset does not matter.
    """

    def case(shape, strides, offset, slices, note: str = "") -> Case:
        exp_shape, exp_strides, exp_offset = strided.slice_view(shape, strides, offset, slices)
        empty = 0 in exp_shape
        bounds = [s.indices(n) for s, n in zip(slices, shape)]

        def run(f):
            try:
                answer = _call(f, shape, strides, offset, slices, advice=(
                    "a loop that counts a slice's elements can miss its end: `while i != stop` when the step "
                    "does not divide the distance, `while i < stop` with a negative step. Use "
                    "len(range(start, stop, step))."))
            except IndexError as exc:
                if len(slices) >= len(shape):
                    raise
                raise CaseFailed(f"raised IndexError: {exc}{learner_frame(exc)}. Hint: there are fewer slices than "
                                 "axes here; the remaining axes are kept whole. Loop over the slices "
                                 "(enumerate(slices)), not over the axes.") from None
            got_shape, got_strides, got_offset = _parts(answer, 3, "(new_shape, new_strides, new_offset)")
            got_shape = _int_tuple(got_shape, "new_shape", exp_shape)
            got_strides = _int_tuple(got_strides, "new_strides", exp_strides)
            got_offset = _int(got_offset, "new_offset")
            if got_shape != exp_shape:
                hint = ("the length of a slice is len(range(start, stop, step)) after `start, stop, step = "
                        "s.indices(n)`, which also clips slices that run past the end.")
                if any(n < 0 and e == 0 for n, e in zip(got_shape, exp_shape)):
                    hint = ("a slice can be empty: its length is 0, never negative. len(range(start, stop, step)) "
                            "gives that, after `start, stop, step = s.indices(n)`.")
                raise CaseFailed(f"expected shape {exp_shape}, got {got_shape}. Hint: {hint}")
            keep = [k for k, n in enumerate(exp_shape) if not (empty and n == 0)]
            if [got_strides[k] for k in keep] != [exp_strides[k] for k in keep]:
                hint = ""
                if got_strides == tuple(strides):
                    hint = " Hint: a step multiplies the stride: new stride = stride x step."
                raise CaseFailed(f"expected strides {exp_strides}, got {got_strides}.{hint}")
            if not empty and got_offset != exp_offset:
                moves = [start * stride for (start, _, _), stride in zip(bounds, strides)]
                hint = ""
                if got_offset == exp_offset - offset:
                    hint = " Hint: start from the input's offset; slicing moves it further by start x stride."
                elif got_offset == offset + sum(m * step for m, (_, _, step) in zip(moves, bounds)):
                    hint = (" Hint: the offset moves by start x the axis's own stride (start is a position along "
                            "the axis), not x step.")
                elif len(moves) > 1 and got_offset == offset + moves[-1]:
                    hint = (" Hint: add the move of every sliced axis to the offset (offset += start x stride), "
                            "don't replace it with the last axis's move.")
                elif any(s.step is not None and s.step < 0 for s in slices):
                    hint = (" Hint: with a negative step the first element is at the END; use the start "
                            "from s.indices(n), not 0.")
                raise CaseFailed(f"expected offset {exp_offset}, got {got_offset}.{hint}")
        where = ", ".join(_show_slice(s) for s in slices)
        return Case(f"a[{where}] of shape {shape}, strides {strides}, offset {offset}{note}", run, time_limit=QUICK)

    S = slice
    cases = [
        case((10,), (1,), 0, (S(2, 8, 2),)), case((10,), (1,), 0, (S(None, None, -1),), " (reversed)"),
        case((10,), (1,), 0, (S(5, 100),), " (stop past the end)"),
        case((4, 5), (5, 1), 0, (S(1, 3), S(None, None, 2))),
        case((4, 5), (5, 1), 0, (S(1, 3),), " (fewer slices than axes)"), case((4, 5), (5, 1), 7, (S(1, None),),
                                                                              " (input offset 7)"),
        case((10,), (1,), 0, (S(20, None, -3),), " (negative step starting past the end)"),
        case((10,), (1,), 0, (S(-3, None),), " (negative start)"), case((10,), (1,), 0, (S(5, 2),), " (empty)"),
        case((10,), (1,), 0, (S(None, None, 3),), " (step does not divide the size)"),
        case((3, 4), (1, 3), 0, (S(None, None, -1), S(1, 3)), " (a transposed input)"),
        case((3, 4), (4, -1), 3, (S(1, None), S(None, None, 2)), " (an input with a negative stride)"),
        case((4, 3), (0, 1), 0, (S(1, 3), S(None, None, -1)), " (a broadcast input, stride 0)"),
        case((0, 3), (3, 1), 0, (S(None), S(1, None)), " (a zero-size axis)"), case((), (), 5, (), " (0-d, no slices)"),
        case((1, 6), (6, 1), 0, (S(None), S(-1, -7, -2)), " (a size-1 axis, negative step and stop)"),
    ]
    rng = np.random.default_rng(7)
    for shape in _random_shapes(104, 6):
        slices = []
        for n in shape[:int(rng.integers(1, len(shape) + 1))]:
            step = int(rng.choice([1, 2, 3, -1, -2]))
            start, stop = (int(v) for v in rng.integers(-n - 2, n + 3, size=2))
            slices.append(S(start, stop, step))
        cases.append(case(shape, strided.contiguous_strides(shape), int(rng.integers(0, 10)), tuple(slices)))
    return run_cases("slice_view", fn, cases, show=show, info=_slice_not_checked)


# ----------------------------------------------------------------------------- flattening as a view

def _flat_expected(shape, strides):
    """The stride of a flat view of (shape, strides), None when flattening must copy."""
    new = strided.reshape_strides(shape, strides, (math.prod(shape),))
    return None if new is None else new[0]


def _row_major_positions(shape, strides, limit: int = 7) -> list[int]:
    """Buffer positions (from the offset) of the first `limit` elements in row-major order."""
    indices = itertools.islice(itertools.product(*(range(n) for n in shape)), limit)
    return [sum(i * s for i, s in zip(index, strides)) for index in indices]


# (shape, strides, what it is); expected answers come from strided.reshape_strides (NumPy's rule).
FLAT_CASES = [
    ((4, 6), (6, 1), "m, contiguous"), ((4, 3), (6, 2), "m[:, ::2]"), ((6, 4), (1, 6), "m.T"),
    ((4, 3), (6, 1), "m[:, :3]"), ((4, 6), (-6, 1), "m[::-1]"), ((2, 3), (3, -1), "m[:2, ::-1] of a (2, 3) m"),
    ((4, 6), (-6, -1), "m[::-1, ::-1]"), ((3, 1), (1, 0), "x[:, None] of a 1-D x"),
    ((4, 1), (2, 5), "a size-1 last axis"),
    ((3, 1, 4), (4, 99, 1), "a size-1 middle axis"), ((3, 4), (0, 1), "a row broadcast to 3 rows"),
    ((5,), (0,), "one element broadcast to 5"), ((3, 4), (0, 0), "a scalar broadcast to (3, 4)"),
    ((2, 3, 4), (24, 8, 2), "every other element of a (2, 3, 8) array"), ((2, 3, 4), (12, 1, 3), "a permuted array"),
    ((7,), (-3,), "a[::-3]"), ((2, 0, 3), (7, 2, 1), "a zero-size array"), ((), (), "a 0-d array"),
    ((1, 1), (5, 7), "one element"),
]


def _flat_random_cases(seed: int, count: int) -> list[tuple]:
    """Views made by slicing and permuting random contiguous arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in _random_shapes(seed, count, max_ndim=3, max_size=5):
        strides = strided.contiguous_strides(shape)
        slices = tuple(slice(None, None, int(rng.choice([1, 1, 2, -1]))) for _ in shape)
        shape, strides, _ = strided.slice_view(shape, strides, 0, slices)
        axes = tuple(int(a) for a in rng.permutation(len(shape))) if rng.random() < 0.5 else tuple(range(len(shape)))
        shape, strides = strided.permute_strides(shape, strides, axes)
        out.append((shape, strides, "a random view"))
    return out


def _flat_not_checked(fn) -> list[str]:
    return ["(not checked: which int you return for 0 or 1 elements; every stride is right then.)"]


def flat_stride(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `flat_stride(shape, strides) -> int | None`: the single stride that walks all
    elements in row-major order (so `a.reshape(-1)` can be a view), or None when
    flattening must copy. With 0 or 1 elements any int is right, None is not.
    """

    def case(shape, strides, what: str) -> Case:
        expected = _flat_expected(shape, strides)
        size = math.prod(shape)

        def run(f):
            try:
                answer = _call(f, shape, strides)
            except IndexError as exc:
                if shape != ():
                    raise
                raise CaseFailed(f"raised IndexError: {exc}{learner_frame(exc)}. Hint: a 0-d array (shape ()) has "
                                 "one element and no axes: it flattens to shape (1,) without a copy; return any "
                                 "int (1 is usual).") from None
            got = None if answer is None else _int(answer, "the flat stride (or None for a copy)")
            if size <= 1:
                if got is None:
                    which = "no elements" if size == 0 else "one element"
                    raise CaseFailed(f"expected an int, got None. Hint: this array has {which}, so nothing needs "
                                     "copying: flattening is always a view, and any int is a right stride "
                                     "(1 is usual).")
                return
            if got == expected:
                return
            positions = _row_major_positions(shape, strides)
            shown = ", ".join(map(str, positions)) + ", ..."
            size_one = [k for k, n in enumerate(shape) if n == 1]
            if expected is None:
                steps = sorted({b - a for a, b in zip(positions, positions[1:])})
                raise CaseFailed(f"expected None (flattening must copy), got {got}. Hint: in row-major order its "
                                 f"elements sit at buffer positions {shown} (from the offset): the steps are "
                                 f"not all equal ({', '.join(map(str, steps))}), so no single stride walks them; "
                                 "a view with that stride would read the wrong elements.")
            if got is None:
                if size_one:
                    hint = (f"axes of size 1 (here axis {', '.join(map(str, size_one))}) are never stepped along, "
                            "so their stride is never used: leave them out before comparing neighbouring axes.")
                elif strided.is_contiguous(shape, strides):
                    hint = ("a contiguous array flattens as a view with stride 1. Check your condition: "
                            "strides[k] == shape[k+1] * strides[k+1] for neighbouring axes (and did you forget "
                            "`return`?).")
                else:
                    hint = (f"a view is possible: in row-major order its elements sit at buffer positions {shown}, "
                            f"evenly spaced (step {expected}), so one stride walks them all, although the array "
                            "is not contiguous.")
                raise CaseFailed(f"expected stride {expected}, got None (a copy). Hint: {hint}")
            hint = f"the flat stride is the stride of the innermost axis, here {expected}."
            if shape and shape[-1] == 1:
                hint = ("the last axis has size 1, so its stride is never used; the flat stride is that of the "
                        f"innermost axis of size > 1, here {expected}.")
            raise CaseFailed(f"expected stride {expected}, got {got}. Hint: {hint} Its elements sit at buffer "
                             f"positions {shown}.")
        return Case(f"shape {shape}, strides {strides} ({what})", run, time_limit=QUICK)

    cases = [case(*c) for c in FLAT_CASES + _flat_random_cases(105, 6)]
    return run_cases("flat_stride", fn, cases, show=show, info=_flat_not_checked)
