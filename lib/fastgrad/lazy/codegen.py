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

import hashlib
import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..paths import cache_root

REDUCE = {"sum", "mean", "max"}


def _lit(value, dtype) -> str:
    """A constant typed to the kernel's dtype: `np.float32(0.5)`."""
    value = float(value)
    text = repr(value) if math.isfinite(value) else ("-np.inf" if value < 0 else "np.inf")
    return f"np.{np.dtype(dtype).name}({text})"


MOVEMENT = {"permute", "broadcast_to", "getitem", "reshape"}


def fusable_movement(node) -> bool:
    """A movement op the generator turns into index arithmetic (not of an empty array)."""
    return (node.op is not None and node.op.name in MOVEMENT and node.size > 0
            and node.inputs[0].size > 0)


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


# ----------------------------------------------------- index arithmetic
def _affine(node):
    """The movement op `node` as an affine map from output to input indices:
    input index j = start[j] + sum_k step[j][k] * output index k.

    permute, broadcast_to and getitem (basic indexing) give NumPy views, and a view is an
    affine map. It is read off the op's own forward, applied to coordinate arrays: the
    forward of `np.arange(n_j)` broadcast along every other axis gives, at each output
    element, its input coordinate j (no second definition of the op here; the arrays are
    zero-stride views, so this costs no memory)."""
    in_shape, out_shape = node.inputs[0].shape, node.shape
    origin = (0,) * len(out_shape)
    start, step = [], []
    for j, n in enumerate(in_shape):
        along = np.arange(n).reshape([-1 if i == j else 1 for i in range(len(in_shape))])
        coord = node.op.forward(np.broadcast_to(along, in_shape), **node.attrs)
        c0 = int(coord[origin])
        start.append(c0)
        step.append([int(coord[tuple(1 if i == k else 0 for i in range(len(out_shape)))]) - c0
                     if out_shape[k] > 1 else 0 for k in range(len(out_shape))])
    return start, step


def _affine_index(node, idx):
    start, step = _affine(node)
    out = []
    for c0, row in zip(start, step):
        terms = [str(c0)] if c0 else []
        terms += [idx[k] if m == 1 else f"-{idx[k]}" if m == -1 else f"{m} * {idx[k]}" for k, m in enumerate(row)
                  if m and idx[k] != "0"]
        out.append(" + ".join(terms).replace("+ -", "- ") if terms else "0")
    return out


def _reshape_index(node, idx, lines, indent):
    """reshape: the output index as a flat (row-major) position, then split by the input
    shape with // and %: one temporary for the flat position."""
    out_shape, in_shape = node.shape, node.inputs[0].shape
    if [n for n in out_shape if n != 1] == [n for n in in_shape if n != 1]:
        real = iter(i for i, n in zip(idx, out_shape) if n != 1)   # only size-1 dims differ
        return ["0" if n == 1 else next(real) for n in in_shape]
    stride, terms = 1, []
    for k in reversed(range(len(out_shape))):
        if out_shape[k] > 1 and idx[k] != "0":
            terms.append(idx[k] if stride == 1 else f"{stride} * {idx[k]}")
        stride *= out_shape[k]
    flat = f"f{len(lines)}"
    lines.append(f"{indent}{flat} = {' + '.join(reversed(terms)) or '0'}")
    result, stride = [], 1
    for j in reversed(range(len(in_shape))):
        part = flat if stride == 1 else f"({flat} // {stride})"
        result.append("0" if in_shape[j] == 1 else part if j == 0 else f"({part} % {in_shape[j]})")
        stride *= in_shape[j]
    return list(reversed(result))


