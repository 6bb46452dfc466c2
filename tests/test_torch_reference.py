"""Gradients against PyTorch autograd (skipped when torch is not installed).

The same function is written twice, once with fastgrad Tensors and once with torch
tensors; both get the same inputs and the same random cotangent, and every input's
gradient must agree (float64: to ~1e-10; float32: to ~1e-4 relative).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from fastgrad.autograd import Tensor, concatenate, where  # noqa: E402

rng = np.random.default_rng(0)
MASK = rng.random((3, 4)) < 0.5
X34, Y34, Y4 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal(4)
POS = rng.uniform(0.5, 2.0, (3, 4))
DISTINCT = rng.permutation(24).reshape(2, 3, 4) * 0.1

# name: (inputs, fastgrad fn, torch fn)
CASES = {
    "add broadcast": ([X34, Y4], lambda a, b: a + b, lambda a, b: a + b),
    "sub broadcast": ([rng.standard_normal((2, 1, 4)), rng.standard_normal((3, 1))],
                      lambda a, b: a - b, lambda a, b: a - b),
    "mul": ([X34, Y34], lambda a, b: a * b, lambda a, b: a * b),
    "div": ([X34, POS], lambda a, b: a / b, lambda a, b: a / b),
    "scalars": ([X34], lambda a: 2.0 - a * 3.0 + 1.0 / (a * a + 1.0), lambda a: 2.0 - a * 3.0 + 1.0 / (a * a + 1.0)),
    "pow": ([POS], lambda a: a ** 1.5 + a ** -2, lambda a: a ** 1.5 + a ** -2),
    "exp log": ([POS], lambda a: a.exp() + a.log(), lambda a: a.exp() + a.log()),
    "tanh sigmoid": ([X34], lambda a: a.tanh() * a.sigmoid(), lambda a: a.tanh() * a.sigmoid()),
    "relu": ([X34], lambda a: a.relu(), lambda a: a.relu()),
    "gelu tanh": ([X34], lambda a: a.gelu(), lambda a: F.gelu(a, approximate="tanh")),
    "matmul batched": ([rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((3, 4, 5))],
                       lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul vector @ matrix": ([rng.standard_normal(4), rng.standard_normal((4, 3))],
                               lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul matrix @ vector": ([rng.standard_normal((3, 4)), rng.standard_normal(4)],
                               lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul vector @ vector": ([rng.standard_normal(4), rng.standard_normal(4)],
                               lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul batch @ vector": ([rng.standard_normal((2, 3, 4)), rng.standard_normal(4)],
                              lambda a, b: a @ b, lambda a, b: a @ b),
    "matmul vector @ batch": ([rng.standard_normal(4), rng.standard_normal((2, 4, 3))],
                              lambda a, b: a @ b, lambda a, b: a @ b),
    "sum axis keepdims": ([DISTINCT], lambda a: a.sum(axis=(0, 2), keepdims=True),
                          lambda a: a.sum(dim=(0, 2), keepdim=True)),
    "mean": ([DISTINCT], lambda a: a.mean(axis=1), lambda a: a.mean(dim=1)),
    "max": ([DISTINCT], lambda a: a.max(axis=-1, keepdims=True), lambda a: a.amax(dim=-1, keepdim=True)),
    "max all": ([DISTINCT], lambda a: a.max(), lambda a: a.amax()),
    "softmax": ([X34], lambda a: a.softmax(axis=0), lambda a: a.softmax(dim=0)),
    "log_softmax": ([X34 * 10], lambda a: a.log_softmax(), lambda a: a.log_softmax(dim=-1)),
    "reshape permute": ([DISTINCT], lambda a: a.reshape(6, 4).T.permute(1, 0).reshape(2, 12),
                        lambda a: a.reshape(6, 4).T.permute(1, 0).reshape(2, 12)),
    "transpose": ([DISTINCT], lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2)),
    "getitem": ([DISTINCT], lambda a: a[1, ::2, None, 1:], lambda a: a[1, ::2, None, 1:]),
    "concatenate": ([X34, Y34], lambda a, b: concatenate([a, b, a], axis=1),
                    lambda a, b: torch.cat([a, b, a], dim=1)),
    "concatenate one by one": ([X34, Y34], lambda a, b: concatenate(a, b, axis=0),
                               lambda a, b: torch.cat([a, b], dim=0)),
    "where": ([X34, Y4], lambda a, b: where(MASK, a, b),
              lambda a, b: torch.where(torch.from_numpy(MASK), a, b)),
    "broadcast_to": ([Y4], lambda a: a.broadcast_to((2, 3, 4)), lambda a: a.broadcast_to((2, 3, 4))),
    "reused node": ([X34], lambda a: (a * a).exp() * a + a, lambda a: (a * a).exp() * a + a),
}


def grads_both(inputs, fg_fn, torch_fn, dtype):
    fg_in = [Tensor(x, dtype=dtype, requires_grad=True) for x in inputs]
    th_in = [torch.tensor(x, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
             for x in inputs]
    fg_out, th_out = fg_fn(*fg_in), torch_fn(*th_in)
    assert fg_out.shape == tuple(th_out.shape)
    np.testing.assert_allclose(fg_out.data, th_out.detach().numpy(), **_tol(dtype))
    v = np.random.default_rng(1).standard_normal(fg_out.shape).astype(dtype)
    fg_out.backward(v)
    th_out.backward(torch.from_numpy(v))
    return [t.grad for t in fg_in], [t.grad.numpy() for t in th_in]


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_torch(name, dtype):
    ours, theirs = grads_both(*CASES[name], dtype)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, **_tol(dtype), err_msg=f"{name}: input {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_mlp_matches_torch(dtype):
    """Two-layer MLP, GELU then tanh, cross-entropy through log_softmax and a one-hot mask."""
    r = np.random.default_rng(2)
    x = r.standard_normal((8, 5))
    labels = r.integers(0, 3, 8)
    onehot = np.eye(3)[labels]
    params = [r.standard_normal((5, 16)) * 0.5, np.zeros(16), r.standard_normal((16, 3)) * 0.5, np.zeros(3)]

    def fg_loss(w1, b1, w2, b2):
        h = (Tensor(x, dtype=dtype) @ w1 + b1).gelu().tanh()
        logits = h @ w2 + b2
        return -(logits.log_softmax(axis=-1) * onehot).sum() / 8.0

    def th_loss(w1, b1, w2, b2):
        h = torch.tanh(F.gelu(torch.tensor(x, dtype=w1.dtype) @ w1 + b1, approximate="tanh"))
        return F.cross_entropy(h @ w2 + b2, torch.from_numpy(labels))

    fg_params = [Tensor(p, dtype=dtype, requires_grad=True) for p in params]
    th_params = [torch.tensor(p, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
                 for p in params]
    fg, th = fg_loss(*fg_params), th_loss(*th_params)
    np.testing.assert_allclose(fg.item(), th.item(), **_tol(dtype))
    fg.backward()
    th.backward()
    for name, a, b in zip(["w1", "b1", "w2", "b2"], fg_params, th_params):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **_tol(dtype), err_msg=name)
