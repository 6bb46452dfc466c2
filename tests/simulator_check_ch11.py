"""Chapter 11 checkers as graders, on Numba's CUDA simulator (run by tests/test_check_ch11.py
in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1): the reference kernels pass, stubs get
"not implemented yet", and each plausible wrong kernel fails with a hint naming its mistake."""
import os
import threading
import time

import numpy as np
import pytest
from numba import cuda, float32

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1 (tests/test_check_ch11.py does)"

from fastgrad.check import ch11  # noqa: E402

TILE = 4
THREADS = 16


@cuda.jit
def stub(*args):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def verdict(checker, kernel, **kw):
    return checker(kernel, show=False, **kw)


def assert_fails(result, *phrases):
    assert result.status == "fail", result
    for phrase in phrases:
        assert phrase in result.message, f"{phrase!r} not in: {result.message}"


# ------------------------------------------------------------------ 1. add_2d

@cuda.jit
def add_2d(a, b, out):
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_grid(a, b, out):
    col, row = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_swapped(a, b, out):
    row, col = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_no_block(a, b, out):
    row, col = cuda.threadIdx.y, cuda.threadIdx.x
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_griddim(a, b, out):
    row = cuda.blockIdx.y * cuda.gridDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * cuda.gridDim.x + cuda.threadIdx.x
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_no_bounds(a, b, out):
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    out[row, col] = a[row, col] + b[row, col]


@cuda.jit
def add_2d_one_thread(a, b, out):
    if cuda.grid(2)[0] == 0 and cuda.grid(2)[1] == 0:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = a[i, j] + b[i, j]


@cuda.jit
def add_2d_in_place(a, b, out):
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if row < out.shape[0] and col < out.shape[1]:
        a[row, col] += b[row, col]
        out[row, col] = a[row, col]


@cuda.jit
def add_2d_minus(a, b, out):
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = a[row, col] - b[row, col]


def test_add_2d_reference_passes():
    assert verdict(ch11.add_2d, add_2d).passed
    assert verdict(ch11.add_2d, add_2d_grid).passed


def test_add_2d_stub_is_todo():
    assert verdict(ch11.add_2d, stub).status == "todo"


@pytest.mark.parametrize("kernel, phrases", [
    (add_2d_swapped, ["x along a row", "cuda.grid(2) returns (x, y)"]),
    (add_2d_no_block, ["block's offset"]),
    (add_2d_griddim, ["gridDim"]),
    (add_2d_no_bounds, ["outside its shape", "if row < out.shape[0]"]),
    (add_2d_one_thread, ["owns out["]),
    (add_2d_in_place, ["stored into the input `a`"]),
    (add_2d_minus, ["out differs at index"]),
])
def test_add_2d_wrong_answers_are_named(kernel, phrases):
    assert_fails(verdict(ch11.add_2d, kernel), *phrases)


def test_not_a_kernel_is_named():
    def plain(a, b, out):
        pass
    assert_fails(verdict(ch11.add_2d, plain), "@cuda.jit")


# ------------------------------------------------------------------ 2. axpy

