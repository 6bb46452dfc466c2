"""LazyTensor: record operations instead of computing them (chapter 08).

Every node names an op of the table `fastgrad.ops.OPS`: there is no second definition
of any op here. Building a node runs the op's *shape rule* at once, so a bad shape fails
at the line that wrote it (the op's own message names the op and both shapes), not
later in `realize()`.

Graph passes, each a plain function over a list of nodes:
    topological_order   inputs before the nodes computed from them (iterative, no recursion)
    optimize            constant folding of scalar-only subgraphs, common-subexpression
                        elimination, then dead-node elimination (only what the outputs
                        still reach is kept)
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..ops import OPS, Op
from ..ops.methods import OpMethods, add_table_methods
from ..shapes import FLOAT_DTYPES


class LazyTensor(OpMethods):
    """A node of a lazy graph: a leaf (an array, or a constant from a Python number) or
    an op of the table applied to other nodes. Nothing is computed until `realize()`.

        op       the `Op` record (None for a leaf)
        inputs   the input nodes
        attrs    the op's attributes (axis, keepdims, exponent, ...)
        shape, dtype   known when the node is built, from the op's shape rule
        value    the array, for a leaf or a realised node (else None)
        const    True for a constant made from a Python number (0-d)
    """

    __array_ufunc__ = None          # `np_array + lazy` calls LazyTensor.__radd__
    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "value", "const")

    def __init__(self, op, inputs, attrs, shape, dtype, value=None, const=False):
        self.op: Op | None = op
        self.inputs: tuple[LazyTensor, ...] = tuple(inputs)
        self.attrs: dict = dict(attrs)
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype: np.dtype = np.dtype(dtype)
        self.value: np.ndarray | None = value
        self.const = const

    # ------------------------------------------------------------ properties
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_leaf(self) -> bool:
        """True for an array, a constant, or a node already realised."""
        return self.value is not None

    def __repr__(self) -> str:
        what = "leaf" if self.op is None else self.op.name
        state = "realised" if self.value is not None else "lazy"
        return f"LazyTensor({what}, shape={self.shape}, dtype={self.dtype}, {state})"

    # --------------------------------------------------------------- results
    def realize(self) -> "LazyTensor":
        """Compute this node (fusing, generating and compiling kernels as needed) and keep
        the array in `self.value`; later graphs use it as a leaf. Returns self."""
        from .schedule import realize
        realize(self)
        return self

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array (realises the node first)."""
        if self.value is None:
            self.realize()
        return self.value

    def explain(self, print_it: bool = True) -> str:
        """The kernels `realize()` would run: the nodes of each group, the generated
        source of each fused kernel and the bytes it moves, against eager's bytes."""
        from .schedule import explain
        text = explain(self)
        if print_it:
            print(text)
        return text



# ------------------------------------------------------------------ building
def lazy(x, dtype=None) -> LazyTensor:
    """A lazy leaf holding `x` (a NumPy array, a `fastgrad.Tensor`, a list ...).

    The dtype rule is Tensor's: float32/float64 arrays keep their dtype, other input
    becomes float32 unless `dtype=` is given. A Python number becomes a *constant*: it
    takes the dtype of the graph it joins, and ops on constants only are folded before
    anything runs (`fg.lazy(2.0) * 3.0` is one constant, 6.0). The array is not copied when it already
    has the right dtype: do not write into it while a graph uses it.
    """
    if isinstance(x, LazyTensor):
        return x
    if isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, (bool, np.bool_)):
        if dtype is None:      # a NumPy float32/float64 scalar keeps its dtype, as in Tensor
            dtype = x.dtype if isinstance(x, np.floating) and x.dtype in FLOAT_DTYPES else np.float32
        return _constant(x, dtype)                                    # a constant: foldable
    from ..autograd import Tensor

    data = x.data if isinstance(x, Tensor) else x
    keeps = isinstance(data, (np.ndarray, np.generic)) and np.asarray(data).dtype in FLOAT_DTYPES
    array = np.asarray(data)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"lazy(): dtype must be float32 or float64, not {dtype}")
        array = array.astype(dtype, copy=False)
    elif not keeps:
        if array.dtype.kind not in "biuf":
            raise TypeError(f"lazy(): got an array of dtype {array.dtype}; pass real numbers")
        array = array.astype(np.float32)
    return LazyTensor(None, (), {}, array.shape, array.dtype, value=array)


def _constant(value, dtype) -> LazyTensor:
    array = np.asarray(value, dtype=dtype)
    return LazyTensor(None, (), {}, (), array.dtype, value=array, const=True)


