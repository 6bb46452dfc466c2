"""Code generation: one fused group -> Python source for one Numba kernel.

A kernel is a loop nest over the output (elementwise) or over the reduction's input
(a reduction, kept axes outside and reduced axes inside, with a scalar accumulator).
Inside the innermost loop each input is loaded once and each fused node becomes one
line `v3 = (v1 * v2)`, so a value used twice is computed once. An input broadcast
along a dimension is indexed with 0 there, i.e. with stride 0. Constants are written
as `np.float32(0.5)` in a float32 kernel: a bare float64 literal would silently
promote the whole kernel to float64.

Compiling: the source is exec'd, wrapped by `numba.njit` and compiled for the argument
types at once, then kept in an in-memory dictionary whose key is the source itself
(which spells the group's structure, broadcast pattern, ranks and constants) plus the
argument dtypes. Realising the same structure again compiles nothing: `STATS` counts
compiles, cache hits and compile seconds. There is no disk cache: Numba's `cache=True`
cannot locate exec'd source, so one would have to write each source to a file named by
its hash and import it (not built).

Numba is imported on the first compile, not when `fastgrad.lazy` is imported.
"""
from __future__ import annotations

import math
import time

import numpy as np

REDUCE = {"sum", "mean", "max"}


def _lit(value, dtype) -> str:
    """A constant typed to the kernel's dtype: `np.float32(0.5)`."""
    value = float(value)
    text = repr(value) if math.isfinite(value) else ("-np.inf" if value < 0 else "np.inf")
    return f"np.{np.dtype(dtype).name}({text})"


def fusable_elementwise(node) -> bool:
    """An elementwise op of the table with a scalar form (`Op.scalar`): the op table says
    how it reads on one element, so no op is defined a second time here."""
    return node.op is not None and node.op.kind == "elementwise" and node.op.scalar is not None


# ------------------------------------------------------------------ source
class Kernel:
    """The generated source of one group and how to call it.

    source   the Python source of `kernel(...)`
    args     one entry per input of the group: ("scalar", None) or ("array", shape) where
             shape is the view the kernel indexes (padded/collapsed to the loop rank)
    loop     the loop shape; out_shape the shape of the array the kernel writes
    """

    def __init__(self, source, args, loop, out_shape, reduce_kind, fastmath):
        self.source, self.args, self.loop = source, args, loop
        self.out_shape, self.reduce_kind, self.fastmath = out_shape, reduce_kind, fastmath


def _pad(shape, rank):
    return (1,) * (rank - len(shape)) + tuple(shape)


def _collapse(loop, in_shapes):
    """Merge neighbouring loop dimensions that every input treats alike (all full or all
    broadcast): a contiguous 2-D add becomes one 1-D loop. Drops size-1 loop dims."""
    dims = [d for d in range(len(loop)) if loop[d] != 1]
    if not dims:
        return (1,), [(1,) for _ in in_shapes]
    masks = [tuple(s[d] == loop[d] for d in dims) for s in in_shapes]
    merged_loop, merged = [loop[dims[0]]], [[loop[dims[0]] if m[0] else 1] for m in masks]
    for j in range(1, len(dims)):
        same = all(m[j] == m[j - 1] for m in masks)
        n = loop[dims[j]]
        if same:
            merged_loop[-1] *= n
            for m, s in zip(masks, merged):
                s[-1] *= n if m[j] else 1
        else:
            merged_loop.append(n)
            for m, s in zip(masks, merged):
                s.append(n if m[j] else 1)
    return tuple(merged_loop), [tuple(s) for s in merged]


