"""Fused layer kernels (chapter 09): the passes around a Linear layer's matmul, and MSE.

    bias_relu_(y, b, relu)          y += b (per column), then max(y, 0): one pass, in place
    relu_backward_colsum(g, y, db)  gz = g where y > 0 else 0, and db = column sums of gz,
                                    in one pass (db may be None: no bias)
    relu_backward_channels(g, y)    the same for NCHW images: db = sums over (N, H, W)
    mse(p, t) / mse_backward(...)   mean((p - t)^2) and its gradient, one pass each
    gelu(x) / gelu_backward(g, x)   GELU (tanh form) and its gradient, one pass each, as
                                    x * sigmoid(2u) with the vectorisable `fast_exp` (chapter 08)

Why fused. Unfused, a Linear + ReLU layer is five ops: a transpose, the matmul, a
broadcast bias add, the ReLU, and in backward the mask multiply and a bias-gradient
reduction, each a dispatch, an allocation and a pass over the (N, out) activations. Here
the matmul stays BLAS and everything else is one pass over the rows, written in place into
the matmul's result; the inner loop runs over a row (contiguous), so it vectorises.

Arrays are C-contiguous 2-D (N, out); the bias is 1-D (out,); float32 or float64, one
dtype. No fastmath: the column sums run in the array's dtype row after row (the same
order for every row count), the rest is elementwise.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .vexp import fast_exp


@numba.njit(cache=True)
def _bias_relu(y, b, has_bias, relu):
    n, m = y.shape
    zero = y.dtype.type(0)
    for i in range(n):
        row = y[i]
        if has_bias:
            for j in range(m):
                row[j] += b[j]
        if relu:
            for j in range(m):
                v = row[j]
                row[j] = zero if v < zero else v      # NaN < 0 is False: NaN stays NaN
    return y


def bias_relu_(y: np.ndarray, b: np.ndarray | None, relu: bool) -> np.ndarray:
    """In place: y += b (b of shape (y.shape[1],), broadcast over rows), then max(y, 0)
    when `relu` (NaN stays NaN, as in `np.maximum`). Returns y. One pass over y."""
    return _bias_relu(y, b if b is not None else np.empty(0, y.dtype), b is not None, relu)


@numba.njit(cache=True)
def _relu_backward_colsum(g, y, gz, db, has_bias):
    n, m = g.shape
    zero = g.dtype.type(0)
    if has_bias:
        for j in range(m):
            db[j] = zero
    for i in range(n):
        gi, yi, zi = g[i], y[i], gz[i]
        for j in range(m):
            zi[j] = gi[j] if yi[j] > zero else zero
        if has_bias:
            for j in range(m):
                db[j] += zi[j]


def relu_backward_colsum(g: np.ndarray, y: np.ndarray, want_db: bool):
    """(gz, db): gz = g where y > 0 else 0 (the ReLU's backward from its output: y > 0
    exactly where the input was > 0; 0 at the kink), db = gz summed over rows (or None when
    not `want_db`). g, y: (N, out). One pass; gz and db are new arrays."""
    gz = np.empty(g.shape, g.dtype)
    db = np.empty(g.shape[1] if want_db else 0, g.dtype)
    _relu_backward_colsum(g, y, gz, db, want_db)
    return gz, (db if want_db else None)


@numba.njit(cache=True)
def _relu_mask(g, y, gz):
    zero = g.dtype.type(0)
    for i in range(g.size):
        gz[i] = g[i] if y[i] > zero else zero


def relu_backward_channels(g: np.ndarray, y: np.ndarray, want_db: bool, relu: bool = True):
    """(gz, db) for NCHW arrays g, y (N, K, H, W): gz = g where y > 0 else 0 (g itself when
    not `relu`), db = gz summed over N, H and W (None when not `want_db`). The mask is one
    branch-free pass (it vectorises); the sum is NumPy's (pairwise, vectorised: a float32
    running sum in a loop would be scalar without fastmath)."""
    if relu:
        gz = np.empty(g.shape, g.dtype)
        _relu_mask(np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(y).reshape(-1), gz.reshape(-1))
    else:
        gz = g
    return gz, (gz.sum(axis=(0, 2, 3)) if want_db else None)


@numba.njit(cache=True)
def _mse(p, t):
    total = 0.0                                     # float64 accumulator for either dtype
    for i in range(p.size):
        d = np.float64(p[i]) - np.float64(t[i])
        total += d * d
    return total / max(p.size, 1)


def mse(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """mean((p - t)^2) as a 0-d array of p's dtype (summed in float64, one pass, no
    temporary). An empty input gives nan, as `np.mean` does."""
    if p.size == 0:
        return np.array(np.nan, dtype=p.dtype)
    return np.array(_mse(np.ascontiguousarray(p).ravel(), np.ascontiguousarray(t).ravel()), dtype=p.dtype)


@numba.njit(cache=True)
def _mse_backward(p, t, scale, gp):
    for i in range(p.size):
        gp[i] = scale * (p[i] - t[i])


def mse_backward(g: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d mean((p - t)^2) / dp times the incoming scalar gradient g: 2 g (p - t) / n, a new
    array of p's shape and dtype (one pass)."""
    gp = np.empty(p.shape, p.dtype)
    scale = p.dtype.type(2 * float(g) / max(p.size, 1))
    _mse_backward(np.ascontiguousarray(p).ravel(), np.ascontiguousarray(t).ravel(), scale, gp.reshape(-1))
    return gp


_GELU_C, _GELU_K = math.sqrt(2.0 / math.pi), 0.044715


def _c_order(a: np.ndarray) -> np.ndarray:
    """`a`, or a C-contiguous copy (np.ascontiguousarray would make a 0-d array 1-d)."""
    return a if a.flags.c_contiguous else np.array(a, order="C")


@numba.njit(cache=True, error_model="numpy")
def _gelu(x, out, c, k):
    one, two = x.dtype.type(1), x.dtype.type(2)
    for i in range(x.size):
        v = x[i]
        out[i] = v / (one + fast_exp(-two * (c * (v + k * v * v * v))))   # x * sigmoid(2u)


@numba.njit(cache=True, error_model="numpy")
def _gelu_backward(g, x, out, c, k):
    one, two, three = x.dtype.type(1), x.dtype.type(2), x.dtype.type(3)
    for i in range(x.size):
        v = x[i]
        s = one / (one + fast_exp(-two * (c * (v + k * v * v * v))))        # sigmoid(2u)
        du = c * (one + three * k * v * v)
        out[i] = g[i] * (s + two * v * s * (one - s) * du)


def gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), a new array of x's shape and dtype, in
    one pass. Written as x * sigmoid(2u) = x / (1 + exp(-2u)) (the same function: 0.5 (1 +
    tanh u) = sigmoid(2u)) with `fast_exp` (<= 1 ulp), so the loop vectorises and no
    1 + tanh cancels in the negative tail; exp overflowing to inf gives -0, NaN stays NaN."""
    x = _c_order(x)
    out = np.empty(x.shape, x.dtype)
    _gelu(x.reshape(-1), out.reshape(-1), x.dtype.type(_GELU_C), x.dtype.type(_GELU_K))
    return out


def gelu_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * d gelu(x) / dx = g (s + 2 x s (1 - s) du/dx), s = sigmoid(2u): a new array, one pass."""
    x = _c_order(x)
    g = _c_order(np.asarray(g, dtype=x.dtype))
    out = np.empty(x.shape, x.dtype)
    _gelu_backward(g.reshape(-1), x.reshape(-1), out.reshape(-1), x.dtype.type(_GELU_C), x.dtype.type(_GELU_K))
    return out
