"""fastgrad.optim: hand-computed updates, agreement with torch.optim, the flat buffer, errors.

Tolerances against torch.optim after 20 steps (measured max abs differences when
written: float32 <= 7.2e-7, float64 <= 8.9e-16 on params of size ~1):
float32 atol 1e-5 / rtol 1e-5, float64 atol 1e-12 / rtol 1e-12.
"""
import math

import numpy as np
import pytest

from fastgrad import optim
from fastgrad.autograd import Tensor

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _params(*arrays, dtype=np.float64):
    return [Tensor(np.array(a, dtype=dtype), requires_grad=True) for a in arrays]


# ------------------------------------------------------------------ hand-computed updates
def test_sgd_plain_by_hand():
    w, = _params([1.0, 2.0])
    opt = optim.SGD([w], lr=0.1)
    w.grad = np.array([0.5, -1.0])
    opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 0.05, 2.0 + 0.1], rtol=0, atol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    w, = _params([1.0])
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = np.array([1.0]); opt.step()          # buf = 1,           w = 1 - 0.1
    w.grad = np.array([2.0]); opt.step()          # buf = 0.9 + 2 = 2.9, w = 0.9 - 0.29
    np.testing.assert_allclose(w.data, [0.9 - 0.29], rtol=0, atol=1e-15)
    np.testing.assert_allclose(opt.momentum_buffer, [2.9], rtol=0, atol=1e-15)


def test_sgd_nesterov_and_weight_decay_by_hand():
    w, = _params([2.0])
    opt = optim.SGD([w], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.25)
    w.grad = np.array([1.0])
    opt.step()                                    # g = 1 + 0.5 = 1.5, buf = 1.5, d = 1.5 + 0.75
    np.testing.assert_allclose(w.data, [2.0 - 0.1 * 2.25], rtol=0, atol=1e-15)


def test_adam_first_and_second_step_by_hand():
    w, = _params([1.0, -1.0])
    opt = optim.Adam([w], lr=0.1)
    g1 = np.array([2.0, -0.5])
    w.grad = g1.copy(); opt.step()
    # step 1: bias-corrected m = g, v = g^2, so the update is lr * g / (|g| + eps)
    expect = np.array([1.0, -1.0]) - 0.1 * g1 / (np.abs(g1) + 1e-8)
    np.testing.assert_allclose(w.data, expect, rtol=0, atol=1e-14)
    g2 = np.array([1.0, 1.0])
    w.grad = g2.copy(); opt.step()
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    expect = expect - 0.1 / (1 - 0.9**2) * m / (np.sqrt(v) / math.sqrt(1 - 0.999**2) + 1e-8)
    np.testing.assert_allclose(w.data, expect, rtol=0, atol=1e-14)
    assert list(opt.steps) == [2]


def test_adam_weight_decay_vs_adamw_decoupled_by_hand():
    a, = _params([1.0])
    b, = _params([1.0])
    adam = optim.Adam([a], lr=0.1, weight_decay=0.5)
    adamw = optim.AdamW([b], lr=0.1, weight_decay=0.5)
    a.grad = np.array([2.0]); b.grad = np.array([2.0])
    adam.step(); adamw.step()
    # Adam: g = 2 + 0.5 * 1 = 2.5, first step moves by lr * g / (|g| + eps)
    np.testing.assert_allclose(a.data, [1.0 - 0.1 * 2.5 / (2.5 + 1e-8)], rtol=0, atol=1e-14)
    # AdamW: w *= 1 - 0.1 * 0.5, then the plain Adam step on g = 2
    np.testing.assert_allclose(b.data, [0.95 - 0.1 * 2.0 / (2.0 + 1e-8)], rtol=0, atol=1e-14)


def test_adamw_default_weight_decay_is_torchs():
    w, = _params([1.0])
    assert optim.AdamW([w]).weight_decay == 1e-2


def test_training_with_autograd_decreases_loss():
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert losses[-1] < 0.01 * losses[0]


