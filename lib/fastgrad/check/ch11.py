"""Checkers for chapter 11 (GPU kernels with numba.cuda): the global index of a 2-D grid,
a grid-stride kernel, the shared-tile load of a tiled matmul, and a block reduction.

Each checker launches the learner's `@cuda.jit` kernel on Numba's CUDA simulator with
every memory access traced (`fastgrad.kernels.cuda_trace`), so it grades the structure
of the kernel as well as its values: which thread wrote which element, how many times
each element was loaded, and whether the shared-memory accesses race. The plausible wrong
answers it names:

* add_2d: rows taken from x and columns from y (x must run along a row, so a warp writes
  neighbouring addresses), `cuda.grid(2)` unpacked as (row, col), the block offset left
  out (every block writes the top-left corner), gridDim used where blockDim belongs, no
  bounds check (threads past the edge index outside the array), one thread doing many
  elements, an input written.
* axpy: no loop (only the first blocks x threads elements written), a stride of
  blockDim.x (every block walks the whole array: elements written several times), a start
  at threadIdx.x, contiguous chunks per thread (right values, uncoalesced: the measured
  sectors per warp request are named), alpha on the wrong operand, an input written, a
  global size from the notebook.
* tiled_matmul: tile loads past the edge, the out-of-range part of a tile left unwritten
  (stale values added in), the barrier after the loads missing (a race), a barrier inside
  the bounds check (divergent), every thread loading the whole tile, tiles read from the
  wrong place; global loads per element are counted against once per block that needs it.
* block_sum: a missing barrier (a race), a barrier inside `if t < half` (divergent), idle
  threads that leave their slot unwritten, a serial sum by one thread (counted: more than
  2 log2(threads) shared reads), no shared memory at all (atomics or a global loop), every
  thread writing the block's result, blocks summing other slices than their grid-stride
  one, an endless halving loop (time limit).

The checkers need the simulator (`NUMBA_ENABLE_CUDASIM=1` before numba is imported: the
chapter's first cell sets it); each case has a time limit of `SIM_TIME_LIMIT` seconds.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..kernels import cuda_trace
from ..kernels.cuda import MAX_THREADS_PER_BLOCK, simulated
from ._base import FAIL, Case, CaseFailed, CheckResult, expect_close, run_cases, with_globals_hint

__all__ = ["add_2d", "axpy", "tiled_matmul", "block_sum"]

SIM_TIME_LIMIT = 30.0     # seconds per case: the simulator runs every GPU thread as a Python thread


def _ready(name: str, kernel, show: bool) -> CheckResult | None:
    """A failed result when the checker cannot run the kernel at all, else None."""
    message = None
    if not simulated():
        message = ("these checkers run your kernel on Numba's CUDA simulator, which is off: restart the Python "
                   "kernel and run the notebook's first cell (it sets NUMBA_ENABLE_CUDASIM=1 before numba is "
                   "imported).")
    elif not (hasattr(kernel, "py_func") and hasattr(type(kernel), "__getitem__")):
        message = (f"expected a CUDA kernel, got {type(kernel).__name__}: decorate the function with @cuda.jit "
                   "(and do not call it: pass the kernel itself).")
    return None if message is None else _refuse(name, message, show)


def _refuse(name: str, message: str, show: bool) -> CheckResult:
    """A failed result for a call the checker cannot grade (printed when `show`)."""
    result = CheckResult(name, FAIL, message)
    if show:
        print(result)
    return result


def _launch(kernel, grid, block, bounds_hint: str, **args) -> cuda_trace.Trace:
    """Run the kernel traced; an index outside an array becomes a failed case with a hint."""
    try:
        return cuda_trace.run_traced(kernel, grid, block, **args)
    except IndexError as error:
        trace = cuda_trace.trace_of(error)
        found = [p.message for p in (trace.problems if trace else []) if p.kind == "out of bounds"]
        if found:
            raise CaseFailed(f"{found[0]}. Hint: {bounds_hint}") from None
        raise


def _no_stores(trace, *inputs):
    for name in inputs:
        stored = trace.stores(name)
        if stored:
            raise CaseFailed(f"your kernel stored into the input `{name}` ({len(stored)} element(s), first "
                             f"{name}{list(min(stored))}); inputs are read-only: write the result into the output.")


def _first_problem(trace, hints: dict, kinds=("divergent barrier", "race", "uninitialised")):
    """Fail on the trace's first problem of `kinds` (in that order of priority), with a hint."""
    for kind in kinds:
        for problem in trace.problems:
            if problem.kind == kind:
                hint = hints[kind](problem.message) if callable(hints[kind]) else hints[kind]
                raise CaseFailed(f"{problem.message}. Hint: {hint}")


