"""fastgrad.shapes, the one shape rule per concept, against NumPy as the oracle; and the
layers above really use it (no second copy of a rule)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fastgrad import autograd, shapes, strided
from fastgrad.ops import OPS
from fastgrad.shapes import (FLOAT_DTYPES, as_shape, broadcast_shapes, check_permutation, matmul_shape,
                             normalize_axes)

SETTINGS = settings(max_examples=100, deadline=None)
small = st.lists(st.integers(0, 4), max_size=4).map(tuple)


# --------------------------------------------------------------------- as_shape
def test_as_shape():
    assert as_shape([2, np.int64(3)]) == (2, 3) and as_shape(()) == ()
    assert as_shape(5) == (5,)                      # like np.empty(5)
    with pytest.raises(ValueError, match=r"new shape \(2, -1\) has a negative size"):
        as_shape((2, -1), "new shape")
    with pytest.raises(TypeError, match="sequence of ints"):
        as_shape(None)


def test_float_dtypes_are_the_ones_autograd_accepts():
    assert FLOAT_DTYPES == (np.dtype(np.float32), np.dtype(np.float64))
    assert autograd.FLOAT_DTYPES is FLOAT_DTYPES


# ---------------------------------------------------------------- broadcasting
@SETTINGS
@given(st.lists(small, min_size=0, max_size=4), st.data())
def test_broadcast_shapes_matches_numpy(shape_list, data):
    # make broadcasting likely: replace some sizes of later shapes with 1 or with the first's
    if shape_list:
        first = shape_list[0]
        shape_list = [first] + [tuple(1 if data.draw(st.booleans()) else
                                      (first[i - len(s) + len(first)] if data.draw(st.booleans())
                                       and i - len(s) + len(first) >= 0 else n)
                                      for i, n in enumerate(s)) for s in shape_list[1:]]
    try:
        expected = np.broadcast_shapes(*shape_list)
    except ValueError:
        with pytest.raises(ValueError, match="cannot be broadcast"):
            broadcast_shapes(*shape_list)
    else:
        assert broadcast_shapes(*shape_list) == expected


@SETTINGS
@given(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=4))
def test_broadcast_shapes_of_compatible_shapes(case):
    assert broadcast_shapes(*case.input_shapes) == case.result_shape


def test_broadcast_error_is_chapter_01s_message_and_names_every_shape():
    with pytest.raises(ValueError) as info:
        broadcast_shapes((2, 3), (4,))
    assert str(info.value) == ("shapes (2, 3) and (4,) cannot be broadcast: axis -1 has sizes 3 and 4 "
                               "(they must be equal, or one of them 1)")
    with pytest.raises(ValueError) as info:
        broadcast_shapes((2, 1), (3,), (4, 1), name="where")
    assert str(info.value).startswith("where: shapes (2, 1), (3,) and (4, 1) cannot be broadcast: axis -2 "
                                      "has sizes 2 and 4")
    with pytest.raises(ValueError, match="sizes 0 and 3"):           # 0 is not 1
        broadcast_shapes((0,), (3,))


def test_broadcast_edge_cases():
    assert broadcast_shapes() == ()
    assert broadcast_shapes((), (0,)) == (0,)
    assert broadcast_shapes((1, 0), (5, 1)) == (5, 0)
    assert broadcast_shapes((3,), (3,)) == (3,)


# ------------------------------------------------------------- reduction axes
@SETTINGS
@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), st.data())
def test_normalize_axes_agrees_with_numpy(shape, data):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(-ndim, ndim - 1), max_size=ndim).map(tuple)))
    try:
        expected = np.sum(np.ones(shape), axis=axis, keepdims=True).shape
    except ValueError:                               # NumPy: "duplicate value in 'axis'"
        with pytest.raises(ValueError, match="repeated axis"):
            normalize_axes(axis, ndim)
        return
    axes = normalize_axes(axis, ndim)
    assert axes == tuple(sorted(axes)) and len(set(axes)) == len(axes)
    assert tuple(1 if i in axes else n for i, n in enumerate(shape)) == expected


def test_normalize_axes_errors_and_0d():
    assert normalize_axes(None, 3) == (0, 1, 2) and normalize_axes(-1, 3) == (2,)
    assert normalize_axes((2, 0), 3) == (0, 2) and normalize_axes((), 3) == ()
    assert normalize_axes(0, 0) == () and normalize_axes(-1, 0) == () and normalize_axes(None, 0) == ()
    with pytest.raises(ValueError, match="sum: axis 3 is out of range for a tensor with 3 dimensions"):
        normalize_axes(3, 3, "sum")
    with pytest.raises(ValueError, match=r"repeated axis in \(1, -2\)"):
        normalize_axes((1, -2), 3)
    with pytest.raises(TypeError, match="axis must be an int"):
        normalize_axes(True, 3)
    with pytest.raises(TypeError, match="axis must be an int"):
        normalize_axes(1.0, 3)


# ----------------------------------------------------------------- permutations
@SETTINGS
@given(st.integers(0, 5).flatmap(lambda n: st.permutations(range(n))), st.data())
def test_check_permutation_accepts_permutations_with_negative_axes(perm, data):
    n = len(perm)
    axes = tuple(a - n if data.draw(st.booleans()) else a for a in perm)
    assert check_permutation(axes, n) == tuple(perm)
    assert np.empty((2,) * n).transpose(axes).shape == (2,) * n        # NumPy agrees it is one


@pytest.mark.parametrize("axes, ndim, words", [
    ((0, 0), 2, "not a permutation of (0, 1)"), ((0,), 2, "exactly once"),
    ((0, 2), 2, "axis 2 is out of range"), ((0, 1, 2), 2, "exactly once"),
])
def test_check_permutation_errors(axes, ndim, words):
    with pytest.raises(ValueError) as info:
        check_permutation(axes, ndim, name="permute")
    assert words in str(info.value) and str(info.value).startswith("permute: ")


# ---------------------------------------------------------------------- matmul
@st.composite
def matmul_operands(draw):
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    n, k, m = (draw(st.integers(0, 3)) for _ in range(3))
    a = (k,) if draw(st.booleans()) else batch.input_shapes[0] + (n, k)
    b = (k,) if draw(st.booleans()) else batch.input_shapes[1] + (k, m)
    if draw(st.integers(0, 9)) == 0:                  # sometimes a wrong inner size
        b = b[:-2] + (k + 1,) + b[-1:] if len(b) > 1 else (k + 1,)
    return a, b


@SETTINGS
@given(matmul_operands())
def test_matmul_shape_matches_numpy(operands):
    a, b = operands
    try:
        expected = np.matmul(np.empty(a), np.empty(b)).shape
    except ValueError:
        with pytest.raises(ValueError, match="matmul: "):
            matmul_shape(a, b)
    else:
        assert matmul_shape(a, b) == expected


def test_matmul_shape_vectors_and_errors():
    assert matmul_shape((4,), (4,)) == ()
    assert matmul_shape((4,), (4, 3)) == (3,) and matmul_shape((3, 4), (4,)) == (3,)
    assert matmul_shape((2, 1, 3, 4), (5, 4, 2)) == (2, 5, 3, 2)
    with pytest.raises(ValueError, match=r"inner dimensions differ: \(3,\) @ \(4,\)"):
        matmul_shape((3,), (4,))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        matmul_shape((), (3,))
    with pytest.raises(ValueError, match=r"batch dimensions of \(2, 3, 4\) and \(3, 4, 5\)"):
        matmul_shape((2, 3, 4), (3, 4, 5))


# ------------------------------------------------------- one rule, used everywhere
def test_strided_reexports_the_one_rule():
    assert strided.broadcast_shapes is shapes.broadcast_shapes
    assert strided.check_permutation is shapes.check_permutation
    assert not hasattr(strided, "normalize_axes")      # renamed: it checks a permutation


@pytest.mark.parametrize("name, args, rule", [
    ("add", ((2, 3), (4,)), lambda: broadcast_shapes((2, 3), (4,), name="add")),
    ("where", ((2,), (3,), (3,)), lambda: broadcast_shapes((2,), (3,), (3,), name="where")),
    ("matmul", ((3,), (4, 2)), lambda: matmul_shape((3,), (4, 2))),
    ("sum", ((2, 3), 5), lambda: normalize_axes(5, 2, "sum")),
])
def test_ops_raise_the_shared_rules_message(name, args, rule):
    with pytest.raises(ValueError) as ours:
        rule()
    shapes_, attr = (args, None) if name != "sum" else (args[:1], args[1])
    with pytest.raises(ValueError) as op_error:
        OPS[name].shape(*shapes_, **({} if attr is None else {"axis": attr}))
    assert str(op_error.value) == str(ours.value)
