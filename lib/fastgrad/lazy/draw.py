"""`draw(out)`: the lazy graph with matplotlib, nodes coloured by the kernel that computes them."""
from __future__ import annotations

from .fusion import group
from .graph import LazyTensor, optimize, topological_order


def draw(out: LazyTensor, ax=None):
    """Draw `out`'s (optimised) graph: one column per depth, inputs on the left; op nodes
    coloured by kernel (grey: leaves and constants), fused nodes sharing a colour.
    Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    (root,), _ = optimize([out])
    order = topological_order([root])
    kernel_of = {}
    for k, g in enumerate(group([root])):
        for n in g.nodes:
            kernel_of.setdefault(id(n), k)
    depth, rows, pos = {}, {}, {}
    for n in order:
        d = 0 if n.value is not None else 1 + max(depth[id(x)] for x in n.inputs)
        depth[id(n)] = d
        rows[d] = rows.get(d, 0) + 1
        pos[id(n)] = (d, rows[d] - 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * (max(rows) + 1) + 2, 0.8 * max(rows.values()) + 1.5))
    colours = plt.get_cmap("tab10")
    for n in order:
        x, y = pos[id(n)]
        for i in n.inputs if n.value is None else ():
            xi, yi = pos[id(i)]
            ax.annotate("", (x, y), (xi, yi), arrowprops=dict(arrowstyle="->", color="0.5"))
        k = kernel_of.get(id(n))
        label = ("const" if n.const else "input") if n.value is not None else n.op.name
        ax.text(x, y, f"{label}\n{list(n.shape)}", ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc="0.85" if k is None else colours(k % 10), alpha=0.9))
    ax.set_xlim(-0.7, max(rows) + 0.7)
    ax.set_ylim(-0.7, max(rows.values()) - 0.3)
    ax.set_axis_off()
    ax.set_title(f"{len(set(kernel_of.values()))} kernel(s); colour = kernel")
    return ax
