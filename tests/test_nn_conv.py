"""fastgrad.nn conv layers (Conv2d, MaxPool2d, AvgPool2d, Embedding, CrossEntropyLoss):
initialisation, errors, repr, and forward + gradients against PyTorch (skipped without torch)."""
import math

import numpy as np
import pytest

from fastgrad import nn
from fastgrad.autograd import Tensor
from fastgrad.models import LeNet

rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# ============================================================ without torch
def test_conv2d_init_is_pytorch_default_and_seeded():
    conv = nn.Conv2d(3, 8, 3, seed=0)
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32 and conv.bias.dtype == np.float32
    for p in (conv.weight, conv.bias):
        assert np.all(np.abs(p.data) <= bound)
    big = nn.Conv2d(16, 64, 3, seed=1)                   # 9216 weights: the spread of U(-b, b)
    b = 1 / math.sqrt(16 * 9)
    assert abs(big.weight.data.std() - b / math.sqrt(3)) < 0.03 * b
    assert np.abs(big.weight.data).max() > 0.95 * b
    np.testing.assert_array_equal(nn.Conv2d(3, 8, 3, seed=0).weight.data, conv.weight.data)
    assert not np.array_equal(nn.Conv2d(3, 8, 3, seed=2).weight.data, conv.weight.data)
    assert nn.Conv2d(3, 8, (2, 3), bias=False, dtype=np.float64).bias is None
    assert nn.Conv2d(3, 8, (2, 3), dtype=np.float64).weight.shape == (8, 3, 2, 3)
    assert nn.Conv2d(3, 8, 3, dtype=np.float64).weight.dtype == np.float64


def test_conv2d_output_shape_stride_padding_and_bias_broadcast():
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype=np.float64, seed=0)
    x = randn(3, 2, 7, 6)
    y = conv(Tensor(x))
    assert y.shape == (3, 4, 4, 3)
    conv.weight.data[...] = 0                            # output is the bias alone, per channel
    y = conv(Tensor(x))
    np.testing.assert_array_equal(y.data, np.broadcast_to(conv.bias.data.reshape(1, 4, 1, 1), y.shape))


def test_conv2d_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(1, 2, 0)
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(1, 2, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(1, 2, 3, padding=-1)
    conv = nn.Conv2d(3, 2, 3, seed=0)
    with pytest.raises(ValueError, match=r"in_channels=3.*\(2, 1, 8, 8\)"):
        conv(Tensor(np.zeros((2, 1, 8, 8), np.float32)))
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d(0)


def test_pooling_defaults_stride_to_kernel_size():
    pool = nn.MaxPool2d(2)
    assert (pool.kernel_size, pool.stride) == (2, 2)
    assert nn.AvgPool2d(3, stride=1).stride == 1
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(Tensor(x)).data, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(Tensor(x)).data, [[[[2.5, 4.5], [10.5, 12.5]]]])


def test_embedding_init_and_lookup():
    emb = nn.Embedding(1000, 16, seed=0)
    assert emb.weight.shape == (1000, 16) and emb.weight.dtype == np.float32
    assert abs(emb.weight.data.mean()) < 0.03 and abs(emb.weight.data.std() - 1) < 0.03  # N(0, 1)
    idx = np.array([[3, 3], [999, 0]])
    out = emb(idx)
    assert out.shape == (2, 2, 16)
    np.testing.assert_array_equal(out.data[1, 0], emb.weight.data[999])
    np.testing.assert_array_equal(nn.Embedding(1000, 16, seed=0).weight.data, emb.weight.data)


def test_cross_entropy_loss_module_is_the_functional():
    logits = randn(5, 4) * 50                            # large logits: must not overflow
    t = np.array([0, 3, 1, 1, 2])
    loss = nn.CrossEntropyLoss()(Tensor(logits), t)
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(5), t])
    assert loss.shape == () and np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)


def test_repr_counts_parameters():
    conv = nn.Conv2d(1, 16, 3, padding=1, seed=0)
    assert repr(conv) == "Conv2d(1, 16, kernel_size=(3, 3), stride=1, padding=1, bias=True)  # 160 parameters"
    assert repr(nn.Conv2d(2, 3, 1, bias=False)).endswith("# 6 parameters")
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2)"
    assert repr(nn.AvgPool2d(3, 1)) == "AvgPool2d(kernel_size=3, stride=1)"
    assert repr(nn.Embedding(10, 4)) == "Embedding(10, 4)  # 40 parameters"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    text = repr(LeNet(channels=(16, 32), hidden=64, seed=0))
    assert text.splitlines()[0] == "LeNet(  # 38,282 parameters"
    assert "(2): Conv2d(16, 32, kernel_size=(3, 3), stride=1, padding=1, bias=True)  # 4,640 parameters" in text
    assert "(6): Linear(in_features=512, out_features=64, bias=True)  # 32,832 parameters" in text
    assert repr(LeNet(seed=0)).splitlines()[0] == "LeNet(  # 151,306 parameters"


# ============================================================ against torch
def _torch():
    return pytest.importorskip("torch")


def _tdtype(torch, dtype):
    return getattr(torch, np.dtype(dtype).name)


