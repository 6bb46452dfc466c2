"""The `Op` record and the registry `OPS`, plus the shape helpers every op shares.

An op is *data*: a name, a forward function on NumPy arrays, a backward rule, a
shape rule, a sampler of good gradient-checking inputs, a NumPy reference forward
and the name under which `Tensor` code reaches it. Nothing here knows about
`Tensor`. What reads the records today: eager autograd (`fastgrad.autograd`: `apply`
and the generated `Tensor` methods), gradient checking (`fastgrad.gradcheck`) and the
tests (`tests/test_ops.py` compares every forward with its `reference`) and the lazy
compiler of chapter 08 (`fastgrad.lazy`: shape rules at build time, `scalar` forms in
generated kernels, the eager forward for what it does not fuse).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..shapes import Shape
from . import _kernels as K


@dataclass(frozen=True)
class Op:
    """One differentiable operation, defined once.

    name      key in `OPS`, e.g. "add".
    kind      "elementwise", "reduce", "movement", "matmul" or "composite". Tests use it
              (elementwise ops take any broadcast-compatible shapes); the lazy compiler
              uses it to decide which ops to fuse.
    forward   forward(*arrays, **attrs) -> array. Arrays share one float dtype, and
              the result has that dtype. Runs the library's kernels.
    backward  backward(grad_out, inputs, output, **attrs) -> tuple with one gradient
              per input (same shape as that input), or None for an input that has no
              gradient (the boolean condition of `where`). `output` is the saved forward
              result: exp, tanh, sigmoid and softmax reuse it instead of recomputing.
    shape     shape(*shapes, **attrs) -> output shape; raises ValueError/IndexError
              with both shapes in the message when the inputs do not fit together.
    sample    sample(rng, dtype, case=None) -> (inputs, attrs): inputs suited to gradient
              checking (away from kinks, positive for log, non-zero for div, distinct
              for max). `case` in range(cases) picks a configuration (broadcasting, axes,
              keepdims ...); None picks one at random. The attrs are listed in the order
              the op's Tensor method takes them positionally.
    cases     how many configurations `sample` knows.
    reference reference(*arrays, **attrs) -> array: the same result written as the plain
              NumPy formula, independent of fastgrad's kernels (`np.add`, `np.exp`, the
              textbook softmax ...). The tests call it on float64 copies of the inputs and
              compare forward against it for every op, case and dtype; an op registered
              without one fails those tests.
    method    how code using Tensors reaches the op (a test checks it for every op):
              - a Tensor method or operator, e.g. "exp", "sum", "__add__", "__getitem__",
                called as `x.method(*other_inputs, *attr_values)` (attrs positionally,
                in the sampler's order: `x.sum(axis, keepdims)`, `x ** exponent`);
              - or a function of `fastgrad.autograd`, e.g. "where", "concatenate",
                called as `fn(*inputs, **attrs)`.
              When neither exists, `fastgrad.autograd` generates the Tensor method
              `x.method(*other_inputs, **attrs)` from this record, so an op without
              attrs (sqrt, abs, sin ...) needs nothing beyond its `register(Op(...))`.
              Write a method by hand for operators and for attrs taken positionally.
    scalar    scalar(operands, lit, **attrs) -> str: the op on single elements, as a Python
              expression over the operand names (strings), e.g. "(a + b)". The lazy
              compiler (`fastgrad.lazy`) writes it into the loop of a fused kernel;
              `lit(value)` spells a constant in the kernel's dtype ("np.float32(0.5)"), so
              a float64 literal never promotes a float32 kernel; `fast_exp` is the vectorisable
              exp of `fastgrad.kernels.vexp` (NumPy's `np.exp` in a loop is a scalar call).
              None: not fusable.
    nondiff   positions of inputs that never get a gradient (e.g. (0,) for where).
    partial_backward  True when `backward` also accepts `needs=` (one bool per input) and
              returns None for each input whose gradient is not needed, skipping its work
              (matmul's data gradient of a first layer: chapter 09). Autograd passes it
              only when some input does not require grad; the tests check, for every such
              op, that each needed gradient equals the full rule's.
    fresh_grads  True when every gradient `backward` returns is a new array, shared with
              nothing (not the incoming gradient, not a view, not another input's
              gradient): autograd may then keep it as a leaf's `.grad` without a copy and
              add later gradients into it in place (the tests check it for every such op).
    doc       one line for tables and the generated method's docstring.
    """

    name: str
    kind: str
    forward: Callable[..., np.ndarray]
    backward: Callable[..., tuple]
    shape: Callable[..., Shape]
    sample: Callable[[np.random.Generator, Any], tuple[list, dict]]
    cases: int = 1
    nondiff: tuple[int, ...] = ()
    doc: str = ""
    reference: Callable[..., np.ndarray] | None = None
    method: str | None = None
    scalar: Callable[..., str] | None = None
    partial_backward: bool = False
    fresh_grads: bool = False

    def __repr__(self) -> str:
        return f"Op({self.name!r}, kind={self.kind!r})"


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add `op` to the table `OPS`; a name can be registered only once."""
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    return op


# ---------------------------------------------------------------- shape helpers
# (broadcasting, reduction axes, permutations and matmul shapes: `fastgrad.shapes`)
def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    """Shape after reducing `axes`: those dimensions become 1 (keepdims) or disappear."""
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def expand_reduced(grad: np.ndarray, in_shape: Shape, axes: tuple[int, ...]) -> np.ndarray:
    """Backward of a reduction: put the reduced axes back as size 1, then copy along them.

    `grad` has the reduced shape (with or without keepdims); the result has `in_shape`.
    """
    keep = reduced_shape(in_shape, axes, keepdims=True)
    # .copy() rather than np.ascontiguousarray, which turns a 0-d array into shape (1,)
    return np.broadcast_to(grad.reshape(keep), in_shape).copy()


def sum_to_shape(grad: np.ndarray, shape: Shape) -> np.ndarray:
    """The gradient of a broadcast input: `grad` (of the broadcast output's shape) summed
    back to the input's `shape` by chapter 02's `sum_to_shape` kernel.

    When nothing was broadcast it returns `grad` itself instead of a copy: ops never
    write into the arrays they receive, so sharing is safe and saves a pass over memory
    in every same-shape binary op's backward.
    """
    return grad if grad.shape == tuple(shape) else K.sum_to_shape(grad, shape)


# -------------------------------------------------------------- sample helpers
def pick(rng: np.random.Generator, case: int | None, choices: list):
    """Configuration number `case` of a sampler (wrapping around), or a random one when
    `case` is None. `check_op` walks case = 0 .. op.cases - 1 to cover them all."""
    if case is None:
        return choices[int(rng.integers(len(choices)))]
    return choices[case % len(choices)]


def randn(rng: np.random.Generator, shape: Shape, dtype) -> np.ndarray:
    """Standard normal values of `shape` and `dtype`."""
    return rng.standard_normal(shape).astype(dtype)


def away_from_zero(rng: np.random.Generator, shape: Shape, dtype, low: float = 0.2) -> np.ndarray:
    """Values with |x| in [low, 1.5] and a random sign: safe for kinks at 0 and for division."""
    magnitude = rng.uniform(low, 1.5, shape)
    sign = rng.choice([-1.0, 1.0], shape)
    return (magnitude * sign).astype(dtype)


def positive(rng: np.random.Generator, shape: Shape, dtype, low: float = 0.5, high: float = 2.0):
    """Values in [low, high]: inputs for log, sqrt-like powers."""
    return rng.uniform(low, high, shape).astype(dtype)


def distinct(rng: np.random.Generator, shape: Shape, dtype) -> np.ndarray:
    """Values at least 0.1 apart (a shuffled ramp): max has a unique winner, even after
    a finite-difference nudge."""
    n = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(n).reshape(shape) * 0.1 - 0.05 * n).astype(dtype)
