"""GPU kernels written with `numba.cuda` (chapter 11), with host wrappers that take and
return NumPy arrays.

Kernels (each `*_kernel` is a `@cuda.jit` function; the wrapper of the same name
without `_kernel` checks the inputs, chooses the launch and copies the result back):

    add / fma          elementwise `a + b` and fused `a * b + c`, one grid-stride loop
    block_sum          a sum: each block reduces its slice in shared memory (a tree of
                       halvings), the host adds the per-block partial sums
    matmul_naive       one thread per output, reading a row of A and a column of B
                       from global memory: 2k global loads per output
    matmul_tiled       blocks of TILE x TILE threads stage TILE x TILE tiles of A and B
                       in shared memory: each global element is loaded once per tile
                       and reused TILE times, so 2k / TILE global loads per output
    softmax_rows       one block per row: a shared-memory max, then a shared-memory sum
    attention_decode   single-query attention over a KV cache: one block per head

No GPU is needed to run them: with `NUMBA_ENABLE_CUDASIM=1` set before numba is first
imported, Numba's simulator runs every kernel in Python threads (slowly: keep sizes at
64 or below). The simulator is more permissive than a GPU (it takes 2048 threads per
block and Python-only code), so the wrappers enforce a real GPU's limits
(`MAX_THREADS_PER_BLOCK`, `MAX_SHARED_BYTES`) and `compile_ptx_all()` compiles every
kernel for a real GPU where a CUDA compiler is installed.
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np
from numba import cuda, float32

MAX_THREADS_PER_BLOCK = 1024          # every CUDA GPU since compute capability 2.0
MAX_SHARED_BYTES = 48 * 1024          # static shared memory per block
MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65535
WARP = 32
REDUCE_THREADS = 256                  # block size of the reductions (a power of two)
# The tree reductions are written out in each kernel, not called as a device function: the
# built-in numba.cuda asks the GPU driver for the device when it compiles a device function,
# so `compile_ptx` of a kernel that calls one fails on a machine without a GPU.
MAX_CACHE = 1024                      # longest KV cache `attention_decode` takes (shared scores)


def simulated() -> bool:
    """True when kernels run on Numba's CUDA simulator rather than a GPU (numba reads
    NUMBA_ENABLE_CUDASIM once, when it is first imported: setting it later changes nothing)."""
    from numba.core import config
    return bool(config.ENABLE_CUDASIM)


def require_device() -> None:
    """Raise a clear error when there is neither a GPU nor the simulator."""
    if not cuda.is_available():
        raise RuntimeError("no CUDA GPU found: set NUMBA_ENABLE_CUDASIM=1 in the environment before numba is "
                           "first imported (e.g. before `import fastgrad`) to run the kernels on the simulator")


def _float32(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype} (convert it with .astype(np.float32))")
    return np.ascontiguousarray(x)


def check_launch(blocks, threads, shared_bytes: int = 0) -> None:
    """Raise ValueError when a launch breaks a real GPU's limits (the simulator would run it)."""
    blocks = (blocks,) if np.isscalar(blocks) else tuple(blocks)
    threads = (threads,) if np.isscalar(threads) else tuple(threads)
    per_block = math.prod(threads)
    if per_block > MAX_THREADS_PER_BLOCK or per_block < 1:
        raise ValueError(f"{threads} = {per_block} threads per block; a GPU allows 1..{MAX_THREADS_PER_BLOCK}")
    if shared_bytes > MAX_SHARED_BYTES:
        raise ValueError(f"{shared_bytes} bytes of shared memory per block; a GPU allows {MAX_SHARED_BYTES}")
    limits = (MAX_GRID_X, MAX_GRID_YZ, MAX_GRID_YZ)
    if any(b < 1 or b > lim for b, lim in zip(blocks, limits)):
        raise ValueError(f"grid {blocks} is outside a GPU's limits (1..{limits[:len(blocks)]})")