def _thread_name(key):
    block, thread = key
    return f"thread {thread[:2]} of block {block[:2]}"


# ============================================================================ 1. the 2-D global index

_BOUNDS_2D = ("a thread past the edge of the array indexed it: the grid is rounded up to whole blocks, so "
              "guard the body with `if row < out.shape[0] and col < out.shape[1]:`.")


def _mappings_2d(block, grid):
    """name -> (function (blockIdx, threadIdx) -> (row, col), hint) for the right index and
    the plausible wrong ones."""
    bx, by = block
    gx, gy = grid
    return {
        "right": (lambda b, t: (b[1] * by + t[1], b[0] * bx + t[0]), ""),
        "swapped": (lambda b, t: (b[0] * bx + t[0], b[1] * by + t[1]),
                    "you took the row from the x components and the column from y. The convention (and the fast "
                    "choice) is x along a row: col = blockIdx.x * blockDim.x + threadIdx.x, row from y, so the 32 "
                    "threads of a warp (consecutive threadIdx.x) write 32 neighbouring floats, one coalesced "
                    "access. Note that cuda.grid(2) returns (x, y), that is (col, row)."),
        "no block": (lambda b, t: (t[1], t[0]),
                     "every block wrote the same top-left elements: the global index adds the block's offset, "
                     "row = blockIdx.y * blockDim.y + threadIdx.y (and the same with x for the column)."),
        "gridDim": (lambda b, t: (b[1] * gy + t[1], b[0] * gx + t[0]),
                    "you multiplied blockIdx by gridDim (the number of blocks); the offset of a block is blockIdx "
                    "times blockDim, the threads per block."),
    }


def _writes(trace, name):
    """Set of ((blockIdx[:2], threadIdx[:2]), index) pairs of the stores to `name`."""
    return {((b[:2], t[:2]), idx) for idx, ws in trace.writers(name).items() for b, t in ws}


def _expected_pairs(mapping, grid, block, shape):
    pairs = set()
    for b in np.ndindex(grid[1], grid[0]):
        for t in np.ndindex(block[1], block[0]):
            bb, tt = (b[1], b[0]), (t[1], t[0])
            idx = mapping(bb, tt)
            if all(0 <= i < s for i, s in zip(idx, shape)):
                pairs.add(((bb, tt), tuple(int(i) for i in idx)))
    return pairs


def _coverage(trace, name, shape, what):
    """Every element of `name` stored exactly once."""
    writers = trace.writers(name)
    for idx in np.ndindex(*shape):
        count = len(writers.get(idx, []))
        if count == 0:
            raise CaseFailed(f"{what}[{', '.join(map(str, idx))}] was never written (it still holds the NaN the "
                             "checker filled the output with): no thread covered it.")
        if count > 1:
            names = ", ".join(_thread_name(w) for w in writers[idx][:3])
            raise CaseFailed(f"{what}[{', '.join(map(str, idx))}] was written by {count} threads ({names}): each "
                             "element must have exactly one owner.")


