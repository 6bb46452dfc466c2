"""The op table: every differentiable op defined once.

`OPS[name]` is an `Op` record with `forward`, `backward`, `shape` and `sample`
(see `fastgrad.ops._base.Op`). Eager autograd (`fastgrad.autograd.apply`), gradient
checking (`fastgrad.gradcheck.check_op`) and the lazy compiler read this one table,
so an op added here is differentiable, gradient-checked and fusable at once.

    >>> from fastgrad.ops import OPS
    >>> sorted(OPS)[:4]
    ['add', 'broadcast_to', 'concatenate', 'div']

Modules: `elementwise` (add ... gelu, where), `reduce` (sum, mean, max, softmax,
log_softmax), `movement` (reshape, permute, broadcast_to, getitem, concatenate),
`matmul`.
"""
from ._base import (OPS, Op, broadcast_shapes, normalize_axes, reduced_shape, register,
                    sum_to_shape)
from . import elementwise, reduce, movement, matmul  # noqa: F401  (each registers its ops)
from .movement import basic_index

__all__ = ["OPS", "Op", "register", "broadcast_shapes", "normalize_axes", "reduced_shape", "sum_to_shape",
           "basic_index"]