def blocks_for(n: int, threads: int, max_blocks: int = 1024) -> int:
    """Blocks for `n` elements at `threads` per block: enough to cover n, at most
    `max_blocks` (a grid-stride loop covers the rest)."""
    return max(1, min(max_blocks, -(-n // threads)))


# ---------------------------------------------------------------- elementwise

@cuda.jit
def add_kernel(a, b, out):
    """out[i] = a[i] + b[i], 1-D, grid-stride: thread t does t, t + stride, ... so any
    grid covers any n, and neighbouring threads touch neighbouring addresses (coalesced)."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = a[i] + b[i]


@cuda.jit
def fma_kernel(a, b, c, out):
    """out[i] = a[i] * b[i] + c[i] in one pass: one read of each input, one write."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = a[i] * b[i] + c[i]


def _elementwise(kernel, arrays, threads, blocks):
    require_device()
    arrays = [_float32(name, x) for name, x in arrays]
    shape = arrays[0].shape
    for x in arrays[1:]:
        if x.shape != shape:
            raise ValueError(f"shapes {shape} and {x.shape} differ (these kernels do not broadcast)")
    n = arrays[0].size
    out = np.empty(shape, np.float32)
    if n == 0:
        return out
    blocks = blocks_for(n, threads) if blocks is None else blocks
    check_launch(blocks, threads)
    flat = [cuda.to_device(x.reshape(-1)) for x in arrays]
    d_out = cuda.device_array(n, np.float32)
    kernel[blocks, threads](*flat, d_out)
    return d_out.copy_to_host().reshape(shape)


def add(a, b, *, threads: int = 128, blocks: int | None = None) -> np.ndarray:
    """a + b for float32 arrays of one shape, on the GPU (or the simulator)."""
    return _elementwise(add_kernel, [("a", a), ("b", b)], threads, blocks)


def fma(a, b, c, *, threads: int = 128, blocks: int | None = None) -> np.ndarray:
    """a * b + c for float32 arrays of one shape, fused into one kernel."""
    return _elementwise(fma_kernel, [("a", a), ("b", b), ("c", c)], threads, blocks)


# ---------------------------------------------------------------- reduction

@cuda.jit
def block_sum_kernel(x, partial):
    """partial[block] = the sum of this block's grid-stride slice of x.

    Each thread first adds its own elements (a grid-stride loop), then the block
    halves the live threads each step, adding pairs in shared memory: log2(256) = 8
    steps, with a barrier between steps so no thread reads a sum not yet written."""
    cache_ = cuda.shared.array(REDUCE_THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    cache_[t] = acc
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            cache_[t] += cache_[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = cache_[0]


def block_sum(x, *, blocks: int | None = None) -> np.float32:
    """The sum of a float32 array: per-block tree reductions on the device, then the
    few partial sums added on the host."""
    require_device()
    x = _float32("x", x).reshape(-1)
    if x.size == 0:
        return np.float32(0.0)
    blocks = blocks_for(x.size, REDUCE_THREADS, 64) if blocks is None else blocks
    check_launch(blocks, REDUCE_THREADS, REDUCE_THREADS * 4)
    d_partial = cuda.device_array(blocks, np.float32)
    block_sum_kernel[blocks, REDUCE_THREADS](cuda.to_device(x), d_partial)
    return np.float32(d_partial.copy_to_host().sum(dtype=np.float32))


# ---------------------------------------------------------------- matmul

@cuda.jit
def matmul_naive_kernel(a, b, out):
    """out[i, j] = sum_k a[i, k] * b[k, j]: one thread per output, 2k global loads.
    x runs over columns, so the threads of a warp write neighbouring outputs (coalesced)."""
    j, i = cuda.grid(2)
    if i < out.shape[0] and j < out.shape[1]:
        acc = float32(0.0)
        for k in range(a.shape[1]):
            acc += a[i, k] * b[k, j]
        out[i, j] = acc


@cache
def matmul_tiled_kernel(tile: int):
    """The shared-memory tiled matmul kernel for `tile` x `tile` blocks (compiled once
    per tile size: the tile is a compile-time constant, as shared arrays need).

    Thread (ty, tx) of block (by, bx) computes out[by*tile + ty, bx*tile + tx]. For each
    step along k the block loads one tile of A and one of B (each thread one element of
    each, zero where the tile hangs over the matrix edge), waits, and multiplies them
    out of shared memory."""

    @cuda.jit
    def kernel(a, b, out):
        sa = cuda.shared.array((tile, tile), float32)
        sb = cuda.shared.array((tile, tile), float32)
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        m, k_total, n = a.shape[0], a.shape[1], b.shape[1]
        acc = float32(0.0)
        for k0 in range(0, k_total, tile):
            sa[ty, tx] = a[row, k0 + tx] if row < m and k0 + tx < k_total else float32(0.0)
            sb[ty, tx] = b[k0 + ty, col] if k0 + ty < k_total and col < n else float32(0.0)
            cuda.syncthreads()
            for kk in range(tile):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()                     # before the next step overwrites the tiles
        if row < m and col < n:
            out[row, col] = acc

    return kernel


def _matmul_inputs(a, b):
    require_device()
    a, b = _float32("a", a), _float32("b", b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (m, k) @ (k, n), got {a.shape} @ {b.shape}")
    return a, b


def matmul_naive(a, b, *, block: int = 16) -> np.ndarray:
    """(m, k) @ (k, n) float32 with one thread per output (block x block threads per block)."""
    a, b = _matmul_inputs(a, b)
    m, n = a.shape[0], b.shape[1]
    grid = (max(1, -(-n // block)), max(1, -(-m // block)))     # x runs over columns, y over rows
    check_launch(grid, (block, block))
    d_out = cuda.device_array((m, n), np.float32)
    if m and n:
        matmul_naive_kernel[grid, (block, block)](cuda.to_device(a), cuda.to_device(b), d_out)
    return d_out.copy_to_host() if m and n else np.zeros((m, n), np.float32)


def matmul_tiled(a, b, *, tile: int = 16) -> np.ndarray:
    """(m, k) @ (k, n) float32 with shared-memory tiles of tile x tile (any sizes: the
    edge tiles are padded with zeros)."""
    a, b = _matmul_inputs(a, b)
    m, n = a.shape[0], b.shape[1]
    grid = (max(1, -(-n // tile)), max(1, -(-m // tile)))     # x runs over columns, y over rows
    check_launch(grid, (tile, tile), 2 * tile * tile * 4)
    if not (m and n):
        return np.zeros((m, n), np.float32)
    d_out = cuda.device_array((m, n), np.float32)
    matmul_tiled_kernel(tile)[grid, (tile, tile)](cuda.to_device(a), cuda.to_device(b), d_out)
    return d_out.copy_to_host()


def global_loads_per_output(k: int, tile: int | None = None) -> float:
    """Global-memory loads per output element of an (m, k) @ (k, n) matmul: 2k for the
    naive kernel (a row of A and a column of B), 2 * ceil(k / tile) for the tiled kernel
    (its thread loads one element of each of the two tiles per step). When the tile does
    not divide k this is the most any thread loads: past the edge a thread stores a zero
    instead of loading."""
    return 2.0 * k if tile is None else 2.0 * -(-k // tile)


# ---------------------------------------------------------------- softmax

@cuda.jit
def softmax_rows_kernel(x, out):
    """Row r = blockIdx.x: softmax(x[r]) with a shared-memory max, then a shared sum of
    exp(x - max) (subtracting the max keeps exp from overflowing)."""
    buf = cuda.shared.array(REDUCE_THREADS, float32)
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    n = x.shape[1]
    best = -math.inf
    for j in range(t, n, REDUCE_THREADS):
        if x[r, j] > best:                         # not max(): it needs a CUDA driver to compile
            best = x[r, j]
    buf[t] = best
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            if buf[t + half] > buf[t]:
                buf[t] = buf[t + half]
        cuda.syncthreads()
        half //= 2
    row_max = buf[0]
    cuda.syncthreads()                             # everyone has read the max before buf is reused
    acc = float32(0.0)
    for j in range(t, n, REDUCE_THREADS):
        acc += math.exp(x[r, j] - row_max)
    buf[t] = acc
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    total = buf[0]
    for j in range(t, n, REDUCE_THREADS):
        out[r, j] = math.exp(x[r, j] - row_max) / total


def softmax_rows(x) -> np.ndarray:
    """Softmax over the last axis of a 2-D float32 array, one block per row."""
    require_device()
    x = _float32("x", x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"softmax_rows needs a 2-D (rows, n) array with n >= 1, got shape {x.shape}")
    if x.shape[0] == 0:
        return np.empty_like(x)
    check_launch(x.shape[0], REDUCE_THREADS, REDUCE_THREADS * 4)
    d_out = cuda.device_array(x.shape, np.float32)
    softmax_rows_kernel[x.shape[0], REDUCE_THREADS](cuda.to_device(x), d_out)
    return d_out.copy_to_host()


# ---------------------------------------------------------------- attention over a KV cache

@cuda.jit
def attention_decode_kernel(q, k_cache, v_cache, length, out):
    """Head h = blockIdx.x: out[h] = softmax(K[h, :length] q[h] / sqrt(d)) V[h, :length].

    Threads split the cache positions to compute the scores into shared memory, reduce
    their max and sum as in softmax_rows, then split the d output features, each thread
    summing weight x value down the cache for its feature (reads of V[h, p, j] by
    neighbouring j are coalesced)."""
    scores = cuda.shared.array(MAX_CACHE, float32)
    buf = cuda.shared.array(REDUCE_THREADS, float32)
    h = cuda.blockIdx.x
    t = cuda.threadIdx.x
    d = q.shape[1]
    scale = float32(1.0) / math.sqrt(float32(d))
    best = -math.inf
    for p in range(t, length, REDUCE_THREADS):
        s = float32(0.0)
        for j in range(d):
            s += q[h, j] * k_cache[h, p, j]
        s *= scale
        scores[p] = s
        if s > best:
            best = s
    buf[t] = best
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            if buf[t + half] > buf[t]:
                buf[t] = buf[t + half]
        cuda.syncthreads()
        half //= 2
    top = buf[0]
    cuda.syncthreads()
    acc = float32(0.0)
    for p in range(t, length, REDUCE_THREADS):
        w = math.exp(scores[p] - top)
        scores[p] = w
        acc += w
    buf[t] = acc
    cuda.syncthreads()
    half = REDUCE_THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    total = buf[0]
    for j in range(t, d, REDUCE_THREADS):
        o = float32(0.0)
        for p in range(length):
            o += scores[p] * v_cache[h, p, j]
        out[h, j] = o / total


def attention_decode(q, k_cache, v_cache, length: int | None = None) -> np.ndarray:
    """One decoding step of attention: q (heads, d) against the first `length` positions
    of k_cache and v_cache (heads, max_len, d); returns (heads, d) float32."""
    require_device()
    q, k_cache, v_cache = _float32("q", q), _float32("k_cache", k_cache), _float32("v_cache", v_cache)
    if q.ndim != 2 or k_cache.ndim != 3 or k_cache.shape != v_cache.shape or \
            k_cache.shape[0] != q.shape[0] or k_cache.shape[2] != q.shape[1]:
        raise ValueError(f"attention_decode needs q (heads, d) and k_cache = v_cache (heads, max_len, d), got "
                         f"q {q.shape}, k_cache {k_cache.shape}, v_cache {v_cache.shape}")
    length = k_cache.shape[1] if length is None else int(length)
    if not 1 <= length <= min(k_cache.shape[1], MAX_CACHE):
        raise ValueError(f"length {length} must be in 1..{min(k_cache.shape[1], MAX_CACHE)} (the cache holds "
                         f"{k_cache.shape[1]} positions; the kernel keeps at most {MAX_CACHE} scores in shared memory)")
    check_launch(q.shape[0], REDUCE_THREADS, (MAX_CACHE + REDUCE_THREADS) * 4)
    d_out = cuda.device_array(q.shape, np.float32)
    attention_decode_kernel[q.shape[0], REDUCE_THREADS](cuda.to_device(q), cuda.to_device(k_cache),
                                                        cuda.to_device(v_cache), length, d_out)
    return d_out.copy_to_host()


# ---------------------------------------------------------------- compiling for a real GPU

def kernel_signatures() -> dict[str, tuple]:
    """Each kernel's Python function and an argument signature to compile it with."""
    from numba import int64, types
    v = types.float32[::1]
    m = types.float32[:, ::1]
    t3 = types.float32[:, :, ::1]
    return {
        "add": (add_kernel, (v, v, v)),
        "fma": (fma_kernel, (v, v, v, v)),
        "block_sum": (block_sum_kernel, (v, v)),
        "matmul_naive": (matmul_naive_kernel, (m, m, m)),
        "matmul_tiled_16": (matmul_tiled_kernel(16), (m, m, m)),
        "softmax_rows": (softmax_rows_kernel, (m, m)),
        "attention_decode": (attention_decode_kernel, (m, t3, t3, int64, m)),
    }


def compile_ptx_all(cc: tuple[int, int] = (7, 5)) -> dict[str, str]:
    """Compile every kernel to PTX for a real GPU (needs a CUDA compiler, not a GPU;
    not available on the simulator). A body that only the simulator accepts (a list,
    np.sum, a dtype mismatch) fails here. `cc` is the compute capability targeted (7.5,
    Turing, the oldest that CUDA 13 compiles for). Returns name -> PTX text."""
    if simulated():
        raise RuntimeError("compile_ptx is not available on the simulator: run without NUMBA_ENABLE_CUDASIM=1")
    return {name: cuda.compile_ptx(fn.py_func, sig, cc=cc)[0] for name, (fn, sig) in kernel_signatures().items()}
