"""fastgrad.kernels.cuda against NumPy on Numba's CUDA simulator. Run by
tests/test_cuda_kernels.py in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1 (the
simulator must be on before numba is first imported); sizes stay at 64 or below where
the simulator's one-Python-thread-per-GPU-thread makes them slow.
"""
import os

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    raise RuntimeError("run these with NUMBA_ENABLE_CUDASIM=1 (tests/test_cuda_kernels.py does)")


def test_runs_on_the_simulator():
    from fastgrad.kernels import cuda as gk
    assert gk.simulated()

def _rng():
    return np.random.default_rng(11)


@pytest.mark.parametrize("n, blocks, threads", [(0, None, 128), (1, None, 32), (37, None, 32),
                                                (1000, 2, 32), (257, 1, 64)])
def test_elementwise_covers_every_element(n, blocks, threads):
    from fastgrad.kernels import cuda as gk
    r = _rng()
    a, b, c = (r.standard_normal(n).astype(np.float32) for _ in range(3))
    np.testing.assert_array_equal(gk.add(a, b, threads=threads, blocks=blocks), a + b)
    np.testing.assert_allclose(gk.fma(a, b, c, threads=threads, blocks=blocks), a * b + c, rtol=1e-6, atol=1e-6)


def test_elementwise_keeps_the_shape_and_rejects_bad_input():
    from fastgrad.kernels import cuda as gk
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(gk.add(a, a.T.copy().T), 2 * a)
    with pytest.raises(TypeError, match="float64"):
        gk.add(a.astype(np.float64), a)
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(4, 3\)"):
        gk.add(a, a.T)


@pytest.mark.parametrize("n, blocks", [(1, None), (256, 1), (1000, 3), (5000, None)])
def test_block_sum(n, blocks):
    from fastgrad.kernels import cuda as gk
    x = _rng().standard_normal(n).astype(np.float32)
    x[-1] = 1000.0                                   # the last element must be counted
    np.testing.assert_allclose(gk.block_sum(x, blocks=blocks), x.astype(np.float64).sum(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("m, k, n, tile", [(1, 1, 1, 4), (20, 13, 9, 8), (17, 33, 5, 4), (16, 16, 16, 8),
                                           (3, 0, 4, 4)])
def test_matmuls_match_numpy_for_sizes_the_tile_does_not_divide(m, k, n, tile):
    from fastgrad.kernels import cuda as gk
    r = _rng()
    a, b = r.standard_normal((m, k)).astype(np.float32), r.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_allclose(gk.matmul_naive(a, b, block=tile), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gk.matmul_tiled(a, b, tile=tile), a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_errors_and_real_gpu_limits():
    from fastgrad.kernels import cuda as gk
    a = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 3\) @ \(4, 3\)"):
        gk.matmul_tiled(a, a)
    with pytest.raises(ValueError, match="4096 threads per block"):      # the simulator would run it
        gk.matmul_tiled(a, a.T, tile=64)
    with pytest.raises(ValueError, match="2048 threads per block"):
        gk.add(a, a, threads=2048)
    with pytest.raises(ValueError, match="shared memory"):
        gk.check_launch(1, 32, 64 * 1024)
    assert gk.global_loads_per_output(64) == 128 and gk.global_loads_per_output(64, 16) == 8
    assert gk.global_loads_per_output(65, 16) == 10                      # the padded edge tile is loaded too


@pytest.mark.parametrize("rows, n", [(1, 1), (3, 300), (2, 7)])
def test_softmax_rows(rows, n):
    from fastgrad.kernels import cuda as gk
    x = (_rng().standard_normal((rows, n)) * 30).astype(np.float32)
    x[0, 0] = 1000.0                                 # exp(1000) overflows unless the max is subtracted
    if n > 2:
        x[-1, 1] = -np.inf
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(gk.softmax_rows(x), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("heads, max_len, d, length", [(1, 1, 1, 1), (2, 20, 8, 13), (1, 300, 4, 300)])
def test_attention_over_the_kv_cache_reads_only_the_filled_part(heads, max_len, d, length):
    from fastgrad.kernels import cuda as gk
    r = _rng()
    q = r.standard_normal((heads, d)).astype(np.float32)
    k, v = (r.standard_normal((heads, max_len, d)).astype(np.float32) for _ in range(2))
    k[:, length:], v[:, length:] = np.nan, np.nan   # unfilled cache slots must not leak into the result
    s = np.einsum("hd,hpd->hp", q, k[:, :length]) / np.sqrt(d)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gk.attention_decode(q, k, v, length), np.einsum("hp,hpd->hd", w, v[:, :length]),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="length"):
        gk.attention_decode(q, k, v, max_len + 1)