def _as_nodes(op: Op, inputs) -> list[LazyTensor]:
    """LazyTensors for every input: numbers become constants of the graph's dtype (so a
    float64 literal never promotes a float32 graph); boolean arrays (where's condition)
    stay boolean; mixing float32 and float64 nodes is a TypeError."""
    dtypes = {x.dtype for x in inputs
              if isinstance(x, LazyTensor) and x.dtype in FLOAT_DTYPES and not x.const}
    if len(dtypes) > 1:
        shapes = ", ".join(f"{x.dtype} {x.shape}" for x in inputs if isinstance(x, LazyTensor))
        raise TypeError(f"{op.name}: cannot mix float32 and float64 tensors ({shapes})")
    if not dtypes:             # constants only: theirs (the wider one if they differ)
        dtypes = {x.dtype for x in inputs if isinstance(x, LazyTensor) and x.dtype in FLOAT_DTYPES}
    dtype = max(dtypes, key=lambda d: d.itemsize) if dtypes else np.dtype(np.float32)
    nodes = []
    for x in inputs:
        if isinstance(x, LazyTensor):
            nodes.append(_constant(x.value.item(), dtype) if x.const and x.dtype != dtype else x)
        elif isinstance(x, (bool, np.bool_)) or (isinstance(x, np.ndarray) and x.dtype == np.bool_):
            a = np.asarray(x)
            nodes.append(LazyTensor(None, (), {}, a.shape, a.dtype, value=a))
        elif isinstance(x, (int, float, np.number)) and np.ndim(x) == 0:
            nodes.append(_constant(x, dtype))
        else:
            nodes.append(lazy(x, dtype=dtype))
    return nodes


def apply(op, *inputs, **attrs) -> LazyTensor:
    """Record `OPS[op]` applied to `inputs` (LazyTensors, numbers or arrays).

    The op's shape rule runs now: a shape that does not fit raises here, with the op's
    message (naming the op and the shapes), before anything is computed.
    """
    if not isinstance(op, Op):
        try:
            op = OPS[op]
        except KeyError:
            raise KeyError(f"no op named {op!r}; the table has {sorted(OPS)}") from None
    nodes = _as_nodes(op, inputs)
    shape = op.shape(*[n.shape for n in nodes], **attrs)
    floats = [n.dtype for n in nodes if n.dtype in FLOAT_DTYPES]
    dtype = floats[0] if floats else np.dtype(np.float32)
    return LazyTensor(op, nodes, attrs, shape, dtype)


def where(cond, a, b) -> LazyTensor:
    """`a` where `cond` is true, else `b` (cond a boolean array; broadcasting)."""
    if isinstance(cond, LazyTensor):
        cond = cond.numpy()
    return apply("where", np.asarray(cond).astype(bool), a, b)


def concatenate(*tensors, axis: int = 0) -> LazyTensor:
    """Join along `axis` (its own kernel: the op's eager forward)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    return apply("concatenate", *tensors, axis=axis)


# Operators and methods are `OpMethods`' (shared with Tensor); here they build nodes.
LazyTensor._apply = staticmethod(apply)
add_table_methods(LazyTensor, skip=("where", "concatenate"))   # exp, gelu, rms_norm ... from the table


# ---------------------------------------------------------------- graph passes
def topological_order(roots: Iterable[LazyTensor]) -> list[LazyTensor]:
    """Every node the roots depend on, inputs first (iterative depth-first search with an
    explicit stack, so a 100,000-op chain does not hit the recursion limit). A realised
    node is a leaf: the search does not go through it."""
    order: list[LazyTensor] = []
    seen: set[int] = set()
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if node.value is None:
            for x in reversed(node.inputs):
                if id(x) not in seen:
                    stack.append((x, False))
    return order


def _attrs_key(attrs: dict):
    return tuple(sorted((k, repr(v)) for k, v in attrs.items()))


def optimize(roots: list[LazyTensor]) -> tuple[list[LazyTensor], dict]:
    """Rewrite the graph of `roots` into an equivalent smaller one; the caller's nodes are
    never changed. Returns (new roots, stats).

    1. constant folding: a node whose inputs are all constants (scalars from Python
       numbers) is computed now, with the op's forward, and becomes a constant;
    2. common-subexpression elimination: nodes with the same op, attrs and (already
       de-duplicated) inputs become one node; equal constants and the same leaf array
       too. `(a*b) + (a*b)` computes a*b once;
    3. dead-node elimination: only nodes the new roots reach are kept (the folded
       subgraphs' nodes are dropped).
    """
    order = topological_order(roots)
    canon: dict[tuple, LazyTensor] = {}
    new: dict[int, LazyTensor] = {}
    folded = merged = 0
    for node in order:
        if node.value is not None:
            rewritten = node
            key = (("const", node.dtype.str, node.value.tobytes()) if node.const
                   else ("leaf", id(node.value), node.shape, node.dtype.str))
        else:
            inputs = tuple(new[id(x)] for x in node.inputs)
            if inputs and all(x.const for x in inputs) and node.shape == ():
                value = np.asarray(node.op.forward(*[x.value for x in inputs], **node.attrs),
                                   dtype=node.dtype)
                rewritten = LazyTensor(None, (), {}, (), node.dtype, value=value, const=True)
                key = ("const", node.dtype.str, value.tobytes())
                folded += 1
            else:
                rewritten = node if inputs == node.inputs else LazyTensor(
                    node.op, inputs, node.attrs, node.shape, node.dtype)
                key = (node.op.name, _attrs_key(node.attrs), tuple(id(x) for x in inputs))
        if key in canon:
            merged += 1
        else:
            canon[key] = rewritten
        new[id(node)] = canon[key]
    new_roots = [new[id(r)] for r in roots]
    kept = order if folded == merged == 0 else topological_order(new_roots)
    distinct = {id(v) for v in new.values()}
    stats = {"nodes": len(order), "folded": folded, "merged": merged,
             "dead": len(distinct) - len(kept), "kept": len(kept)}
    return new_roots, stats
