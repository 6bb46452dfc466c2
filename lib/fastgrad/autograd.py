"""Eager reverse-mode automatic differentiation: `Tensor`, `apply`, `no_grad`.

A `Tensor` wraps a NumPy array (`.data`, float32 or float64; see `Tensor` for which). Every
operation on tensors goes through one function, `apply(op_name, *inputs, **attrs)`,
which looks the op up in the table `fastgrad.ops.OPS`, checks shapes and dtypes,
runs the op's forward and, when gradients are needed, remembers the inputs. There
is no per-op autograd code here: `backward()` visits the recorded graph in reverse
topological order and calls each op's `backward` rule from the table.

Operators (`+`, `@`, `**`, `t[...]`) and methods that take attributes positionally
(`t.sum(axis)`, `t.reshape(2, 3)`) are written below by hand; every other op gets its
`Tensor` method from the table (`Op.method`, e.g. `t.exp()`, `t.gelu()`), generated at
the end of this module, so a new op needs only its `register(Op(...))`.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np

from .ops import OPS, Op
from .ops.methods import OpMethods, add_table_methods
from .shapes import FLOAT_DTYPES
from .switches import SWITCHES

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside `with no_grad():` operations record no graph (inference, optimizer steps).

    Results have `requires_grad=False`, and no inputs are kept alive for a backward pass.
    Also usable as a decorator: `@no_grad()`.
    """
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """False inside `no_grad()`."""
    return _grad_enabled


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"Tensor dtype must be float32 or float64, not {dtype}")
    return dtype


_NOT_NUMBERS = {
    "c": "complex numbers (fastgrad's tensors are real; pass x.real, or abs(x), explicitly)",
    "O": "Python objects, an element that is not a number (None? a list of Tensors? join "
         "tensors with concatenate, or pass t.data)",
    "U": "strings (convert them to numbers first, e.g. np.asarray(x, dtype=float))",
    "S": "bytes (convert them to numbers first)",
    "V": "structured records (pass one numeric field, e.g. x['value'])",
    "M": "datetimes (convert them to numbers first)",
    "m": "timedeltas (convert them to numbers first)",
}


def _refuse_non_numbers(array: np.ndarray, what: str) -> None:
    """TypeError naming the dtype when `array` does not hold real numbers."""
    if array.dtype.kind in _NOT_NUMBERS:
        raise TypeError(f"{what} got an array of dtype {array.dtype}: "
                        f"{_NOT_NUMBERS[array.dtype.kind]}")


def _tensor_data(data, dtype) -> np.ndarray:
    """The float array a new Tensor holds (always a copy). The dtype rule:

    - `dtype=` given: that dtype (float32 or float64 only), whatever the input;
    - a Tensor, a NumPy float32/float64 array or NumPy float scalar: its own dtype;
    - a NumPy float16 (or longdouble) array: TypeError, convert it yourself;
    - anything else (Python lists, floats, ints, bools; NumPy int and bool arrays): float32;
    - complex, object, string, bytes, datetime input: TypeError (never silently dropped).
    """
    if isinstance(data, Tensor):
        data = data.data
    keeps_dtype = isinstance(data, (np.ndarray, np.generic))
    array = np.asarray(data)
    _refuse_non_numbers(array, "Tensor()")
    if dtype is not None:
        return np.array(array, dtype=_float_dtype(dtype))
    if keeps_dtype and array.dtype.kind == "f":
        if array.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"Tensor() got a NumPy array of dtype {array.dtype}; fastgrad computes in float32 "
                f"or float64: convert it, x.astype(np.float32), or pass dtype=np.float32")
        return np.array(array)
    return np.array(array, dtype=np.float32)


