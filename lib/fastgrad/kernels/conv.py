"""2-D convolution (chapter 06): the forward three ways, the backward, and the production `conv2d`.

Layout NCHW, as PyTorch: input x (N, C, H, W), weight w (K, C, R, S), output
(N, K, OH, OW) with OH = (H + 2 padding - R) // stride + 1 (OW likewise). Like PyTorch's
conv2d this is a cross-correlation (the kernel is not flipped) and has no bias (add it
afterwards). float32 and float64; x and w share the dtype.

    conv2d_direct(x, w, stride, padding)    seven nested loops, any kernel size
    conv2d_im2col(x, w, stride, padding)    im2col, then one matmul (chapter 03's `matmul`)
    conv2d_3x3(x, w, stride, padding)       3x3 only: the kernel size is a constant, the
                                            nine multiply-adds are written out (unrolled)
    conv2d(x, w, stride=1, padding=0)       the production forward (im2col + matmul, see below)
    conv2d_backward(g, x, w, stride, padding) -> (grad_x, grad_w), through im2col/col2im

    im2col(x, R, S, stride, padding)        (N*OH*OW, C*R*S) patches, one row per output pixel
    col2im(cols, x_shape, R, S, stride, padding)  the adjoint: scatter-add patches back

Padding is applied with zeros before the loops, so the kernels never test bounds: once
for the batch with `np.pad` in the direct and 3x3 loops, one (image, channel) plane at a
time in im2col and col2im. Every path is checked against a NumPy reference (and torch
when installed) in tests/test_conv.py.
"""
from __future__ import annotations

import threading

import numba
import numpy as np

from ..shapes import FLOAT_DTYPES
from .fused import bias_relu_
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


# ------------------------------------------------------------------------ workspace
# The production forward and the backward need patch matrices of N*OH*OW x C*R*S values
# (2.4 MB for LeNet's second layer at batch 32) only while they run. A fresh array of that
# size each call came back as fresh pages from the operating system (the allocator returns
# freed blocks at the top of its heap), and touching them cost more than filling them:
# measured on that layer (float32, one thread, load average ~1.5, medians of 200 backward
# calls, two runs): im2col 0.99-1.14 ms into a fresh array, 0.20-0.25 ms into a reused
# one; the G W product 1.8-2.0 ms vs 0.70 ms.
# So these temporaries live in per-thread buffers, reused across calls; a buffer grows to
# the largest size asked for, up to _WORKSPACE_MAX_BYTES (larger requests get a fresh
# array and are not kept). Nothing returned to a caller is ever a workspace view.
_WORKSPACE_MAX_BYTES = 16 * 2**20
_workspaces = threading.local()


