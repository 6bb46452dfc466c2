"""Chapter 09's backward switches: needed gradients only (`Op.partial_backward`), fresh
gradients (`Op.fresh_grads`) and in-place accumulation, freeing the graph, the switches
themselves, and the fused ops' error messages."""
import itertools

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import Tensor
from fastgrad.ops import OPS
from fastgrad.switches import SWITCHES, switches

PARTIAL = sorted(name for name, op in OPS.items() if op.partial_backward)
FRESH = sorted(name for name, op in OPS.items() if op.fresh_grads)


def test_the_ops_that_skip_work_are_the_expected_ones():
    assert {"matmul", "conv2d", "mul", "div", "linear", "conv2d_layer", "mse_loss"} <= set(PARTIAL)
    assert {"matmul", "linear", "mse_loss"} <= set(FRESH)


@pytest.mark.parametrize("name", PARTIAL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_backward_gives_the_full_rules_gradients(name, dtype):
    """For every case and every mask: None exactly where not needed, the full rule's
    gradient (bit for bit) where needed."""
    op = OPS[name]
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(case), dtype, case=case)
        inputs = [np.asarray(a) for a in inputs]
        out = op.forward(*inputs, **attrs)
        g = np.random.default_rng(99).standard_normal(np.shape(out)).astype(dtype)
        full = op.backward(g, inputs, out, **attrs)
        assert all(f is not None for f in full), (name, case)
        for needs in itertools.product([True, False], repeat=len(inputs)):
            got = op.backward(g, inputs, out, needs=needs, **attrs)
            assert len(got) == len(inputs)
            for i, (need, gi, fi) in enumerate(zip(needs, got, full)):
                if need:
                    np.testing.assert_array_equal(gi, fi, err_msg=f"{name} case {case} needs {needs} input {i}")
                else:
                    assert gi is None, f"{name} case {case}: needs {needs} but input {i} got a gradient"


@pytest.mark.parametrize("name", FRESH)
def test_fresh_gradients_share_memory_with_nothing(name):
    op = OPS[name]
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(case), np.float64, case=case)
        inputs = [np.asarray(a) for a in inputs]
        out = op.forward(*inputs, **attrs)
        g = np.ones(np.shape(out))
        grads = [gi for gi in op.backward(g, inputs, out, **attrs) if gi is not None]
        others = [g, out, *inputs]
        for i, gi in enumerate(grads):
            for other in others + grads[i + 1:]:
                assert not np.shares_memory(gi, other), f"{name} case {case}: gradient {i} aliases another array"


def _count_calls(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, counted)
    return calls


def test_needed_grads_skips_the_data_gradient_of_a_first_layer(monkeypatch):
    from fastgrad.ops import matmul as M
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 5)))                       # data: no gradient wanted
    w = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    results = {}
    for on in (False, True):
        w.zero_grad()
        y = (x @ w).sum()
        calls = _count_calls(monkeypatch, M, "product")
        with switches(needed_grads=on):
            y.backward()
        monkeypatch.undo()
        results[on] = (len(calls), w.grad.copy())
    assert results[False][0] == 2 and results[True][0] == 1
    np.testing.assert_array_equal(results[False][1], results[True][1])
    assert x.grad is None