def _generate_indexed(group) -> Kernel:
    """A group with movement ops inside: no collapsing of dimensions; each fused node is
    computed at an index (one string per dimension of its shape), and a movement node
    rewrites the index its input is read at. Arrays are loaded once per distinct index."""
    out = group.output
    dtype = out.dtype
    reduce_node = out if group.kind == "reduce" else None
    loop = tuple(reduce_node.inputs[0].shape if reduce_node is not None else out.shape) or (1,)
    rank = len(loop)
    position = {id(x): k for k, x in enumerate(group.inputs)}
    members = {id(n) for n in group.nodes}
    args = [("scalar", None) if x.const else ("array", tuple(x.shape) or (1,)) for x in group.inputs]
    body: list[str] = []
    names: dict = {}
    indent = "    " * (1 + rank)

    def value(node, idx):
        key = (id(node), tuple(idx))
        if key in names:
            return names[key]
        if id(node) not in members or node is reduce_node:      # a boundary input
            k = position[id(node)]
            if node.const:
                return f"c{k}"
            where = ", ".join(i if n != 1 else "0" for i, n in zip(idx, node.shape)) or "0"
            name = f"x{k}_{len(body)}"
            body.append(f"{indent}{name} = a{k}[{where}]")
        elif node.op.name in MOVEMENT:
            inner = (_reshape_index(node, idx, body, indent) if node.op.name == "reshape"
                     else _affine_index(node, idx))
            return value(node.inputs[0], inner)
        else:                                                   # elementwise: broadcast
            operands = []
            for x in node.inputs:
                lead = len(node.shape) - len(x.shape)
                operands.append(value(x, [idx[lead + j] if n != 1 else "0"
                                          for j, n in enumerate(x.shape)]))
            name = f"v{len(body)}"
            body.append(f"{indent}{name} = {node.op.scalar(operands, lambda v: _lit(v, dtype), **node.attrs)}")
        names[key] = name
        return name

    loop_idx = [f"i{d}" for d in range(rank)]
    if reduce_node is not None:
        from ..shapes import normalize_axes
        axes = normalize_axes(reduce_node.attrs.get("axis"), rank, reduce_node.op.name)
        order = [d for d in range(rank) if d not in axes] + list(axes)
        n_outer = rank - len(axes)
        result = value(reduce_node.inputs[0], loop_idx)
    else:
        axes, order, n_outer = (), list(range(rank)), rank
        result = value(out, loop_idx if out.shape else [])
    params = ["out"] + (["shape"] if reduce_node is not None else []) + [
        f"c{k}" if a[0] == "scalar" else f"a{k}" for k, a in enumerate(args)]
    lines = [f"def kernel({', '.join(params)}):"]
    dims = ", ".join(f"n{d}" for d in range(rank))
    lines.append(f"    {dims}{',' if rank == 1 else ''} = {'shape' if reduce_node is not None else 'out.shape'}")
    pad = "    "
    for depth, d in enumerate(order):
        if reduce_node is not None and depth == n_outer:
            init = _lit(-math.inf, dtype) if reduce_node.op.name == "max" else _lit(0, dtype)
            lines.append(f"{pad}acc = {init}")
        lines.append(f"{pad}for i{d} in range(n{d}):")
        pad += "    "
    lines += body
    return _finish(lines, result, reduce_node, out, loop, axes, n_outer, args, dtype)


def _finish(lines, result, reduce_node, out, loop, axes, n_outer, args, dtype) -> Kernel:
    """The store (elementwise) or the accumulation and store (reduction) that end a kernel."""
    rank = len(loop)
    indent = "    " * (1 + rank)
    if reduce_node is None:
        idx = ", ".join(f"i{d}" for d in range(rank))
        lines.append(f"{indent}out[{idx}] = {result}")
        out_shape = loop
    else:
        if reduce_node.op.name == "max":     # NaN propagates, as in the eager kernel
            lines.append(f"{indent}if {result} > acc or {result} != {result}:")
            lines.append(f"{indent}    acc = {result}")
        else:
            lines.append(f"{indent}acc += {result}")
        indent = "    " * (1 + n_outer)
        idx = ", ".join("0" if d in axes else f"i{d}" for d in range(rank))
        value = "acc"
        if reduce_node.op.name == "mean":
            count = int(np.prod([loop[d] for d in axes], dtype=np.int64))
            value = f"acc / {_lit(count, dtype)}"
        lines.append(f"{indent}out[{idx}] = {value}")
        out_shape = tuple(1 if d in axes else loop[d] for d in range(rank))
    fastmath = {"reassoc", "nsz"} if reduce_node is not None and reduce_node.op.name != "max" else False
    return Kernel("\n".join(lines) + "\n", args, loop, out_shape,
                  reduce_node.op.name if reduce_node is not None else None, fastmath)


def generate(group) -> Kernel:
    """The source of the kernel computing `group` (a fusion.Group of kind elementwise or
    reduce), with the shapes the caller must give each input."""
    if any(n.op.name in MOVEMENT for n in group.nodes if n.op is not None):
        return _generate_indexed(group)
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
    result = names[id(out)] if reduce_node is None else names[id(reduce_node.inputs[0])]
    return _finish(lines, result, reduce_node, out, loop, axes, n_outer, args, dtype)


