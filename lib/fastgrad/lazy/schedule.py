"""The scheduler: optimise a graph, group it into kernels, run them in order.

`schedule(out)` returns the kernels (`fusion.Group`s) `realize()` would run;
`realize(out)` runs them: fused groups through their generated Numba kernel (compiled
once per structure), the others through the op's eager forward. `explain(out)`
describes the plan: nodes, source and bytes moved of each kernel.

The schedule cache: optimising, grouping and generating source cost ~100-250 µs of Python
for a small graph, more than the arithmetic of a small model. So `realize` keys each
graph by its *structure* (ops, attrs, constants, how nodes connect, the leaves' shapes
and dtypes, which leaves are the same array) in one pass over the nodes, and keeps the
finished plan (`Plan`: the steps, each a compiled kernel or an eager forward, and where
each reads its inputs). A training loop or a generation loop builds the same graph every
step: from the second step on, realising is that one pass, a dictionary lookup and the
kernel calls. `STATS["plans"]` and `STATS["plan_hits"]` count misses and hits.
"""
from __future__ import annotations

import numpy as np

from . import codegen
from .fusion import Group, group
from .graph import LazyTensor, optimize, topological_order

RUNS = {"kernels": 0}       # kernels launched by realize (fused and eager)
_PLANS: dict[tuple, "Plan"] = {}
codegen.CLEARED.append(_PLANS.clear)


def schedule(*outputs: LazyTensor) -> list[Group]:
    """The kernels that compute `outputs`, after constant folding, CSE and dead-node
    elimination, in dependency order."""
    roots, _ = optimize(list(outputs))
    return group(roots)


def kernel_count(*outputs: LazyTensor) -> int:
    """How many kernels `realize()` runs for `outputs` (fused groups and eager ops)."""
    return len(schedule(*outputs))


def _hashable(attrs: dict) -> tuple:
    """The attrs as a dictionary key (a slice in a getitem index is not hashable: its repr)."""
    items = tuple(attrs.items())
    try:
        hash(items)
        return items
    except TypeError:
        return tuple((k, repr(v)) for k, v in items)


def structure(outputs: list[LazyTensor]) -> tuple[tuple, list[np.ndarray]]:
    """(key, arrays): the graph of `outputs` as a hashable key and its leaf arrays in the
    order the key numbers them. Two graphs with the same key compute the same thing from
    their arrays: same ops, attrs, constants and wiring; leaves of the same shapes and
    dtypes, and the same array in the same places (CSE merges a leaf used twice)."""
    order = topological_order(outputs)
    position: dict[int, int] = {}
    slot: dict[int, int] = {}
    arrays: list[np.ndarray] = []
    entries = []
    for i, node in enumerate(order):
        position[id(node)] = i
        if node.value is None:
            entries.append((node.op.name, _hashable(node.attrs) if node.attrs else (),
                            tuple([position[id(x)] for x in node.inputs])))
        elif node.const:
            entries.append(("const", node.dtype.char, node.value.item()))
        else:
            k = slot.get(id(node.value))
            if k is None:
                k = slot[id(node.value)] = len(arrays)
                arrays.append(node.value)
            entries.append((k, node.shape, node.dtype.char))
    return (tuple(entries), tuple([position[id(o)] for o in outputs])), arrays


class Plan:
    """The kernels of one graph structure, ready to run on new leaf arrays.

    steps     per kernel: (run, refs) where run(arrays) returns the kernel's output and
              refs say where each input comes from: ("leaf", k) the k-th leaf array of
              `structure`, ("step", j) the output of step j, ("const", array)
    outputs   a ref per output
    """

    def __init__(self, outputs: list[LazyTensor], arrays: list[np.ndarray]):
        slot = {id(a): k for k, a in enumerate(arrays)}
        roots, _ = optimize(outputs)
        produced: dict[int, int] = {}

        def ref(x):
            if x.value is None:
                return ("step", produced[id(x)])
            if x.const or id(x.value) not in slot:           # a folded constant
                return ("const", x.value)
            return ("leaf", slot[id(x.value)])

        self.steps = []
        for g in group(roots):
            self.steps.append((_runner(g), [ref(x) for x in g.inputs]))
            produced[id(g.output)] = len(self.steps) - 1
        self.outputs = [ref(r) for r in roots]

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        results = []
        pick = {"leaf": arrays, "step": results}
        for run, refs in self.steps:
            RUNS["kernels"] += 1
            results.append(run([r[1] if r[0] == "const" else pick[r[0]][r[1]] for r in refs]))
        return [r[1] if r[0] == "const" else pick[r[0]][r[1]] for r in self.outputs]


def _runner(g: Group):
    """A function of the group's input arrays that runs it: the op's eager forward, or
    the generated kernel (compiled on its first call, then called directly)."""
    node = g.output
    if g.kind == "eager":
        forward, attrs = node.op.forward, node.attrs
        return lambda arrays: np.asarray(forward(*arrays, **attrs))
    kernel, dtype, shape = codegen.generate(g), node.dtype, node.shape
    fn = None

    def run(arrays):
        nonlocal fn
        call = codegen.arguments(kernel, arrays, dtype)
        if fn is None:
            fn = codegen.compiled(kernel, tuple(call))
        fn(*call)
        return call[0].reshape(shape)
    return run


def realize(*outputs: LazyTensor) -> None:
    """Compute every output; each keeps its array in `.value` (and becomes a leaf). The
    plan comes from the schedule cache when a graph of the same structure ran before."""
    todo = [o for o in outputs if o.value is None]
    if not todo:
        return
    key, arrays = structure(todo)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = Plan(todo, arrays)
        codegen.STATS["plans"] += 1
    else:
        codegen.STATS["plan_hits"] += 1
    for node, value in zip(todo, plan(arrays)):
        node.value = value


def _nbytes(node: LazyTensor) -> int:
    return node.size * node.dtype.itemsize


def eager_bytes(out: LazyTensor) -> int:
    """Bytes eager execution moves for `out`'s graph: every op reads its inputs and writes
    its output (after CSE, with the same ops)."""
    (root,), _ = optimize([out])
    return sum(sum(_nbytes(x) for x in n.inputs) + _nbytes(n)
               for n in topological_order([root]) if n.value is None)


def explain(out: LazyTensor) -> str:
    """A readable plan: graph statistics, then per kernel its kind, nodes, inputs, bytes
    moved and (for a fused kernel) the generated source."""
    roots, stats = optimize([out])
    groups = group(roots)
    lines = [f"graph: {stats['nodes']} nodes; folded {stats['folded']}, merged {stats['merged']} "
             f"(CSE), dropped {stats['dead']} dead; {len(groups)} kernel(s)"]
    fused_total = 0
    for k, g in enumerate(groups):
        moved = sum(_nbytes(x) for x in g.inputs) + _nbytes(g.output)
        fused_total += moved
        ops = " ".join(n.op.name for n in g.nodes)
        ins = ", ".join(("const" if x.const else f"{x.dtype.name}{list(x.shape)}") for x in g.inputs)
        lines.append(f"\nkernel {k}: {g.kind} [{ops}] -> {g.output.dtype.name}{list(g.output.shape)}")
        lines.append(f"  reads {ins}; moves {moved:,} bytes")
        if g.kind != "eager":
            source = codegen.generate(g).source
            lines.extend("  | " + line for line in source.rstrip().splitlines())
    lines.append(f"\nbytes moved: {fused_total:,} fused vs {eager_bytes(out):,} eager "
                 "(each op reading its inputs and writing its output)")
    return "\n".join(lines)