def _workspace(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array of `shape` and `dtype` in this thread's buffer `name`
    (overwritten by the next call asking for the same name)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes > _WORKSPACE_MAX_BYTES:
        return np.empty(shape, dtype)
    store = _workspaces.__dict__
    buf = store.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = store[name] = np.empty(max(nbytes, 1), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _patches(x, r, s, stride, padding, oh, ow, name="cols"):
    """im2col of a checked x into the workspace `name`."""
    n, c = x.shape[:2]
    cols = _workspace(name, (n * oh * ow, c * r * s), x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), int(r), int(s), int(stride), int(padding), oh, ow, cols)
    return cols


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
# Both walk one (image, channel) plane at a time through a small zero-bordered scratch
# plane (H + 2 padding, W + 2 padding): no padded copy of the whole batch (np.pad and
# cropping cost more than the loops at the LeNet sizes). Each kernel is a loop body
# (`inline="always"`) called with constant arguments for the common 3x3, stride 1 case, so
# the compiler unrolls its 9 window positions; other sizes run the same body with run-time
# sizes. Measured on the 2-core AVX-512 machine (load average ~2, float32, one thread,
# 150 interleaved calls, min / median) at LeNet's second layer, x (32, 32, 8, 8), 3x3,
# padding 1: im2col 739 / 869 us with np.pad and loops over run-time sizes, 159 / 170 us
# this way; col2im 604 / 654 us before, 250 / 279 us now.
@numba.njit(cache=True, inline="always")
def _im2col_body(x, r_, s_, stride, padding, oh_, ow_, cols, plane):
    n_, c_, h_, w_ = x.shape
    rs = r_ * s_
    for n in range(n_):
        for c in range(c_):
            for y in range(h_):               # the plane's interior; its border stays 0
                for xx in range(w_):
                    plane[padding + y, padding + xx] = x[n, c, y, xx]
            for i in range(oh_):
                for j in range(ow_):
                    row = cols[(n * oh_ + i) * ow_ + j]
                    for r in range(r_):
                        for s in range(s_):
                            row[c * rs + r * s_ + s] = plane[i * stride + r, j * stride + s]


@numba.njit(cache=True)
def _im2col_kernel(x, r_, s_, stride, padding, oh_, ow_, cols):
    plane = np.zeros((x.shape[2] + 2 * padding, x.shape[3] + 2 * padding), x.dtype)
    if r_ == 3 and s_ == 3 and stride == 1:
        _im2col_body(x, 3, 3, 1, padding, oh_, ow_, cols, plane)
    else:
        _im2col_body(x, r_, s_, stride, padding, oh_, ow_, cols, plane)


@numba.njit(cache=True, inline="always")
def _col2im_body(cols, r_, s_, stride, padding, oh_, ow_, out, plane):
    n_, c_, h_, w_ = out.shape
    rs = r_ * s_
    for n in range(n_):
        for c in range(c_):
            for y in range(plane.shape[0]):
                for xx in range(plane.shape[1]):
                    plane[y, xx] = 0
            for i in range(oh_):
                for j in range(ow_):
                    row = cols[(n * oh_ + i) * ow_ + j]
                    for r in range(r_):
                        for s in range(s_):
                            plane[i * stride + r, j * stride + s] += row[c * rs + r * s_ + s]
            for y in range(h_):               # drop the padding border
                for xx in range(w_):
                    out[n, c, y, xx] = plane[padding + y, padding + xx]


@numba.njit(cache=True)
def _col2im_kernel(cols, r_, s_, stride, padding, oh_, ow_, out):
    plane = np.empty((out.shape[2] + 2 * padding, out.shape[3] + 2 * padding), out.dtype)
    if r_ == 3 and s_ == 3 and stride == 1:
        _col2im_body(cols, 3, 3, 1, padding, oh_, ow_, out, plane)
    else:
        _col2im_body(cols, r_, s_, stride, padding, oh_, ow_, out, plane)


def im2col(x, r: int, s: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The patches of `x` (N, C, H, W) under an r x s kernel: shape (N*OH*OW, C*r*s).

    Row (n*OH + i)*OW + j holds the input values that output pixel (i, j) of image n sees,
    in the weight's (c, r, s) order, so `im2col(x) @ w.reshape(K, -1).T` is the convolution."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col: input {x.shape} must be 4-D (N, C, H, W)")
    n, _, oh, ow = conv2d_output_shape(x.shape, (1, x.shape[1], r, s), stride, padding)
    cols = np.empty((n * oh * ow, x.shape[1] * r * s), x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), int(r), int(s), int(stride), int(padding), oh, ow, cols)
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
    out = np.empty((n, c, h, w), cols.dtype)
    _col2im_kernel(cols, int(r), int(s), int(stride), int(padding), oh, ow, out)
    return out


def conv2d_im2col(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """im2col, then one (N*OH*OW, C*R*S) @ (C*R*S, K) product through chapter 03's `matmul`."""
    x, w, (n, k, oh, ow) = _check(x, w, stride, padding)
    cols = im2col(x, w.shape[2], w.shape[3], stride, padding)
    out = matmul(cols, np.ascontiguousarray(w.reshape(k, -1).T))      # (N*OH*OW, K)
    return np.ascontiguousarray(out.reshape(n, oh, ow, k).transpose(0, 3, 1, 2))


def conv2d_backward(grad_out, x, w, stride: int = 1, padding: int = 0,
                    needs: tuple[bool, bool] = (True, True)) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(grad_x, grad_w) of conv2d for the output gradient `grad_out` (N, K, OH, OW).
    `needs` skips either: grad_x of a first layer (its input is the data) is None, and its
    product and col2im are not computed (chapter 09).

    With X = im2col(x) and G = grad_out as (N*OH*OW, K):  out = X W^T, so
    grad_w = G^T X (reshaped to (K, C, R, S)) and grad_X = G W, which col2im folds back
    into grad_x (overlapping patches add).

    G is the one copy made (NCHW to rows of K); G^T and W enter the products as views,
    which BLAS reads transposed without a copy; X and grad_X live in reused workspace
    buffers (see "workspace" above). The op table keeps nothing from the forward but its
    output, so X is built again here: im2col is a small part of the time next to the two
    products."""
    x, w, shape = _check(x, w, stride, padding)
    grad_out = np.asarray(grad_out, dtype=x.dtype)
    if grad_out.shape != shape:
        raise ValueError(f"conv2d_backward: grad_out has shape {grad_out.shape}, expected {shape} "
                         f"for input {x.shape} and weight {w.shape}")
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    _, _, oh, ow = shape
    g = np.ascontiguousarray(grad_out.transpose(0, 2, 3, 1)).reshape(-1, k)   # (N*OH*OW, K)
    cols = _patches(x, r, s, stride, padding, oh, ow)
    grad_w = matmul(g.T, cols).reshape(w.shape) if needs[1] else None
    if not needs[0]:
        return None, grad_w
    grad_cols = matmul(g, w.reshape(k, -1), out=_workspace("grad_cols", cols.shape, x.dtype))
    grad_x = np.empty(x.shape, x.dtype)
    _col2im_kernel(grad_cols, int(r), int(s), int(stride), int(padding), oh, ow, grad_x)
    return grad_x, grad_w


# --------------------------------------------------------------------- production
# Measured on the 2-core AVX-512 machine this was written on, under load (load average ~1.9:
# other jobs sharing both cores), float32, stride 1, padding 1, 3x3 kernels, 15 interleaved
# calls each, min / median:
#   N=64, C=16, K=32, 8x8:    direct 17.0 / 34.5 ms, 3x3-unrolled 6.4 / 10.8 ms, im2col+matmul 1.3 / 7.9 ms
#   N=1, C=64, K=64, 32x32:   direct 29.9 / 33.4 ms, 3x3-unrolled 10.5 / 11.2 ms, im2col+matmul 1.1 / 7.3 ms
# (torch 2.13, one thread: 0.23 ms and 0.43 ms.) im2col + matmul (BLAS) wins at both sizes,
# by min and by median (its median suffers most from the load: BLAS threads wait for cores),
# so `conv2d` always uses it; the loops stay as the teaching ladder and as references.
def conv2d(x, w, stride: int = 1, padding: int = 0, bias=None, relu: bool = False) -> np.ndarray:
    """The production conv2d forward: (N, C, H, W) * (K, C, R, S) -> (N, K, OH, OW), by
    im2col + matmul (the fastest path measured, see the comment above): `conv2d_im2col`
    with its patch matrix and product in reused workspace buffers.

    `bias` (K,) and `relu` (chapter 09's fused layer): added and applied in one pass over the
    product's rows (N*OH*OW, K), in the workspace, before the one copy to NCHW."""
    x, w, (n, k, oh, ow) = _check(x, w, stride, padding)
    cols = _patches(x, w.shape[2], w.shape[3], stride, padding, oh, ow)
    out = matmul(cols, w.reshape(k, -1).T, out=_workspace("conv_out", (n * oh * ow, k), x.dtype))
    if bias is not None or relu:
        bias_relu_(out, bias, relu)
    # .copy(), not ascontiguousarray: with K = 1 or a 1x1 output the transpose is already
    # contiguous and ascontiguousarray would hand out the workspace itself
    return out.reshape(n, oh, ow, k).transpose(0, 3, 1, 2).copy()