class Tensor(OpMethods):
    """An n-dimensional array that can record the operations that made it.

    Tensor(data, dtype=None, requires_grad=False)
        data           real numbers in anything `np.array` accepts (always copied).
        dtype          np.float32 or np.float64, or None for the rule below.
        requires_grad  True for a leaf whose gradient you want (a parameter, an input).

    The dtype, as `torch.tensor` and NumPy choose it:
        an explicit `dtype=`                 wins (float32 or float64; anything else is
                                             a TypeError)
        a NumPy float64 / float32 array,     keeps its dtype: Tensor(np.ones(3)) is
        a NumPy float scalar, a Tensor       float64, and so is its gradient
        Python lists, floats, ints, bools;   float32
        NumPy int and bool arrays
        a NumPy float16 array                TypeError: convert it (x.astype(np.float32))
                                             or pass dtype=np.float32
        complex, object, string input        TypeError naming the dtype (the imaginary
                                             part is never dropped silently)

    After `loss.backward()`, `t.grad` holds d loss / d t as a NumPy array of `t.shape`
    for every leaf `t` with `requires_grad=True` (and for tensors that called
    `retain_grad()`). Gradients accumulate over backward calls; `zero_grad()` clears.

    Methods of ops without attributes (exp, log, tanh, sigmoid, relu, gelu, ...) are
    generated from the op table: see `Op.method` and `fastgrad.ops.methods`.
    """

    __array_ufunc__ = None   # make `np_array + tensor` call Tensor.__radd__, not NumPy

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        self.data: np.ndarray = _tensor_data(data, dtype)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.op: Op | None = None            # the op that made this tensor (None for a leaf)
        self.inputs: tuple[Tensor, ...] = ()
        self.attrs: dict = {}
        self._retain_grad = False

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """A tensor around `data` without copying or converting (results of ops)."""
        t = cls.__new__(cls)
        t.data, t.requires_grad, t.grad = data, requires_grad, None
        t.op, t.inputs, t.attrs, t._retain_grad = None, (), {}, False
        return t

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op."""
        return self.op is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        extra += f", op={self.op.name}" if self.op is not None else ""
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def detach(self) -> "Tensor":
        """Same values (shared storage), cut from the graph: no gradient flows through it."""
        return Tensor._wrap(self.data, requires_grad=False)

    def retain_grad(self) -> "Tensor":
        """Keep `.grad` on this non-leaf tensor after backward (for inspecting a graph)."""
        self._retain_grad = True
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # -------------------------------------------------------------- backward
    def backward(self, grad=None, retain_graph: bool | None = None) -> None:
        """Reverse-mode autodiff: fill `.grad` of every leaf this tensor depends on.

        grad  d(something)/d(self), shape `self.shape`. Optional when `self` has one
              element (then it is 1: the derivative of self with respect to itself).

        The graph is visited in reverse topological order, computed iteratively
        (`topological_order`), so a chain of 100,000 ops does not hit Python's
        recursion limit. A tensor used twice receives the sum of both gradients.

        retain_graph  False: free the graph as backward goes (intermediates nobody holds
              are released early; a second backward through it is a RuntimeError), as
              PyTorch does by default. True: keep it. None (default): free it only when
              the switch `free_graph` is on (`fastgrad.switches`; off unless chapter 09's
              ladder turns it on), so calling backward twice on one graph works.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: no input had "
                "requires_grad=True, or it was computed under no_grad() or from detach()")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() needs a gradient for a tensor of shape {self.shape}; "
                                   "pass grad= or call .sum() first")
            grad = np.ones(self.shape, dtype=self.dtype)
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape "
                             f"{self.shape}; they must be equal")

        _run_backward(self, grad, retain_graph)


_FREED = None   # set below: the record a node gets when free_graph dropped its inputs


