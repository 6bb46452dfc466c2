"""The op table: forward results against NumPy (hypothesis), shape rules, the table's contract."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fastgrad.ops import OPS, Op

SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def run(name, *arrays, **attrs):
    """Forward through the table, checking the shape rule and the dtype on the way."""
    op = OPS[name]
    out = op.forward(*arrays, **attrs)
    assert out.shape == op.shape(*[a.shape for a in arrays], **attrs)
    floats = [a.dtype for a in arrays if a.dtype != np.bool_]
    assert out.dtype == floats[0]
    return out


def arrays(dtype, shape, low=-3.0, high=3.0):
    return hnp.arrays(dtype, shape, elements=st.floats(low, high, width=32))


@st.composite
def broadcast_pair(draw, low=-3.0, high=3.0, b_low=None):
    dtype = draw(DTYPES)
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a = draw(arrays(dtype, shapes.input_shapes[0], low, high))
    b = draw(arrays(dtype, shapes.input_shapes[1], low if b_low is None else b_low, high))
    return a, b


@st.composite
def one_array(draw, low=-3.0, high=3.0, min_dims=0):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4))
    return draw(arrays(dtype, shape, low, high))


# ------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("name, reference", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply)])
@SETTINGS
@given(pair=broadcast_pair())
def test_binary(name, reference, pair):
    a, b = pair
    np.testing.assert_allclose(run(name, a, b), reference(a, b), **tol(a.dtype))


@SETTINGS
@given(pair=broadcast_pair(b_low=0.5))
def test_div(pair):
    a, b = pair
    np.testing.assert_allclose(run("div", a, b), a / b, **tol(a.dtype))


UNARY = {
    "neg": (np.negative, -3, 3),
    "exp": (np.exp, -3, 3),
    "log": (np.log, 0.125, 5),
    "tanh": (np.tanh, -3, 3),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), -3, 3),
    "relu": (lambda x: np.maximum(x, 0), -3, 3),
    "gelu": (lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), -3, 3),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary(name, data):
    reference, low, high = UNARY[name]
    a = data.draw(one_array(low, high))
    np.testing.assert_allclose(run(name, a), reference(a.astype(np.float64)).astype(a.dtype), **tol(a.dtype))


@SETTINGS
@given(a=one_array(0.125, 3.0), exponent=st.sampled_from([2.0, 3.0, 0.5, -1.0, -1.5, 1.0]))
def test_pow(a, exponent):
    np.testing.assert_allclose(run("pow", a, exponent=exponent), a.astype(np.float64) ** exponent,
                               **tol(a.dtype))


def test_gelu_is_the_tanh_approximation():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    out = run("gelu", x)
    assert np.max(np.abs(out - exact)) < 1e-3 and np.max(np.abs(out - exact)) > 1e-6


@SETTINGS
@given(data=st.data())
def test_where(data):
    dtype = data.draw(DTYPES)
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    c_shape, a_shape, b_shape = shapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, c_shape))
    a, b = data.draw(arrays(dtype, a_shape)), data.draw(arrays(dtype, b_shape))
    np.testing.assert_array_equal(run("where", cond, a, b), np.where(cond, a, b))


# ------------------------------------------------------------------ reductions
@st.composite
def reduce_case(draw):
    a = draw(one_array())
    axis = draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1) if a.ndim else st.none(),
                          st.lists(st.integers(0, max(a.ndim - 1, 0)), unique=True,
                                   max_size=a.ndim).map(tuple)))
    return a, axis, draw(st.booleans())


@pytest.mark.parametrize("name, reference", [("sum", np.sum), ("mean", np.mean), ("max", np.max)])
@SETTINGS
@given(case=reduce_case())
def test_reductions(name, reference, case):
    a, axis, keepdims = case
    expected = reference(a.astype(np.float64), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(run(name, a, axis=axis, keepdims=keepdims), expected, **tol(a.dtype))


@st.composite
def softmax_case(draw):
    a = draw(one_array(-30, 30, min_dims=1))
    return a, draw(st.integers(-a.ndim, a.ndim - 1))


@SETTINGS
@given(case=softmax_case())
def test_softmax_and_log_softmax(case):
    a, axis = case
    x = a.astype(np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)
    log_sm = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(run("log_softmax", a, axis=axis), log_sm, **tol(a.dtype))
    np.testing.assert_allclose(run("softmax", a, axis=axis), np.exp(log_sm), **tol(a.dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_inputs(dtype):
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    s, ls = run("softmax", a, axis=-1), run("log_softmax", a, axis=-1)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s[1], 1 / 3, rtol=1e-6)


# ---------------------------------------------------------------------- matmul
@st.composite
def matmul_case(draw):
    dtype = draw(DTYPES)
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    n, k, m = (draw(st.integers(1, 5)) for _ in range(3))
    a = draw(arrays(dtype, batch.input_shapes[0] + (n, k)))
    b = draw(arrays(dtype, batch.input_shapes[1] + (k, m)))
    return a, b


@SETTINGS
@given(case=matmul_case())
def test_matmul(case):
    a, b = case
    np.testing.assert_allclose(run("matmul", a, b), np.matmul(a.astype(np.float64), b), **tol(a.dtype))


# ---------------------------------------------------------------------- movement
@SETTINGS
@given(a=one_array(), data=st.data())
def test_reshape(a, data):
    target = data.draw(st.sampled_from([(-1,), (a.size, 1), (1, -1), a.shape[::-1], (1,) + a.shape]))
    np.testing.assert_array_equal(run("reshape", a, new_shape=target), a.reshape(target))


@SETTINGS
@given(a=one_array(), data=st.data())
def test_permute(a, data):
    axes = tuple(data.draw(st.permutations(range(a.ndim))))
    np.testing.assert_array_equal(run("permute", a, axes=axes), np.transpose(a, axes))


@SETTINGS
@given(data=st.data())
def test_broadcast_to(data):
    dtype = data.draw(DTYPES)
    target = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    kept = target[data.draw(st.integers(0, len(target))):]          # drop leading dims
    shape = tuple(1 if data.draw(st.booleans()) else n for n in kept)  # and set some to 1
    a = data.draw(arrays(dtype, shape))
    np.testing.assert_array_equal(run("broadcast_to", a, new_shape=target), np.broadcast_to(a, target))


@SETTINGS
@given(a=one_array(), data=st.data())
def test_getitem_basic_indexing(a, data):
    index = data.draw(hnp.basic_indices(a.shape, allow_newaxis=True, allow_ellipsis=True))
    np.testing.assert_array_equal(run("getitem", a, index=index), a[index])


@SETTINGS
@given(data=st.data())
def test_concatenate(data):
    dtype = data.draw(DTYPES)
    base = list(data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        base[axis] = data.draw(st.integers(0, 3))
        parts.append(data.draw(arrays(dtype, tuple(base))))
    np.testing.assert_array_equal(run("concatenate", *parts, axis=axis), np.concatenate(parts, axis=axis))


# ------------------------------------------------------------------ shape rules
@pytest.mark.parametrize("name, shapes, attrs, words", [
    ("add", [(2, 3), (4,)], {}, ["(2, 3)", "(4,)", "broadcast"]),
    ("where", [(2,), (3,), (3,)], {}, ["(2,)", "(3,)"]),
    ("matmul", [(2, 3), (4, 5)], {}, ["(2, 3)", "(4, 5)", "inner"]),
    ("matmul", [(3,), (3, 2)], {}, ["at least 2"]),
    ("matmul", [(2, 1, 3), (3, 3, 4)], {}, ["batch"]),
    ("sum", [(2, 3)], {"axis": 2}, ["axis 2", "2 dimensions"]),
    ("reshape", [(2, 3)], {"new_shape": (4,)}, ["(2, 3)", "(4,)"]),
    ("permute", [(2, 3)], {"axes": (0, 0)}, ["(0, 0)"]),
    ("broadcast_to", [(3,)], {"new_shape": (2, 4)}, ["(3,)", "(2, 4)"]),
    ("concatenate", [(2, 3), (2, 4)], {"axis": 0}, ["(2, 3)", "(2, 4)", "axis 0"]),
])
def test_shape_rule_errors_name_the_shapes(name, shapes, attrs, words):
    with pytest.raises(ValueError) as info:
        OPS[name].shape(*shapes, **attrs)
    for word in words:
        assert word in str(info.value)


def test_getitem_refuses_advanced_indexing():
    with pytest.raises(TypeError, match="basic indexing"):
        OPS["getitem"].shape((3, 4), index=([0, 1],))
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        OPS["getitem"].shape((3, 4), index=(5,))


# ------------------------------------------------------------- the table itself
EXPECTED_OPS = {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "tanh", "sigmoid", "relu",
                "gelu", "matmul", "sum", "mean", "max", "reshape", "permute", "broadcast_to",
                "getitem", "concatenate", "softmax", "log_softmax", "where"}


def test_table_has_every_op():
    assert EXPECTED_OPS <= set(OPS)
    assert all(isinstance(op, Op) and op.name == name for name, op in OPS.items())


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_keeps_its_contract(name, dtype):
    """On its own samples: the shape rule predicts forward's shape, dtype is kept, and
    backward returns one gradient per input with that input's shape and dtype."""
    op = OPS[name]
    for trial in range(4):
        inputs, attrs = op.sample(np.random.default_rng(trial), dtype)
        out = op.forward(*inputs, **attrs)
        assert out.shape == op.shape(*[x.shape for x in inputs], **attrs)
        assert out.dtype == dtype
        grads = op.backward(np.ones_like(out), inputs, out, **attrs)
        assert len(grads) == len(inputs)
        for i, (x, g) in enumerate(zip(inputs, grads)):
            if i in op.nondiff:
                assert g is None
            else:
                assert g.shape == x.shape and g.dtype == dtype, (i, g.shape, g.dtype)
