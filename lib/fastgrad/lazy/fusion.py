"""Fusion: split a (optimised) lazy graph into groups, one kernel each.

The rule, tinygrad's in miniature:
  * elementwise and broadcast ops the code generator knows (an `Op.scalar` form in the table) are fused:
    a maximal set of them becomes one loop over the output, with no arrays in between;
  * a reduction (sum, mean, max) ends a group, and may take a fused elementwise
    *prologue*: `sum(a * b)` is one pass, reading a and b and never writing a * b;
  * a movement op (permute, broadcast_to, getitem, reshape) between fused ops becomes
    *index arithmetic*: `(a * b).T + c` is one loop that reads a and b at transposed
    indices, with no transposed copy; a movement op whose result must be written (an
    output, or the input of a matmul) runs its eager forward, which returns a NumPy view;
  * everything else (matmul, concatenate, composite ops, elementwise ops without a scalar
    form) is its own kernel, run by the op's eager forward.

An elementwise node is *materialised* (written to memory) only when it is an output, or
when a consumer cannot fuse it (a matmul, a reshape ...). Otherwise each fused consumer
recomputes it inside its own loop: softmax's exp(x - max) is computed in the sum's pass
and again in the division's pass, which costs arithmetic but saves writing and reading
an array (memory traffic, not arithmetic, limits these kernels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .codegen import REDUCE, fusable_elementwise, fusable_movement
from .graph import LazyTensor, topological_order


@dataclass
class Group:
    """One kernel: `output` is the node it writes; `nodes` are the nodes it computes (in
    topological order, `output` last); `inputs` the arrays it reads (leaves or outputs
    of earlier groups). kind: "elementwise", "reduce" (a reduction, maybe with a fused
    prologue) or "eager" (the op's forward)."""

    kind: str
    output: LazyTensor
    nodes: list[LazyTensor]
    inputs: list[LazyTensor] = field(default_factory=list)


def fusable(node: LazyTensor) -> bool:
    """True when `node` can live inside a fused loop: an elementwise op with a scalar form,
    or a movement op the code generator turns into index arithmetic."""
    return node.value is None and (fusable_elementwise(node) or fusable_movement(node))


def computes(node: LazyTensor) -> bool:
    """A fusable node that does arithmetic (elementwise), not only index arithmetic."""
    return node.value is None and fusable_elementwise(node)


def fusable_reduce(node: LazyTensor) -> bool:
    """A sum, mean or max the code generator handles (not of a 0-d or empty input: those
    keep the eager forward's behaviour, e.g. max of nothing is an error)."""
    x = node.inputs[0] if node.value is None and node.inputs else None
    return x is not None and node.op.name in REDUCE and len(x.shape) > 0 and x.size > 0


def materialised(order: list[LazyTensor], roots: list[LazyTensor]) -> set[int]:
    """ids of the op nodes whose result is written to memory: the roots, every node that
    is not fusable, fusable nodes with a consumer that cannot fuse them, and the input of
    a written movement node (which runs eagerly, as a view of its input). Consumers come
    after their inputs in `order`, so one pass over it backwards decides every node."""
    out = {id(r) for r in roots if r.value is None}
    for node in reversed(order):
        if node.value is not None:
            continue
        if not fusable(node):
            out.add(id(node))
            if fusable_reduce(node):                      # its prologue is fused
                continue
        elif computes(node) or id(node) not in out:
            continue                                      # fuses its fusable inputs
        for x in node.inputs:                             # a consumer that cannot fuse them
            if x.value is None:
                out.add(id(x))
    return out


def group(roots: list[LazyTensor]) -> list[Group]:
    """The kernels that compute `roots`, in an order that respects dependencies."""
    order = topological_order(roots)
    written = materialised(order, roots)
    groups = []
    for node in order:
        if id(node) not in written:
            continue
        if computes(node) or fusable_reduce(node):
            kind = "elementwise" if computes(node) else "reduce"
            members, inputs = _collect(node, written)
            groups.append(Group(kind, node, members, inputs))
        else:
            groups.append(Group("eager", node, [node], list(node.inputs)))
    return groups


def _collect(root: LazyTensor, written: set[int]):
    """The fused elementwise ancestors of `root` that are not written (found through
    non-written nodes), in topological order, and the boundary arrays they read."""
    members: list[LazyTensor] = []
    inputs: list[LazyTensor] = []
    seen_in: set[int] = set()
    inside: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            members.append(node)
            continue
        if id(node) in inside:
            continue
        inside.add(id(node))
        stack.append((node, True))
        for x in reversed(node.inputs):
            boundary = x.value is not None or id(x) in written or not fusable(x)
            if boundary:
                if id(x) not in seen_in:
                    seen_in.add(id(x))
                    inputs.append(x)
            elif id(x) not in inside:
                stack.append((x, False))
    inputs = []          # the boundary arrays in the order the members read them
    for node in members:
        for x in node.inputs:
            if id(x) in seen_in and all(x is not y for y in inputs):
                inputs.append(x)
    return members, inputs


__all__ = ["Group", "group", "materialised", "fusable", "computes", "fusable_reduce"]