def generate(group) -> Kernel:
    """The source of the kernel computing `group` (a fusion.Group of kind elementwise or
    reduce), with the shapes the caller must give each input."""
    out = group.output
    dtype = out.dtype
    reduce_node = out if group.kind == "reduce" else None
    if reduce_node is not None:
        loop = tuple(reduce_node.inputs[0].shape)
    else:
        loop = tuple(out.shape) if out.shape else (1,)
    array_inputs = [x for x in group.inputs if not x.const]
    if reduce_node is None:
        loop, views = _collapse(loop, [_pad(x.shape, len(loop)) for x in array_inputs])
    else:
        views = [_pad(x.shape, len(loop)) for x in array_inputs]
    rank = len(loop)
    names, args, lines = {}, [], []
    view_of = dict(zip(map(id, array_inputs), views))
    for k, x in enumerate(group.inputs):
        if x.const:
            names[id(x)] = f"c{k}"
            args.append(("scalar", None))
        else:
            args.append(("array", view_of[id(x)]))
    # loop order: for a reduction, kept axes outside, reduced axes inside
    if reduce_node is not None:
        from ..shapes import normalize_axes
        axes = normalize_axes(reduce_node.attrs.get("axis"), rank, reduce_node.op.name)
        order = [d for d in range(rank) if d not in axes] + list(axes)
        n_outer = rank - len(axes)
    else:
        axes, order, n_outer = (), list(range(rank)), rank
    params = ["out"] + (["shape"] if reduce_node is not None else []) + [
        f"c{k}" if a[0] == "scalar" else f"a{k}" for k, a in enumerate(args)]
    lines.append(f"def kernel({', '.join(params)}):")
    dims = ", ".join(f"n{d}" for d in range(rank))
    lines.append(f"    {dims}{',' if rank == 1 else ''} = {'shape' if reduce_node is not None else 'out.shape'}")
    indent = "    "
    zero = _lit(0, dtype)
    for depth, d in enumerate(order):
        if reduce_node is not None and depth == n_outer:
            init = _lit(-math.inf, dtype) if reduce_node.op.name == "max" else zero
            lines.append(f"{indent}acc = {init}")
        lines.append(f"{indent}for i{d} in range(n{d}):")
        indent += "    "
    if reduce_node is not None and n_outer == rank:       # nothing reduced (cannot happen)
        lines.append(f"{indent}acc = {zero}")
    for k, x in enumerate(group.inputs):                  # one load per array input
        if not x.const:
            idx = ", ".join(f"i{d}" if view_of[id(x)][d] != 1 else "0" for d in range(rank))
            lines.append(f"{indent}x{k} = a{k}[{idx}]")
            names[id(x)] = f"x{k}"
    computed = [n for n in group.nodes if n is not reduce_node]
    for j, node in enumerate(computed):
        operands = [names[id(x)] for x in node.inputs]
        lines.append(f"{indent}v{j} = {node.op.scalar(operands, lambda v: _lit(v, dtype), **node.attrs)}")
        names[id(node)] = f"v{j}"
    if reduce_node is None:
        idx = ", ".join(f"i{d}" for d in range(rank))
        lines.append(f"{indent}out[{idx}] = {names[id(out)]}")
        out_shape = loop
    else:
        value = names[id(reduce_node.inputs[0])]
        if reduce_node.op.name == "max":     # NaN propagates, as in the eager kernel
            lines.append(f"{indent}if {value} > acc or {value} != {value}:")
            lines.append(f"{indent}    acc = {value}")
        else:
            lines.append(f"{indent}acc += {value}")
        indent = "    " * (1 + n_outer)
        idx = ", ".join("0" if d in axes else f"i{d}" for d in range(rank))
        result = "acc"
        if reduce_node.op.name == "mean":
            count = int(np.prod([loop[d] for d in axes], dtype=np.int64))
            result = f"acc / {_lit(count, dtype)}"
        lines.append(f"{indent}out[{idx}] = {result}")
        out_shape = tuple(1 if d in axes else loop[d] for d in range(rank))
    fastmath = {"reassoc", "nsz"} if reduce_node is not None and reduce_node.op.name != "max" else False
    return Kernel("\n".join(lines) + "\n", args, loop, out_shape,
                  reduce_node.op.name if reduce_node is not None else None, fastmath)


# ----------------------------------------------------------- compile + cache
_CACHE: dict[tuple, object] = {}
STATS = {"compiles": 0, "hits": 0, "compile_seconds": []}


def reset_stats() -> None:
    """Zero the counters (the compiled kernels stay cached)."""
    STATS.update(compiles=0, hits=0, compile_seconds=[])


def clear_cache() -> None:
    """Forget every compiled kernel (the next realise compiles again) and zero the counters."""
    _CACHE.clear()
    reset_stats()


def compiled(kernel: Kernel, call_args: tuple):
    """The Numba function for `kernel`, compiled for the types of `call_args` on a cache
    miss (timed and counted), taken from the in-memory cache on a hit (counted)."""
    key = (kernel.source, tuple(getattr(a, "dtype", None) for a in call_args))
    fn = _CACHE.get(key)
    if fn is not None:
        STATS["hits"] += 1
        return fn
    import numba

    start = time.perf_counter()
    namespace = {"np": np}
    exec(compile(kernel.source, "<fastgrad.lazy kernel>", "exec"), namespace)
    fn = numba.njit(error_model="numpy", fastmath=kernel.fastmath)(namespace["kernel"])
    fn.compile(tuple(numba.typeof(a) for a in call_args))
    STATS["compile_seconds"].append(time.perf_counter() - start)
    STATS["compiles"] += 1
    _CACHE[key] = fn
    return fn


def run(kernel: Kernel, inputs: list[np.ndarray], dtype) -> np.ndarray:
    """Run `kernel` on the input arrays (in the group's input order); returns its output
    array (of `kernel.out_shape`, the caller reshapes it)."""
    out = np.empty(kernel.out_shape, dtype=dtype)
    call = [out]
    if kernel.reduce_kind is not None:
        call.append(tuple(int(n) for n in kernel.loop))
    for (kind, view), array in zip(kernel.args, inputs):
        if kind == "scalar":
            call.append(array.dtype.type(array))
        else:
            call.append(np.ascontiguousarray(array).reshape(view))
    fn = compiled(kernel, tuple(call))
    fn(*call)
    return out