def test_in_place_accumulation_gives_the_same_gradients_and_no_aliasing():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3))
    w_data = rng.standard_normal((3, 3))
    grads = {}
    for on in (False, True):
        x = Tensor(a, requires_grad=True)
        w = Tensor(w_data, requires_grad=True)
        with switches(inplace_grads=on):
            h = x @ w
            loss = ((h * h).sum() + (h @ w).sum() + (x @ w).sum() * 2.0)   # x, w, h used several times
            loss.backward()
            loss2 = (x @ w).sum()
            loss2.backward()                      # accumulates into .grad a second time
        grads[on] = (x.grad, w.grad)
        assert not np.shares_memory(x.grad, w.grad)
        assert not np.shares_memory(x.grad, x.data) and not np.shares_memory(w.grad, w.data)
    for got, want in zip(grads[True], grads[False]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_leaf_grad_never_aliases_the_gradient_of_another_leaf():
    # add's backward hands the same array to both inputs: neither may be adopted without a copy
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    (a + b).sum().backward()                      # in-place accumulation into a.grad
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    assert not np.shares_memory(a.grad, b.grad)


def test_free_graph_frees_links_and_refuses_a_second_backward():
    x = Tensor(np.arange(3.0), requires_grad=True)
    y = (x * 2.0).exp().sum()
    y.backward(retain_graph=False)
    assert y.inputs == ()
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()
    z = (x * 2.0).sum()
    with switches(free_graph=True):
        z.backward()
    assert z.inputs == ()
    w = (x * 3.0).sum()
    w.backward()
    w.backward()                                   # default: the graph is kept (chapter 04)
    np.testing.assert_array_equal(x.grad, 2 * np.exp(2 * np.arange(3.0)) + 2 + 6)


def test_free_graph_keeps_values_the_user_holds():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    h = x * 3.0
    loss = (h * h).sum()
    loss.backward(retain_graph=False)
    np.testing.assert_array_equal(h.data, 3 * np.ones((2, 2)))
    np.testing.assert_array_equal(x.grad, 18 * np.ones((2, 2)))


def test_lean_dispatch_off_gives_identical_results():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    with switches(lean_dispatch=False):
        slow = (Tensor(a) * Tensor(b) + 1.5 - Tensor(b) / 3.0).data
    fast = (Tensor(a) * Tensor(b) + 1.5 - Tensor(b) / 3.0).data
    np.testing.assert_array_equal(slow, fast)
    assert slow.dtype == np.float32


def test_switches_restore_and_refuse_bad_names():
    before = (SWITCHES.needed_grads, SWITCHES.free_graph)
    with pytest.raises(ValueError):
        with switches(needed_grads=not before[0]):
            assert SWITCHES.needed_grads is (not before[0])
            raise ValueError("inside")
    assert (SWITCHES.needed_grads, SWITCHES.free_graph) == before
    with pytest.raises(TypeError, match="no switch named 'fast'.*lean_dispatch"):
        with switches(fast=True):
            pass
    with pytest.raises(TypeError, match="must be True or False"):
        with switches(needed_grads=1):
            pass


def test_buffer_pool_switch_reuses_matmul_results_without_aliasing():
    from fastgrad.buffers import BufferPool, pool_step
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((6, 4)).astype(np.float32))
    w = Tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    pool = BufferPool()
    kept = []

    def step():
        h = x @ w
        loss = (h * h).sum()
        loss.backward()
        return float(loss.data), h.data.copy()
    with switches(buffer_pool=True):
        for _ in range(3):
            w.zero_grad()
            with pool_step(pool):
                kept.append(step())
            kept.append(w.grad)                   # escaped the step: must never be reused
    assert pool.stats().hits >= 2                 # forward results recycled across steps
    losses = [k[0] for k in kept[0::2]]
    assert losses[0] == losses[1] == losses[2]
    for g in kept[1::2]:
        np.testing.assert_allclose(g, kept[1], rtol=1e-6)
    assert not np.shares_memory(kept[1], kept[3]) and not np.shares_memory(kept[3], kept[5])


@pytest.mark.parametrize("call, message", [
    (lambda: fg.functional.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))), r"\(2, 3\).*\(4, 5\)"),
    (lambda: fg.functional.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(3))),
     r"bias of shape \(3,\).*\(4, 3\)"),
    (lambda: fg.autograd.apply("linear", Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), activation="gelu"),
     "activation must be one of"),
    (lambda: fg.functional.mse_loss(Tensor(np.ones((4, 1))), Tensor(np.ones(4))), r"\(4, 1\).*\(4,\)"),
])
def test_fused_ops_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fused_ops_keep_float32_and_nan():
    x = Tensor(np.array([[np.nan], [-2.0], [3.0]], dtype=np.float32))
    w = Tensor(np.ones((1, 1), dtype=np.float32))
    y = fg.functional.linear_relu(x, w, Tensor(np.full(1, 0.5, np.float32)))
    assert y.dtype == np.float32 and np.isnan(y.data[0, 0])         # NaN stays NaN, as np.maximum
    assert y.data[1, 0] == 0.0 and y.data[2, 0] == 3.5
    loss = fg.functional.mse_loss(Tensor(np.ones(3, np.float32)), Tensor(np.zeros(3, np.float32)))
    assert loss.dtype == np.float32 and loss.item() == 1.0
