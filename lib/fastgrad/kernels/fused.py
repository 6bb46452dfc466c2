"""Fused layer kernels (chapter 09): the passes around a Linear layer's matmul, and MSE.

    bias_relu_(y, b, relu)          y += b (per column), then max(y, 0): one pass, in place
    relu_backward_colsum(g, y, db)  gz = g where y > 0 else 0, and db = column sums of gz,
                                    in one pass (db may be None: no bias)
    relu_backward_channels(g, y)    the same for NCHW images: db = sums over (N, H, W)
    mse(p, t) / mse_backward(...)   mean((p - t)^2) and its gradient, one pass each

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

import numba
import numpy as np


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
