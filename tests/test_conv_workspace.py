"""The production conv2d and conv2d_backward keep their patch matrices in reused per-thread
workspace buffers (`fastgrad.kernels.conv._workspace`): results must never be views of a
workspace, threads must not share one, requests above the size cap must still be right,
and the 3x3 stride-1 im2col/col2im loops must agree with the generic ones."""
import threading

import numpy as np
import pytest

from fastgrad.kernels import conv as C
from fastgrad.ops import OPS


def reference(x, w, stride, padding):
    """The op table's NumPy formula (np.pad, sliding windows, einsum), in float64."""
    return OPS["conv2d"].reference(x.astype(np.float64), w.astype(np.float64), stride=stride, padding=padding)


# K = 1 and a 1x1 output make the output transpose contiguous: the case where a careless
# np.ascontiguousarray would hand out the workspace itself
@pytest.mark.parametrize("x_shape, w_shape, padding", [((2, 3, 6, 6), (1, 3, 3, 3), 1),
                                                       ((4, 2, 3, 3), (5, 2, 3, 3), 0),
                                                       ((3, 4, 8, 8), (6, 4, 3, 3), 1)])
def test_results_are_not_workspace_views(x_shape, w_shape, padding):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out = C.conv2d(x, w, 1, padding)
    g = rng.standard_normal(out.shape)
    gx, gw = C.conv2d_backward(g, x, w, 1, padding)
    kept = [a.copy() for a in (out, gx, gw)]
    C.conv2d(2 * x + 1, w, 1, padding)                   # the same workspaces, other values
    C.conv2d_backward(-g, 3 * x, w, 1, padding)
    for a, b in zip((out, gx, gw), kept):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(out, reference(x, w, 1, padding), rtol=1e-10, atol=1e-10)
    assert C.im2col(x, 3, 3, 1, padding) is not C.im2col(x, 3, 3, 1, padding)   # public: always fresh


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("w_shape, stride, padding", [((4, 3, 3, 3), 1, 2), ((4, 3, 3, 3), 2, 1),
                                                      ((2, 3, 3, 3), 3, 2), ((4, 3, 2, 3), 1, 2),
                                                      ((3, 3, 5, 5), 1, 2)])
def test_specialised_and_generic_loops_match_the_reference(w_shape, stride, padding, dtype):
    """3x3 stride 1 runs the constant-size loops, everything else the run-time-size ones."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    out = C.conv2d(x, w, stride, padding)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, reference(x, w, stride, padding), **tol)
    np.testing.assert_allclose(C.conv2d_im2col(x, w, stride, padding), out, **tol)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx, gw = C.conv2d_backward(g, x, w, stride, padding)
    # the conv is linear in x and in w: <g, conv(d, w)> = <grad_x, d>, <g, conv(x, d)> = <grad_w, d>
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    np.testing.assert_allclose(np.sum(gx * dx), np.sum(g * reference(dx, w, stride, padding)), rtol=1e-4)
    np.testing.assert_allclose(np.sum(gw * dw), np.sum(g * reference(x, dw, stride, padding)), rtol=1e-4)


def test_non_contiguous_inputs_in_production():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5, 3)).transpose(0, 3, 2, 1)       # (2, 3, 5, 6), a strided view
    w = rng.standard_normal((3, 4, 3, 3)).transpose(1, 0, 3, 2)       # (4, 3, 3, 3)
    g = rng.standard_normal((2, 6, 5, 4)).transpose(0, 3, 2, 1)       # (2, 4, 5, 6)
    np.testing.assert_allclose(C.conv2d(x, w, 1, 1), reference(x, w, 1, 1), rtol=1e-10, atol=1e-10)
    for a, b in zip(C.conv2d_backward(g, x, w, 1, 1),
                    C.conv2d_backward(np.ascontiguousarray(g), np.ascontiguousarray(x), np.ascontiguousarray(w), 1, 1)):
        np.testing.assert_array_equal(a, b)


def test_requests_above_the_cap_get_fresh_arrays(monkeypatch):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    want = C.conv2d(x, w, 1, 1)
    monkeypatch.setattr(C, "_WORKSPACE_MAX_BYTES", 64)
    a = C._workspace("cols", (100,), np.float64)
    assert a is not C._workspace("cols", (100,), np.float64) and not np.shares_memory(
        a, C._workspace("cols", (100,), np.float64))
    np.testing.assert_array_equal(C.conv2d(x, w, 1, 1), want)


def test_threads_do_not_share_a_workspace():
    """Two threads convolving different inputs at the same time each get their own answer."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 4, 3, 3))
    inputs = [rng.standard_normal((6, 4, 10, 10)) for _ in range(2)]
    wants = [reference(x, w, 1, 1) for x in inputs]
    errors = []
    start = threading.Barrier(2)

    def work(x, want):
        start.wait()
        for _ in range(30):
            out = C.conv2d(x, w, 1, 1)
            if not np.allclose(out, want, rtol=1e-10, atol=1e-10):
                errors.append("wrong result")
                return

    threads = [threading.Thread(target=work, args=pair) for pair in zip(inputs, wants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