@cuda.jit
def axpy(alpha, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_no_loop(alpha, x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_block_stride(alpha, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.blockDim.x):
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_thread_start(alpha, x, y, out):
    for i in range(cuda.threadIdx.x, x.shape[0], cuda.gridsize(1)):
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_chunks(alpha, x, y, out):
    n = x.shape[0]
    chunk = (n + cuda.gridsize(1) - 1) // cuda.gridsize(1)
    start = cuda.grid(1) * chunk
    for i in range(start, min(start + chunk, n)):
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_swapped(alpha, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = alpha * y[i] + x[i]


@cuda.jit
def axpy_no_alpha(alpha, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = x[i] + y[i]


N = 100


@cuda.jit
def axpy_global_size(alpha, x, y, out):
    for i in range(cuda.grid(1), N, cuda.gridsize(1)):
        out[i] = alpha * x[i] + y[i]


@cuda.jit
def axpy_in_place(alpha, x, y, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        y[i] += alpha * x[i]
        out[i] = y[i]


@cuda.jit
def axpy_endless(alpha, x, y, out):
    i = cuda.grid(1)
    while i < x.shape[0]:
        out[i] = alpha * x[i] + y[i]
        i += cuda.gridsize(1) * 0


def test_axpy_reference_passes():
    assert verdict(ch11.axpy, axpy).passed


def test_axpy_stub_is_todo():
    assert verdict(ch11.axpy, stub).status == "todo"


@pytest.mark.parametrize("kernel, phrases", [
    (axpy_no_loop, ["only the first", "grid-stride loop"]),
    (axpy_block_stride, ["stride is blockDim.x"]),
    (axpy_thread_start, ["started at threadIdx.x"]),
    (axpy_chunks, ["contiguous chunk", "sectors of 32 bytes"]),
    (axpy_swapped, ["alpha scales x"]),
    (axpy_no_alpha, ["alpha was ignored"]),
    (axpy_global_size, ["outside its shape", "`N` (= 100)"]),
    (axpy_in_place, ["stored into the input `y`"]),
])
def test_axpy_wrong_answers_are_named(kernel, phrases):
    assert_fails(verdict(ch11.axpy, kernel), *phrases)


def test_an_endless_loop_is_stopped_by_the_time_limit(monkeypatch):
    monkeypatch.setattr(ch11, "SIM_TIME_LIMIT", 2.0)
    start = time.perf_counter()
    result = verdict(ch11.axpy, axpy_endless)
    assert_fails(result, "did not finish within 2 s")
    assert time.perf_counter() - start < 20
    time.sleep(1.0)
    from numba.cuda.simulator.kernel import BlockThread
    assert not [t for t in threading.enumerate() if isinstance(t, BlockThread) and t.is_alive()]


# ------------------------------------------------------------------ 3. tiled matmul

def tiled(load):
    """A tiled matmul kernel whose tile-load step is `load` (a device function)."""
    @cuda.jit
    def kernel(a, b, out):
        sa = cuda.shared.array((TILE, TILE), float32)
        sb = cuda.shared.array((TILE, TILE), float32)
        ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        acc = float32(0.0)
        for k0 in range(0, a.shape[1], TILE):
            load(a, b, sa, sb, row, col, k0, ty, tx)
            for kk in range(TILE):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < out.shape[0] and col < out.shape[1]:
            out[row, col] = acc
    return kernel


def load_right(a, b, sa, sb, row, col, k0, ty, tx):
    if row < a.shape[0] and k0 + tx < a.shape[1]:
        sa[ty, tx] = a[row, k0 + tx]
    else:
        sa[ty, tx] = 0.0
    if k0 + ty < b.shape[0] and col < b.shape[1]:
        sb[ty, tx] = b[k0 + ty, col]
    else:
        sb[ty, tx] = 0.0
    cuda.syncthreads()


def load_no_bounds(a, b, sa, sb, row, col, k0, ty, tx):
    sa[ty, tx] = a[row, k0 + tx]
    sb[ty, tx] = b[k0 + ty, col]
    cuda.syncthreads()


def load_no_zero(a, b, sa, sb, row, col, k0, ty, tx):
    if row < a.shape[0] and k0 + tx < a.shape[1]:
        sa[ty, tx] = a[row, k0 + tx]
    if k0 + ty < b.shape[0] and col < b.shape[1]:
        sb[ty, tx] = b[k0 + ty, col]
    cuda.syncthreads()


def load_no_barrier(a, b, sa, sb, row, col, k0, ty, tx):
    sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] and k0 + tx < a.shape[1] else 0.0
    sb[ty, tx] = b[k0 + ty, col] if k0 + ty < b.shape[0] and col < b.shape[1] else 0.0


def load_barrier_in_branch(a, b, sa, sb, row, col, k0, ty, tx):
    sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] and k0 + tx < a.shape[1] else 0.0
    if k0 + ty < b.shape[0] and col < b.shape[1]:
        sb[ty, tx] = b[k0 + ty, col]
        cuda.syncthreads()
    else:
        sb[ty, tx] = 0.0


def load_whole_tile(a, b, sa, sb, row, col, k0, ty, tx):
    r0 = cuda.blockIdx.y * TILE
    c0 = cuda.blockIdx.x * TILE
    for i in range(TILE):
        for j in range(TILE):
            sa[i, j] = a[r0 + i, k0 + j] if r0 + i < a.shape[0] and k0 + j < a.shape[1] else 0.0
            sb[i, j] = b[k0 + i, c0 + j] if k0 + i < b.shape[0] and c0 + j < b.shape[1] else 0.0
    cuda.syncthreads()


def load_transposed(a, b, sa, sb, row, col, k0, ty, tx):
    sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] and k0 + tx < a.shape[1] else 0.0
    sb[tx, ty] = b[k0 + ty, col] if k0 + ty < b.shape[0] and col < b.shape[1] else 0.0
    cuda.syncthreads()


@cuda.jit
def tiled_no_second_barrier(a, b, out):
    sa = cuda.shared.array((TILE, TILE), float32)
    sb = cuda.shared.array((TILE, TILE), float32)
    ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    acc = float32(0.0)
    for k0 in range(0, a.shape[1], TILE):
        sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] and k0 + tx < a.shape[1] else 0.0
        sb[ty, tx] = b[k0 + ty, col] if k0 + ty < b.shape[0] and col < b.shape[1] else 0.0
        cuda.syncthreads()
        for kk in range(TILE):
            acc += sa[ty, kk] * sb[kk, tx]
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = acc


@cuda.jit
def naive_matmul(a, b, out):
    col, row = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        acc = float32(0.0)
        for k in range(a.shape[1]):
            acc += a[row, k] * b[k, col]
        out[row, col] = acc


def device(fn):
    return cuda.jit(device=True)(fn)


def test_tiled_reference_passes():
    assert verdict(ch11.tiled_matmul, tiled(device(load_right)), tile=TILE).passed


def test_library_tiled_kernel_passes_at_its_tile():
    from fastgrad.kernels import cuda as gk
    assert verdict(ch11.tiled_matmul, gk.matmul_tiled_kernel(TILE), tile=TILE).passed


def test_tiled_stub_is_todo():
    assert verdict(ch11.tiled_matmul, stub, tile=TILE).status == "todo"


@pytest.mark.parametrize("load, phrases", [
    (load_no_bounds, ["outside its shape", "store 0.0 into the tile"]),
    (load_no_zero, ["store 0.0 into the tile"]),
    (load_no_barrier, ["call cuda.syncthreads() after loading both tiles"]),
    (load_barrier_in_branch, ["must not be inside the bounds check"]),
    (load_whole_tile, ["exactly one element of each tile"]),
    (load_transposed, ["out differs at index"]),
])
def test_tiled_wrong_loads_are_named(load, phrases):
    assert_fails(verdict(ch11.tiled_matmul, tiled(device(load)), tile=TILE), *phrases)


def test_tiled_missing_second_barrier_is_a_race():
    assert_fails(verdict(ch11.tiled_matmul, tiled_no_second_barrier, tile=TILE), "keep the cuda.syncthreads() after")


def test_a_naive_matmul_is_not_a_tiled_one():
    # Right values, wrong structure: every element of a is read n times, not once per block.
    assert_fails(verdict(ch11.tiled_matmul, naive_matmul, tile=TILE), "loaded from global memory")


def test_bad_tile_is_named():
    assert_fails(verdict(ch11.tiled_matmul, naive_matmul, tile=64), "tile * tile <= 1024")


# ------------------------------------------------------------------ 4. block sum

@cuda.jit
def block_sum(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_no_loop_barrier(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_barrier_in_branch(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
            cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_idle_unwritten(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    if i < x.shape[0]:
        acc = float32(0.0)
        for j in range(i, x.shape[0], cuda.gridsize(1)):
            acc += x[j]
        buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_serial(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    if t == 0:
        total = float32(0.0)
        for j in range(THREADS):
            total += buf[j]
        partial[cuda.blockIdx.x] = total


@cuda.jit
def sum_atomic(x, partial):
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    cuda.atomic.add(partial, cuda.blockIdx.x, acc)


@cuda.jit
def sum_everyone_writes(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    acc = float32(0.0)
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_chunks(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    n = x.shape[0]
    per_block = (n + cuda.gridDim.x - 1) // cuda.gridDim.x
    lo = cuda.blockIdx.x * per_block
    acc = float32(0.0)
    for i in range(lo + t, min(lo + per_block, n), THREADS):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit
def sum_endless(x, partial):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    buf[t] = x[t] if t < x.shape[0] else 0.0
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
    if t == 0:
        partial[cuda.blockIdx.x] = buf[0]


def test_block_sum_reference_passes():
    assert verdict(ch11.block_sum, block_sum, threads=THREADS).passed


def test_library_block_sum_passes_at_its_block_size():
    from fastgrad.kernels import cuda as gk
    result = verdict(ch11.block_sum, gk.block_sum_kernel, threads=gk.REDUCE_THREADS)
    assert result.passed, result


def test_block_sum_stub_is_todo():
    assert verdict(ch11.block_sum, stub, threads=THREADS).status == "todo"


@pytest.mark.parametrize("kernel, phrases", [
    (sum_no_loop_barrier, ["cuda.syncthreads() is missing"]),
    (sum_barrier_in_branch, ["inside `if t < half:`"]),
    (sum_idle_unwritten, ["0.0 when it had no elements"]),
    (sum_serial, ["read 16 shared values", "halve the live threads"]),
    (sum_atomic, ["did not use shared memory"]),
    (sum_everyone_writes, ["stored by 16 threads"]),
    (sum_chunks, ["blocks summed other slices"]),
])
def test_block_sum_wrong_answers_are_named(kernel, phrases):
    assert_fails(verdict(ch11.block_sum, kernel, threads=THREADS), *phrases)


def test_block_sum_endless_halving_is_stopped(monkeypatch):
    monkeypatch.setattr(ch11, "SIM_TIME_LIMIT", 2.0)
    assert_fails(verdict(ch11.block_sum, sum_endless, threads=THREADS), "did not finish within 2 s")


def test_bad_block_size_is_named():
    assert_fails(verdict(ch11.block_sum, block_sum, threads=48), "power of two")
