"""The op table: every differentiable op defined once.

`OPS[name]` is an `Op` record with `forward`, `backward`, `shape`, `sample`,
`reference` and `method` (see `fastgrad.ops._base.Op`). What reads this one table
today: eager autograd (`fastgrad.autograd.apply`, and the `Tensor` methods it
generates from `method`), gradient checking (`fastgrad.gradcheck.check_op`, which
`check_all_ops` runs on every op) and the tests (each forward against its NumPy
`reference`; generic wrong backwards that every op's samples must expose). So an op
added here with one `register(Op(...))` is reachable from `Tensor`, differentiable and
gradient-checked at once. The lazy compiler of chapter 08 (`fastgrad.lazy`) reads the
same records: shape rules when a node is built, scalar forms to fuse elementwise ops, the
eager forward for everything it does not fuse.

    >>> from fastgrad.ops import OPS
    >>> sorted(OPS)[:4]
    ['add', 'avg_pool2d', 'broadcast_to', 'concatenate']

Modules: `elementwise` (add ... gelu, where), `reduce` (sum, mean, max, softmax,
log_softmax), `movement` (reshape, permute, broadcast_to, getitem, concatenate),
`matmul`, `nn` (conv2d, max_pool2d, avg_pool2d, cross_entropy, embedding, layer_norm),
`attention` (rms_norm, rope, causal_softmax), `fused` (linear, mse_loss: chapter 09).
`methods`: the operators and methods `Tensor` and `LazyTensor` share (`OpMethods`), and
`add_table_methods`, which generates one per op of the table.
Shape rules shared with the rest of the library live in `fastgrad.shapes`.
"""
from ._base import OPS, Op, reduced_shape, register, sum_to_shape
from . import elementwise, reduce, movement, matmul, nn  # noqa: F401  (each registers its ops)
from . import attention  # noqa: F401  (rms_norm, rope, causal_softmax: chapter 07)
from . import fused  # noqa: F401  (linear, mse_loss: chapter 09)
from .movement import basic_index

__all__ = ["OPS", "Op", "register", "reduced_shape", "sum_to_shape", "basic_index"]
