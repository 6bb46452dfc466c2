"""fastgrad.kernels.pool (max and average pooling, forward and backward) against the NumPy
formulas: the op table's `reference` forwards and the NumPy backwards the ops used before
the kernels (kept here as `numpy_max_backward` / `numpy_avg_backward`), on a grid of
shapes (square, non-square, odd sizes that drop a border), kernel sizes 1-5 (2 and 3 run
the specialised loops, the others the generic ones), strides 1-3 and the default, both
float dtypes, ties and NaN; then the op-table entries and their gradient checks."""
import itertools

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fastgrad.gradcheck import check_op
from fastgrad.kernels import pool as P
from fastgrad.ops import OPS

DTYPES = [np.float32, np.float64]


# ------------------------------------------------------------- NumPy formulas
def numpy_windows(x, k, stride):
    """(N, C, OH, OW, k, k) view of every window."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def numpy_max_backward(g, x, k, stride):
    """The op's backward before the kernels: np.argmax over each flattened window (its
    first largest element, or its first NaN), then np.add.at."""
    n, c, oh, ow = g.shape
    winner = numpy_windows(x, k, stride).reshape(n, c, oh, ow, k * k).argmax(axis=-1)
    rows = np.arange(oh)[:, None] * stride + winner // k
    cols = np.arange(ow)[None, :] * stride + winner % k
    grad = np.zeros_like(x)
    np.add.at(grad, (np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols), g)
    return grad


def numpy_avg_backward(g, x, k, stride):
    """The op's backward before the kernels: g / k^2 added to every offset of the window."""
    _, _, oh, ow = g.shape
    grad = np.zeros_like(x)
    for a in range(k):
        for b in range(k):
            grad[:, :, a:a + stride * (oh - 1) + 1:stride, b:b + stride * (ow - 1) + 1:stride] += g / (k * k)
    return grad


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)


# (shape, kernel_size, stride): square, non-square, borders dropped (7 under 2, 8 under 3),
# overlapping windows (stride < k), gaps (stride > k), N = 1, C = 1, one window
GRID = [(shape, k, s) for shape, k, s in itertools.product(
    [(2, 3, 6, 6), (1, 2, 7, 5), (3, 1, 5, 8), (2, 2, 9, 4)], [1, 2, 3], [1, 2, 3, None])
    if k <= min(shape[2:])] + [((1, 1, 3, 3), 3, None), ((2, 2, 9, 10), 4, 2), ((1, 3, 11, 7), 5, 3)]


