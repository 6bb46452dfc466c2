"""The scheduler: optimise a graph, group it into kernels, run them in order.

`schedule(out)` returns the kernels (`fusion.Group`s) `realize()` would run;
`realize(out)` runs them: fused groups through their generated Numba kernel (compiled
once per structure), the others through the op's eager forward. `explain(out)`
describes the plan: nodes, source and bytes moved of each kernel.
"""
from __future__ import annotations

import numpy as np

from . import codegen
from .fusion import Group, group
from .graph import LazyTensor, optimize, topological_order

RUNS = {"kernels": 0}       # kernels launched by realize (fused and eager)


def schedule(*outputs: LazyTensor) -> list[Group]:
    """The kernels that compute `outputs`, after constant folding, CSE and dead-node
    elimination, in dependency order."""
    roots, _ = optimize(list(outputs))
    return group(roots)


def kernel_count(*outputs: LazyTensor) -> int:
    """How many kernels `realize()` runs for `outputs` (fused groups and eager ops)."""
    return len(schedule(*outputs))


def _run_group(g: Group, env: dict) -> np.ndarray:
    arrays = [x.value if x.value is not None else env[id(x)] for x in g.inputs]
    node = g.output
    RUNS["kernels"] += 1
    if g.kind == "eager":
        return np.asarray(node.op.forward(*arrays, **node.attrs))
    kernel = codegen.generate(g)
    return codegen.run(kernel, arrays, node.dtype).reshape(node.shape)


def realize(*outputs: LazyTensor) -> None:
    """Compute every output; each keeps its array in `.value` (and becomes a leaf)."""
    todo = [o for o in outputs if o.value is None]
    if not todo:
        return
    roots, _ = optimize(todo)
    env: dict[int, np.ndarray] = {}
    for g in group(roots):
        env[id(g.output)] = _run_group(g, env)
    for original, root in zip(todo, roots):
        original.value = root.value if root.value is not None else env[id(root)]


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
