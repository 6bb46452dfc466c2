"""fastgrad.strided against NumPy as the oracle: random shapes (with 0- and 1-sized
axes), permutations, slices with steps, integer indices, broadcasts and reshapes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastgrad.strided import (StridedArray, broadcast_shapes, broadcast_strides, check_permutation,
                              contiguous_strides, is_contiguous, offset_of, permute_strides, reshape_strides,
                              slice_view)

settings.register_profile("strided", max_examples=200, deadline=None)
settings.load_profile("strided")

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
nonempty_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple)


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def assert_matches(sa: StridedArray, view: np.ndarray, base: np.ndarray) -> None:
    """Same shape, same elements, and (when it addresses anything) the same layout as NumPy."""
    assert sa.shape == view.shape
    np.testing.assert_array_equal(sa.to_numpy(), view)
    assert sa.is_contiguous == view.flags["C_CONTIGUOUS"]
    if view.size == 0:
        return
    assert sa.offset == (address(view) - address(base)) // base.itemsize
    for n, ours, theirs in zip(view.shape, sa.strides, view.strides):
        if n > 1:      # NumPy may store any stride for an axis of size 1
            assert ours == theirs // view.itemsize
    # every element at the same buffer position
    np_offsets = np.zeros(view.shape, dtype=np.int64) + (address(view) - address(base)) // base.itemsize
    for axis, (n, s) in enumerate(zip(view.shape, view.strides)):
        np_offsets = np_offsets + (np.arange(n) * (s // view.itemsize)).reshape((n,) + (1,) * (view.ndim - axis - 1))
    np.testing.assert_array_equal(sa.element_offsets(), np_offsets)


def pair(shape):
    base = np.arange(math.prod(shape))
    return StridedArray(base, shape), base.reshape(shape), base


@st.composite
def slice_keys(draw, shape):
    key = []
    for n in shape[:draw(st.integers(0, len(shape)))]:
        if n > 0 and draw(st.booleans()):
            key.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
            step = draw(st.one_of(st.none(), st.integers(-3, 3).filter(bool)))
            key.append(slice(draw(bound), draw(bound), step))
    return tuple(key)


@st.composite
def reshape_targets(draw, size):
    if size == 0:
        dims = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
        return tuple(draw(st.permutations(dims + [0])))
    dims, left = [], size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, left + 1) if left % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        left //= d
    dims.append(left)
    dims += [1] * draw(st.integers(0, 2))
    return tuple(draw(st.permutations(dims)))


@st.composite
def transformed(draw):
    """A random chain of views applied to both a StridedArray and the NumPy array."""
    shape = draw(shapes)
    sa, view, base = pair(shape)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["permute", "slice", "broadcast"]))
        if op == "permute":
            axes = tuple(draw(st.permutations(range(view.ndim))))
            sa, view = sa.permute(axes), view.transpose(axes)
        elif op == "slice":
            key = draw(slice_keys(view.shape))
            if len(key) == view.ndim and all(isinstance(k, int) for k in key):
                key = key[:-1] + (slice(None),) if key else (...,)    # keep a view, not one element
            sa, view = sa[key], view[key]
        else:
            lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
            target = lead + tuple(draw(st.integers(2, 3)) if n == 1 and draw(st.booleans()) else n
                                  for n in view.shape)
            sa, view = sa.broadcast_to(target), np.broadcast_to(view, target)
    return sa, view, base


# -- pure functions ---------------------------------------------------------------------

@given(nonempty_shapes)
def test_contiguous_strides_match_numpy(shape):
    a = np.empty(shape, dtype=np.float32)
    assert contiguous_strides(shape) == tuple(s // a.itemsize for s in a.strides)


def test_contiguous_strides_fixed():
    assert contiguous_strides((2, 3, 4)) == (12, 4, 1)
    assert contiguous_strides(()) == ()
    assert contiguous_strides((2, 0, 3)) == (0, 3, 1)
    assert contiguous_strides(5) == (1,)


@given(nonempty_shapes, st.data())
def test_offset_of_matches_ravel_multi_index(shape, data):
    index = tuple(data.draw(st.integers(0, n - 1)) for n in shape)
    expected = int(np.ravel_multi_index(index, shape)) if shape else 0
    assert offset_of(index, contiguous_strides(shape), 0) == expected
    assert offset_of(index, contiguous_strides(shape), 7) == offset_of(index, contiguous_strides(shape)) + 7


@given(st.lists(shapes, min_size=1, max_size=3), st.data())
def test_broadcast_shapes_matches_numpy(shape_list, data):
    # make broadcasting likely: replace some sizes with 1 or with the first shape's trailing sizes
    first = shape_list[0]
    shapes_ = [first]
    for s in shape_list[1:]:
        k = min(len(s), len(first))
        tail = tuple(1 if data.draw(st.booleans()) else n for n in first[len(first) - k:]) if k else ()
        shapes_.append(tuple(s[:len(s) - k]) + tail if data.draw(st.booleans()) else s)
    try:
        expected = np.broadcast_shapes(*shapes_)
    except ValueError:
        with pytest.raises(ValueError):
            broadcast_shapes(*shapes_)
    else:
        assert broadcast_shapes(*shapes_) == expected


def test_broadcast_shapes_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        broadcast_shapes((2, 3), (4,))
    assert broadcast_shapes((3, 1), (4,)) == (3, 4)
    assert broadcast_shapes((), (0,)) == (0,)
    assert broadcast_shapes((1, 0), (5, 1)) == (5, 0)
    assert broadcast_shapes() == ()


@given(shapes, st.data())
def test_permute_strides_match_numpy(shape, data):
    a = np.empty(shape, dtype=np.int16)
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    new_shape, new_strides = permute_strides(shape, contiguous_strides(shape), axes)
    t = a.transpose(axes)
    assert new_shape == t.shape
    if a.size:
        assert new_strides == tuple(s // a.itemsize for s in t.strides)


@pytest.mark.parametrize("axes", [(0, 0), (0,), (0, 2), (0, 1, 2)])
def test_bad_permutation(axes):
    with pytest.raises(ValueError, match="permutation|exactly once|out of range"):
        permute_strides((2, 3), (3, 1), axes)


def test_check_permutation_gives_non_negative_axes():
    assert check_permutation((-1, 0, 1), 3) == (2, 0, 1)
    assert permute_strides((2, 3, 4), (12, 4, 1), (-1, 0, 1)) == ((4, 2, 3), (1, 12, 4))


@given(shapes, st.data())
def test_slice_view_matches_numpy(shape, data):
    sa, view, base = pair(shape)
    key = data.draw(slice_keys(shape))
    new_shape, new_strides, new_offset = slice_view(shape, contiguous_strides(shape), 0, key)
    v = view[key]
    if not isinstance(v, np.ndarray):   # one element: NumPy returns a scalar copy
        assert new_shape == new_strides == ()
        assert new_offset == np.ravel_multi_index(tuple(k % n for k, n in zip(key, shape)), shape)
        return
    assert new_shape == v.shape
    if base.size:                       # NumPy 2 gives an empty base array zero strides
        assert new_strides == tuple(s // base.itemsize for s in v.strides)
    if v.size:
        assert new_offset == (address(v) - address(base)) // base.itemsize


def test_slice_view_errors():
    with pytest.raises(IndexError, match="out of range"):
        slice_view((2, 3), (3, 1), 0, (0, 3))
    with pytest.raises(IndexError, match="too many"):
        slice_view((2, 3), (3, 1), 0, (0, 0, 0))
    with pytest.raises(TypeError):
        slice_view((2, 3), (3, 1), 0, ("a",))
    assert slice_view((2, 3), (3, 1), 0, (..., 1)) == ((2,), (3,), 1)
    assert slice_view((5,), (1,), 0, slice(None, None, -2)) == ((3,), (-2,), 4)


# -- StridedArray over chains of views --------------------------------------------------

@given(transformed())
def test_views_match_numpy(case):
    sa, view, base = case
    assert_matches(sa, view, base)
    assert sa.buffer is base          # views never copy


@given(transformed(), st.data())
def test_reshape_view_exactly_when_numpy_can(case, data):
    sa, view, base = case
    target = data.draw(reshape_targets(view.size))
    result = sa.reshape(target)
    np.testing.assert_array_equal(result.to_numpy(), view.reshape(target))
    try:
        np_view = np.reshape(view, target, copy=False)
    except ValueError:                  # NumPy needs a copy
        assert result.copied and result.buffer is not base
        assert result.is_contiguous
    else:
        assert not result.copied and result.buffer is base
        assert_matches(result, np_view, base)
        if view.size:
            assert np.shares_memory(result.numpy_view(), view)


@given(transformed(), st.data())
def test_get_and_set_through_views(case, data):
    sa, view, base = case
    if view.size == 0:
        return
    index = tuple(data.draw(st.integers(-n, n - 1)) for n in view.shape)
    assert sa.get(index) == view[index]
    writable_base = base.copy()
    ours = StridedArray(writable_base, sa.shape, sa.strides, sa.offset)
    ours.set(index, -1)
    theirs = base.copy()
    np.lib.stride_tricks.as_strided(theirs[sa.offset:], view.shape, view.strides)[index] = -1
    np.testing.assert_array_equal(writable_base, theirs)


@given(transformed())
def test_numpy_view_shares_buffer(case):
    sa, view, base = case
    np.testing.assert_array_equal(sa.numpy_view(), view)
    if view.size and sa.size:
        assert np.shares_memory(sa.numpy_view(), base)


@given(shapes, st.data())
def test_is_contiguous_matches_numpy_flags(shape, data):
    sa, view, base = pair(shape)
    key = data.draw(slice_keys(shape))
    axes = tuple(data.draw(st.permutations(range(view[key].ndim))))
    assert is_contiguous(*permute_strides(*slice_view(shape, sa.strides, 0, key)[:2], axes)) == \
        view[key].transpose(axes).flags["C_CONTIGUOUS"]


def test_worked_examples():
    a = StridedArray.arange((2, 3))
    assert a.strides == (3, 1) and a.byte_strides == (24, 8)
    assert a.T.shape == (3, 2) and a.T.strides == (1, 3) and not a.T.is_contiguous
    assert a[1, 2] == 5 and a.get((-1, -1)) == 5
    assert a[:, ::-1].offset == 2 and a[:, ::-1].strides == (3, -1)
    row = StridedArray.arange((3,)).broadcast_to((4, 3))
    assert row.strides == (0, 1)
    t = a.T.reshape(6)
    assert t.copied and t.to_numpy().tolist() == [0, 3, 1, 4, 2, 5]
    v = a.reshape(3, 2)
    assert not v.copied and v.shares_buffer(a)
    v.set((0, 0), 100)
    assert a.get((0, 0)) == 100      # a view: the write shows in the original
    assert StridedArray.arange(()).to_numpy() == 0
    assert a.reshape(-1, 2).shape == (3, 2)
    assert a.contiguous() is a and a.T.contiguous().copied


def test_reshape_strides_examples():
    # a[:, :3] of a (4, 6) array: rows can be split, not merged with columns
    assert reshape_strides((4, 3), (6, 1), (2, 2, 3)) == (12, 6, 1)
    assert reshape_strides((4, 3), (6, 1), (12,)) is None
    # a[:, ::2] of a (4, 6) array is evenly spaced: it flattens as a view with stride 2
    assert reshape_strides((4, 3), (6, 2), (12,)) == (2,)
    assert reshape_strides((3, 2), (1, 3), (6,)) is None
    assert reshape_strides((2, 3), (3, 1), (3, 2)) == (2, 1)
    assert reshape_strides((4, 3), (0, 1), (2, 2, 3)) == (0, 0, 1)


def test_broadcast_strides_examples():
    assert broadcast_strides((3,), (1,), (4, 3)) == (0, 1)
    assert broadcast_strides((3, 1), (1, 1), (3, 5)) == (1, 0)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4, 2\)"):
        broadcast_strides((3,), (1,), (4, 2))
    with pytest.raises(ValueError, match="fewer axes"):
        broadcast_strides((2, 3), (3, 1), (3,))


def test_clear_errors():
    a = StridedArray.arange((2, 3))
    with pytest.raises(IndexError, match="2 axes"):
        a.get((1,))
    with pytest.raises(IndexError, match="out of range for axis 1"):
        a.get((0, 3))
    with pytest.raises(ValueError, match="permutation"):
        a.permute(1, 1)
    with pytest.raises(ValueError, match="cannot reshape"):
        a.reshape(4)
    with pytest.raises(ValueError, match="-1"):
        a.reshape(-1, -1)
    with pytest.raises(ValueError, match="1-D"):
        StridedArray(np.zeros((2, 3)), (2, 3))
    with pytest.raises(ValueError, match="strides"):
        StridedArray(np.zeros(6), (2, 3), (1,))
    with pytest.raises(ValueError, match="outside a buffer"):
        StridedArray(np.zeros(6), (2, 3), (4, 1))
    with pytest.raises(ValueError, match="outside a buffer"):
        StridedArray(np.zeros(6), (2, 3), (-3, 1), offset=2)
    with pytest.raises(ValueError, match="negative"):
        StridedArray(np.zeros(6), (-1, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        a.broadcast_to((4, 2))
    with pytest.raises(ValueError, match="2 entries"):
        offset_of((1, 2), (1,))