def _add_2d_case(shape, block, seed):
    grid = (-(-shape[1] // block[0]), -(-shape[0] // block[1]))

    def run(kernel):
        rng = np.random.default_rng(seed)
        a, b = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
        out = np.full(shape, np.nan, np.float32)
        trace = _launch(kernel, grid, block, _BOUNDS_2D, a=a, b=b, out=out)
        _no_stores(trace, "a", "b")
        observed = _writes(trace, "out")
        mappings = _mappings_2d(block, grid)
        right = _expected_pairs(mappings["right"][0], grid, block, shape)
        if not observed <= right:
            for label, (mapping, hint) in mappings.items():
                if label != "right" and observed and observed <= _expected_pairs(mapping, grid, block, shape):
                    raise CaseFailed(f"the values may be right, but the wrong threads wrote them. Hint: {hint}")
            (key, idx) = min(observed - right)
            want = mappings["right"][0](*key)
            raise CaseFailed(f"{_thread_name(key)} wrote out[{idx[0]}, {idx[1]}]; with one thread per element it "
                             f"owns out[{want[0]}, {want[1]}]: row = blockIdx.y * blockDim.y + threadIdx.y, "
                             "col = blockIdx.x * blockDim.x + threadIdx.x.")
        _coverage(trace, "out", shape, "out")
        expect_close(a + b, trace.arrays["out"], what="out")

    return Case(f"a {shape[0]}x{shape[1]} array, blocks of {block[0]}x{block[1]} threads (x, y), grid {grid}", run,
                SIM_TIME_LIMIT)


def add_2d(kernel: Callable, *, show: bool = True) -> CheckResult:
    """Check `add_2d_kernel(a, b, out)`: out[row, col] = a[row, col] + b[row, col], one thread
    per element of a 2-D grid with x along the columns, launched as kernel[grid, block] with
    grid = (ceil(cols / block_x), ceil(rows / block_y))."""
    not_ready = _ready("add_2d", kernel, show)
    if not_ready is not None:
        return not_ready
    cases = [_add_2d_case((4, 4), (4, 4), 0), _add_2d_case((8, 8), (4, 4), 1), _add_2d_case((13, 21), (8, 4), 2),
             _add_2d_case((1, 1), (4, 4), 3), _add_2d_case((5, 40), (16, 2), 4), _add_2d_case((33, 3), (2, 8), 5)]
    return run_cases("add_2d", kernel, with_globals_hint(cases, kernel), show=show)


# ============================================================================ 2. a grid-stride loop

def _gid(key, threads):
    block, thread = key
    return block[0] * threads + thread[0]


def _axpy_pairs(n, blocks, threads):
    """name -> (set of (global thread id, element) pairs, hint) for the right loop and wrong ones."""
    stride = blocks * threads
    chunk = -(-n // stride) if n else 0
    return {
        "right": ({(i % stride, i) for i in range(n)}, ""),
        "no loop": ({(i, i) for i in range(min(n, stride))},
                    f"only the first {stride} elements (blocks x threads) were written: each thread handles one "
                    "element and stops. A grid-stride loop covers any n with any grid: "
                    "`for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):`."),
        "block stride": ({(b * threads + t, i) for b in range(blocks) for t in range(threads)
                          for i in range(b * threads + t, n, threads)},
                         "your stride is blockDim.x, so every block walks the rest of the array and elements are "
                         "written by several blocks; step by the whole grid, cuda.gridsize(1) = blockDim.x * "
                         "gridDim.x, so each element has one owner."),
        "thread start": ({(b * threads + t, i) for b in range(blocks) for t in range(threads)
                          for i in range(t, n, stride)},
                         "every block started at threadIdx.x, so the blocks repeat each other's elements; start at "
                         "the global index cuda.grid(1) = blockIdx.x * blockDim.x + threadIdx.x."),
        "chunks": ({(i // chunk, i) for i in range(n)} if chunk else set(),
                   f"each thread took a contiguous chunk of {chunk} elements. The values are right, but at every "
                   f"step the 32 threads of a warp touch addresses {chunk} floats apart: {{sectors}} sectors of 32 "
                   "bytes per warp request instead of 4. A grid-stride loop (i, i + gridsize, ...) keeps "
                   "neighbouring threads on neighbouring addresses (coalesced)."),
    }


def _axpy_case(n, blocks, threads, seed, nan_at=None):
    def run(kernel):
        rng = np.random.default_rng(seed)
        x, y = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
        if nan_at is not None:
            x[nan_at] = np.nan
        alpha = np.float32(2.5)
        out = np.full(n, np.nan, np.float32)
        trace = _launch(kernel, blocks, threads,
                        "a thread read or wrote past the end of the arrays: loop while i < x.shape[0] "
                        "(read the size from the array, not from a notebook variable).",
                        alpha=alpha, x=x, y=y, out=out)
        _no_stores(trace, "x", "y")
        observed = {(_gid(key, threads), idx[0]) for key, idx in _writes(trace, "out")}
        candidates = _axpy_pairs(n, blocks, threads)
        if observed != candidates["right"][0]:
            for label, (pairs, hint) in candidates.items():
                if label != "right" and observed == pairs:
                    if "{sectors}" in hint:
                        hint = hint.replace("{sectors}", f"{trace.sectors_per_request('x'):.0f}")
                    raise CaseFailed(f"the wrong threads wrote out. Hint: {hint}")
            _coverage(trace, "out", (n,), "out")
            wrong = sorted((g, i) for g, i in observed if i % (blocks * threads) != g)
            g, i = wrong[0]
            raise CaseFailed(f"global thread {g} wrote out[{i}]; in a grid-stride loop thread g handles elements "
                             f"g, g + {blocks * threads}, g + {2 * blocks * threads}, ... (the stride is the grid "
                             f"size, {blocks} blocks x {threads} threads).")
        got = trace.arrays["out"]
        want = alpha * x + y
        if n and not np.allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True):
            if np.allclose(got, alpha * y + x, rtol=1e-6, atol=1e-6, equal_nan=True):
                raise CaseFailed("out = alpha * y + x: alpha scales x, out[i] = alpha * x[i] + y[i].")
            if np.allclose(got, x + y, rtol=1e-6, atol=1e-6, equal_nan=True):
                raise CaseFailed("out = x + y: alpha was ignored; out[i] = alpha * x[i] + y[i].")
        expect_close(want, got, what="out")

    extra = f", x[{nan_at}] = NaN" if nan_at is not None else ""
    return Case(f"n = {n}, {blocks} block(s) of {threads} threads{extra}", run, SIM_TIME_LIMIT)


def axpy(kernel: Callable, *, show: bool = True) -> CheckResult:
    """Check `axpy_kernel(alpha, x, y, out)`: out[i] = alpha * x[i] + y[i] for 1-D float32
    arrays, with a grid-stride loop, so any grid covers any n."""
    not_ready = _ready("axpy", kernel, show)
    if not_ready is not None:
        return not_ready
    cases = [_axpy_case(8, 1, 8, 0), _axpy_case(100, 2, 8, 1), _axpy_case(5, 2, 8, 2), _axpy_case(1, 1, 4, 3),
             _axpy_case(37, 3, 4, 4), _axpy_case(0, 2, 4, 5), _axpy_case(130, 2, 32, 6, nan_at=77)]
    return run_cases("axpy", kernel, with_globals_hint(cases, kernel), show=show)


# ============================================================================ 3. the tiles of a tiled matmul

_TILE_HINTS = {
    "race": lambda message: (
        "keep the cuda.syncthreads() after the products: it stops a fast thread from loading the next tile "
        "while others still read this one." if "overwr" in message else
        "each thread stores exactly one element of each tile, sa[ty, tx] and sb[ty, tx]: loading more makes "
        "threads overwrite each other." if "both wrote" in message else
        "call cuda.syncthreads() after loading both tiles and before the products: a thread must not read a "
        "tile element that another thread may not have stored yet."),
    "uninitialised": ("when the bounds check fails, store 0.0 into the tile: skipping the store leaves whatever "
                      "the previous step or block put there, and the products add it in."),
    "divergent barrier": ("the cuda.syncthreads() must not be inside the bounds check: every thread of the block "
                          "must reach it, also those whose element lies past the edge."),
}

_BOUNDS_TILE = ("a tile load read past the edge of a matrix. Guard each load, row < a.shape[0] and k0 + tx < "
                "a.shape[1] for a, k0 + ty < b.shape[0] and col < b.shape[1] for b, and store 0.0 into the tile "
                "when the guard fails (the zeros add nothing to the products).")


def _tiled_case(m, k, n, tile, seed):
    grid = (-(-n // tile), -(-m // tile))

    def run(kernel):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        out = np.full((m, n), np.nan, np.float32)
        trace = _launch(kernel, grid, (tile, tile), _BOUNDS_TILE, a=a, b=b, out=out)
        _no_stores(trace, "a", "b")
        if "divergent barrier" in trace.problem_kinds():
            _first_problem(trace, {"divergent barrier": _TILE_HINTS["divergent barrier"]}, kinds=("divergent barrier",))
        if trace.problems and any(x.kind == "load" and x.epoch == 0 for x in trace.shared_accesses):
            raise CaseFailed("the products read the shared tiles before any cuda.syncthreads(). Hint: call "
                             "cuda.syncthreads() after loading both tiles and before the products: a thread must "
                             "not read a tile element that another thread may not have stored yet.")
        _first_problem(trace, _TILE_HINTS)
        for name, shape, want, per in (("a", (m, k), grid[0], "block-row"), ("b", (k, n), grid[1], "block-column")):
            loads = trace.loads(name)
            for idx in np.ndindex(*shape):
                if loads.get(idx, 0) != want:
                    got = loads.get(idx, 0)
                    hint = ("each thread loads exactly one element of each tile per step along k: "
                            "sa[ty, tx] = a[row, k0 + tx] and sb[ty, tx] = b[k0 + ty, col]" if got > want else
                            "every element of a and b must come in through a tile: check which rows and "
                            "columns your loads cover")
                    raise CaseFailed(f"{name}[{idx[0]}, {idx[1]}] was loaded from global memory {got} times; a "
                                     f"tiled kernel loads it once per block that needs it ({want}: the blocks of its "
                                     f"{per}). Hint: {hint}.")
        expect_close((a.astype(np.float64) @ b).astype(np.float32), trace.arrays["out"], rtol=1e-5, atol=1e-5,
                     what="out")

    return Case(f"({m}, {k}) @ ({k}, {n}) with {tile}x{tile} tiles", run, SIM_TIME_LIMIT)


def tiled_matmul(kernel: Callable, *, tile: int = 4, show: bool = True) -> CheckResult:
    """Check a tiled matmul kernel `kernel(a, b, out)` launched with `tile` x `tile` thread
    blocks: out = a @ b for float32 matrices of any size, each global element loaded once
    per block that needs it, and no race on the shared tiles."""
    if not (isinstance(tile, (int, np.integer)) and 1 <= tile and tile * tile <= MAX_THREADS_PER_BLOCK):
        return _refuse("tiled_matmul", f"tile = {tile!r}: the tile is the block side, an int with tile * tile <= "
                       f"{MAX_THREADS_PER_BLOCK} threads per block (4 or 8 here).", show)
    not_ready = _ready("tiled_matmul", kernel, show)
    if not_ready is not None:
        return not_ready
    t = int(tile)
    cases = [_tiled_case(2 * t, 2 * t, 2 * t, t, 0), _tiled_case(3 * t + 1, t + 3, 2 * t + 2, t, 1),
             _tiled_case(1, 1, 1, t, 2), _tiled_case(3, 2 * t + 1, 2, t, 3), _tiled_case(t + 1, max(1, t // 2), t + 2, t, 4)]
    return run_cases("tiled_matmul", kernel, with_globals_hint(cases, kernel, "Read the sizes from a.shape and "
                     "b.shape; the tile side TILE is the one global the kernel may use.", ("TILE",)), show=show)


# ============================================================================ 4. a block reduction

def _sum_hints(threads):
    return {
        "race": ("a cuda.syncthreads() is missing: one after every thread has stored its own sum into shared "
                 "memory, and one after every halving step (inside the while loop, outside the `if t < half`), "
                 "so no thread reads a slot before its writer is done."),
        "uninitialised": ("every thread must store its own sum into its slot, 0.0 when it had no elements: the "
                          f"tree adds all {threads} slots."),
        "divergent barrier": ("a cuda.syncthreads() inside `if t < half:` (or another branch) is reached by some "
                              "threads only; put it after the if, in the loop, where every thread runs it."),
    }


def _block_of(n, blocks, threads):
    """The block whose grid-stride slice holds each element."""
    return (np.arange(n) % (blocks * threads)) // threads


def _sum_case(n, blocks, threads, seed, nan_at=None):
    def run(kernel):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(n).astype(np.float32)
        if nan_at is not None:
            x[nan_at] = np.nan
        partial = np.full(blocks, np.nan, np.float32)
        trace = _launch(kernel, blocks, threads,
                        f"loop over x while i < x.shape[0], and index the shared array below {threads} (half starts "
                        f"at {threads} // 2, so t + half stays inside).", x=x, partial=partial)
        _no_stores(trace, "x")
        _first_problem(trace, _sum_hints(threads))
        if not trace.shared_accesses:
            raise CaseFailed("your kernel did not use shared memory: this exercise is the tree reduction, where "
                             "the threads of a block add pairs of partial sums in a shared array (an atomic add "
                             "or one thread looping over global memory serialises the block).")
        per = {}
        for access in trace.shared_accesses:
            if access.kind == "load":
                key = (access.block, access.thread)
                per[key] = per.get(key, 0) + 1
        limit = 2 * int(math.log2(threads)) + 2
        if per and max(per.values()) > limit:
            key = max(per, key=per.get)
            raise CaseFailed(f"{_thread_name(key)} read {per[key]} shared values; in a tree reduction each step "
                             f"halves the live threads and a thread adds one pair, so none reads more than about "
                             f"2 log2({threads}) = {2 * int(math.log2(threads))}. Hint: one thread summing the block "
                             f"serially gets the right value in {threads} steps where the tree takes "
                             f"{int(math.log2(threads))}: halve the live threads each step instead.")
        writers = trace.writers("partial")
        for b in range(blocks):
            count = len(writers.get((b,), []))
            if count == 0:
                raise CaseFailed(f"partial[{b}] was never written: one thread of each block (t == 0) stores the "
                                 "block's sum, partial[cuda.blockIdx.x] = the shared slot 0.")
            if count > 1:
                raise CaseFailed(f"partial[{b}] was stored by {count} threads: let one thread (t == 0) write the "
                                 "block's result after the tree (the others would store half-reduced values on a "
                                 "GPU, in any order).")
        owner = _block_of(n, blocks, threads)
        want = np.array([x[owner == b].astype(np.float64).sum() for b in range(blocks)])
        got = trace.arrays["partial"].astype(np.float64)
        scale = np.nansum(np.abs(x.astype(np.float64))) + 1.0
        close = np.isclose(got, want, rtol=1e-5, atol=1e-6 * scale, equal_nan=True)
        if not close.all():
            b = int(np.argmax(~close))
            same_total = np.isclose(np.nansum(got), np.nansum(want), rtol=1e-5, atol=1e-6 * scale)
            hint = (" The partial sums add up to the total, so the blocks summed other slices: each block sums its "
                    "grid-stride slice, for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1))." if same_total
                    else "")
            raise CaseFailed(f"partial[{b}] is {got[b]:.6g}, expected {want[b]:.6g} (the sum of block {b}'s "
                             f"grid-stride slice of x).{hint}")

    extra = f", x[{nan_at}] = NaN" if nan_at is not None else ""
    return Case(f"n = {n}, {blocks} block(s) of {threads} threads{extra}", run, SIM_TIME_LIMIT)


def block_sum(kernel: Callable, *, threads: int = 64, show: bool = True) -> CheckResult:
    """Check `block_sum_kernel(x, partial)` launched with `threads` threads per block:
    partial[b] = the sum of block b's grid-stride slice of x, reduced as a tree in shared
    memory (threads a power of two)."""
    if not (isinstance(threads, (int, np.integer)) and 2 <= threads <= MAX_THREADS_PER_BLOCK
            and threads & (threads - 1) == 0):
        return _refuse("block_sum", f"threads = {threads!r}: the tree halves the threads each step, so use a power "
                       f"of two between 2 and {MAX_THREADS_PER_BLOCK} (64 here).", show)
    not_ready = _ready("block_sum", kernel, show)
    if not_ready is not None:
        return not_ready
    t = int(threads)
    cases = [_sum_case(t, 1, t, 0), _sum_case(3 * t + 8, 2, t, 1), _sum_case(t // 2 + 5, 1, t, 2),
             _sum_case(1, 2, t, 3), _sum_case(5 * t + 1, 3, t, 4, nan_at=t + 13)]
    return run_cases("block_sum", kernel, with_globals_hint(cases, kernel, "Read the length from x.shape; "
                     "the block size THREADS is the one global the kernel may use.", ("THREADS",)), show=show)