def _run_backward(root: "Tensor", grad: np.ndarray, retain_graph: bool | None) -> None:
    """The backward pass of `Tensor.backward`, with chapter 09's switches:

    needed_grads   a rule with `Op.partial_backward` is told which inputs need a gradient
                   (`needs=`), when some do not, and skips the others' work;
    inplace_grads  `owned` holds the ids of tensors whose pending gradient is an array
                   this pass may write into: a sum it allocated, or a rule's fresh result
                   (`Op.fresh_grads`). A second gradient for such a tensor is added in place,
                   and a leaf takes an owned gradient as its `.grad` without a copy;
    free_graph     (or retain_graph=False) each node forgets its inputs once its rule ran.
    """
    needed, inplace = SWITCHES.needed_grads, SWITCHES.inplace_grads
    free = SWITCHES.free_graph if retain_graph is None else not retain_graph
    grads: dict[int, np.ndarray] = {id(root): grad}
    owned: set[int] = set()
    order = topological_order(root)
    while order:
        node = order.pop()                     # reverse topological order; drops our reference
        key = id(node)
        g = grads.pop(key, None)
        if g is None:                          # no gradient reached this node
            continue
        if node.is_leaf or node._retain_grad:
            if node.grad is None:
                node.grad = g if (inplace and key in owned and node.is_leaf) else np.array(g)
            elif inplace and node.grad.shape == g.shape and node.grad.dtype == g.dtype:
                np.add(node.grad, g, out=node.grad)
            else:
                node.grad = node.grad + g
        if node.is_leaf:
            continue
        op, inputs = node.op, node.inputs
        arrays = [t.data for t in inputs]
        if needed and op.partial_backward and not all(t.requires_grad for t in inputs):
            input_grads = op.backward(g, arrays, node.data, needs=tuple(t.requires_grad for t in inputs),
                                      **node.attrs)
        else:
            input_grads = op.backward(g, arrays, node.data, **node.attrs)
        fresh = inplace and op.fresh_grads
        for i, (t, gi) in enumerate(zip(inputs, input_grads)):
            if gi is None or not t.requires_grad:
                continue
            if gi.shape != t.shape:
                raise RuntimeError(f"{op.name}.backward returned a gradient of shape {gi.shape} "
                                   f"for input {i} of shape {t.shape}")
            key = id(t)
            pending = grads.get(key)
            if pending is None:
                grads[key] = gi
                if fresh:
                    owned.add(key)
            elif inplace and key in owned and pending.dtype == gi.dtype:
                np.add(pending, gi, out=pending)           # a tensor used twice: accumulate
            else:
                grads[key] = pending + gi
                owned.add(key)
        del g, input_grads, arrays
        if free:
            node.inputs, node.op, node.attrs = (), _FREED, {}


# ---------------------------------------------------------------------- apply
def _as_inputs(op: Op, inputs: Sequence) -> list[Tensor]:
    """Tensors for every input. Tensors must share one dtype (TypeError otherwise);
    Python numbers and NumPy arrays become constants of that dtype, boolean arrays
    (the condition of `where`) stay boolean; complex, object or string constants are
    a TypeError."""
    dtypes = {t.dtype for t in inputs if isinstance(t, Tensor) and t.dtype in FLOAT_DTYPES}
    if len(dtypes) > 1:
        shapes = ", ".join(f"{t.dtype} {t.shape}" for t in inputs if isinstance(t, Tensor))
        raise TypeError(f"{op.name}: cannot mix float32 and float64 tensors ({shapes}); "
                        "make both the same dtype, e.g. Tensor(x, dtype=np.float64)")
    dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            out.append(x)
        elif isinstance(x, np.ndarray) and x.dtype == np.bool_:
            out.append(Tensor._wrap(x))
        elif isinstance(x, (float, int)):          # the common case: a Python number
            out.append(Tensor._wrap(np.asarray(x, dtype=dtype)))
        else:
            x = np.asarray(x)
            _refuse_non_numbers(x, f"{op.name}:")
            out.append(Tensor._wrap(x.astype(dtype, copy=False)))
    return out