def reference(name, x, k, s):
    """The op table's NumPy formula, in float64."""
    return OPS[name].reference(x.astype(np.float64), kernel_size=k, stride=s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, s", GRID)
def test_forwards_match_the_reference(shape, k, s, dtype):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    out = P.max_pool2d(x, k, s)
    assert out.dtype == dtype and out.shape == P.pool2d_output_shape(shape, k, s)
    np.testing.assert_array_equal(out, reference("max_pool2d", x, k, s))      # a max is exact
    avg = P.avg_pool2d(x, k, s)
    assert avg.dtype == dtype
    np.testing.assert_allclose(avg, reference("avg_pool2d", x, k, s), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, s", GRID)
def test_backwards_match_the_numpy_backwards(shape, k, s, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    stride = k if s is None else s
    g = rng.standard_normal(P.pool2d_output_shape(shape, k, s)).astype(dtype)
    want = numpy_max_backward(g, x, k, stride)
    got = P.max_pool2d_backward(g, x, k, s)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, **tol(dtype))      # overlapping windows add in another order
    out, idx = P.max_pool2d(x, k, s, return_indices=True)
    np.testing.assert_array_equal(out, P.max_pool2d(x, k, s))
    np.testing.assert_allclose(P.max_pool2d_backward(g, x, k, s, indices=idx), want, **tol(dtype))
    got = P.avg_pool2d_backward(g, x.shape, k, s)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, numpy_avg_backward(g, x, k, stride), **tol(dtype))


@pytest.mark.parametrize("k, s", [(2, 2), (2, 3), (3, 2), (3, 3), (4, 3)])
def test_a_dropped_border_gets_no_gradient(k, s):
    x = np.random.default_rng(3).standard_normal((2, 2, 9, 8))
    _, _, oh, ow = P.pool2d_output_shape(x.shape, k, s)
    used_h, used_w = (oh - 1) * s + k, (ow - 1) * s + k
    assert used_h < 9 or used_w < 8                    # the case really drops something
    g = np.ones((2, 2, oh, ow))
    for grad in (P.max_pool2d_backward(g, x, k, s), P.avg_pool2d_backward(g, x.shape, k, s)):
        assert not grad[:, :, used_h:].any() and not grad[:, :, :, used_w:].any()
    assert P.max_pool2d_backward(g, x, k, s).sum() == g.sum()       # every window's gradient lands
    np.testing.assert_allclose(P.avg_pool2d_backward(g, x.shape, k, s).sum(), g.sum())


# ------------------------------------------------------------------ ties, NaN
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, s", [(1, 1), (2, 2), (2, 1), (3, 3), (3, 1), (4, 2)])
def test_ties_go_to_the_first_largest_element_as_before(k, s, dtype):
    """Integer values 0-2: most windows tie; the gradient must go where np.argmax puts it."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (3, 2, 9, 7)).astype(dtype)
    g = rng.standard_normal(P.pool2d_output_shape(x.shape, k, s)).astype(dtype)
    want = numpy_max_backward(g, x, k, s)
    np.testing.assert_allclose(P.max_pool2d_backward(g, x, k, s), want, **tol(dtype))
    out, idx = P.max_pool2d(x, k, s, return_indices=True)
    winner = numpy_windows(x, k, s).reshape(*out.shape, k * k).argmax(axis=-1)
    i, j = np.meshgrid(np.arange(out.shape[2]), np.arange(out.shape[3]), indexing="ij")
    np.testing.assert_array_equal(idx, (i * s + winner // k) * x.shape[3] + j * s + winner % k)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_a_constant_window_sends_its_gradient_to_the_top_left(k):
    x = np.full((1, 1, k, k), 7.0)
    grad = P.max_pool2d_backward(np.array([[[[5.0]]]]), x, k)
    want = np.zeros_like(x)
    want[0, 0, 0, 0] = 5.0
    np.testing.assert_array_equal(grad, want)


def test_row_major_order_decides_a_tie():
    """(0, 1) comes before (1, 0) in row-major order, though (1, 0) is first column-major."""
    x = np.array([[[[1.0, 2.0], [2.0, 0.0]]]])
    _, idx = P.max_pool2d(x, 2, return_indices=True)
    assert idx.item() == 1
    np.testing.assert_array_equal(P.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_nan_wins_its_window_like_numpy(k, dtype):
    """np.max returns NaN for a window holding one and np.argmax picks its first NaN."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2 * k, 2 * k)).astype(dtype)
    x[0, 0, 1, 1] = np.nan                          # in window (0, 0), not its first element
    x[0, 0, 0, k - 1] = np.nan                      # an earlier NaN in the same window
    x[1, 2, k, k] = np.nan                          # first element of window (1, 1)
    x[0, 1, :k, :k] = -np.inf                       # an all -inf window: max -inf, winner first
    g = rng.standard_normal((2, 3, 2, 2)).astype(dtype)
    out, idx = P.max_pool2d(x, k, return_indices=True)
    np.testing.assert_array_equal(out, numpy_windows(x, k, k).max(axis=(4, 5)))      # NaN == NaN here
    np.testing.assert_array_equal(P.max_pool2d(x, k), out)
    assert idx[0, 0, 0, 0] == k - 1 and idx[1, 2, 1, 1] == k * 2 * k + k and idx[0, 1, 0, 0] == 0
    want = numpy_max_backward(g, x, k, k)
    np.testing.assert_array_equal(P.max_pool2d_backward(g, x, k), want)
    np.testing.assert_array_equal(P.max_pool2d_backward(g, x, k, indices=idx), want)


# ---------------------------------------------------------- layouts and errors
def test_non_contiguous_inputs_and_gradients():
    rng = np.random.default_rng(6)
    base = rng.standard_normal((6, 6, 3, 2))
    x = base.transpose(3, 2, 0, 1)                  # (2, 3, 6, 6), not C-contiguous
    g = rng.standard_normal((2, 3, 2, 2)).transpose(0, 1, 3, 2)      # the 2x2 windows moved by 3
    assert not x.flags.c_contiguous and not g.flags.c_contiguous
    x_c, g_c = np.ascontiguousarray(x), np.ascontiguousarray(g)
    np.testing.assert_array_equal(P.max_pool2d(x, 2), P.max_pool2d(x_c, 2))
    np.testing.assert_array_equal(P.avg_pool2d(x, 3, 1), P.avg_pool2d(x_c, 3, 1))
    np.testing.assert_array_equal(P.max_pool2d_backward(g, x, 2, 3), P.max_pool2d_backward(g_c, x_c, 2, 3))
    np.testing.assert_array_equal(P.avg_pool2d_backward(g, x.shape, 2, 3), P.avg_pool2d_backward(g_c, x.shape, 2, 3))
    assert np.shares_memory(x, base)                 # the input was read, not modified
    np.testing.assert_array_equal(x, x_c)


def test_empty_batch():
    x = np.zeros((0, 3, 4, 4), np.float32)
    assert P.max_pool2d(x, 2).shape == (0, 3, 2, 2) and P.avg_pool2d(x, 2).shape == (0, 3, 2, 2)
    assert P.max_pool2d_backward(np.zeros((0, 3, 2, 2), np.float32), x, 2).shape == x.shape


def test_errors_name_the_shapes_and_dtypes():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"max_pool2d: input \(2, 4, 4\) must be 4-D"):
        P.max_pool2d(np.zeros((2, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d: the 5x5 window is larger than the input \(1, 2, 4, 4\)"):
        P.avg_pool2d(x, 5)
    with pytest.raises(ValueError, match=r"stride must be a positive integer, got 0"):
        P.max_pool2d(x, 2, 0)
    with pytest.raises(TypeError, match=r"max_pool2d: input \(1, 2, 4, 4\) has dtype int64"):
        P.max_pool2d(x.astype(np.int64), 2)
    with pytest.raises(ValueError, match=r"grad_out has shape \(1, 2, 3, 3\), expected the output shape "
                                         r"\(1, 2, 2, 2\)"):
        P.max_pool2d_backward(np.zeros((1, 2, 3, 3)), x, 2)
    with pytest.raises(ValueError, match=r"grad_out has shape"):
        P.avg_pool2d_backward(np.zeros((1, 2, 3, 3)), x.shape, 2)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H\*W = 16\)"):
        P.max_pool2d_backward(np.zeros((1, 2, 2, 2)), x, 2, indices=np.full((1, 2, 2, 2), 16))
    with pytest.raises(ValueError, match=r"indices must be integers of the output shape"):
        P.max_pool2d_backward(np.zeros((1, 2, 2, 2)), x, 2, indices=np.zeros((1, 2, 2, 2)))


# ------------------------------------------------------------------- the op table
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_op_entries_run_the_kernels(name, dtype):
    op = OPS[name]
    rng = np.random.default_rng(7)
    for case in range(op.cases):
        (x,), attrs = op.sample(rng, dtype, case=case)
        out = op.forward(x, **attrs)
        kernel = P.max_pool2d if name == "max_pool2d" else P.avg_pool2d
        np.testing.assert_array_equal(out, kernel(x, attrs["kernel_size"], attrs["stride"]))
        np.testing.assert_allclose(out, op.reference(x.astype(np.float64), **attrs), **tol(dtype))
        g = rng.standard_normal(out.shape).astype(dtype)
        (grad,) = op.backward(g, [x], out, **attrs)
        old = numpy_max_backward if name == "max_pool2d" else numpy_avg_backward
        np.testing.assert_allclose(grad, old(g, x, attrs["kernel_size"], attrs["stride"]), **tol(dtype))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_gradcheck_passes(name):
    result = check_op(name)
    assert result.passed, str(result)
