"""Checkers for chapter 01 (tensors): contiguous strides, the offset of an index,
broadcast shapes, permuted strides and the view a tuple of slices makes.

The reference answers come from `fastgrad.strided`. Cases include the adversarial
ones: the empty shape (), zero-size and size-1 axes, negative strides and steps,
slices past the end, stride-0 (broadcast) axes and shapes that cannot broadcast.
A wrong answer gets the case, expected versus got, and a hint when the mistake is
a usual one (strides in reverse order, bytes instead of elements, the offset
forgotten, shapes aligned on the left, the inverse permutation, ...).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import strided
from ._base import Case, CaseFailed, CheckResult, run_cases

__all__ = ["broadcast_shapes", "contiguous_strides", "offset_of", "permute_strides", "slice_view"]


# ----------------------------------------------------------------------------- helpers

def _int_tuple(value, what: str) -> tuple[int, ...]:
    """The learner's answer as a tuple of ints, or a CaseFailed saying why it is not one."""
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)):
        raise CaseFailed(f"expected {what} as a tuple of ints, got {type(value).__name__} {value!r}.")
    out = []
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise CaseFailed(f"expected {what} as a tuple of ints, got {value!r} "
                             f"(it holds a {type(v).__name__}).")
        out.append(int(v))
    return tuple(out)


def _int(value, what: str) -> int:
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise CaseFailed(f"expected {what} as an int, got {type(value).__name__} {value!r}.")
    return int(value)


def _parts(value, count: int, what: str) -> tuple:
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
    prods = [int(np.prod(shape[k:])) for k in range(len(shape))]
    fortran = tuple(int(np.prod(shape[:k])) for k in range(len(shape)))
    guesses = [
        (tuple(reversed(expected)), "your strides are in reverse order: the LAST axis has stride 1 and each "
         "axis to its left steps over the whole block of axes to its right."),
        (fortran, "that is column-major (Fortran) order; NumPy's default is row-major (C): the last axis "
         "has stride 1."),
        (tuple(prods), "the stride of axis k is the product of the sizes AFTER axis k (shape[k+1:]), "
         "not including shape[k] itself."),
        (tuple(8 * s for s in expected), "count elements, not bytes: these are NumPy's byte strides for "
         "8-byte items; divide by the itemsize."),
        (tuple(4 * s for s in expected), "count elements, not bytes: divide by the itemsize."),
    ]
    if 0 in shape:
        clipped = strided.contiguous_strides(tuple(max(n, 1) for n in shape))
        guesses.append((clipped, "use the plain product of the later sizes, even when one of them is 0 "
                        "(no element is ever addressed then, but we keep one rule for every shape)."))
    for value, hint in guesses:
        if value != expected and value == got:
            return " Hint: " + hint
    return ""


