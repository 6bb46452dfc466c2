"""Matrix multiply, batched with broadcasting over leading dimensions, 1-D operands
as in NumPy and PyTorch.

For C = A @ B:  dA = dC @ B^T  and  dB = A^T @ dC  (transpose = swap the last two
axes). When a batch dimension was broadcast (one B shared by many A), its gradient
is summed back with `sum_to_shape`, exactly as for a broadcast add. Both backward
products run on chapter 03's matmul kernel, so backward costs about two forwards.

A 1-D operand is a vector: `a` of shape (k,) acts as the matrix (1, k), `b` of shape
(k,) as (k, 1), and the added axis is dropped from the result, so vector @ matrix is
a vector and vector @ vector a 0-d scalar (`fastgrad.shapes.matmul_shape`). The
backward promotes the same way: it views the vectors and the incoming gradient as
matrices, applies the two formulas above and reshapes each gradient back.
"""
from __future__ import annotations

import numpy as np

from .. import buffers
from ..shapes import matmul_shape
from ..switches import SWITCHES
from . import _kernels as K
from ._base import Op, pick, randn, register, sum_to_shape


def _matmul_shape(a_shape, b_shape):
    return matmul_shape(a_shape, b_shape, name="matmul")


def _swap_last(x):
    """The transpose of every matrix in a batch: swap the last two axes (a view)."""
    return np.swapaxes(x, -1, -2)


def _as_matrices(a, b):
    """Vectors promoted to matrices: a (k,) -> (1, k), b (k,) -> (k, 1) (views)."""
    return (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b by chapter 03's matmul, or, when the switch `buffer_pool` is on inside
    `buffers.pool_step()`, by BLAS into a buffer of that pool (chapter 09)."""
    pool = buffers.ACTIVE
    if pool is None or not SWITCHES.buffer_pool:
        return K.matmul(a, b)
    return np.matmul(a, b, out=pool.get(matmul_shape(a.shape, b.shape), a.dtype))


def _matmul_forward(a, b):
    return product(a, b)


def _matmul_backward(g, inputs, out, needs=(True, True)):
    """Both products, or only the needed one (`needs`: chapter 09; a first layer's data
    gradient is a whole matmul nobody uses)."""
    a, b = inputs
    a2, b2 = _as_matrices(a, b)
    g2 = g.reshape(matmul_shape(a2.shape, b2.shape))   # put a vector's dropped axis back
    ga = gb = None
    if needs[0]:
        ga = product(g2, _swap_last(b2))    # (..., n, m) @ (..., m, k) -> (..., n, k)
        ga = sum_to_shape(ga, a2.shape).reshape(a.shape)
    if needs[1]:
        gb = product(_swap_last(a2), g2)    # (..., k, n) @ (..., n, m) -> (..., k, m)
        gb = sum_to_shape(gb, b2.shape).reshape(b.shape)
    return ga, gb


_MATMUL_SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((3, 4), (2, 4, 3)),
                  ((2, 1, 3, 4), (3, 4, 2)), ((1, 1), (1, 3)),
                  ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)),          # vector @ matrix, matrix @ vector,
                  ((2, 3, 4), (4,)), ((4,), (2, 4, 3))]                  # dot, and vectors with batches


def _sample_matmul(rng, dtype, case=None):
    a_shape, b_shape = pick(rng, case, _MATMUL_SHAPES)
    return [randn(rng, a_shape, dtype), randn(rng, b_shape, dtype)], {}


register(Op("matmul", "matmul", _matmul_forward, _matmul_backward, _matmul_shape,
            _sample_matmul, len(_MATMUL_SHAPES),
            doc="a @ b over the last two axes, batch dimensions broadcast, 1-D operands as vectors",
            reference=np.matmul, method="__matmul__", partial_backward=True, fresh_grads=True))
