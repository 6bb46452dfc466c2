"""fastgrad.kernels.elementwise against NumPy as the oracle: shapes, broadcasts,
non-contiguous inputs, sizes 0 and 1, both dtypes, out=, the threaded paths, errors."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fastgrad.kernels import elementwise as E

DTYPES = [np.float32, np.float64]
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


UNARY = {"neg": np.negative, "exp": np.exp, "tanh": np.tanh, "sigmoid": _sigmoid,
         "relu": lambda x: np.maximum(x, 0), "log": np.log}
SETTINGS = settings(max_examples=40, deadline=None)


def values(dtype, shape, data, lo=-50.0, hi=50.0):
    return data.draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=np.dtype(dtype).itemsize * 8)))


def layout(x, data):
    """`x` itself, or the same values as a non-contiguous view (transpose or step slice)."""
    kind = data.draw(st.sampled_from(["contiguous", "transpose", "step"]))
    if kind == "transpose" and x.ndim >= 2:
        return np.ascontiguousarray(x.T).T          # same values, Fortran order: not C-contiguous
    if kind == "step" and x.ndim >= 1:
        big = np.empty(tuple(2 * n for n in x.shape), x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    return x


def tol(dtype):
    return dict(rtol=8 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).tiny)


@pytest.fixture(params=[False, True], ids=["serial", "threaded"])
def threaded(request, monkeypatch):
    """Run a test once as is and once with every call taking the threaded path."""
    if request.param:
        monkeypatch.setattr(E, "PARALLEL_THRESHOLD", 1)
    return request.param


# ------------------------------------------------------------------ binary
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES), op=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=5))
def test_binary_matches_numpy(data, dtype, op, shapes):
    a = layout(values(dtype, shapes.input_shapes[0], data), data)
    b = layout(values(dtype, shapes.input_shapes[1], data), data)
    with np.errstate(all="ignore"):
        expected = BINARY[op](a, b)
    got = getattr(E, op)(a, b)
    assert got.shape == expected.shape == shapes.result_shape
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)      # IEEE ops: bit-exact


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_paths(op, dtype, threaded):
    rng = np.random.default_rng(1)
    m = rng.standard_normal((37, 29)).astype(dtype)
    row, col = m[0].copy(), m[:, :1].copy()
    f, ref = getattr(E, op), BINARY[op]
    cases = [(m, m), (m, row), (col, m), (m.T, m.T), (m[:36:2, ::3], m[1::2, ::3]), (m[0], m[:29, 3]),
             (m[:1, :1], m), (np.empty((0, 29), dtype), row), (m[:1], m[:1])]
    for a, b in cases:
        np.testing.assert_array_equal(f(a, b), ref(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalars_take_the_arrays_dtype(dtype):
    x = np.arange(1, 6, dtype=dtype)
    for b in (2, 2.5, np.float64(2.5), np.array(2.5), np.array(2.5, np.float32)):
        got = E.mul(x, b)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, x * np.asarray(b, dtype))
        np.testing.assert_array_equal(E.sub(b, x), np.asarray(b, dtype) - x)
    assert E.add(1.0, 2.0).shape == () and float(E.add(1.0, 2.0)) == 3.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_out(dtype, threaded):
    a = np.arange(12, dtype=dtype).reshape(3, 4)
    out = np.empty((3, 4), dtype)
    assert E.add(a, a[0], out=out) is out
    np.testing.assert_array_equal(out, a + a[0])
    strided_out = np.zeros((3, 8), dtype)[:, ::2]        # a non-contiguous out
    E.mul(a, 2.0, out=strided_out)
    np.testing.assert_array_equal(strided_out, a * 2)
    b = a.copy()
    E.add(b, 1.0, out=b)                                 # in place
    np.testing.assert_array_equal(b, a + 1)
    assert E.exp(a, out=np.empty_like(a)).shape == a.shape
    assert E.fma(a, a, a, out=out) is out


@pytest.mark.parametrize("dtype", DTYPES)
def test_overlapping_out_is_safe(dtype, threaded):
    x = np.arange(10, dtype=dtype)
    expected = x[:-1] + x[1:]
    E.add(x[1:], x[:-1], out=x[:-1])       # out overlaps an input, shifted by one element
    np.testing.assert_array_equal(x[:-1], expected)


# ------------------------------------------------------------------ unary and fused
@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES), op=st.sampled_from(sorted(UNARY)),
       shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
def test_unary_matches_numpy(data, dtype, op, shape):
    lo = 0.0009765625 if op == "log" else -50.0  # 2**-10, exact in float32
    a = layout(values(dtype, shape, data, lo=lo), data)
    got = getattr(E, op)(a)
    expected = UNARY[op](a)
    assert got.shape == a.shape and got.dtype == dtype
    np.testing.assert_allclose(got, expected, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_paths_and_edges(op, dtype, threaded):
    x = np.linspace(0.01 if op == "log" else -100, 100, 1001).astype(dtype).reshape(7, 143)
    for a in (x, x.T, x[::3, 1::2], x[:1, :1], x[:0]):
        with np.errstate(over="ignore"):
            np.testing.assert_allclose(getattr(E, op)(a), UNARY[op](a), **tol(dtype))
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(getattr(E, op)(special), UNARY[op](special), **tol(dtype))


def fma_close(got, a, b, c, dtype):
    # FMA rounds once; NumPy's a*b + c rounds twice: compare within the rounding of the terms.
    exact = a.astype(np.float64) * b + c
    scale = np.abs(a.astype(np.float64) * b) + np.abs(c)
    assert np.all(np.abs(got - exact) <= 2 * np.finfo(dtype).eps * scale + 2 * np.finfo(dtype).smallest_subnormal)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=5))
def test_fma_matches_numpy(data, dtype, shapes):
    a, b, c = (layout(values(dtype, s, data), data) for s in shapes.input_shapes)
    got = E.fma(a, b, c)
    assert got.shape == shapes.result_shape and got.dtype == dtype
    fma_close(got, a, b, c, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fma_paths(dtype, threaded):
    rng = np.random.default_rng(2)
    m = rng.standard_normal((33, 17)).astype(dtype)
    for a, b, c in [(m, m, m), (m, m[0], 1.5), (m.T, m.T, m.T), (m[:32:2], m[1::2], m[0]), (m[:0], m[:0], m[:0])]:
        fma_close(E.fma(a, b, c), *np.broadcast_arrays(np.asarray(a), np.asarray(b), np.asarray(c, dtype)), dtype)


# ------------------------------------------------------------------ reductions
@st.composite
def axis_spec(draw, ndim):
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or ndim == 0:
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(ax - ndim if draw(st.booleans()) else ax for ax in axes)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES), keepdims=st.booleans(),
       shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
def test_sum_matches_numpy(data, dtype, keepdims, shape):
    a = layout(values(dtype, shape, data), data)
    axis = data.draw(axis_spec(a.ndim))
    got = E.sum(a, axis=axis, keepdims=keepdims)
    expected = np.sum(a, axis=axis, keepdims=keepdims)
    assert isinstance(got, np.ndarray) and got.shape == np.shape(expected) and got.dtype == dtype
    bound = np.sum(np.abs(a), axis=axis, keepdims=keepdims) * max(a.size, 1) * np.finfo(dtype).eps
    assert np.all(np.abs(got - expected) <= bound + np.finfo(dtype).tiny)


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES), keepdims=st.booleans(),
       shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=6))
def test_max_matches_numpy(data, dtype, keepdims, shape):
    a = layout(values(dtype, shape, data), data)
    axis = data.draw(axis_spec(a.ndim))
    got = E.max(a, axis=axis, keepdims=keepdims)
    expected = np.max(a, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(expected) and got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reduction_edges(dtype):
    x = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    assert E.sum(np.empty((0, 3), dtype)).item() == 0
    np.testing.assert_array_equal(E.sum(np.empty((0, 3), dtype), axis=0), np.zeros(3))
    assert E.max(np.empty((0, 3), dtype), axis=1).shape == (0,)
    np.testing.assert_array_equal(E.sum(x, axis=()), x)
    np.testing.assert_array_equal(E.max(x, axis=(0, 2)), x.max(axis=(0, 2)))
    assert np.isnan(E.max(np.array([1, np.nan, 3], dtype)))
    big = np.full(1_000_001, 0.1, dtype)                        # accuracy over many float32 terms
    np.testing.assert_allclose(E.sum(big), 100000.1, rtol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        E.max(np.empty((0, 3), dtype))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        E.sum(x, axis=3)
    with pytest.raises(ValueError, match="repeated"):
        E.sum(x, axis=(0, -3))
    with pytest.raises(TypeError, match="axis"):
        E.sum(x, axis=1.0)


@st.composite
def reducible(draw):
    """(big shape, small shape) where the small one broadcasts to the big one."""
    big = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    lead = draw(st.integers(0, len(big)))
    small = tuple(1 if draw(st.booleans()) else n for n in big[lead:])
    return big, small


@SETTINGS
@given(data=st.data(), dtype=st.sampled_from(DTYPES), shapes=reducible())
def test_sum_to_shape(data, dtype, shapes):
    big, small = shapes
    a = layout(values(dtype, big, data), data)
    got = E.sum_to_shape(a, small)
    lead = len(big) - len(small)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(small) if n == 1)
    expected = np.sum(a, axis=axes).reshape(small)
    assert got.shape == small and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_sum_to_shape_is_the_broadcast_adjoint():
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((3, 1)), rng.standard_normal((4, 3, 5))
    # <broadcast(x), g> == <x, sum_to_shape(g)>: the defining property of a broadcast's gradient.
    assert np.isclose(np.sum(np.broadcast_to(x, g.shape) * g), np.sum(x * E.sum_to_shape(g, x.shape)))


def test_sum_to_shape_errors():
    with pytest.raises(ValueError, match=r"\(5,\).*\(3, 4\)"):
        E.sum_to_shape(np.ones((3, 4)), (5,))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(3, 4\)"):
        E.sum_to_shape(np.ones((3, 4)), (2, 3, 4))


# ------------------------------------------------------------------ errors
def test_errors_name_the_problem():
    f32, f64 = np.ones(3, np.float32), np.ones(3)
    with pytest.raises(TypeError, match="float32.*float64"):
        E.add(f32, f64)
    with pytest.raises(TypeError, match="float32.*float64"):
        E.fma(f32, f32, f64)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        E.mul(f64, np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        E.sub(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        E.add(f64, f64, out=np.empty(4))
    with pytest.raises(TypeError, match="float32.*float64"):
        E.add(f64, f64, out=np.empty(3, np.float32))
    with pytest.raises(TypeError, match="int64"):
        E.add(np.arange(3), np.arange(3))
    with pytest.raises(TypeError, match="list"):
        E.exp([1.0, 2.0])
    readonly = np.ones(3)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        E.neg(f64, out=readonly)


def test_inputs_are_not_modified():
    a = np.arange(6.0).reshape(2, 3)
    b = a.copy()
    E.add(a.T, 1.0)
    E.sum(a, axis=0)
    E.sum_to_shape(a, (3,))
    np.testing.assert_array_equal(a, b)


def test_each_loop_body_is_compiled_serially_and_threaded():
    pairs = {name: k for name, k in vars(E).items() if isinstance(k, E.Kernels)}
    assert set(pairs) == {"_binary_flat", "_binary_strided", "_unary_flat", "_unary_strided",
                          "_fma_flat", "_fma_strided"}
    for name, k in pairs.items():
        assert k.serial.py_func.__code__ is k.parallel.py_func.__code__, name    # one body
        assert not k.serial.targetoptions.get("parallel") and k.parallel.targetoptions["parallel"], name
        # Numba names its cache files after the function and ignores compile options: two
        # builds under one name would share (and swap) their cached machine code.
        assert k.serial.py_func.__qualname__ != k.parallel.py_func.__qualname__, name


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the process's threads in Linux's /proc")
def test_threaded_build_still_starts_threads_when_loaded_from_the_cache():
    # The first run may compile and write both builds to the cache; the second loads them.
    # Numba starts its worker threads at the first threaded call: if the "parallel" build had
    # loaded the serial build's cache entry, no thread would start.
    code = (
        "import os, numpy as np\n"
        "from fastgrad.kernels import elementwise as E\n"
        "a = np.ones(1000); out = np.empty_like(a)\n"
        "E._binary_flat.serial(0, a, a, out)\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "E._binary_flat.parallel(0, a, a, out)\n"
        "print(len(os.listdir('/proc/self/task')) - before)\n")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    for run in range(2):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout.split()[-1]) >= 1, f"run {run}: the threaded build started no thread"


def test_parallel_threshold_is_a_sensible_int():
    assert isinstance(E.PARALLEL_THRESHOLD, int) and 1_000 <= E.PARALLEL_THRESHOLD <= 10_000_000
