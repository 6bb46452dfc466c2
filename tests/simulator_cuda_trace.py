"""fastgrad.kernels.cuda_trace on Numba's CUDA simulator: what run_traced counts (loads,
writers, sectors per warp request, shared-memory bank conflicts) and the problems it
reports (races, divergent barriers, uninitialised shared reads, out-of-bounds indices),
and that an interrupted launch leaves no simulator thread running. Run by
tests/test_cuda_kernels.py in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1 (the
simulator must be on before numba is first imported). Every launch stays tiny: the
simulator runs one Python thread per GPU thread.
"""
import math
import os
import signal
import threading
import time

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    raise RuntimeError("run these with NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda_kernels.py does)")

from numba import cuda, float32  # noqa: E402  (the simulator looks for the module named `cuda`)

from fastgrad.kernels import cuda as gk  # noqa: E402
from fastgrad.kernels.cuda_trace import run_traced, trace_of  # noqa: E402


def _rng():
    return np.random.default_rng(7)


def _block_threads():
    from numba.cuda.simulator.kernel import BlockThread
    return [t for t in threading.enumerate() if isinstance(t, BlockThread) and t.is_alive()]


# ---------------------------------------------------------------- matmul: what the tiles save

M, K, N, TILE = 13, 7, 10, 4


def _matmul_grid(m, n, tile):
    return (-(-n // tile), -(-m // tile))          # x over columns, y over rows, as gk.matmul_*


def _matrices(m, k, n):
    r = _rng()
    return r.standard_normal((m, k)).astype(np.float32), r.standard_normal((k, n)).astype(np.float32)


def _loads_per_output(trace, m, n, tile):
    """out[row, col] -> global loads of a and b by the thread that computes it."""
    a_loads, b_loads = trace.per_thread("a"), trace.per_thread("b")
    per_output = {}
    for index, [(block, thread)] in trace.writers("out").items():
        per_output[index] = a_loads[(block, thread)] + b_loads[(block, thread)]
    assert set(per_output) == {(i, j) for i in range(m) for j in range(n)}
    return per_output


def test_tiled_matmul_loads_each_element_once_per_tile():
    a, b = _matrices(M, K, N)
    trace = run_traced(gk.matmul_tiled_kernel(TILE), _matmul_grid(M, N, TILE), (TILE, TILE),
                       a=a, b=b, out=np.zeros((M, N), np.float32))
    np.testing.assert_allclose(trace.arrays["out"], a @ b, rtol=1e-5, atol=1e-5)
    assert trace.problems == []
    assert trace.loads("a") == {(i, k): math.ceil(N / TILE) for i in range(M) for k in range(K)}
    assert trace.loads("b") == {(k, j): math.ceil(M / TILE) for k in range(K) for j in range(N)}
    assert trace.stores("out") == {(i, j): 1 for i in range(M) for j in range(N)}
    # Thread (tx, ty) loads one element of each tile per step along k, except where the
    # tile hangs over the edge of k (there it writes a zero and loads nothing): at most
    # global_loads_per_output, which counts the padded edge tile as loaded.
    per_output = _loads_per_output(trace, M, N, TILE)
    steps = range(0, K, TILE)
    for (i, j), loads in per_output.items():
        tx, ty = j % TILE, i % TILE
        assert loads == sum((k0 + tx < K) + (k0 + ty < K) for k0 in steps), (i, j)
    assert max(per_output.values()) == gk.global_loads_per_output(K, TILE) == 4
    # the shared tiles: written once per step by one thread, read TILE times per thread per step
    assert trace.per_thread("sa", "load", shared=True) == {key: TILE * len(steps) for key in trace.barriers}
    assert set(trace.barriers.values()) == {2 * len(steps)}


def test_tiled_matmul_loads_per_output_when_the_tile_divides_k():
    m, k, n = 5, 8, 6                                # 2 x 2 blocks of 4 x 4 threads
    a, b = _matrices(m, k, n)
    trace = run_traced(gk.matmul_tiled_kernel(TILE), _matmul_grid(m, n, TILE), (TILE, TILE),
                       a=a, b=b, out=np.zeros((m, n), np.float32))
    np.testing.assert_allclose(trace.arrays["out"], a @ b, rtol=1e-5, atol=1e-5)
    assert trace.problems == []
    assert set(_loads_per_output(trace, m, n, TILE).values()) == {gk.global_loads_per_output(k, TILE)}


def test_naive_matmul_loads_each_element_of_a_n_times():
    a, b = _matrices(M, K, N)
    trace = run_traced(gk.matmul_naive_kernel, _matmul_grid(M, N, TILE), (TILE, TILE),
                       a=a, b=b, out=np.zeros((M, N), np.float32))
    np.testing.assert_allclose(trace.arrays["out"], a @ b, rtol=1e-5, atol=1e-5)
    assert trace.problems == [] and trace.shared_accesses == [] and trace.barriers == {}
    assert trace.loads("a") == {(i, k): N for i in range(M) for k in range(K)}
    assert trace.loads("b") == {(k, j): M for k in range(K) for j in range(N)}
    assert set(_loads_per_output(trace, M, N, TILE).values()) == {gk.global_loads_per_output(K)}


# ---------------------------------------------------------------- who wrote what

def test_writers_of_the_grid_stride_add():
    n, blocks, threads = 20, 2, 4
    a, b = (np.arange(n, dtype=np.float32) * s for s in (1, 10))
    trace = run_traced(gk.add_kernel, blocks, threads, a=a, b=b, out=np.zeros(n, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], a + b)
    assert trace.problems == []
    writers = trace.writers("out")
    assert sorted(writers) == [(i,) for i in range(n)]
    for (i,), who in writers.items():
        g = i % (blocks * threads)                   # the stride is the whole grid
        assert who == [((g // threads, 0, 0), (g % threads, 0, 0))], (i, who)
    assert trace.loads("a") == {(i,): 1 for i in range(n)}
    assert trace.per_thread("out", "store") == {((g // threads, 0, 0), (g % threads, 0, 0)): 3 if g < 4 else 2
                                                for g in range(blocks * threads)}


# ---------------------------------------------------------------- coalescing

@cuda.jit
def copy_kernel(x, out):
    i = cuda.threadIdx.x
    out[i] = x[i]


@cuda.jit
def strided_kernel(x, out):
    i = cuda.threadIdx.x
    out[i] = x[i * 32]


def test_sectors_per_request():
    x = np.arange(32, dtype=np.float32)
    trace = run_traced(copy_kernel, 1, 32, x=x, out=np.zeros(32, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], x)
    assert trace.sectors_per_request("x") == 4.0                 # 32 x 4 bytes = 4 sectors of 32
    assert trace.sectors_per_request("out", "store") == 4.0

    x = np.arange(32 * 32, dtype=np.float32)
    trace = run_traced(strided_kernel, 1, 32, x=x, out=np.zeros(32, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], x[::32])
    assert trace.sectors_per_request("x") == 32.0                # one sector per thread
    assert trace.sectors_per_request("out", "store") == 4.0

    x = np.arange(32, dtype=np.float64)
    trace = run_traced(copy_kernel, 1, 32, x=x, out=np.zeros(32, np.float64))
    assert trace.sectors_per_request("x") == 8.0                 # 32 x 8 bytes
    assert trace.problems == []


# ---------------------------------------------------------------- shared-memory banks

@cuda.jit
def bank_kernel(mode, out):
    tile = cuda.shared.array((32, 32), float32)
    padded = cuda.shared.array((32, 33), float32)
    tx = cuda.threadIdx.x
    for k in range(32):                              # row by row: conflict-free stores
        tile[k, tx] = k * 32 + tx
        padded[k, tx] = k * 32 + tx
    cuda.syncthreads()
    if mode == 0:
        out[tx] = tile[tx, 3]                        # a column: 32 words of one bank
    elif mode == 1:
        out[tx] = tile[3, tx]                        # a row: 32 banks
    elif mode == 2:
        out[tx] = padded[tx, 3]                      # a column of the padded tile: 32 banks
    else:
        out[tx] = tile[3, 3]                         # one word for everyone: a broadcast


@pytest.mark.parametrize("mode, array, conflicts, expected", [
    (0, "tile", 32, np.arange(32) * 32 + 3),
    (1, "tile", 1, 3 * 32 + np.arange(32)),
    (2, "padded", 1, np.arange(32) * 32 + 3),
    (3, "tile", 1, np.full(32, 3 * 32 + 3)),
])
def test_bank_conflicts(mode, array, conflicts, expected):
    trace = run_traced(bank_kernel, 1, 32, mode=mode, out=np.zeros(32, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], expected)
    assert trace.problems == []
    assert trace.bank_conflicts(array) == conflicts
    assert trace.bank_conflicts("tile", "store") == 1 and trace.bank_conflicts("padded", "store") == 1


# ---------------------------------------------------------------- problems

THREADS = 16


@cuda.jit
def sum_kernel(x, out):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    buf[t] = x[t]
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        out[0] = buf[0]


@cuda.jit
def sum_no_barrier_in_loop_kernel(x, out):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    buf[t] = x[t]
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
        half //= 2                                   # the bug: no syncthreads() between the steps
    cuda.syncthreads()
    if t == 0:
        out[0] = buf[0]


@cuda.jit
def sum_divergent_barrier_kernel(x, out):
    buf = cuda.shared.array(THREADS, float32)
    t = cuda.threadIdx.x
    buf[t] = x[t]
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            buf[t] += buf[t + half]
            cuda.syncthreads()                       # the bug: only the threads t < half reach it
        half //= 2
    if t == 0:
        out[0] = buf[0]


def _sum_input():
    return np.arange(1, THREADS + 1, dtype=np.float32)


def test_a_correct_reduction_has_no_problems():
    x = _sum_input()
    trace = run_traced(sum_kernel, 1, THREADS, x=x, out=np.zeros(1, np.float32))
    assert trace.arrays["out"][0] == x.sum()
    assert trace.problems == [] and trace.problem_kinds() == set()
    assert set(trace.barriers.values()) == {1 + int(math.log2(THREADS))}


def test_a_missing_barrier_in_the_halving_loop_is_a_race():
    trace = run_traced(sum_no_barrier_in_loop_kernel, 1, THREADS, x=_sum_input(), out=np.zeros(1, np.float32))
    assert "race" in trace.problem_kinds(), trace.problems
    message = next(p.message for p in trace.problems if p.kind == "race")
    assert "shared buf[" in message and "syncthreads" in message


def test_a_barrier_inside_a_branch_is_divergent():
    trace = run_traced(sum_divergent_barrier_kernel, 1, THREADS, x=_sum_input(), out=np.zeros(1, np.float32))
    assert "divergent barrier" in trace.problem_kinds(), trace.problems
    message = next(p.message for p in trace.problems if p.kind == "divergent barrier")
    assert "block (0, 0, 0)" in message
    assert trace.barriers[((0, 0, 0), (0, 0, 0))] == 1 + int(math.log2(THREADS))
    assert trace.barriers[((0, 0, 0), (THREADS - 1, 0, 0))] == 1


def _tiled_no_zero_fill(tile):
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
            if row < m and k0 + tx < k_total:        # the bug: nothing written outside the matrix
                sa[ty, tx] = a[row, k0 + tx]
            if k0 + ty < k_total and col < n:
                sb[ty, tx] = b[k0 + ty, col]
            cuda.syncthreads()
            for kk in range(tile):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < m and col < n:
            out[row, col] = acc
    return kernel


def test_a_tile_without_zero_fill_reads_uninitialised_shared_memory():
    m, k, n = 5, 3, 6                                # k < tile: the tiles' last column is never written
    a, b = _matrices(m, k, n)
    trace = run_traced(_tiled_no_zero_fill(TILE), _matmul_grid(m, n, TILE), (TILE, TILE),
                       a=a, b=b, out=np.zeros((m, n), np.float32))
    assert "uninitialised" in trace.problem_kinds(), trace.problems
    messages = [p.message for p in trace.problems if p.kind == "uninitialised"]
    assert any("shared sa[" in s and "block (0, 0, 0)" in s for s in messages), messages


def test_a_tile_without_zero_fill_reads_what_an_earlier_block_left():
    m, k, n = 5, 4, 4                                # block (0, 0) fills its tiles; block (0, 1) has one row
    a, b = _matrices(m, k, n)
    trace = run_traced(_tiled_no_zero_fill(TILE), _matmul_grid(m, n, TILE), (TILE, TILE),
                       a=a, b=b, out=np.zeros((m, n), np.float32))
    np.testing.assert_allclose(trace.arrays["out"], a @ b, rtol=1e-5, atol=1e-5)   # the values hide the bug
    assert trace.problem_kinds() == {"uninitialised"}, trace.problems
    for p in trace.problems:                         # only the rows of block (0, 1) past the matrix
        assert "of block (0, 1, 0) read shared sa[" in p.message and "earlier block" in p.message, p.message


@cuda.jit
def unchecked_kernel(a, out):
    i = cuda.grid(1)
    out[i] = a[i]                                    # no `if i < a.shape[0]`


@cuda.jit
def previous_kernel(a, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a[i - 1]                            # thread 0 reads a[-1]


@cuda.jit
def checked_kernel(a, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = 2 * a[i]


def test_reading_past_the_end_raises_index_error():
    n = 7                                            # 8 threads: only thread 7 reads past the end
    with pytest.raises(IndexError) as info:
        run_traced(unchecked_kernel, 1, 8, a=np.ones(n, np.float32), out=np.zeros(8, np.float32))
    message = str(info.value)
    assert f"load a[{n}]" in message and f"shape ({n},)" in message and "thread (7, 0, 0)" in message, message
    trace = trace_of(info.value)
    assert trace is not None and "out of bounds" in trace.problem_kinds()
    assert not any(a.array == "a" and a.index[0] >= n for a in trace.global_accesses)


def test_a_negative_index_raises_index_error():
    with pytest.raises(IndexError, match="negative") as info:
        run_traced(previous_kernel, 1, 8, a=np.ones(8, np.float32), out=np.zeros(8, np.float32))
    assert "a[-1]" in str(info.value), str(info.value)
    assert "out of bounds" in trace_of(info.value).problem_kinds()


def test_a_bounds_checked_kernel_has_no_problems():
    a = np.arange(6, dtype=np.float32)
    trace = run_traced(checked_kernel, 2, 4, a=a, out=np.zeros(6, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], 2 * a)
    assert trace.problems == []
    assert trace.loads("a") == {(i,): 1 for i in range(6)}


# ---------------------------------------------------------------- a kernel that never ends

class TimeLimit(BaseException):
    """Raised by the SIGALRM handler (a BaseException, as a time limit usually is)."""


@cuda.jit
def endless_kernel(x, out):
    i = cuda.threadIdx.x
    out[i] = x[i]
    j = 0
    while j >= 0:                                    # never ends
        j += 1


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_an_interrupted_endless_loop_leaves_no_thread_running():
    assert _block_threads() == []

    def handler(signum, frame):
        raise TimeLimit()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(TimeLimit) as info:
            run_traced(endless_kernel, 1, 4, x=np.arange(4, dtype=np.float32), out=np.zeros(4, np.float32))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    deadline = time.monotonic() + 1.0
    while _block_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _block_threads() == []
    trace = trace_of(info.value)
    assert trace is not None
    assert trace.stores("out") == {(i,): 1 for i in range(4)}   # the part that ran before the loop
    np.testing.assert_array_equal(trace.arrays["out"], np.arange(4, dtype=np.float32))
    # the simulator is usable again afterwards
    trace = run_traced(checked_kernel, 1, 4, a=np.ones(4, np.float32), out=np.zeros(4, np.float32))
    np.testing.assert_array_equal(trace.arrays["out"], 2.0)


# ---------------------------------------------------------------- rows as views, atomics, names

@cuda.jit
def _row_sum(a, out):
    i = cuda.threadIdx.x
    row = a[i]                     # a row of a 2-D array: a view, legal on a GPU
    s = 0.0
    for j in range(row.shape[0]):
        s += row[j]
    out[i] = s


def test_a_row_view_is_not_out_of_bounds():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    trace = run_traced(_row_sum, 1, 3, a=a, out=np.zeros(3, np.float32))
    assert np.array_equal(trace.arrays["out"], a.sum(axis=1)) and not trace.problems


@cuda.jit
def _histogram(x, out):
    counts = cuda.shared.array(4, float32)
    t = cuda.threadIdx.x
    if t < 4:
        counts[t] = 0.0
    cuda.syncthreads()
    cuda.atomic.add(counts, int(x[t]) % 4, 1.0)     # atomics need no barrier between them
    cuda.syncthreads()
    if t < 4:
        out[t] = counts[t]


@cuda.jit
def _histogram_unsynced_read(x, out):
    counts = cuda.shared.array(4, float32)
    t = cuda.threadIdx.x
    if t < 4:
        counts[t] = 0.0
    cuda.syncthreads()
    cuda.atomic.add(counts, int(x[t]) % 4, 1.0)
    if t < 4:
        out[t] = counts[t]                          # no barrier: other threads may still be adding


def test_shared_atomics_do_not_race_with_each_other():
    trace = run_traced(_histogram, 1, 16, x=np.arange(16, dtype=np.float32), out=np.zeros(4, np.float32))
    assert np.array_equal(trace.arrays["out"], [4, 4, 4, 4]) and not trace.problems
    trace = run_traced(_histogram_unsynced_read, 1, 16, x=np.arange(16, dtype=np.float32), out=np.zeros(4, np.float32))
    assert "race" in trace.problem_kinds()


@cuda.jit
def _same_name(tile, out):
    t = cuda.threadIdx.x
    s = tile[t]
    tile = cuda.shared.array(32, float32)
    tile[t] = s
    cuda.syncthreads()
    out[t] = tile[t]


def test_a_shared_array_named_like_an_argument_keeps_its_own_element_size():
    trace = run_traced(_same_name, 1, 32, tile=np.arange(32, dtype=np.float64), out=np.zeros(32, np.float32))
    assert trace.bank_conflicts("tile") == 1 and trace.sectors_per_request("tile") == 8.0
