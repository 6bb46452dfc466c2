"""fastgrad.kernels.conv (every conv2d path and the backward) against a NumPy reference and
torch, and the chapter 06 ops of the table (conv2d, pooling, cross_entropy, embedding,
layer_norm) against torch's forward and gradients through fastgrad.functional."""
import numpy as np
import pytest

from fastgrad import functional as F
from fastgrad.autograd import Tensor
from fastgrad.kernels import conv as C
from fastgrad.ops import OPS


def reference_conv2d(x, w, stride, padding):
    """Loops over output pixels with NumPy slices: independent of every kernel under test."""
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - r) // stride + 1, (wd + 2 * padding - s) // stride + 1
    out = np.zeros((n, k, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + r, j * stride:j * stride + s]   # (n, c, r, s)
            out[:, :, i, j] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    return out


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


# (x shape, w shape): square and non-square images and kernels, C = 1, N = 1
SHAPES = [((2, 3, 6, 6), (4, 3, 3, 3)), ((1, 2, 7, 5), (3, 2, 3, 3)), ((3, 1, 5, 8), (2, 1, 3, 3)),
          ((2, 2, 6, 7), (3, 2, 2, 3)), ((1, 1, 4, 4), (1, 1, 1, 1))]
PATHS = [C.conv2d_direct, C.conv2d_im2col, C.conv2d_3x3, C.conv2d]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("x_shape, w_shape", SHAPES)
@pytest.mark.parametrize("path", PATHS, ids=lambda f: f.__name__)
def test_every_forward_path_matches_the_reference(path, x_shape, w_shape, stride, padding, dtype):
    if path is C.conv2d_3x3 and w_shape[2:] != (3, 3):
        pytest.skip("the 3x3 kernel takes only 3x3 weights (tested below)")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    out = path(x, w, stride, padding)
    expected = reference_conv2d(x, w, stride, padding)
    assert out.dtype == dtype and out.shape == expected.shape == C.conv2d_output_shape(
        x_shape, w_shape, stride, padding)
    np.testing.assert_allclose(out, expected, **tol(dtype))


def test_non_contiguous_inputs_are_handled():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3, 3)).transpose(0, 3, 2, 1)     # (2, 3, 3, 6), a strided view
    w = rng.standard_normal((3, 4, 3, 2)).transpose(1, 0, 3, 2)     # (4, 3, 2, 3)
    for path in (C.conv2d_direct, C.conv2d_im2col):
        np.testing.assert_allclose(path(x, w, 1, 1), reference_conv2d(x, w, 1, 1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("x_shape, w_shape", SHAPES)
def test_backward_matches_finite_differences_of_the_reference(x_shape, w_shape, stride, padding):
    """The conv is linear in x and in w, so <g, conv(x + d, w)> - <g, conv(x, w)> = <g, conv(d, w)>
    exactly: compare the analytic gradients with that directional derivative for random d."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    g = rng.standard_normal(C.conv2d_output_shape(x_shape, w_shape, stride, padding))
    gx, gw = C.conv2d_backward(g, x, w, stride, padding)
    assert gx.shape == x.shape and gw.shape == w.shape
    for _ in range(3):
        dx, dw = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        np.testing.assert_allclose(np.sum(gx * dx), np.sum(g * reference_conv2d(dx, w, stride, padding)),
                                   rtol=1e-10)
        np.testing.assert_allclose(np.sum(gw * dw), np.sum(g * reference_conv2d(x, dw, stride, padding)),
                                   rtol=1e-10)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> == <x, col2im(c)> for any x, c: col2im must add overlapping patches."""
    rng = np.random.default_rng(3)
    for shape, (r, s), stride, padding in [((2, 3, 5, 6), (3, 3), 1, 1), ((1, 2, 7, 7), (3, 2), 2, 0)]:
        x = rng.standard_normal(shape)
        cols = C.im2col(x, r, s, stride, padding)
        c = rng.standard_normal(cols.shape)
        np.testing.assert_allclose(np.sum(cols * c), np.sum(x * C.col2im(c, shape, r, s, stride, padding)),
                                   rtol=1e-10)


def test_shape_errors_name_the_shapes():
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 5\).*\(4, 2, 3, 3\).*3 channels"):
        C.conv2d(x, w)
    with pytest.raises(ValueError, match="larger than the padded input"):
        C.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="4-D"):
        C.conv2d(np.zeros((3, 5, 5)), np.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="stride"):
        C.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0)
    with pytest.raises(TypeError, match="float32.*float64|share one float dtype"):
        C.conv2d(np.zeros((1, 1, 5, 5), np.float32), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="not a 3x3 kernel"):
        C.conv2d_3x3(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="conv2d"):
        OPS["conv2d"].shape((2, 3, 5, 5), (4, 2, 3, 3), stride=1, padding=0)


