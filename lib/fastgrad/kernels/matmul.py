"""Matrix multiplication, from the textbook triple loop to a packed, register-blocked,
threaded kernel (chapter 03), plus batched matmul and the production `matmul`.

The ladder (each a public function with the same signature `f(a, b, out=None)`):

    matmul_naive     i, j, k loops: a dot product per output; walks B down a column
    matmul_ikj       i, k, j loops: streams rows of B and C, so the j loop vectorises
    matmul_tiled     ikj inside cache-sized tiles (the tile's rows are 0-based views)
    matmul_packed    copies strips of A and B into contiguous, zero-padded buffers and
                     computes 6 x 32 blocks of C as outer products in registers (zmm FMAs)
    matmul_parallel  matmul_packed on each thread's block of rows (`prange`)
    bmm              many small matmuls at once, in one compiled call

Every function accepts 2-D (m, k) @ (k, n), batched (..., m, k) @ (..., k, n) with
NumPy's broadcasting of the batch dimensions, and 1-D operands as NumPy does
(a vector is promoted to a matrix and the extra dimension removed). float32 and
float64; both operands must share the dtype. `out=` receives the result without
allocating. Sizes that are not a multiple of a tile, non-square shapes and zero-sized
dimensions are handled by every kernel.

`matmul` is the one the rest of the library calls. It checks its inputs, runs tiny
products (m*k*n <= 1000) in the Numba ikj kernel and hands the rest to BLAS through
NumPy: where each wins was measured (see the comment above `matmul`).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..shapes import FLOAT_DTYPES, matmul_shape
from .elementwise import _output  # the same out= checks as the elementwise kernels

__all__ = ["matmul", "matmul_naive", "matmul_ikj", "matmul_tiled", "matmul_packed", "matmul_parallel",
           "bmm", "matmul_shape", "packing_buffers"]

# ---------------------------------------------------------------------------------------
# Shapes, dtypes and `out=`: one place for the checks every kernel shares. The shape rule
# is fastgrad.shapes.matmul_shape (NumPy's, 1-D operands included), re-exported here.


def _check_dtypes(a: np.ndarray, b: np.ndarray) -> np.dtype:
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: dtypes differ: a is {a.dtype} with shape {a.shape}, b is {b.dtype} with "
                        f"shape {b.shape}; convert one with .astype()")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"matmul: only float32 and float64 are supported, got {a.dtype} (shapes {a.shape} "
                        f"and {b.shape})")
    return a.dtype


def _prepare(a, b, out):
    """Validate; return (a, b, out, out2) where out2 is `out` viewed with 1-D operands promoted."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
        shape = (a.shape[0], b.shape[1])  # the common case, without the general rule's cost
    else:
        shape = matmul_shape(a.shape, b.shape)
    dtype = _check_dtypes(a, b)
    if out is None:
        out = np.empty(shape, dtype)
    else:
        _output("matmul", out, shape, dtype)
    out2 = out
    if a.ndim == 1:
        a, out2 = a[None, :], np.expand_dims(out2, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        b, out2 = b[:, None], np.expand_dims(out2, -1)
    return a, b, out, out2


def _batches(a: np.ndarray, b: np.ndarray, out2: np.ndarray):
    """Batch broadcasting without copying the broadcast operand: (a3, b3, c3, ia, ib).

    a3 (Ba, m, k) and b3 (Bb, k, n) hold each operand's own matrices; c3 (B, m, n) is the
    output; output matrix t is a3[ia[t]] @ b3[ib[t]].
    """
    batch = out2.shape[:-2]
    a3 = a.reshape((int(np.prod(a.shape[:-2])),) + a.shape[-2:])
    b3 = b.reshape((int(np.prod(b.shape[:-2])),) + b.shape[-2:])
    ia = np.broadcast_to(np.arange(a3.shape[0]).reshape(a.shape[:-2]), batch).ravel()
    ib = np.broadcast_to(np.arange(b3.shape[0]).reshape(b.shape[:-2]), batch).ravel()
    c3 = out2.reshape((int(np.prod(batch)),) + out2.shape[-2:])  # a view when out2 allows it; checked by the caller
    return a3, b3, c3, ia, ib


def _run(kernel, a, b, out, *params):
    """Validate, handle 1-D / batched / `out=`, and call `kernel(a2, b2, c2, *params)` per matrix."""
    given = out is not None
    a, b, out, out2 = _prepare(a, b, out)
    # A kernel writes C while it still reads A and B: compute into a fresh array if they overlap.
    target = out2
    if given and (np.may_share_memory(out2, a) or np.may_share_memory(out2, b)):
        target = np.empty(out2.shape, out2.dtype)
    if target.ndim == 2 and a.ndim == 2 and b.ndim == 2:
        kernel(a, b, target, *params)
    else:
        a3, b3, c3, ia, ib = _batches(a, b, target)
        write_back = c3.size > 0 and not np.may_share_memory(c3, target)
        for t in range(c3.shape[0]):
            kernel(a3[ia[t]], b3[ib[t]], c3[t], *params)
        if write_back:  # `target` was not reshapable to (B, m, n) as a view
            target[...] = c3.reshape(target.shape)
    if target is not out2:
        out2[...] = target
    return out


# ---------------------------------------------------------------------------------------
# Rung 1: ijk. The textbook definition; B is read down a column (stride n), one
# multiply-add per loop trip, and the sum is a dependency chain: no SIMD.


@numba.njit(cache=True)
def _naive_kernel(a, b, c):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            s = c.dtype.type(0)
            for p in range(k):
                s += a[i, p] * b[p, j]
            c[i, j] = s


def matmul_naive(a, b, out=None):
    """(m, k) @ (k, n) with i, j, k loops: C[i, j] = sum_p A[i, p] B[p, j].

    Slow on purpose: the inner loop walks down a column of B (a new cache line per
    step) and its running sum cannot be vectorised without reassociating additions.
    """
    return _run(_naive_kernel, a, b, out)


# ---------------------------------------------------------------------------------------
# Rung 2: ikj. Same arithmetic, loops swapped: the inner loop adds a[i, p] * (row p of B)
# to row i of C. Both rows are contiguous, so the j loop becomes SIMD loads and stores.


@numba.njit(cache=True)
def _ikj_kernel(a, b, c):
    m, k = a.shape
    n = b.shape[1]
    c[:, :] = 0
    for i in range(m):
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                c[i, j] += aip * b[p, j]


def matmul_ikj(a, b, out=None):
    """(m, k) @ (k, n) with i, k, j loops: rows of C updated by scaled rows of B.

    Every access in the inner loop is unit-stride, so it vectorises; but for large n a
    row of C and all of B no longer fit in cache and every trip goes to memory.
    """
    return _run(_ikj_kernel, a, b, out)


# ---------------------------------------------------------------------------------------
# Rung 3: cache blocking. Work on tile x tile blocks so the block of B being reused stays
# in cache. The inner loop runs over 0-based views of the tile's rows: written as
# `for j in range(j0, j1)` Numba/LLVM compiled it to scalar code (see the notebook).


@numba.njit(cache=True)
def _tiled_kernel(a, b, c, tile):
    m, k = a.shape
    n = b.shape[1]
    c[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                jn = min(tile, n - j0)  # the last tile may be narrower
                for i in range(i0, min(i0 + tile, m)):
                    c_row = c[i, j0:j0 + jn]
                    for p in range(p0, min(p0 + tile, k)):
                        aip = a[i, p]
                        b_row = b[p, j0:j0 + jn]
                        for j in range(jn):
                            c_row[j] += aip * b_row[j]


def matmul_tiled(a, b, out=None, tile: int = 64):
    """(m, k) @ (k, n) computed tile by tile (`tile` x `tile` blocks of A, B and C).

    A block of B (tile^2 elements, 16 KiB at tile=64 in float32) is reused for `tile`
    rows of A while it sits in L1/L2 instead of being re-read from memory.
    """
    if int(tile) < 1:
        raise ValueError(f"matmul_tiled: tile must be >= 1, got {tile}")
    return _run(_tiled_kernel, a, b, out, int(tile))


# ---------------------------------------------------------------------------------------
# Rung 4: packing and register blocking (the GotoBLAS/BLIS design).
#   * pack: copy a kc-deep slab of A into strips of MR rows and a panel of nc columns of B
#     into strips of NR columns, each strip stored k-major (step p of the sum is MR, resp.
#     NR, consecutive numbers) and zero-padded, so the micro-kernel never sees a stride or
#     an edge;
#   * register-block: the micro-kernel computes an MR x NR = 6 x 32 block of C as a sum of
#     outer products: per step p it broadcasts 6 numbers of A, loads 32 contiguous numbers
#     of B (two 16-float zmm registers) and does 6 x 32 multiply-adds (12 zmm FMAs) into
#     accumulators that stay in registers until the end. 8 loads per 12 vector FMAs, and
#     no horizontal sums (the old 4 x 4 dot-product kernel needed 8 loads per 16 FMAs plus
#     16 horizontal sums per block: about 60% of the speed at n = 1024).
# Measured on the course machine (2-core AMD EPYC, AVX-512), float32, one thread, on
# in-cache panels (kc = 256): 6 x 32 ~230 GFLOP/s, 4 x 32 ~210, 8 x 32 ~215, 6 x 16 ~160.

MR, NR = 6, 32  # the register block: 6 rows of A x 32 columns of B (the kernel's a0..a5 are MR = 6)


@intrinsic
def _stack_array(typingctx, like):
    """A pointer to MR * NR uninitialised numbers of like's dtype on the stack (C's `float acc[6][32]`).

    np.empty would put the accumulators on the heap, where LLVM cannot prove they are
    separate from the packed panels, so it would load and store them on every step; a
    stack array is provably private, and LLVM keeps it in registers.
    """
    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(like.dtype), size=MR * NR)
    return types.CPointer(like.dtype)(like), codegen


# fastmath={"contract"} only lets LLVM fuse each a * b + acc into one FMA instruction (one
# rounding instead of two); it never reorders a sum, so the result does not depend on how
# the loops were vectorised or split across threads.
@numba.njit(cache=True, fastmath={"contract"})
def _micro_kernel(ap, bp, kb, c, ci, cj):
    """C[ci:ci+MR, cj:cj+NR] += ap[:kb].T @ bp[:kb], clipped at C's edges.

    ap (>= kb, MR) is a packed strip of A (ap[p, r] = A[ci + r, p]), bp (>= kb, NR) a
    packed strip of B (bp[p, j] = B[p, cj + j]). Why it is fast: the MR x NR accumulators
    live in registers for all kb steps; the j loop has a constant trip count (NR), so
    LLVM turns it into whole zmm FMAs with A's numbers broadcast.
    """
    acc = numba.carray(_stack_array(c), (MR, NR))
    for r in range(MR):
        for j in range(NR):
            acc[r, j] = 0
    for p in range(kb):
        a0, a1, a2, a3, a4, a5 = ap[p, 0], ap[p, 1], ap[p, 2], ap[p, 3], ap[p, 4], ap[p, 5]
        for j in range(NR):  # acc += outer(A's column p, B's row p)
            b = bp[p, j]
            acc[0, j] += a0 * b
            acc[1, j] += a1 * b
            acc[2, j] += a2 * b
            acc[3, j] += a3 * b
            acc[4, j] += a4 * b
            acc[5, j] += a5 * b
    rows = min(MR, c.shape[0] - ci)  # the last strips may stick out of C: drop the padding
    cols = min(NR, c.shape[1] - cj)
    for r in range(rows):
        for j in range(cols):
            c[ci + r, cj + j] += acc[r, j]


@numba.njit(cache=True)
def _pack_rows(a, k0, kb, ap):
    """ap[s, p, r] = a[s*MR + r, k0 + p]: strips of MR rows of A, k-major; rows past A's end = 0."""
    m = a.shape[0]
    for s in range(ap.shape[0]):
        for r in range(MR):
            i = s * MR + r
            if i < m:
                for p in range(kb):
                    ap[s, p, r] = a[i, k0 + p]
            else:
                for p in range(kb):
                    ap[s, p, r] = 0


@numba.njit(cache=True)
def _pack_cols(b, k0, kb, j0, jn, bp):
    """bp[t, p, j] = b[k0 + p, j0 + t*NR + j] for t*NR + j < jn: strips of NR columns of B,
    k-major (row p of a strip is NR consecutive numbers of B's row k0 + p); padding = 0."""
    for t in range(bp.shape[0]):
        for p in range(kb):
            for j in range(NR):
                col = t * NR + j
                bp[t, p, j] = b[k0 + p, j0 + col] if col < jn else 0


@numba.njit(cache=True)
def _packed_into(a, b, c, kc, nc, ap, bp):
    """C = A @ B using the scratch buffers ap (>= ceil(m/MR), kc, MR) and bp (>= ceil(nc/NR), kc, NR)."""
    m, k = a.shape
    n = b.shape[1]
    c[:, :] = 0
    ms = (m + MR - 1) // MR
    for k0 in range(0, k, kc):
        kb = min(kc, k - k0)
        _pack_rows(a, k0, kb, ap[:ms])
        for j0 in range(0, n, nc):
            jb = min(nc, n - j0)
            ns = (jb + NR - 1) // NR
            _pack_cols(b, k0, kb, j0, jb, bp[:ns])
            for t in range(ns):          # a kc x NR strip of B stays in L1 ...
                for s in range(ms):      # ... while every MR-row strip of A meets it
                    _micro_kernel(ap[s], bp[t], kb, c, s * MR, j0 + t * NR)


def _buffer_shapes(m, k, n, kc, nc):
    """Shapes of the packing buffers (ap, bp) for an (m, k) @ (k, n) product."""
    kc = max(1, min(kc, k))
    return (-(-m // MR), kc, MR), (-(-min(nc, n) // NR), kc, NR)


@numba.njit(cache=True)
def _scratch(a, b, kc, nc):
    """Fresh packing buffers, no larger than the problem needs (np.empty: padding is zeroed by packing)."""
    m, k = a.shape
    kc = max(1, min(kc, k))
    ns = (min(nc, b.shape[1]) + NR - 1) // NR
    return np.empty(((m + MR - 1) // MR, kc, MR), a.dtype), np.empty((ns, kc, NR), a.dtype)


@numba.njit(cache=True)
def _packed_kernel(a, b, c, kc, nc):
    ap, bp = _scratch(a, b, kc, nc)
    _packed_into(a, b, c, kc, nc, ap, bp)


def packing_buffers(a, b, kc: int = 256, nc: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Scratch buffers for `matmul_packed(a, b, scratch=...)`: allocate once, reuse every call.

    Returns (ap, bp): ap (ceil(m/MR), kc, MR) holds a kc-deep slab of all rows of A as
    MR-row strips, bp (ceil(nc/NR), kc, NR) a panel of nc columns of B as NR-column
    strips. Sized for 2-D a (m, k) and b (k, n).
    """
    a, b = np.asarray(a), np.asarray(b)
    m = a.shape[-2] if a.ndim > 1 else 1   # a 1-D operand is one row (a) or one column (b)
    n = b.shape[-1] if b.ndim > 1 else 1
    a_shape, b_shape = _buffer_shapes(m, a.shape[-1], n, int(kc), int(nc))
    return np.empty(a_shape, a.dtype), np.empty(b_shape, a.dtype)


def matmul_packed(a, b, out=None, kc: int = 256, nc: int = 128, scratch=None):
    """(m, k) @ (k, n) with packed panels and a 6 x 32 register-blocked micro-kernel.

    For each kc-deep slab: A's rows (in 6-row strips) and nc columns of B (in 32-column
    strips) are copied into contiguous, k-major, zero-padded buffers; each 6 x 32 block of
    C is then a sum of kc outer products accumulated in registers (zmm FMAs, see
    `_micro_kernel`). A kc x 32 strip of B (32 KiB for float32 at the defaults) stays in
    L1 while the strips of A stream past it. `scratch=packing_buffers(a, b, kc, nc)`
    reuses packing buffers instead of allocating them on every call.
    """
    kc, nc = int(kc), int(nc)
    if kc < 1 or nc < 1:
        raise ValueError(f"matmul_packed: kc and nc must be >= 1, got kc={kc}, nc={nc}")
    if scratch is None:
        return _run(_packed_kernel, a, b, out, kc, nc)
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim and b.ndim:  # (a 0-d operand: _run raises the shape error)
        scratch = _checked_scratch(scratch, a, b, kc, nc)
    return _run(_packed_into, a, b, out, kc, nc, *scratch)


def _checked_scratch(scratch, a: np.ndarray, b: np.ndarray, kc: int, nc: int):
    """`scratch` as (ap, bp) if both are large enough for a @ b at these kc, nc and of a's
    dtype, else a ValueError. Cheap (a few comparisons): reusing buffers must not cost
    more in checks than allocating them would."""
    ap, bp = scratch
    m = a.shape[-2] if a.ndim > 1 else 1
    n = b.shape[-1] if b.ndim > 1 else 1
    (sa, ka, _), (sb, kb, _) = _buffer_shapes(m, a.shape[-1], n, kc, nc)
    if not (isinstance(ap, np.ndarray) and isinstance(bp, np.ndarray) and ap.ndim == 3 and bp.ndim == 3
            and ap.dtype == a.dtype and bp.dtype == a.dtype and ap.shape[2] == MR and bp.shape[2] == NR
            and ap.shape[0] >= sa and ap.shape[1] >= ka and bp.shape[0] >= sb and bp.shape[1] >= kb):
        shapes = [getattr(x, "shape", type(x).__name__) for x in (ap, bp)]
        raise ValueError(f"matmul_packed: scratch buffers {shapes[0]}, {shapes[1]} are too small or of the wrong "
                         f"dtype for {a.shape} @ {b.shape} ({a.dtype}) with kc={kc}, nc={nc}; need at least "
                         f"{(sa, ka, MR)} and {(sb, kb, NR)}: make them with packing_buffers(a, b, kc, nc)")
    return ap, bp


# ---------------------------------------------------------------------------------------
# Rung 5: threads. Split the rows of A (and C) into one block per thread and run the packed
# kernel on each block with `prange`; blocks write disjoint rows of C, so no locks. One
# fork/join per call: an earlier version forked per (k, j) panel (36 times at n = 1024) and,
# on a shared machine with other jobs running, each join waited for a descheduled thread:
# 4-7x slower than this one in the same interleaved run. Each block packs its own panels of B
# (duplicated work, but only k*n copies per block against 2 (m/threads) k n FLOPs).


@numba.njit(cache=True, parallel=True)
def _parallel_kernel(a, b, c, kc, nc, threads):
    m = a.shape[0]
    blocks = max(1, min(threads, (m + MR - 1) // MR))
    rows = ((m + blocks - 1) // blocks + MR - 1) // MR * MR  # a multiple of the register block
    for t in prange(blocks):
        r0 = t * rows
        r1 = min(m, r0 + rows)
        if r0 < r1:
            _packed_kernel(a[r0:r1], b, c[r0:r1], kc, nc)


def matmul_parallel(a, b, out=None, kc: int = 256, nc: int = 128):
    """`matmul_packed` on all of Numba's threads: one block of rows of A and C per thread.

    `numba.set_num_threads(t)` chooses how many. Each thread packs and multiplies its own
    rows, so the only synchronisation is one fork/join per call.
    """
    kc, nc = int(kc), int(nc)
    if kc < 1 or nc < 1:
        raise ValueError(f"matmul_parallel: kc and nc must be >= 1, got kc={kc}, nc={nc}")
    # The thread count is read here, not inside the kernel: reading it in compiled code
    # would stop Numba from caching the kernel.
    return _run(_parallel_kernel, a, b, out, kc, nc, numba.get_num_threads())


# ---------------------------------------------------------------------------------------
# Batched: many (often small) matrices, ikj per matrix, in one compiled call, one thread.
# Measured on the course machine, float32, each alone: (4096, 4, 4) @ (4096, 4, 4) 0.27 ms
# (np.matmul 0.23-0.59 ms); (512, 16, 16) serial 0.37-0.48 ms, threaded over the batch
# 0.25 ms, np.matmul 0.09-0.12 ms. Threads over the batch helped only when timed alone:
# interleaved with NumPy's (threaded) BLAS calls, as in a real training step, the threaded
# version took 5-8 ms — OpenBLAS's threads keep spinning after each call and starve Numba's
# on a 2-core machine. So bmm stays single-threaded.


@numba.njit(cache=True)
def _bmm_kernel(a3, b3, c3, ia, ib):
    for t in range(c3.shape[0]):
        a, b, c = a3[ia[t]], b3[ib[t]], c3[t]
        m, k = a.shape
        n = b.shape[1]
        for i in range(m):
            for j in range(n):
                c[i, j] = 0
            for p in range(k):
                aip = a[i, p]
                for j in range(n):
                    c[i, j] += aip * b[p, j]


def bmm(a, b, out=None):
    """Batched (..., m, k) @ (..., k, n) with broadcasting of the batch dimensions.

    One compiled call for the whole batch (no Python loop, one thread: see the
    measurements above); a broadcast operand (e.g. one weight matrix for every item) is
    not copied. Measured, it is at best level with np.matmul, on batches of very small
    matrices (4 x 4); the production `matmul` uses np.matmul.
    """
    given = out is not None
    a, b, out, out2 = _prepare(a, b, out)
    target = out2
    if given and (np.may_share_memory(out2, a) or np.may_share_memory(out2, b)):
        target = np.empty(out2.shape, out2.dtype)
    a3, b3, c3, ia, ib = _batches(a, b, target)
    if c3.size:
        _bmm_kernel(a3, b3, c3, ia, ib)
        if not np.may_share_memory(c3, target):
            target[...] = c3.reshape(target.shape)
    if target is not out2:
        out2[...] = target
    return out


# ---------------------------------------------------------------------------------------
# Production dispatch: where does Numba beat BLAS-through-NumPy? Measured on the course
# machine (2-core AMD EPYC, AVX-512, OpenBLAS 0.3.31 with OPENBLAS_CORETYPE=Haswell),
# float32, n x n, medians of 9 interleaved repeats, complete calls (checks + allocation):
#   n = 2..10:   Numba ikj 0.83-1.03 us, checks + np.matmul 1.06-1.15 us (bare np.matmul
#                0.82-0.93 us): Numba ~0.2 us (~20%) faster
#   n = 12, 16:  Numba 1.24, 1.36 us; np.matmul 1.12, 1.25 us: BLAS ahead from here on
#   n >= 32:     BLAS (on 2 threads) ahead of every single-threaded Numba kernel: by 2-3x at
#                n = 32-64 for ikj, by 1.1-1.9x at n = 32-256 for the packed 6 x 32 kernel
#                (closest at n = 128-256)
#   batches:     see the measurements above `bmm` (np.matmul ahead or level)
# So products with m * k * n <= 1000 (about 10 x 10 x 10) go to the Numba ikj kernel, the
# rest to NumPy. notebooks/03_matmul.ipynb re-measures this on the reader's machine.
_NUMBA_UP_TO = 1000  # m * k * n


def matmul(a, b, out=None):
    """a @ b, the library's production matmul: (m, k) @ (k, n), batched (..., m, k) @
    (..., k, n) with broadcasting, 1-D operands as NumPy. float32/float64, same dtype.

    Dispatch (measured, see the comment above): 2-D products up to m*k*n = 1000 run in
    the Numba ikj kernel (cheaper to call than BLAS); everything else goes to BLAS
    through `np.matmul`. Errors name both shapes (ValueError) or both dtypes (TypeError).
    """
    if (out is None and type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2
            and a.shape[1] == b.shape[0] and a.dtype == b.dtype and a.dtype in FLOAT_DTYPES):
        m, k = a.shape  # the common case, checked in a fraction of a microsecond
        n = b.shape[1]
        if m * k * n <= _NUMBA_UP_TO:
            c = np.empty((m, n), a.dtype)
            _ikj_kernel(a, b, c)
            return c
        return np.matmul(a, b)
    a, b, out, out2 = _prepare(a, b, out)
    np.matmul(a, b, out=out2)
    return out
