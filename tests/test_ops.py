"""The op table: every forward against the NumPy `reference` on its record (the table's own
samples for every case and dtype, then hypothesis-drawn seeds, shapes and attributes), shape
rules, the table's contract, and every op reachable from `Tensor`.

Nothing here is written per op: an op registered later is tested by the same code, and
an op registered without a `reference` or a `method` fails.
"""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fastgrad import autograd
from fastgrad.autograd import Tensor
from fastgrad.ops.methods import add_table_methods
from fastgrad.ops import OPS, Op

SETTINGS = settings(max_examples=20, deadline=None)
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _float64(x):
    return x if x.dtype == np.bool_ else x.astype(np.float64)


def check_forward(op: Op, inputs: list, attrs: dict) -> None:
    """`op.forward` on `inputs`: its shape is what the shape rule predicts, its dtype is the
    inputs' float dtype, and its values match `op.reference` computed in float64."""
    assert op.reference is not None, (f"op {op.name!r} has no reference: register it with "
                                      "reference=<the NumPy formula>")
    out = op.forward(*inputs, **attrs)
    assert out.shape == op.shape(*[x.shape for x in inputs], **attrs), (op.name, attrs)
    dtype = next(x.dtype for x in inputs if x.dtype != np.bool_)
    assert out.dtype == dtype, f"{op.name}: {dtype} inputs gave a {out.dtype} result"
    expected = np.asarray(op.reference(*[_float64(x) for x in inputs], **attrs))
    assert expected.shape == out.shape, (op.name, expected.shape, out.shape)
    shapes = ", ".join(str(x.shape) for x in inputs)
    np.testing.assert_allclose(out, expected, **tol(dtype), err_msg=f"{op.name}({shapes}, {attrs}) {dtype}")


def sample(op: Op, dtype, case: int, seed: int = 0):
    return op.sample(np.random.default_rng(seed), dtype, case=case)


# ------------------------------------------------- every op against its reference
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_matches_reference_on_every_sample_case(name, dtype):
    op = OPS[name]
    for case in range(op.cases):
        check_forward(op, *sample(op, dtype, case, seed=case))


@pytest.mark.parametrize("name", sorted(OPS))
@SETTINGS
@given(data=st.data())
def test_forward_matches_reference_on_random_samples(name, data):
    """Same, with hypothesis choosing the case, the dtype and the sampler's seed."""
    op = OPS[name]
    case = data.draw(st.integers(0, op.cases - 1), label="case")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    check_forward(op, *sample(op, dtype, case, seed=data.draw(st.integers(0, 2**32 - 1), label="seed")))


# ----------------------------------- hypothesis shapes and attrs, values from the sampler
def values(data, op: Op, shapes) -> tuple[list, dict]:
    """Inputs of the given `shapes` holding values from the op's own sampler (so they stay
    in its domain: positive for log, non-zero for div), repeated to fill (`np.resize`),
    plus the sampler's attrs."""
    case = data.draw(st.integers(0, op.cases - 1), label="case")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    inputs, attrs = sample(op, dtype, case, seed=data.draw(st.integers(0, 2**16), label="seed"))
    pool = inputs if len(inputs) == len(shapes) else [inputs[0]] * len(shapes)
    return [np.resize(x, s) for x, s in zip(pool, shapes)], attrs


small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def elementwise_case(data, op):
    """Any broadcast-compatible shapes, one per input (NumPy's rule is the shape rule)."""
    n = len(sample(op, np.float64, 0)[0])
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=4, max_side=4))
    return values(data, op, shapes.input_shapes)


def reduce_case(data, op):
    shape = data.draw(small_shapes)
    inputs, _ = values(data, op, [shape])
    ndim = len(shape)
    axis = data.draw(st.one_of(
        st.none(), st.integers(-ndim, ndim - 1) if ndim else st.none(),
        st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim).map(tuple)))
    return inputs, {"axis": axis, "keepdims": data.draw(st.booleans())}


def softmax_case(data, op):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    (x,), _ = values(data, op, [shape])
    scale = data.draw(st.sampled_from([1, 10]))          # up to |x| ~ 100: exp would overflow unshifted
    return [x * x.dtype.type(scale)], {"axis": data.draw(st.integers(-len(shape), len(shape) - 1))}


def matmul_case(data, op):
    batch = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    n, k, m = (data.draw(st.integers(1, 5)) for _ in range(3))
    a_shape = (k,) if data.draw(st.booleans()) else batch.input_shapes[0] + (n, k)   # 1-D operands too
    b_shape = (k,) if data.draw(st.booleans()) else batch.input_shapes[1] + (k, m)
    return values(data, op, [a_shape, b_shape])[0], {}