def contiguous_strides(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `contiguous_strides(shape) -> strides` (row-major, in elements)."""

    def case(shape) -> Case:
        expected = strided.contiguous_strides(shape)

        def run(f):
            got = _int_tuple(f(shape), f"the strides for shape {shape}")
            if got != expected:
                raise CaseFailed(f"expected strides {expected}, got {got}.{_strides_hint(shape, got)}")
        return Case(f"shape {shape}", run)

    shapes = [(2, 3, 4), (5,), (3, 2), (), (1,), (1, 1), (4, 1, 3), (2, 0, 3), (0,), (3, 0), (7, 5, 3, 2)]
    shapes += _random_shapes(101, 6)
    return run_cases("contiguous_strides", fn, [case(s) for s in shapes], show=show)


# ----------------------------------------------------------------------------- offset of an index

def offset_of(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `offset_of(index, strides, offset) -> offset + sum(index[k] * strides[k])`."""

    def case(index, strides, offset, note: str = "") -> Case:
        expected = strided.offset_of(index, strides, offset)

        def run(f):
            got = _int(f(index, strides, offset), "the position in the buffer")
            if got != expected:
                hint = ""
                if got == expected - offset:
                    hint = " Hint: start from `offset`, where element (0, 0, ...) lives, then add index x stride."
                elif len(index) > 1 and got == offset + sum(i * s for i, s in zip(index, reversed(strides))):
                    hint = " Hint: pair index[k] with strides[k] (same axis), not with the reversed strides."
                elif got == offset + sum(index) * (strides[-1] if strides else 0) or got == offset + sum(index):
                    hint = " Hint: multiply each index by ITS axis's stride before adding."
                raise CaseFailed(f"expected {expected}, got {got}.{hint}")
        return Case(f"index {index}, strides {strides}, offset {offset}{note}", run)

    cases = [
        case((1, 2), (3, 1), 0), case((0, 0), (3, 1), 0), case((1, 2), (3, 1), 10, " (a view into a bigger buffer)"),
        case((), (), 7, " (a 0-d array: just the offset)"), case((4,), (1,), 0), case((2,), (5,), 3),
        case((1, 2, 3), (12, 4, 1), 0), case((2, 1), (1, 3), 0, " (a transposed matrix)"),
        case((0, 1), (3, -1), 2, " (a negative stride, from a[:, ::-1])"),
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
                answer = f(a, b)
            except ValueError as exc:
                hint = (" Hint: align the shapes on the RIGHT (trailing axes): pad the shorter one with 1s "
                        "at the front." if _left_aligned(a, b) is None else "")
                raise CaseFailed(f"these shapes do broadcast, to {expected}, but your function raised "
                                 f"ValueError: {exc}.{hint}") from None
            got = _int_tuple(answer, "the broadcast shape")
            if got != expected:
                hint = ""
                if got == _left_aligned(a, b):
                    hint = (" Hint: align the shapes on the RIGHT (trailing axes): pad the shorter one with "
                            "1s at the front.")
                elif 0 in expected and got == tuple(max(m, n) for m, n in zip(
                        (1,) * (len(expected) - len(a)) + tuple(a), (1,) * (len(expected) - len(b)) + tuple(b))):
                    hint = " Hint: a size-1 axis stretches to the other size, even when that size is 0; max() is wrong then."
                elif len(got) != len(expected):
                    hint = " Hint: the result has as many axes as the longer shape."
                raise CaseFailed(f"expected {expected}, got {got}.{hint}")
        return Case(f"{a} with {b}{note}", run)

    def bad(a, b, note: str = "") -> Case:
        def run(f):
            try:
                answer = f(a, b)
            except ValueError as exc:
                message = str(exc)
                if not (_names_shape(message, a) and _names_shape(message, b)):
                    raise CaseFailed(f"right to raise ValueError, but the message should name both shapes, "
                                     f"{a} and {b}, so the user sees what clashed; yours says: {message!r}") from None
                return
            except NotImplementedError:
                raise
            except Exception as exc:
                raise CaseFailed(f"these shapes cannot broadcast; expected ValueError, got "
                                 f"{type(exc).__name__}: {exc}") from None
            hint = (" Hint: align on the RIGHT; sizes must be equal or one of them 1."
                    if _left_aligned(a, b) is not None and answer == _left_aligned(a, b) else "")
            raise CaseFailed(f"these shapes cannot broadcast, so the function must raise ValueError, "
                             f"but it returned {answer!r}.{hint}")
        return Case(f"{a} with {b} must raise ValueError{note}", run)

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

def permute_strides(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `permute_strides(shape, strides, axes) -> (new_shape, new_strides)`; ValueError
    when `axes` is not a permutation of range(ndim)."""

    def good(shape, strides, axes, note: str = "") -> Case:
        expected = strided.permute_strides(shape, strides, axes)

        def run(f):
            new_shape, new_strides = _parts(f(shape, strides, axes), 2, "(new_shape, new_strides)")
            got = (_int_tuple(new_shape, "new_shape"), _int_tuple(new_strides, "new_strides"))
            if got != expected:
                inverse = np.argsort(axes)
                hint = ""
                if got == (tuple(shape[i] for i in inverse), tuple(strides[i] for i in inverse)):
                    hint = (" Hint: that is the inverse permutation. Axis k of the result is axis axes[k] of the "
                            "input: new_shape[k] = shape[axes[k]], new_strides[k] = strides[axes[k]].")
                elif got[0] == expected[0]:
                    hint = " Hint: the strides move with their axes, just like the sizes."
                raise CaseFailed(f"expected (shape, strides) {expected}, got {got}.{hint}")
        return Case(f"shape {shape}, strides {strides}, axes {axes}{note}", run)

    def bad(shape, strides, axes) -> Case:
        def run(f):
            try:
                answer = f(shape, strides, axes)
            except ValueError:
                return
            except NotImplementedError:
                raise
            except Exception as exc:
                raise CaseFailed(f"axes {axes} is not a permutation of {tuple(range(len(shape)))}; expected "
                                 f"ValueError, got {type(exc).__name__}: {exc}") from None
            raise CaseFailed(f"axes {axes} is not a permutation of {tuple(range(len(shape)))}, so the function "
                             f"must raise ValueError, but it returned {answer!r}.")
        return Case(f"shape {shape}, axes {axes} must raise ValueError", run)

    cases = [
        good((2, 3), (3, 1), (1, 0), " (a matrix transpose)"), good((2, 3), (3, 1), (0, 1), " (no change)"),
        good((2, 3, 4), (12, 4, 1), (2, 0, 1), " (a 3-cycle: not its own inverse)"),
        good((2, 3, 4), (12, 4, 1), (1, 2, 0)), good((), (), (), " (0-d)"), good((5,), (1,), (0,)),
        good((4, 0, 3), (0, 3, 1), (1, 2, 0), " (a zero-size axis)"), good((1, 5, 1), (5, 1, 1), (2, 1, 0)),
        good((4, 3), (6, -2), (1, 0), " (a view with a negative stride)"),
        good((2, 3, 4, 5), (60, 20, 5, 1), (3, 1, 0, 2)), good((3, 4), (0, 1), (1, 0), " (a broadcast axis)"),
        bad((2, 3), (3, 1), (0, 0)), bad((2, 3), (3, 1), (0,)), bad((2, 3), (3, 1), (0, 2)),
        bad((2, 3, 4), (12, 4, 1), (0, 1, 2, 3)),
    ]
    rng = np.random.default_rng(5)
    for shape in _random_shapes(103, 4):
        axes = tuple(int(a) for a in rng.permutation(len(shape)))
        cases.append(good(shape, strided.contiguous_strides(shape), axes))
    return run_cases("permute_strides", fn, cases, show=show)


# ----------------------------------------------------------------------------- slicing view

def _show_slice(s: slice) -> str:
    text = lambda v: "" if v is None else str(v)          # noqa: E731
    return f"{text(s.start)}:{text(s.stop)}" + ("" if s.step is None else f":{s.step}")


def slice_view(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `slice_view(shape, strides, offset, slices) -> (shape, strides, offset)` for a
    tuple of slices (one per leading axis; missing trailing axes are taken whole).

    For an empty result only the shape (and the strides of non-empty axes) is
    compared: no element is ever read through it, so its offset does not matter.
    """

    def case(shape, strides, offset, slices, note: str = "") -> Case:
        exp_shape, exp_strides, exp_offset = strided.slice_view(shape, strides, offset, slices)
        empty = 0 in exp_shape

        def run(f):
            got_shape, got_strides, got_offset = _parts(f(shape, strides, offset, slices), 3,
                                                        "(new_shape, new_strides, new_offset)")
            got_shape = _int_tuple(got_shape, "new_shape")
            got_strides = _int_tuple(got_strides, "new_strides")
            got_offset = _int(got_offset, "new_offset")
            if got_shape != exp_shape:
                raise CaseFailed(f"expected shape {exp_shape}, got {got_shape}. Hint: the length of a slice is "
                                 "len(range(start, stop, step)) after `start, stop, step = s.indices(n)`, which "
                                 "also clips slices that run past the end.")
            keep = [k for k, n in enumerate(exp_shape) if not (empty and n == 0)]
            if [got_strides[k] for k in keep] != [exp_strides[k] for k in keep]:
                hint = ""
                if got_strides == tuple(strides):
                    hint = " Hint: a step multiplies the stride: new stride = stride x step."
                raise CaseFailed(f"expected strides {exp_strides}, got {got_strides}.{hint}")
            if not empty and got_offset != exp_offset:
                hint = ""
                if got_offset == exp_offset - offset:
                    hint = " Hint: start from the input's offset; slicing moves it further by start x stride."
                elif any(s.step is not None and s.step < 0 for s in slices):
                    hint = (" Hint: with a negative step the first element is at the END; use the start "
                            "from s.indices(n), not 0.")
                raise CaseFailed(f"expected offset {exp_offset}, got {got_offset}.{hint}")
        where = ", ".join(_show_slice(s) for s in slices)
        return Case(f"a[{where}] of shape {shape}, strides {strides}, offset {offset}{note}", run)

    S = slice
    cases = [
        case((10,), (1,), 0, (S(2, 8, 2),)), case((10,), (1,), 0, (S(None, None, -1),), " (reversed)"),
        case((10,), (1,), 0, (S(5, 100),), " (stop past the end)"), case((4, 5), (5, 1), 0, (S(1, 3), S(None, None, 2))),
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
    return run_cases("slice_view", fn, cases, show=show)