# ----------------------------------------------------------- compile + cache
_CACHE: dict[tuple, object] = {}
STATS = {"compiles": 0, "hits": 0, "compile_seconds": [], "disk_loads": 0, "load_seconds": [],
         "plans": 0, "plan_hits": 0}
CLEARED = []            # callbacks of caches built on this one (the schedule cache)


def reset_stats() -> None:
    """Zero the counters (the compiled kernels stay cached)."""
    STATS.update(compiles=0, hits=0, compile_seconds=[], disk_loads=0, load_seconds=[],
                 plans=0, plan_hits=0)


def clear_cache() -> None:
    """Forget every compiled kernel and every cached schedule (the next realise plans and
    compiles again) and zero the counters."""
    _CACHE.clear()
    for forget in CLEARED:
        forget()
    reset_stats()


DISK_CACHE = os.environ.get("FASTGRAD_LAZY_DISK_CACHE", "1") != "0"


def cache_dir() -> Path:
    """Where kernel sources (and Numba's machine code beside them) are kept."""
    return cache_root() / "lazy"


def _header(kernel: Kernel) -> str:
    # the flags sorted: a set's repr changes order between processes (string hashing)
    flags = "{" + ", ".join(map(repr, sorted(kernel.fastmath))) + "}" if kernel.fastmath else "False"
    return ("import numpy as np\nimport numba\nfrom fastgrad.kernels.vexp import fast_exp\n\n"
            f"@numba.njit(error_model='numpy', fastmath={flags}, cache=True)\n")


def _from_file(kernel: Kernel):
    """The kernel as a function of a module written to the disk cache (written once, under
    a name that is the hash of its text; a new name, never an edited file, so Numba's
    cached machine code always matches its source). None if the directory is not writable."""
    text = _header(kernel) + kernel.source
    name = "k_" + hashlib.sha256(text.encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}.py"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text)
            os.replace(partial, path)            # atomic: another process never reads half a file
        spec = importlib.util.spec_from_file_location(f"fastgrad_lazy_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module          # Numba's cache re-imports it by name
        spec.loader.exec_module(module)
    except OSError:
        return None
    return module.kernel


def compiled(kernel: Kernel, call_args: tuple):
    """The Numba function for `kernel`, compiled for the types of `call_args` on a cache
    miss (timed and counted; loaded from the disk cache when an earlier process compiled
    it), taken from the in-memory cache on a hit (counted)."""
    key = (kernel.source, tuple(getattr(a, "dtype", None) for a in call_args))
    fn = _CACHE.get(key)
    if fn is not None:
        STATS["hits"] += 1
        return fn
    import numba

    start = time.perf_counter()
    fn = _from_file(kernel) if DISK_CACHE else None
    if fn is None:
        from ..kernels.vexp import fast_exp
        namespace = {"np": np, "fast_exp": fast_exp}
        exec(compile(kernel.source, "<fastgrad.lazy kernel>", "exec"), namespace)
        fn = numba.njit(error_model="numpy", fastmath=kernel.fastmath)(namespace["kernel"])
    fn.compile(tuple(numba.typeof(a) for a in call_args))
    seconds = time.perf_counter() - start
    if sum(fn.stats.cache_hits.values()):
        STATS["disk_loads"] += 1
        STATS["load_seconds"].append(seconds)
    else:
        STATS["compiles"] += 1
        STATS["compile_seconds"].append(seconds)
    _CACHE[key] = fn
    return fn


def arguments(kernel: Kernel, inputs: list[np.ndarray], dtype) -> list:
    """The call of `kernel` on the input arrays (in the group's input order): a new output
    array of `kernel.out_shape` first, then the loop shape (a reduction), then each input
    as the kernel indexes it (scalars as NumPy scalars of their dtype)."""
    call = [np.empty(kernel.out_shape, dtype=dtype)]
    if kernel.reduce_kind is not None:
        call.append(tuple(int(n) for n in kernel.loop))
    for (kind, view), array in zip(kernel.args, inputs):
        if kind == "scalar":
            call.append(array.dtype.type(array))
        else:
            call.append(np.ascontiguousarray(array).reshape(view))
    return call


def run(kernel: Kernel, inputs: list[np.ndarray], dtype) -> np.ndarray:
    """Run `kernel` on the input arrays (in the group's input order); returns its output
    array (of `kernel.out_shape`, the caller reshapes it)."""
    call = arguments(kernel, inputs, dtype)
    compiled(kernel, tuple(call))(*call)
    return call[0]
