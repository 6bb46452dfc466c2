"""Matrix multiply, batched with broadcasting over leading dimensions.

For C = A @ B:  dA = dC @ B^T  and  dB = A^T @ dC  (transpose = swap the last two
axes). When a batch dimension was broadcast (one B shared by many A), its gradient
is summed back with `sum_to_shape`, exactly as for a broadcast add. Both backward
products run on chapter 03's matmul kernel, so backward costs about two forwards.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._base import Op, broadcast_shapes, pick, randn, register, sum_to_shape


def _matmul_shape(a_shape, b_shape):
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ValueError(f"matmul: both operands need at least 2 dimensions; got shapes {a_shape} "
                         f"and {b_shape} (reshape a vector to (1, n) or (n, 1))")
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"matmul: inner dimensions differ: {a_shape} @ {b_shape} "
                         f"({a_shape[-1]} != {b_shape[-2]})")
    try:
        batch = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a_shape} and {b_shape} cannot be "
                         "broadcast together") from None
    return batch + (a_shape[-2], b_shape[-1])


def _swap_last(x):
    """The transpose of every matrix in a batch: swap the last two axes (a view)."""
    return np.swapaxes(x, -1, -2)


def _matmul_forward(a, b):
    return K.matmul(a, b)


def _matmul_backward(g, inputs, out):
    a, b = inputs
    ga = K.matmul(g, _swap_last(b))          # (..., n, m) @ (..., m, k) -> (..., n, k)
    gb = K.matmul(_swap_last(a), g)          # (..., k, n) @ (..., n, m) -> (..., k, m)
    return sum_to_shape(ga, a.shape), sum_to_shape(gb, b.shape)


_MATMUL_SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((3, 4), (2, 4, 3)),
                  ((2, 1, 3, 4), (3, 4, 2)), ((1, 1), (1, 3))]


def _sample_matmul(rng, dtype, case=None):
    a_shape, b_shape = pick(rng, case, _MATMUL_SHAPES)
    return [randn(rng, a_shape, dtype), randn(rng, b_shape, dtype)], {}


register(Op("matmul", "matmul", _matmul_forward, _matmul_backward, _matmul_shape,
            _sample_matmul, len(_MATMUL_SHAPES),
            doc="a @ b over the last two axes, batch dimensions broadcast"))
