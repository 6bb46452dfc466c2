"""2-D convolution (chapter 06): the forward three ways, the backward, and the production `conv2d`.

Layout NCHW, as PyTorch: input x (N, C, H, W), weight w (K, C, R, S), output
(N, K, OH, OW) with OH = (H + 2 padding - R) // stride + 1 (OW likewise). Like PyTorch's
conv2d this is a cross-correlation (the kernel is not flipped) and has no bias (add it
afterwards). float32 and float64; x and w share the dtype.

    conv2d_direct(x, w, stride, padding)    seven nested loops, any kernel size
    conv2d_im2col(x, w, stride, padding)    im2col, then one matmul (chapter 03's `matmul`)
    conv2d_3x3(x, w, stride, padding)       3x3 only: the kernel size is a constant, the
                                            nine multiply-adds are written out (unrolled)
    conv2d(x, w, stride=1, padding=0)       the production forward (im2col; see below)
    conv2d_backward(g, x, w, stride, padding) -> (grad_x, grad_w), through im2col/col2im

    im2col(x, R, S, stride, padding)        (N*OH*OW, C*R*S) patches, one row per output pixel
    col2im(cols, x_shape, R, S, stride, padding)  the adjoint: scatter-add patches back

Padding is applied once with `np.pad` (zeros) before the loops, so the kernels never test
bounds. Every path is checked against a NumPy reference (and torch when installed) in
tests/test_conv.py.
"""
from __future__ import annotations

import numba
import numpy as np

from ..shapes import FLOAT_DTYPES
from .matmul import matmul

__all__ = ["conv2d", "conv2d_direct", "conv2d_im2col", "conv2d_3x3", "conv2d_backward",
           "conv2d_output_shape", "im2col", "col2im"]


# ------------------------------------------------------------------ shapes and checks
def conv2d_output_shape(x_shape, w_shape, stride: int = 1, padding: int = 0) -> tuple[int, int, int, int]:
    """(N, K, OH, OW) for input `x_shape` (N, C, H, W) and weight `w_shape` (K, C, R, S).

    ValueError naming both shapes when they do not fit (channel mismatch, wrong number of
    dimensions, a kernel larger than the padded input, stride < 1 or padding < 0)."""
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    where = f"conv2d: input {x_shape}, weight {w_shape}"
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{where}: input must be (N, C, H, W) and weight (K, C, R, S), 4-D each")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"{where}: stride must be a positive integer, got {stride!r}")
    if int(padding) != padding or padding < 0:
        raise ValueError(f"{where}: padding must be a non-negative integer, got {padding!r}")
    n, c, h, wd = x_shape
    k, c2, r, s = w_shape
    if c != c2:
        raise ValueError(f"{where}: the input has {c} channels but the weight expects {c2} "
                         "(dimension 1 of both must match)")
    hp, wp = h + 2 * padding, wd + 2 * padding
    if r > hp or s > wp:
        raise ValueError(f"{where}: the {r}x{s} kernel is larger than the padded input {hp}x{wp}")
    return n, k, (hp - r) // stride + 1, (wp - s) // stride + 1


def _check(x, w, stride, padding):
    x, w = np.asarray(x), np.asarray(w)
    shape = conv2d_output_shape(x.shape, w.shape, stride, padding)
    if x.dtype != w.dtype or x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"conv2d: input {x.dtype} {x.shape} and weight {w.dtype} {w.shape} must share "
                        "one float dtype (float32 or float64)")
    return x, w, shape


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    if padding == 0:
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


# ---------------------------------------------------------------------- direct loops
@numba.njit(cache=True)
def _direct_kernel(xp, w, stride, out):
    n_, c_, _, _ = xp.shape
    k_, _, r_, s_ = w.shape
    _, _, oh_, ow_ = out.shape
    for n in range(n_):
        for k in range(k_):
            for i in range(oh_):
                for j in range(ow_):
                    acc = out.dtype.type(0)
                    for c in range(c_):
                        for r in range(r_):
                            for s in range(s_):
                                acc += xp[n, c, i * stride + r, j * stride + s] * w[k, c, r, s]
                    out[n, k, i, j] = acc