def _load_from_torch(ours, theirs):
    """Load torch's state dict into ours: keys, shapes and dtypes must all match (strict)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare(ours, theirs, x, dtype, atol):
    """Same input and cotangent through both; the output, the input's gradient and every
    parameter's gradient must agree."""
    torch = _torch()
    xf = Tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yf, yt = ours(xf), theirs(xt)
    np.testing.assert_allclose(yf.data, yt.detach().numpy(), atol=atol, rtol=atol)
    v = randn(*yf.shape, dtype=dtype)
    yf.backward(v)
    yt.backward(torch.tensor(v))
    np.testing.assert_allclose(xf.grad, xt.grad.numpy(), atol=atol, rtol=atol, err_msg="input grad")
    pairs = list(zip(ours.named_parameters(), theirs.named_parameters()))
    assert len(pairs) == len(list(theirs.parameters()))
    for (name, p), (tname, tp) in pairs:
        assert name == tname
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), atol=atol, rtol=atol, err_msg=name)


@pytest.mark.parametrize("c,k,kernel,stride,padding,shape", [
    (1, 4, 3, 1, 1, (2, 1, 8, 8)),          # the digits' first layer
    (3, 5, 3, 2, 0, (2, 3, 7, 9)),          # stride 2, non-square input
    (2, 3, (2, 3), 1, 2, (1, 2, 5, 4)),     # non-square kernel, padding 2
    (4, 2, 1, 1, 0, (3, 4, 3, 3)),          # 1x1
])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_conv2d_matches_torch(c, k, kernel, stride, padding, shape, bias, dtype, atol):
    torch = _torch()
    theirs = torch.nn.Conv2d(c, k, kernel, stride=stride, padding=padding, bias=bias).to(_tdtype(torch, dtype))
    ours = nn.Conv2d(c, k, kernel, stride=stride, padding=padding, bias=bias, dtype=dtype, seed=0)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load_from_torch(ours, theirs)
    _compare(ours, theirs, randn(*shape, dtype=dtype), dtype, atol)


@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("kernel,stride,shape", [(2, None, (2, 3, 8, 8)), (3, 1, (1, 2, 5, 6)),
                                                 (2, 3, (2, 1, 7, 7)), (3, 2, (1, 2, 7, 5))])
@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_pooling_matches_torch(kind, kernel, stride, shape, dtype, atol):
    torch = _torch()
    _compare(getattr(nn, kind)(kernel, stride), getattr(torch.nn, kind)(kernel, stride),
             randn(*shape, dtype=dtype), dtype, atol)


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_embedding_matches_torch(dtype, atol):
    torch = _torch()
    theirs = torch.nn.Embedding(7, 5).to(_tdtype(torch, dtype))
    ours = nn.Embedding(7, 5, dtype=dtype, seed=0)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load_from_torch(ours, theirs)
    idx = np.array([[1, 6, 1], [0, 1, 3]])              # row 1 three times: its gradient adds up
    yf, yt = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_allclose(yf.data, yt.detach().numpy(), atol=atol)
    v = randn(*yf.shape, dtype=dtype)
    yf.backward(v)
    yt.backward(torch.tensor(v))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=atol)
    assert np.all(ours.weight.grad[[2, 4, 5]] == 0)


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_cross_entropy_loss_matches_torch(dtype, atol):
    torch = _torch()
    logits = randn(6, 10, dtype=dtype) * 30
    targets = np.array([0, 9, 3, 3, 5, 1])
    lf = Tensor(logits, requires_grad=True)
    lt = torch.tensor(logits, requires_grad=True)
    loss_f = nn.CrossEntropyLoss()(lf, targets)
    loss_t = torch.nn.CrossEntropyLoss()(lt, torch.tensor(targets))
    np.testing.assert_allclose(loss_f.item(), loss_t.item(), rtol=atol, atol=atol)
    loss_f.backward()
    loss_t.backward()
    np.testing.assert_allclose(lf.grad, lt.grad.numpy(), rtol=atol, atol=atol)


def _torch_lenet(torch):
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.Conv2d(16, 32, 3, padding=1), t.ReLU(),
                        t.MaxPool2d(2), t.Flatten(), t.Linear(32 * 4 * 4, 64), t.ReLU(), t.Linear(64, 10))


def test_default_lenet_state_dict_keys_and_shapes_match_torch():
    torch = _torch()
    t = torch.nn
    theirs = t.Sequential(t.Conv2d(1, 32, 3, padding=1), t.ReLU(), t.Conv2d(32, 64, 3, padding=1), t.ReLU(),
                          t.MaxPool2d(2), t.Flatten(), t.Linear(64 * 4 * 4, 128), t.ReLU(), t.Linear(128, 10))
    ours = LeNet(seed=0)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load_from_torch(ours, theirs)


def test_small_cnn_state_dict_matches_torch_and_so_do_its_gradients():
    torch = _torch()
    theirs = _torch_lenet(torch).double()
    ours = LeNet(channels=(16, 32), hidden=64, seed=0, dtype=np.float64)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)                     # same keys, same order
    assert [v.shape for v in ours_sd.values()] == [tuple(v.shape) for v in theirs_sd.values()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 38_282
    _load_from_torch(ours, theirs)
    x = rng.random((4, 1, 8, 8))
    _compare(ours, theirs, x, np.float64, 1e-9)
    # and a whole loss: cross-entropy on the logits, gradients of every parameter
    ours.zero_grad(), theirs.zero_grad()
    y = np.array([3, 1, 4, 1])
    nn.CrossEntropyLoss()(ours(Tensor(x)), y).backward()
    torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(y)).backward()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), atol=1e-10, rtol=1e-9, err_msg=name)
