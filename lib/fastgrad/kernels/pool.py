"""2-D max and average pooling (chapter 06): forward and backward as Numba loops.

Layout NCHW, as PyTorch: input x (N, C, H, W), output (N, C, OH, OW) with
OH = (H - kernel_size) // stride + 1 (OW likewise). Windows are kernel_size x kernel_size,
`stride` defaults to kernel_size, there is no padding, and windows that do not fit are
dropped (a 7x7 input under 2x2 windows gives 3x3: the last row and column are never
read and get gradient 0). stride < kernel_size (overlapping windows) works too.
float32 and float64; the output has the input's dtype.

    pool2d_output_shape(shape, kernel_size, stride)   (N, C, OH, OW), ValueError otherwise
    max_pool2d(x, kernel_size, stride)                 max of every window
    max_pool2d(x, kernel_size, stride, return_indices=True) -> (out, indices)
    max_pool2d_backward(g, x, kernel_size, stride, indices=None) -> grad_x
    avg_pool2d(x, kernel_size, stride)                 mean of every window
    avg_pool2d_backward(g, x_shape, kernel_size, stride) -> grad_x

Which element wins a window (the max's gradient goes to it alone): the *first* largest
element in row-major order inside the window (row by row, left to right), i.e. NumPy's
`argmax` over the flattened window; a window holding a NaN returns NaN and its first NaN
wins. `indices` (int64, shape of the output) holds the winner's position in its input
plane, row * W + col (PyTorch's convention for `return_indices`). Overlapping windows
that share a winner add their gradients there.

The op table (`fastgrad.ops.nn`) keeps no state between forward and backward except the
output, so its backward calls `max_pool2d_backward` without `indices`: the kernel then
finds each window's winner again from x (k*k compares per window, the same scan as the
forward) and scatters in the same pass. With `indices` it is a pure scatter.

The average is the window's sum (in x's dtype) times 1/k^2 rather than divided by k^2
(a division per window costs more than the adds): the same result for k = 1, 2, 4, where
1/k^2 is exact, and within an ulp of the division for other k.

Why fast: the NumPy versions build a 6-D `sliding_window_view` and reduce over two
strided axes (forward), and `np.add.at` with four broadcast index arrays (backward);
both run through NumPy's generic strided iterators, with several temporaries. Here one
compiled pass reads each window once, keeps the running max (or sum) in a register with
selects rather than branches, and writes the output (or the gradient) directly; k = 2
and k = 3 get loops with a constant trip count (see the comment above the kernels).
Measured at LeNet's pool, x (32, 64, 8, 8) float32, 2x2, one thread, load average ~2,
min of 150 interleaved calls: max forward 2.27 ms with NumPy, 59 us here; max backward
1.39 ms / 111 us; average forward 1.12 ms / 59 us; average backward 190 us / 71 us.
Checked against the NumPy formulas in tests/test_pool.py.
"""
from __future__ import annotations

import numba
import numpy as np

from ..shapes import FLOAT_DTYPES

__all__ = ["pool2d_output_shape", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
           "avg_pool2d_backward"]