def conv2d_direct(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The textbook convolution: one output pixel at a time, any kernel size."""
    x, w, shape = _check(x, w, stride, padding)
    out = np.empty(shape, x.dtype)
    _direct_kernel(_pad(x, padding), np.ascontiguousarray(w), int(stride), out)
    return out


# -------------------------------------------------------------- 3x3, unrolled
@numba.njit(cache=True)
def _3x3_kernel(xp, w, stride, out):
    n_, c_, _, _ = xp.shape
    k_ = w.shape[0]
    _, _, oh_, ow_ = out.shape
    for n in range(n_):
        for k in range(k_):
            for i in range(oh_):
                y = i * stride
                for j in range(ow_):
                    x0 = j * stride
                    acc = out.dtype.type(0)
                    for c in range(c_):        # the kernel loops are gone: 9 terms written out
                        a0 = xp[n, c, y]
                        a1 = xp[n, c, y + 1]
                        a2 = xp[n, c, y + 2]
                        f = w[k, c]
                        acc += (a0[x0] * f[0, 0] + a0[x0 + 1] * f[0, 1] + a0[x0 + 2] * f[0, 2]
                                + a1[x0] * f[1, 0] + a1[x0 + 1] * f[1, 1] + a1[x0 + 2] * f[1, 2]
                                + a2[x0] * f[2, 0] + a2[x0 + 1] * f[2, 1] + a2[x0 + 2] * f[2, 2])
                    out[n, k, i, j] = acc


def conv2d_3x3(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The direct convolution specialised for a 3x3 kernel (ValueError for any other size)."""
    x, w, shape = _check(x, w, stride, padding)
    if w.shape[2:] != (3, 3):
        raise ValueError(f"conv2d_3x3: the weight {w.shape} is not a 3x3 kernel; use conv2d_direct "
                         "or conv2d")
    out = np.empty(shape, x.dtype)
    _3x3_kernel(_pad(x, padding), np.ascontiguousarray(w), int(stride), out)
    return out


# ------------------------------------------------------------------ im2col, col2im
@numba.njit(cache=True)
def _im2col_kernel(xp, r_, s_, stride, oh_, ow_, cols):
    n_, c_, _, _ = xp.shape
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                row = (n * oh_ + i) * ow_ + j
                col = 0
                for c in range(c_):
                    for r in range(r_):
                        for s in range(s_):
                            cols[row, col] = xp[n, c, i * stride + r, j * stride + s]
                            col += 1


@numba.njit(cache=True)
def _col2im_kernel(cols, r_, s_, stride, oh_, ow_, xp):
    n_, c_, _, _ = xp.shape
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                row = (n * oh_ + i) * ow_ + j
                col = 0
                for c in range(c_):
                    for r in range(r_):
                        for s in range(s_):
                            xp[n, c, i * stride + r, j * stride + s] += cols[row, col]
                            col += 1


def im2col(x, r: int, s: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The patches of `x` (N, C, H, W) under an r x s kernel: shape (N*OH*OW, C*r*s).

    Row (n*OH + i)*OW + j holds the input values that output pixel (i, j) of image n sees,
    in the weight's (c, r, s) order, so `im2col(x) @ w.reshape(K, -1).T` is the convolution."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col: input {x.shape} must be 4-D (N, C, H, W)")
    n, _, oh, ow = conv2d_output_shape(x.shape, (1, x.shape[1], r, s), stride, padding)
    cols = np.empty((n * oh * ow, x.shape[1] * r * s), x.dtype)
    _im2col_kernel(_pad(x, padding), r, s, int(stride), oh, ow, cols)
    return cols


def col2im(cols, x_shape, r: int, s: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of `im2col`: every patch value is added back where it came from (pixels
    shared by overlapping patches receive the sum); the padding border is dropped."""
    cols = np.ascontiguousarray(cols)
    if len(x_shape) != 4:
        raise ValueError(f"col2im: x_shape {tuple(x_shape)} must be 4-D (N, C, H, W)")
    n, c, h, w = x_shape
    _, _, oh, ow = conv2d_output_shape(x_shape, (1, c, r, s), stride, padding)
    if cols.shape != (n * oh * ow, c * r * s):
        raise ValueError(f"col2im: cols has shape {cols.shape}, expected {(n * oh * ow, c * r * s)} "
                         f"for input {tuple(x_shape)} and a {r}x{s} kernel")
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), cols.dtype)
    _col2im_kernel(cols, r, s, int(stride), oh, ow, xp)
    return xp[:, :, padding:padding + h, padding:padding + w].copy() if padding else xp


def conv2d_im2col(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """im2col, then one (N*OH*OW, C*R*S) @ (C*R*S, K) product through chapter 03's `matmul`."""
    x, w, (n, k, oh, ow) = _check(x, w, stride, padding)
    cols = im2col(x, w.shape[2], w.shape[3], stride, padding)
    out = matmul(cols, np.ascontiguousarray(w.reshape(k, -1).T))      # (N*OH*OW, K)
    return np.ascontiguousarray(out.reshape(n, oh, ow, k).transpose(0, 3, 1, 2))


def conv2d_backward(grad_out, x, w, stride: int = 1, padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(grad_x, grad_w) of conv2d for the output gradient `grad_out` (N, K, OH, OW).

    With X = im2col(x) and G = grad_out as (N*OH*OW, K):  out = X W^T, so
    grad_w = G^T X (reshaped to (K, C, R, S)) and grad_X = G W, which col2im folds back
    into grad_x (overlapping patches add)."""
    x, w, shape = _check(x, w, stride, padding)
    grad_out = np.asarray(grad_out, dtype=x.dtype)
    if grad_out.shape != shape:
        raise ValueError(f"conv2d_backward: grad_out has shape {grad_out.shape}, expected {shape} "
                         f"for input {x.shape} and weight {w.shape}")
    k, _, r, s = w.shape
    g = np.ascontiguousarray(grad_out.transpose(0, 2, 3, 1).reshape(-1, k))   # (N*OH*OW, K)
    cols = im2col(x, r, s, stride, padding)
    grad_w = matmul(np.ascontiguousarray(g.T), cols).reshape(w.shape)
    grad_cols = matmul(g, np.ascontiguousarray(w.reshape(k, -1)))
    return col2im(grad_cols, x.shape, r, s, stride, padding), grad_w


# --------------------------------------------------------------------- production
# Measured on the 2-core AVX-512 machine this was written on, under load (load average ~1.9:
# other jobs sharing both cores), float32, stride 1, padding 1, 3x3 kernels, 15 interleaved
# calls each, min / median:
#   N=64, C=16, K=32, 8x8:    direct 17.0 / 34.5 ms, 3x3-unrolled 6.4 / 10.8 ms, im2col+matmul 1.3 / 7.9 ms
#   N=1, C=64, K=64, 32x32:   direct 29.9 / 33.4 ms, 3x3-unrolled 10.5 / 11.2 ms, im2col+matmul 1.1 / 7.3 ms
# (torch 2.13, one thread: 0.23 ms and 0.43 ms.) im2col + matmul (BLAS) wins at both sizes,
# by min and by median (its median suffers most from the load: BLAS threads wait for cores),
# so `conv2d` always uses it; the loops stay as the teaching ladder and as references.
def conv2d(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The production conv2d forward: (N, C, H, W) * (K, C, R, S) -> (N, K, OH, OW), by
    im2col + matmul (the fastest path measured, see the comment above)."""
    return conv2d_im2col(x, w, stride, padding)