# ------------------------------------------------------------------ against torch.optim
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_matches_torch_over_20_steps(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (5,), (2, 3, 2), ()]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(20):
        for p, q, s in zip(ours, theirs, shapes):
            g = rng.standard_normal(s).astype(dtype)
            p.grad = g.copy()
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, q.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_parameter_without_grad_is_skipped_like_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(4), rng.standard_normal(3)]
    ours = [Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    opt, ref = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for k in range(6):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if i == 1 and k % 2 == 1:          # the second parameter gets no grad every other step
                p.grad, q.grad = None, None
            else:
                g = rng.standard_normal(p.shape)
                p.grad, q.grad = g.copy(), torch.tensor(g)
        before = ours[1].data.copy()
        opt.step(); ref.step()
        if k % 2 == 1:
            np.testing.assert_array_equal(ours[1].data, before)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-12)
    if name == "Adam":
        assert list(opt.steps) == [6, 3]


# ------------------------------------------------------------------ the flat buffer
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW])
def test_params_are_views_of_one_flat_buffer_updated_in_place(cls):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (2, 2, 2)]]
    ps = [Tensor(a, requires_grad=True) for a in arrays]
    values = [p.data.copy() for p in ps]
    opt = cls(ps, lr=0.1)
    assert opt.flat.ndim == 1 and opt.flat.flags.c_contiguous and opt.flat.size == 12 + 3 + 8
    for p, v, start in zip(ps, values, opt.starts):
        assert p.data.base is opt.flat and np.shares_memory(p.data, opt.flat)
        np.testing.assert_array_equal(p.data, v)                 # values kept
        np.testing.assert_array_equal(opt.flat[start:start + v.size], v.ravel())
    objects = [p.data for p in ps]
    for p in ps:
        p.grad = np.ones(p.shape, np.float32)
    opt.step()
    for p, obj, v in zip(ps, objects, values):
        assert p.data is obj                                     # same array object
        assert not np.array_equal(p.data, v)                     # and it moved
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_zero_grad_set_to_none_false_keeps_zeroed_arrays():
    w, = _params([1.0, 2.0])
    opt = optim.SGD([w], lr=0.1)
    w.grad = np.array([3.0, 4.0])
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and not g.any()


def test_replaced_data_is_adopted_into_the_buffer():
    w, = _params([1.0, 2.0])
    opt = optim.SGD([w], lr=0.5)
    w.data = np.array([10.0, 20.0])                              # e.g. loaded weights
    w.grad = np.array([2.0, 2.0])
    opt.step()
    np.testing.assert_allclose(w.data, [9.0, 19.0])
    assert np.shares_memory(w.data, opt.flat)
    w.data = np.zeros(3)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        opt.step()


def test_grad_with_wrong_shape_is_an_error_not_a_broadcast():
    w, = _params([1.0, 2.0])
    opt = optim.Adam([w])
    w.grad = np.array([1.0])
    with pytest.raises(ValueError, match=r"grad has shape \(1,\)"):
        opt.step()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf")])
def test_bad_learning_rate(lr):
    w, = _params([1.0])
    for cls in (optim.SGD, optim.Adam, optim.AdamW):
        with pytest.raises(ValueError, match="learning rate"):
            cls([w], lr=lr)


def test_learning_rate_must_be_a_number_and_is_checked_on_assignment():
    w, = _params([1.0])
    with pytest.raises(TypeError, match="learning rate"):
        optim.SGD([w], lr="0.1")
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -1.0
    opt.lr = 0.01
    assert opt.lr == 0.01


def test_mixed_dtypes_is_a_type_error():
    a = Tensor(np.ones(2, np.float32), requires_grad=True)
    b = Tensor(np.ones(2, np.float64), requires_grad=True)
    with pytest.raises(TypeError, match="float32, float64"):
        optim.Adam([a, b])


def test_no_params_is_a_value_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam(iter([]))


def test_other_bad_arguments():
    w, = _params([1.0])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="not a fastgrad Tensor"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="requires_grad=False"):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([w * 2.0], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([w], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="beta2"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        optim.Adam([w], eps=-1e-8)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW([w], weight_decay=-0.1)
