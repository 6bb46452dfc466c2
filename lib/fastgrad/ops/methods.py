"""The tensor interface over the op table, written once: the operators and methods that turn
`x + y`, `x.sum(1)`, `x.reshape(2, 3)` into applications of table ops.

`fastgrad.Tensor` (eager autograd, chapter 04) and `fastgrad.lazy.LazyTensor` (chapter 08)
both inherit `OpMethods` and differ only in how an op is applied: each class sets
`_apply(name, *inputs, **attrs)` (a staticmethod) to its own `apply`. `add_table_methods`
then gives the class a method for every op whose `Op.method` it does not already have
(exp, gelu, rms_norm, rope ...), so an op registered once is reachable from both.
"""
from __future__ import annotations

import math

from ._base import OPS


class OpMethods:
    """Operators and methods shared by Tensor and LazyTensor; `_apply` is the subclass's."""

    _apply = None        # subclass: staticmethod(apply)

    # ------------------------------------------------------- operator overloads
    def __add__(self, other): return self._apply("add", self, other)
    def __radd__(self, other): return self._apply("add", other, self)
    def __sub__(self, other): return self._apply("sub", self, other)
    def __rsub__(self, other): return self._apply("sub", other, self)
    def __mul__(self, other): return self._apply("mul", self, other)
    def __rmul__(self, other): return self._apply("mul", other, self)
    def __truediv__(self, other): return self._apply("div", self, other)
    def __rtruediv__(self, other): return self._apply("div", other, self)
    def __neg__(self): return self._apply("neg", self)
    def __matmul__(self, other): return self._apply("matmul", self, other)
    def __rmatmul__(self, other): return self._apply("matmul", other, self)
    def __getitem__(self, index): return self._apply("getitem", self, index=index)

    def __pow__(self, exponent):
        """`t ** p` for a Python number p (the exponent gets no gradient)."""
        if isinstance(exponent, OpMethods):
            raise TypeError("t ** other: the exponent must be a Python number; "
                            "for a tensor exponent write (other * t.log()).exp()")
        return self._apply("pow", self, exponent=float(exponent))

    def __rpow__(self, base):
        """`c ** t` for a positive number c, as exp(t * log c)."""
        return (self * math.log(base)).exp()

    # --------------------------------------------------------------- methods
    def sum(self, axis=None, keepdims=False): return self._apply("sum", self, axis=axis, keepdims=keepdims)
    def mean(self, axis=None, keepdims=False): return self._apply("mean", self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return self._apply("max", self, axis=axis, keepdims=keepdims)
    def softmax(self, axis=-1): return self._apply("softmax", self, axis=axis)
    def log_softmax(self, axis=-1): return self._apply("log_softmax", self, axis=axis)

    def reshape(self, *shape):
        """`t.reshape(2, 3)` or `t.reshape((2, 3))`; one dimension may be -1."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._apply("reshape", self, new_shape=tuple(int(n) for n in shape))

    def permute(self, *axes):
        """Reorder axes like `np.transpose(t, axes)`: `t.permute(2, 0, 1)`."""
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return self._apply("permute", self, axes=tuple(int(a) for a in axes))

    def transpose(self, dim0: int = -2, dim1: int = -1):
        """Swap two axes (by default the last two: the matrix transpose of a batch)."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    @property
    def T(self):
        """All axes reversed (the matrix transpose for 2-D)."""
        return self.permute(*reversed(range(self.ndim)))

    def broadcast_to(self, shape):
        return self._apply("broadcast_to", self, new_shape=tuple(shape))


def add_table_methods(cls, skip=()) -> None:
    """Give `cls` a method `x.method(*other_inputs, **attrs)` for every op of the table whose
    `Op.method` `cls` does not have yet and is not in `skip` (names that are functions, such
    as `where` and `concatenate`). The op is looked up by name at each call, so a replaced
    table entry (a timed or buggy backward) is used. Runs at import: an op registered later
    is reached through `apply`."""
    for op in OPS.values():
        if op.method and not hasattr(cls, op.method) and op.method not in skip:
            setattr(cls, op.method, _table_method(cls, op))


def _table_method(cls, op):
    name = op.name

    def method(self, *others, **attrs):
        return self._apply(name, self, *others, **attrs)

    method.__name__, method.__qualname__ = op.method, f"{cls.__name__}.{op.method}"
    method.__doc__ = f"{op.doc or name} (the op {name!r}; this method is generated from the op table)"
    method.from_op_table = True          # takes the op's attrs as keywords (hand-written ones: positionally)
    return method