# ------------------------------------------------------------------ shapes and checks
def pool2d_output_shape(shape, kernel_size: int, stride: int | None = None,
                        name: str = "pool2d") -> tuple[int, int, int, int]:
    """(N, C, OH, OW) for pooling an input of `shape` (N, C, H, W) with square
    kernel_size x kernel_size windows moved by `stride` (default kernel_size).

    ValueError naming the shape (and `name`, the caller) when the input is not 4-D, when
    kernel_size or stride is not a positive integer, or when the window is larger than
    the input."""
    shape = tuple(shape)
    stride = kernel_size if stride is None else stride
    if len(shape) != 4:
        raise ValueError(f"{name}: input {shape} must be 4-D (N, C, H, W)")
    for what, v in (("kernel_size", kernel_size), ("stride", stride)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: {what} must be a positive integer, got {v!r} (input {shape})")
    n, c, h, w = shape
    if kernel_size > h or kernel_size > w:
        raise ValueError(f"{name}: the {kernel_size}x{kernel_size} window is larger than the input "
                         f"{shape} (H={h}, W={w})")
    return n, c, (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1


def _input(x, kernel_size, stride, name):
    """x as a C-contiguous float array, the output shape, and the integer geometry."""
    x = np.asarray(x)
    shape = pool2d_output_shape(x.shape, kernel_size, stride, name)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: input {x.shape} has dtype {x.dtype}; pooling runs on float32 or float64")
    k = int(kernel_size)
    return np.ascontiguousarray(x), shape, k, k if stride is None else int(stride)


def _grad(grad_out, shape, dtype, name):
    g = np.asarray(grad_out)
    if g.shape != shape:
        raise ValueError(f"{name}: grad_out has shape {g.shape}, expected the output shape {shape}")
    return np.ascontiguousarray(g, dtype=dtype)


# ------------------------------------------------------------------------ max, kernels
# Each kernel is a loop body (`inline="always"`) called with the kernel size as an
# argument; the kernel proper calls it as `body(..., 2, ...)` when k == 2, `body(..., 3,
# ...)` when k == 3 and `body(..., k, ...)` otherwise. Inlined with a constant, the
# window loops have a known trip count and the compiler unrolls them (the chapter's
# 3x3-specialised convolution, without writing the unrolled code by hand): measured about
# 3x faster than the same loops with a run-time k, for 2x2 windows at the LeNet size.
@numba.njit(cache=True, inline="always")
def _window_max(plane, y0, x0, k):
    """(largest value, whether any value is NaN) of the k x k window at (y0, x0). The
    running max is a select, not a branch: random data would mispredict it."""
    best = plane[y0, x0]
    nan = False
    for r in range(k):
        for s in range(k):
            v = plane[y0 + r, x0 + s]
            nan |= v != v
            best = v if v > best else best
    return best, nan


@numba.njit(cache=True)
def _first_nan(plane, y0, x0, k):
    """Position row * W + col of the first NaN of the k x k window at (y0, x0)."""
    w_ = plane.shape[1]
    for r in range(k):
        for s in range(k):
            if plane[y0 + r, x0 + s] != plane[y0 + r, x0 + s]:
                return (y0 + r) * w_ + x0 + s
    return y0 * w_ + x0


@numba.njit(cache=True, inline="always")
def _window_winner(plane, y0, x0, k):
    """Position row * W + col in `plane` of the window's winner: its first largest element
    in row-major order, or its first NaN (as NumPy's argmax of the flattened window).
    The scan runs backwards keeping the last match, i.e. the first one, with selects only
    (no unpredictable branch: which element wins is random on real data). A window with
    a NaN is rare, so the branch to `_first_nan` is well predicted."""
    best, nan = _window_max(plane, y0, x0, k)
    w_ = plane.shape[1]
    p = y0 * w_ + x0
    for r in range(k - 1, -1, -1):
        for s in range(k - 1, -1, -1):
            p = (y0 + r) * w_ + x0 + s if plane[y0 + r, x0 + s] == best else p
    # (written as one conditional expression: an `if nan:` statement here measured 4x
    # slower, the compiler then kept the whole scan behind branches)
    return _first_nan(plane, y0, x0, k) if nan else p


@numba.njit(cache=True, inline="always")
def _max_forward_body(x, k, stride, out):
    n_, c_, oh_, ow_ = out.shape
    for n in range(n_):
        for c in range(c_):
            plane = x[n, c]
            for i in range(oh_):
                for j in range(ow_):
                    best, nan = _window_max(plane, i * stride, j * stride, k)
                    out[n, c, i, j] = np.nan if nan else best


@numba.njit(cache=True, inline="always")
def _max_forward_indices_body(x, k, stride, out, indices):
    n_, c_, oh_, ow_ = out.shape
    flat = x.reshape(n_, c_, -1)             # reshaped once: a reshape per plane costs more
    for n in range(n_):
        for c in range(c_):
            plane = x[n, c]
            for i in range(oh_):
                for j in range(ow_):
                    p = _window_winner(plane, i * stride, j * stride, k)
                    out[n, c, i, j] = flat[n, c, p]
                    indices[n, c, i, j] = p


@numba.njit(cache=True, inline="always")
def _max_backward_body(g, x, k, stride, grad):
    """grad (zeroed, x's shape) += g at each window's winner, found again from x."""
    n_, c_, oh_, ow_ = g.shape
    planes = grad.reshape(n_, c_, -1)      # reshaped once: a reshape per plane costs more
    for n in range(n_):
        for c in range(c_):
            plane, target = x[n, c], planes[n, c]
            for i in range(oh_):
                for j in range(ow_):
                    target[_window_winner(plane, i * stride, j * stride, k)] += g[n, c, i, j]


@numba.njit(cache=True)
def _max_forward_kernel(x, k, stride, out):
    if k == 2:
        _max_forward_body(x, 2, stride, out)
    elif k == 3:
        _max_forward_body(x, 3, stride, out)
    else:
        _max_forward_body(x, k, stride, out)


@numba.njit(cache=True)
def _max_forward_indices_kernel(x, k, stride, out, indices):
    if k == 2:
        _max_forward_indices_body(x, 2, stride, out, indices)
    elif k == 3:
        _max_forward_indices_body(x, 3, stride, out, indices)
    else:
        _max_forward_indices_body(x, k, stride, out, indices)


@numba.njit(cache=True)
def _max_backward_kernel(g, x, k, stride, grad):
    if k == 2:
        _max_backward_body(g, x, 2, stride, grad)
    elif k == 3:
        _max_backward_body(g, x, 3, stride, grad)
    else:
        _max_backward_body(g, x, k, stride, grad)


@numba.njit(cache=True)
def _max_backward_indices_kernel(g, indices, grad):
    """grad (zeroed, x's shape) += g at the recorded winners: a scatter, no search."""
    n_, c_, oh_, ow_ = g.shape
    target = grad.reshape(n_, c_, -1)
    for n in range(n_):
        for c in range(c_):
            for i in range(oh_):
                for j in range(ow_):
                    target[n, c, indices[n, c, i, j]] += g[n, c, i, j]


# ------------------------------------------------------------------------ max, API
def max_pool2d(x, kernel_size: int, stride: int | None = None, return_indices: bool = False):
    """Max over kernel_size x kernel_size windows of x (N, C, H, W), moved by `stride`
    (default kernel_size): (N, C, OH, OW). With `return_indices`, also the winners'
    positions row * W + col in their input planes (int64, the output's shape; the first
    largest element of a window wins, see the module docstring)."""
    x, shape, k, s = _input(x, kernel_size, stride, "max_pool2d")
    out = np.empty(shape, x.dtype)
    if not return_indices:
        _max_forward_kernel(x, k, s, out)
        return out
    indices = np.empty(shape, np.int64)
    _max_forward_indices_kernel(x, k, s, out, indices)
    return out, indices


def max_pool2d_backward(grad_out, x, kernel_size: int, stride: int | None = None, indices=None) -> np.ndarray:
    """The gradient of `max_pool2d` with respect to x, for the output gradient `grad_out`
    (N, C, OH, OW): each window's gradient goes to its winner (the first largest element),
    overlapping windows add, every other element (and a dropped border) gets 0.

    `indices` from `max_pool2d(..., return_indices=True)` makes it a pure scatter;
    without them the winners are found again from x (the same result)."""
    x, shape, k, s = _input(x, kernel_size, stride, "max_pool2d_backward")
    g = _grad(grad_out, shape, x.dtype, "max_pool2d_backward")
    grad = np.zeros_like(x)
    if indices is None:
        _max_backward_kernel(g, x, k, s, grad)
        return grad
    indices = np.asarray(indices)
    if indices.shape != shape or indices.dtype.kind not in "iu":
        raise ValueError(f"max_pool2d_backward: indices must be integers of the output shape {shape}, "
                         f"got {indices.dtype} {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= x.shape[2] * x.shape[3]):
        raise ValueError(f"max_pool2d_backward: indices must lie in [0, H*W = {x.shape[2] * x.shape[3]}) "
                         f"for input {x.shape}; got values from {indices.min()} to {indices.max()}")
    _max_backward_indices_kernel(g, np.ascontiguousarray(indices, dtype=np.int64), grad)
    return grad


# ------------------------------------------------------------------------ average
@numba.njit(cache=True, inline="always")
def _avg_forward_body(x, k, stride, out):
    n_, c_, oh_, ow_ = out.shape
    scale = out.dtype.type(1) / out.dtype.type(k * k)
    for n in range(n_):
        for c in range(c_):
            plane = x[n, c]
            for i in range(oh_):
                for j in range(ow_):
                    acc = out.dtype.type(0)
                    for r in range(k):
                        for s in range(k):
                            acc += plane[i * stride + r, j * stride + s]
                    out[n, c, i, j] = acc * scale


@numba.njit(cache=True, inline="always")
def _avg_backward_body(g, k, stride, grad):
    """grad (zeroed) += g / k^2 over every element of each window (a multiply by 1/k^2,
    as the forward: a division per window would cost more than the adds)."""
    n_, c_, oh_, ow_ = g.shape
    scale = grad.dtype.type(1) / grad.dtype.type(k * k)
    for n in range(n_):
        for c in range(c_):
            target = grad[n, c]
            for i in range(oh_):
                for j in range(ow_):
                    share = g[n, c, i, j] * scale
                    for r in range(k):
                        for s in range(k):
                            target[i * stride + r, j * stride + s] += share


@numba.njit(cache=True)
def _avg_forward_kernel(x, k, stride, out):
    if k == 2:
        _avg_forward_body(x, 2, stride, out)
    elif k == 3:
        _avg_forward_body(x, 3, stride, out)
    else:
        _avg_forward_body(x, k, stride, out)


@numba.njit(cache=True)
def _avg_backward_kernel(g, k, stride, grad):
    if k == 2:
        _avg_backward_body(g, 2, stride, grad)
    elif k == 3:
        _avg_backward_body(g, 3, stride, grad)
    else:
        _avg_backward_body(g, k, stride, grad)


def avg_pool2d(x, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Mean over kernel_size x kernel_size windows of x (N, C, H, W), moved by `stride`
    (default kernel_size): (N, C, OH, OW), summed in x's dtype and divided by k^2."""
    x, shape, k, s = _input(x, kernel_size, stride, "avg_pool2d")
    out = np.empty(shape, x.dtype)
    _avg_forward_kernel(x, k, s, out)
    return out


def avg_pool2d_backward(grad_out, x_shape, kernel_size: int, stride: int | None = None,
                        dtype=None) -> np.ndarray:
    """The gradient of `avg_pool2d` for an input of `x_shape`: every element of a window
    receives 1/k^2 of the window's gradient (overlapping windows add; a dropped border
    gets 0). The result has grad_out's dtype, or `dtype` when given."""
    g = np.asarray(grad_out)
    dtype = np.dtype(g.dtype if dtype is None else dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"avg_pool2d_backward: dtype {dtype}; pooling runs on float32 or float64")
    shape = pool2d_output_shape(x_shape, kernel_size, stride, "avg_pool2d_backward")
    g = _grad(g, shape, dtype, "avg_pool2d_backward")
    grad = np.zeros(tuple(x_shape), dtype)
    k = int(kernel_size)
    _avg_backward_kernel(g, k, k if stride is None else int(stride), grad)
    return grad