def reshape_case(data, op):
    shape = data.draw(small_shapes)
    size = math.prod(shape)
    target = data.draw(st.sampled_from([(-1,), (size, 1), (1, -1), shape[::-1], (1,) + shape]))
    return values(data, op, [shape])[0], {"new_shape": target}


def permute_case(data, op):
    shape = data.draw(small_shapes)
    return values(data, op, [shape])[0], {"axes": tuple(data.draw(st.permutations(range(len(shape)))))}


def broadcast_to_case(data, op):
    target = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    kept = target[data.draw(st.integers(0, len(target))):]                 # drop leading dims
    shape = tuple(1 if data.draw(st.booleans()) else n for n in kept)    # and set some to 1
    return values(data, op, [shape])[0], {"new_shape": target}


def getitem_case(data, op):
    shape = data.draw(small_shapes)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return values(data, op, [shape])[0], {"index": index}


def concatenate_case(data, op):
    base = list(data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(data.draw(st.integers(1, 3))):
        base[axis] = data.draw(st.integers(0, 3))
        shapes.append(tuple(base))
    return values(data, op, shapes)[0], {"axis": axis}


# Ops whose attributes depend on the input's shape need a strategy for them; the
# elementwise and reduce kinds share one each. An op without one is still tested above.
BY_KIND = {"elementwise": elementwise_case, "reduce": reduce_case}
BY_NAME = {"softmax": softmax_case, "log_softmax": softmax_case, "matmul": matmul_case,
           "reshape": reshape_case, "permute": permute_case, "broadcast_to": broadcast_to_case,
           "getitem": getitem_case, "concatenate": concatenate_case}
RANDOM_SHAPES = {name: BY_NAME.get(name, BY_KIND.get(op.kind)) for name, op in OPS.items()}


@pytest.mark.parametrize("name", sorted(n for n, case in RANDOM_SHAPES.items() if case))
@SETTINGS
@given(data=st.data())
def test_forward_matches_reference_on_random_shapes(name, data):
    op = OPS[name]
    check_forward(op, *RANDOM_SHAPES[name](data, op))


def test_every_kind_but_composite_has_random_shapes():
    """The shape strategies reach every op of a kind that has one (a new elementwise or
    reduce op is covered without new test code)."""
    missing = [n for n, case in RANDOM_SHAPES.items() if case is None]
    assert all(OPS[n].kind == "composite" for n in missing), missing


# ----------------------------------------------------- the reference test can fail
def test_a_forward_that_disagrees_with_its_reference_fails():
    exp = OPS["exp"]
    off = dataclasses.replace(exp, forward=lambda a: exp.forward(a) * a.dtype.type(1.001))
    with pytest.raises(AssertionError, match="exp"):
        check_forward(off, *sample(off, np.float64, 0))
    wrong_dtype = dataclasses.replace(exp, forward=lambda a: exp.forward(a).astype(np.float64))
    with pytest.raises(AssertionError, match="float32 inputs gave a float64"):
        check_forward(wrong_dtype, *sample(exp, np.float32, 0))
    with pytest.raises(AssertionError, match="has no reference"):
        check_forward(dataclasses.replace(exp, reference=None), *sample(exp, np.float64, 0))


# --------------------------------------------------------------- special forwards
def test_gelu_is_the_tanh_approximation():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    out = OPS["gelu"].forward(x)
    assert np.max(np.abs(out - exact)) < 1e-3 and np.max(np.abs(out - exact)) > 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_huge_inputs(dtype):
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    s, ls = OPS["softmax"].forward(a, axis=-1), OPS["log_softmax"].forward(a, axis=-1)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s[1], 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("a_shape, b_shape, out_shape", [
    ((4,), (4, 3), (3,)), ((3, 4), (4,), (3,)), ((4,), (4,), ()), ((2, 3, 4), (4,), (2, 3)),
    ((4,), (2, 4, 3), (2, 3)),
])
def test_matmul_takes_vectors_like_numpy(a_shape, b_shape, out_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    out = OPS["matmul"].forward(a, b)
    assert out.shape == out_shape == OPS["matmul"].shape(a_shape, b_shape)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


# ------------------------------------------------------------------ shape rules
@pytest.mark.parametrize("name, shapes, attrs, words", [
    ("add", [(2, 3), (4,)], {}, ["add:", "(2, 3)", "(4,)", "broadcast", "axis -1"]),
    ("where", [(2,), (3,), (3,)], {}, ["where:", "(2,)", "(3,)"]),
    ("matmul", [(2, 3), (4, 5)], {}, ["(2, 3)", "(4, 5)", "inner"]),
    ("matmul", [(3,), (4,)], {}, ["(3,)", "(4,)", "inner"]),
    ("matmul", [(), (3, 2)], {}, ["at least 1 dimension"]),
    ("matmul", [(2, 1, 3), (3, 3, 4)], {}, ["batch"]),
    ("sum", [(2, 3)], {"axis": 2}, ["sum:", "axis 2", "2 dimensions"]),
    ("mean", [(2, 3)], {"axis": (0, 0)}, ["mean:", "repeated"]),
    ("softmax", [(2, 3)], {"axis": -3}, ["softmax:", "axis -3"]),
    ("reshape", [(2, 3)], {"new_shape": (4,)}, ["(2, 3)", "(4,)"]),
    ("permute", [(2, 3)], {"axes": (0, 0)}, ["permute:", "(0, 0)", "(2, 3)"]),
    ("permute", [(2, 3)], {"axes": (0,)}, ["permute:", "(0,)", "exactly once"]),
    ("broadcast_to", [(3,)], {"new_shape": (2, 4)}, ["(3,)", "(2, 4)"]),
    ("concatenate", [(2, 3), (2, 4)], {"axis": 0}, ["(2, 3)", "(2, 4)", "axis 0"]),
    ("concatenate", [(2, 3), (2, 3)], {"axis": 2}, ["concatenate:", "axis 2"]),
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
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_op_keeps_its_contract(name, dtype):
    """On its own samples: backward returns one gradient per input with that input's
    shape and dtype (None exactly for the inputs listed in `nondiff`)."""
    op = OPS[name]
    for trial in range(4):
        inputs, attrs = op.sample(np.random.default_rng(trial), dtype)
        out = op.forward(*inputs, **attrs)
        grads = op.backward(np.ones_like(out), inputs, out, **attrs)
        assert len(grads) == len(inputs)
        for i, (x, g) in enumerate(zip(inputs, grads)):
            if i in op.nondiff:
                assert g is None
            else:
                assert g.shape == x.shape and g.dtype == dtype, (i, g.shape, g.dtype)


# --------------------------------------------------------- every op from Tensor
def reach(op: Op, inputs: list, attrs: dict):
    """Run `op` the way Tensor code does, through `op.method` (see the `Op` docstring):
    a Tensor method or operator written by hand gets the attrs positionally; a method
    generated from the table and a function of fastgrad.autograd get them as keywords."""
    if hasattr(Tensor, op.method):
        if getattr(getattr(Tensor, op.method), "from_op_table", False):
            return getattr(inputs[0], op.method)(*inputs[1:], **attrs)   # generated: attrs as keywords
        return getattr(inputs[0], op.method)(*inputs[1:], *attrs.values())
    assert callable(getattr(autograd, op.method, None)), (
        f"op {op.name!r}: method {op.method!r} is neither a Tensor method nor a fastgrad.autograd function")
    return getattr(autograd, op.method)(*inputs, **attrs)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_is_reachable_from_tensor(name):
    op = OPS[name]
    assert op.method, f"op {name!r} has no method: register it with method=<the Tensor method's name>"
    for case in range(op.cases):
        inputs, attrs = sample(op, np.float64, case)
        tensors = [x if x.dtype == np.bool_ else Tensor(x, dtype=np.float64, requires_grad=True)
                   for x in inputs]
        out = reach(op, tensors, attrs)
        assert isinstance(out, Tensor) and out.op is op, f"{op.method} did not run the op {name!r}"
        np.testing.assert_array_equal(out.data, op.forward(*inputs, **attrs))


def test_a_new_op_gets_its_tensor_method_from_the_table(monkeypatch):
    """Registering an op is all it takes: `add_table_methods` (run at import for Tensor and
    LazyTensor) writes `<class>.<method>` for it."""
    square = Op("square", "elementwise", lambda a: a * a, lambda g, inputs, out: (2 * g * inputs[0],),
                lambda shape: tuple(shape), OPS["exp"].sample, reference=np.square, method="square")
    monkeypatch.setitem(OPS, "square", square)
    assert not hasattr(Tensor, "square")
    try:
        add_table_methods(Tensor)
        x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x.square()
        assert y.op is square and "square" in Tensor.square.__doc__
        np.testing.assert_array_equal(y.data, [1.0, 4.0, 9.0])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    finally:
        if hasattr(Tensor, "square"):
            delattr(Tensor, "square")