@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("stride", [1, 2])
def test_kernels_agree_with_torch(stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal(C.conv2d_output_shape(x.shape, w.shape, stride, padding))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    out = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=padding)
    out.backward(torch.tensor(g))
    for path in PATHS:
        np.testing.assert_allclose(path(x, w, stride, padding), out.detach().numpy(), rtol=1e-10, atol=1e-10)
    gx, gw = C.conv2d_backward(g, x, w, stride, padding)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------- the ops, through F
def _torch_check(torch, fg_fn, torch_fn, arrays, rtol=1e-10, atol=1e-10):
    """Forward and every input's gradient (random cotangent) of fastgrad vs torch, in float64."""
    ts = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fg_fn(*ts), torch_fn(*tt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(9).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for t, tr in zip(ts, tt):
        np.testing.assert_allclose(t.grad, tr.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 1)])
def test_conv2d_op_agrees_with_torch(stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    _torch_check(torch, lambda x, w: F.conv2d(x, w, stride, padding),
                 lambda x, w: torch.nn.functional.conv2d(x, w, stride=stride, padding=padding),
                 [rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))])


@pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 2), (2, 1)])
def test_pooling_ops_agree_with_torch(kernel_size, stride):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1   # no ties
    _torch_check(torch, lambda t: F.max_pool2d(t, kernel_size, stride),
                 lambda t: torch.nn.functional.max_pool2d(t, kernel_size, stride), [x])
    _torch_check(torch, lambda t: F.avg_pool2d(t, kernel_size, stride),
                 lambda t: torch.nn.functional.avg_pool2d(t, kernel_size, stride), [x])


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_cross_entropy_agrees_with_torch(scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    targets = rng.integers(0, 5, 8)
    _torch_check(torch, lambda z: F.cross_entropy(z, targets),
                 lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(targets)),
                 [scale * rng.standard_normal((8, 5))])


def test_embedding_and_layer_norm_agree_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    indices = np.array([[0, 3, 3], [5, 0, 1]])               # repeated rows: gradients add
    _torch_check(torch, lambda w: F.embedding(indices, w),
                 lambda w: torch.nn.functional.embedding(torch.tensor(indices), w),
                 [rng.standard_normal((6, 4))])
    _torch_check(torch, lambda x, w, b: F.layer_norm(x, w, b),
                 lambda x, w, b: torch.nn.functional.layer_norm(x, (5,), w, b),
                 [rng.standard_normal((2, 3, 5)), 1 + rng.standard_normal(5), rng.standard_normal(5)],
                 rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_does_not_overflow_for_large_logits(dtype):
    logits = Tensor(np.array([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]]), dtype=dtype,
                    requires_grad=True)
    loss = F.cross_entropy(logits, [0, 1])
    loss.backward()
    assert loss.dtype == dtype and np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(loss.item(), np.log(2) / 2, rtol=1e-6)       # row 2: two equal winners
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [0.25, -0.25, 0]], atol=1e-7)


def test_cross_entropy_and_embedding_refuse_bad_integers():
    z = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2,\)"):
        F.cross_entropy(z, [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        F.cross_entropy(z, [0, 1, 4])
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(z, [0.5, 1, 2])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.embedding([0, 3], Tensor(np.zeros((3, 2))))
    with pytest.raises(ValueError, match=r"layer_norm.*\(2, 5\).*\(4,\)"):
        F.layer_norm(Tensor(np.zeros((2, 5))), np.ones(4), np.zeros(5))
    with pytest.raises(ValueError, match=r"max_pool2d.*larger than the input"):
        F.max_pool2d(Tensor(np.zeros((1, 1, 2, 2))), 3)


def test_generated_tensor_methods_take_attrs_as_keywords():
    rng = np.random.default_rng(10)
    x, w = Tensor(rng.standard_normal((1, 2, 5, 5))), Tensor(rng.standard_normal((3, 2, 3, 3)))
    np.testing.assert_array_equal(x.conv2d(w, stride=2, padding=1).data, F.conv2d(x, w, 2, 1).data)
    np.testing.assert_array_equal(x.max_pool2d(kernel_size=2, stride=2).data, F.max_pool2d(x, 2).data)


def test_im2col_and_col2im_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"im2col: input \(3, 5, 5\) must be 4-D"):
        C.im2col(np.zeros((3, 5, 5)), 3, 3)
    with pytest.raises(ValueError, match=r"col2im: cols has shape \(4, 9\)"):
        C.col2im(np.zeros((4, 9)), (1, 1, 5, 5), 3, 3)