def apply(op: str | Op, *inputs, **attrs) -> Tensor:
    """Run the op `OPS[op]` on `inputs` (Tensors, numbers or arrays) and record it for backward.

    `op` is a name in the table, or an `Op` record itself (say, a copy with your own
    backward rule: `dataclasses.replace(OPS["tanh"], backward=my_rule)`), which is then
    used without touching the table.

    Steps: (1) look the op up, (2) turn numbers/arrays into constant tensors and refuse
    mixed float32/float64, (3) ask the op's shape rule, which raises a clear error
    naming both shapes before any kernel runs, (4) run forward, (5) when grad mode is on
    and some input requires grad, remember op, inputs and attrs on the result.
    """
    if not isinstance(op, Op):
        try:
            op = OPS[op]
        except KeyError:
            raise KeyError(f"no op named {op!r}; the table has {sorted(OPS)}") from None
    lean = SWITCHES.lean_dispatch
    tensors = inputs if lean and _same_dtype_tensors(inputs) else _as_inputs(op, inputs)
    arrays = [t.data for t in tensors]
    op.shape(*[a.shape for a in arrays], **attrs)
    data = op.forward(*arrays, **attrs)
    needs_grad = False
    if _grad_enabled:
        for t in tensors:
            if t.requires_grad:
                needs_grad = True
                break
    out = Tensor._wrap(data, requires_grad=needs_grad)
    if needs_grad:
        out.op, out.inputs, out.attrs = op, tuple(tensors), attrs
    return out


def _same_dtype_tensors(inputs) -> bool:
    """The common case, checked cheaply: every input a Tensor of one float dtype, so
    `_as_inputs` has nothing to convert (per-op overhead: chapter 09)."""
    dtype = None
    for t in inputs:
        if not isinstance(t, Tensor):
            return False
        if dtype is None:
            dtype = t.data.dtype
            if dtype not in FLOAT_DTYPES:
                return False
        elif t.data.dtype != dtype:
            return False
    return dtype is not None


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor `root` depends on (through tensors that require grad), inputs before
    the tensors computed from them; `root` is last.

    Iterative depth-first search with an explicit stack instead of recursion: Python
    allows ~1000 nested calls, and a 10,000-step chain (an RNN unrolled, a long loop)
    would overflow a recursive version. Each stack entry is (tensor, children_done):
    a tensor is emitted only after all of its inputs have been emitted.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))            # come back to emit it after its inputs
        for t in node.inputs:
            if t.requires_grad and id(t) not in seen:
                stack.append((t, False))
    return order


# -------------------------------------------------------- free functions
def concatenate(*tensors, axis: int = 0) -> Tensor:
    """Join tensors along `axis`; all other dimensions must match.

    Takes a sequence, `concatenate([a, b], axis=1)` as in NumPy, or the tensors one by
    one, `concatenate(a, b, axis=1)`.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    return apply("concatenate", *tensors, axis=axis)


def where(cond, a, b) -> Tensor:
    """`a` where `cond` is true, else `b` (broadcasting). `cond` is a boolean array or a
    Tensor (nonzero = true); it gets no gradient."""
    cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond).astype(bool)
    return apply("where", cond, a, b)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """Same as `Tensor(data, dtype, requires_grad)`."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _freed_backward(g, inputs, out, **attrs):
    raise RuntimeError("backward through a graph a second time: its intermediates were freed after the "
                       "first backward (retain_graph=False, or the switch free_graph); call "
                       "backward(retain_graph=True) the first time to keep the graph")


_FREED = Op("freed", "composite", None, _freed_backward, None, None,
            doc="a node whose inputs backward freed (free_graph)")


# --------------------------------------------- Tensor methods from the op table
# The operators and methods are `OpMethods`' (shared with LazyTensor); they apply ops here.
Tensor._apply = staticmethod(apply)
add_table_methods(Tensor, skip=("where", "concatenate"))      # those two are functions of this module


__all__ = ["Tensor", "apply", "no_grad", "is_grad_enabled", "topological_order",
           "concatenate", "where", "tensor"]
