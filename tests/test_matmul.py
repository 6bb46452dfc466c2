"""fastgrad.kernels.matmul against NumPy: every kernel, awkward sizes, both dtypes,
non-contiguous inputs, batch broadcasting, 1-D operands, `out=` and errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgrad.kernels import matmul as mm

KERNELS = {
    "naive": mm.matmul_naive,
    "ikj": mm.matmul_ikj,
    "tiled": mm.matmul_tiled,
    "tiled_t5": lambda a, b, out=None: mm.matmul_tiled(a, b, out=out, tile=5),
    "packed": mm.matmul_packed,
    "packed_small_panels": lambda a, b, out=None: mm.matmul_packed(a, b, out=out, kc=7, nc=6),
    "parallel": mm.matmul_parallel,
    "parallel_small_panels": lambda a, b, out=None: mm.matmul_parallel(a, b, out=out, kc=5, nc=9),
    "bmm": mm.bmm,
    "matmul": mm.matmul,
}
DTYPES = [np.float32, np.float64]


def tol(dtype, k):
    # float32 sums of k products: error grows with k; compare with a float64 reference.
    return (1e-5 if dtype == np.float32 else 1e-12) * max(k, 1) * 4


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_matches(got, a, b):
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == ref.shape
    assert got.dtype == a.dtype
    if ref.size:
        k = a.shape[-1]
        np.testing.assert_allclose(got, ref, rtol=tol(a.dtype, k), atol=tol(a.dtype, k))


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 7, 7), (33, 33, 33), (65, 65, 65), (5, 33, 65),
                                   (65, 7, 33), (1, 65, 7), (66, 1, 67), (130, 257, 129)])
def test_kernels_match_numpy(name, dtype, m, k, n):
    a, b = rand((m, k), dtype, 1), rand((k, n), dtype, 2)
    assert_matches(KERNELS[name](a, b), a, b)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("m,k,n", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_zero_sized_dimensions(name, m, k, n):
    a, b = rand((m, k), np.float32), rand((k, n), np.float32)
    got = KERNELS[name](a, b)
    assert got.shape == (m, n)
    assert np.all(got == 0)  # k == 0: an empty sum is 0


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(name, dtype):
    a = rand((40, 70), dtype)[::2, 1::3]          # (20, 23), strided rows and columns
    b = rand((30, 46), dtype).T[::2, 3:]         # (23, 27), transposed
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    assert_matches(KERNELS[name](a, b), a, b)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 5, 4), (4, 6)), ((5, 4), (3, 1, 4, 6)),
                                             ((2, 1, 3, 4), (1, 5, 4, 2)), ((3, 5, 4), (3, 4, 6)),
                                             ((1, 9, 4), (7, 4, 3)), ((0, 5, 4), (4, 6))])
def test_batched_broadcasting(name, a_shape, b_shape):
    a, b = rand(a_shape, np.float64, 1), rand(b_shape, np.float64, 2)
    assert_matches(KERNELS[name](a, b), a, b)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("a_shape,b_shape", [((4,), (4, 6)), ((5, 4), (4,)), ((4,), (4,)), ((4,), (2, 4, 3)),
                                             ((2, 5, 4), (4,))])
def test_one_dimensional_operands_like_numpy(name, a_shape, b_shape):
    a, b = rand(a_shape, np.float32, 1), rand(b_shape, np.float32, 2)
    assert_matches(KERNELS[name](a, b), a, b)


@pytest.mark.parametrize("name", KERNELS)
def test_out_is_written_and_returned(name):
    a, b = rand((9, 13), np.float32, 1), rand((13, 11), np.float32, 2)
    out = np.full((9, 11), np.nan, np.float32)   # garbage in out must not leak into the result
    got = KERNELS[name](a, b, out=out)
    assert got is out
    assert_matches(out, a, b)
    strided = np.full((9, 22), np.nan, np.float32)[:, ::2]   # a non-contiguous out
    KERNELS[name](a, b, out=strided)
    assert_matches(strided, a, b)


@pytest.mark.parametrize("name", KERNELS)
def test_out_batched_and_aliasing(name):
    a, b = rand((3, 6, 6), np.float64, 1), rand((3, 6, 6), np.float64, 2)
    expected = np.matmul(a, b)
    out = np.empty((3, 6, 6))
    assert KERNELS[name](a, b, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    KERNELS[name](a, b, out=a)                   # out aliases an input: still the right answer
    np.testing.assert_allclose(a, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", KERNELS)
def test_errors(name):
    f = KERNELS[name]
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        f(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"float32.*float64"):
        f(np.ones((2, 3), np.float32), np.ones((3, 2), np.float64))
    with pytest.raises(TypeError, match="float32 and float64"):
        f(np.ones((2, 3), np.int64), np.ones((3, 2), np.int64))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        f(np.ones((2, 2, 3)), np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        f(np.float64(2.0), np.ones((3, 2)))
    with pytest.raises(ValueError, match="out has shape"):
        f(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((3, 3)))
    with pytest.raises(TypeError, match="out has dtype"):
        f(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((2, 2), np.float32))


def test_bad_tile_parameters():
    a = np.ones((3, 3))
    with pytest.raises(ValueError, match="tile"):
        mm.matmul_tiled(a, a, tile=0)
    with pytest.raises(ValueError, match="kc"):
        mm.matmul_packed(a, a, kc=0)
    with pytest.raises(ValueError, match="nc"):
        mm.matmul_parallel(a, a, nc=-1)


def test_matmul_shape():
    from fastgrad import shapes

    assert mm.matmul_shape is shapes.matmul_shape   # one shape rule, shared with the ops
    assert mm.matmul_shape((2, 3), (3, 4)) == (2, 4)
    assert mm.matmul_shape((3,), (3, 4)) == (4,)
    assert mm.matmul_shape((5, 1, 2, 3), (4, 3, 6)) == (5, 4, 2, 6)
    assert mm.matmul_shape((3,), (3,)) == ()


def test_special_values_propagate_like_numpy():
    a = np.array([[1.0, np.inf], [2.0, 3.0]])
    b = np.array([[1.0, 0.0], [np.nan, 1.0]])
    for name, f in KERNELS.items():
        np.testing.assert_array_equal(np.isnan(f(a, b)), np.isnan(a @ b), err_msg=name)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 40), k=st.integers(0, 40), n=st.integers(0, 40),
       batch=st.sampled_from([(), (2,), (3, 1)]), b_batch=st.sampled_from([(), (1,), (2,)]),
       dtype=st.sampled_from(DTYPES), name=st.sampled_from(sorted(KERNELS)), seed=st.integers(0, 2**16))
def test_hypothesis_against_numpy(m, k, n, batch, b_batch, dtype, name, seed):
    if batch and b_batch:
        try:
            np.broadcast_shapes(batch, b_batch)
        except ValueError:
            b_batch = ()
    a, b = rand(batch + (m, k), dtype, seed), rand(b_batch + (k, n), dtype, seed + 1)
    assert_matches(KERNELS[name](a, b), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (33, 65, 7), (65, 300, 130), (3, 0, 4)])
def test_packed_with_reused_scratch(dtype, m, k, n):
    a, b = rand((m, k), dtype, 1), rand((k, n), dtype, 2)
    scratch = mm.packing_buffers(a, b, kc=64, nc=32)
    for ap in scratch:
        ap.fill(np.nan)  # stale contents must not leak into the result
    for _ in range(2):
        assert_matches(mm.matmul_packed(a, b, kc=64, nc=32, scratch=scratch), a, b)


def test_packed_scratch_too_small():
    a, b = rand((8, 8), np.float32), rand((8, 8), np.float32)
    small = mm.packing_buffers(a[:4], b)
    with pytest.raises(ValueError, match=r"too small.*\(8, 8\) @ \(8, 8\).*packing_buffers"):
        mm.matmul_packed(a, b, scratch=small)
    with pytest.raises(ValueError, match="wrong dtype"):
        mm.matmul_packed(a, b, scratch=mm.packing_buffers(a.astype(np.float64), b.astype(np.float64)))
    with pytest.raises(ValueError, match="packing_buffers"):
        mm.matmul_packed(a, b, scratch=(np.empty(3), np.empty(3)))


@pytest.mark.parametrize("a_shape, b_shape", [((5,), (5, 40)), ((7, 5), (5,)), ((5,), (5,)), ((2, 7, 5), (5, 3))])
def test_packed_scratch_with_1d_and_batched_operands(a_shape, b_shape):
    a, b = rand(a_shape, np.float64, 1), rand(b_shape, np.float64, 2)
    scratch = mm.packing_buffers(a, b)
    assert_matches(mm.matmul_packed(a, b, scratch=scratch), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bmm_larger_batch_with_broadcasting(dtype):
    a, b = rand((6, 1, 40, 70), dtype, 1), rand((3, 70, 50), dtype, 2)
    assert_matches(mm.bmm(a, b), a, b)
