"""Tensor and reverse-mode autodiff: dtypes, accumulation, long chains, no_grad, errors."""
import numpy as np
import pytest

from fastgrad.autograd import Tensor, apply, concatenate, no_grad, topological_order, where


def leaf(x, dtype=np.float64):
    return Tensor(x, dtype=dtype, requires_grad=True)


# ------------------------------------------------------------------- dtypes
def test_float32_by_default_float64_on_request():
    # the full dtype rule (NumPy arrays keep float64, errors) is tested in test_public_api.py
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == np.float32
    y = leaf([1.0, 2.0])
    (y * 2.0 + 1.0).sum().backward()
    assert y.grad.dtype == np.float64


def test_unsupported_dtype_is_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        Tensor([1, 2], dtype=np.int64)


def test_scalars_and_arrays_take_the_tensor_dtype():
    x = Tensor([1.0, 2.0])
    for y in (x + 1, 1 + x, x * np.ones(2), np.ones(2) * x, 2 - x, 1 / x, x ** 2, 2 ** x):
        assert isinstance(y, Tensor) and y.dtype == np.float32


def test_mixing_float32_and_float64_names_both():
    with pytest.raises(TypeError) as info:
        Tensor([1.0]) + Tensor([1.0], dtype=np.float64)
    assert "float32" in str(info.value) and "float64" in str(info.value)


# ------------------------------------------------------------------ backward
def test_simple_gradients():
    a, b = leaf([[1.0, 2.0], [3.0, 4.0]]), leaf([[0.5, -1.0], [2.0, 1.0]])
    ((a * b) + a / b - a ** 2).sum().backward()
    np.testing.assert_allclose(a.grad, b.data + 1 / b.data - 2 * a.data)
    np.testing.assert_allclose(b.grad, a.data - a.data / b.data ** 2)


def test_accumulation_when_a_node_is_used_twice():
    x = leaf([3.0])
    y = x * x + x            # x used three times
    y.backward(np.ones(1))
    np.testing.assert_allclose(x.grad, [7.0])
    h = x.exp()              # an intermediate used twice
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad, [7.0 + 2 * np.exp(6.0)])   # and grads accumulate over calls


def test_broadcast_add_backward_sums_to_the_input_shape():
    a, b, c = leaf(np.ones((2, 3))), leaf(np.ones(3)), leaf(np.ones((2, 1)))
    (a + b + c).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad, [[3.0], [3.0]])
    assert a.grad.shape == (2, 3)


def test_chain_of_10000_ops_needs_no_recursion():
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 10_000, rtol=1e-9)
    assert len(topological_order(y)) == 10_001


def test_topological_order_puts_inputs_first():
    a, b = leaf(1.0), leaf(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        for parent in t.inputs:
            assert position[id(parent)] < position[id(t)]
    assert order[-1] is e and len(order) == 5


def test_matmul_and_reductions_through_the_tensor():
    rng = np.random.default_rng(0)
    w, x = leaf(rng.standard_normal((4, 3))), leaf(rng.standard_normal((5, 4)))
    (x @ w).relu().mean().backward()
    mask = (x.data @ w.data > 0) / 15
    np.testing.assert_allclose(w.grad, x.data.T @ mask)
    np.testing.assert_allclose(x.grad, mask @ w.data.T)


def test_methods_and_functions_build_the_graph():
    x = leaf(np.arange(6.0).reshape(2, 3) / 6)
    parts = [x.sum(axis=0), x.max(axis=1).reshape(2) * 1.0, x.exp().mean(), x.tanh().sum(),
             x.sigmoid().sum(), x.gelu().sum(), x.softmax(axis=0)[0, 1], x.log_softmax()[1].sum(),
             x.T.sum(), x.transpose(0, 1)[::2].sum(), x.permute(1, 0)[None, ..., 0].sum(),
             concatenate([x, x], axis=1).sum(), where(x.data > 0.3, x, 0.0).sum(),
             x.broadcast_to((4, 2, 3)).sum(), (x + 1).log().sum(), x[1, 2]]
    total = parts[0].sum()
    for p in parts[1:]:
        total = total + p.sum()
    total.backward()
    assert x.grad.shape == (2, 3) and np.all(np.isfinite(x.grad))


def test_matmul_with_vectors_like_numpy():
    v, m, w = leaf([1.0, 2.0]), leaf([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]), leaf([3.0, -4.0])
    y = v @ m                                   # (2,) @ (2, 3) -> (3,)
    assert y.shape == (3,)
    y.backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(v.grad, m.data @ [1.0, 10.0, 100.0])
    np.testing.assert_allclose(m.grad, np.outer(v.data, [1.0, 10.0, 100.0]))
    dot = v @ w                                 # (2,) @ (2,) -> a 0-d scalar
    assert dot.shape == () and dot.item() == -5.0
    v.zero_grad()
    dot.backward()
    np.testing.assert_allclose(v.grad, w.data)
    np.testing.assert_allclose(w.grad, v.data)


def test_apply_takes_an_op_record_without_touching_the_table():
    import dataclasses
    from fastgrad.ops import OPS
    table_tanh = OPS["tanh"]
    doubled = dataclasses.replace(table_tanh, backward=lambda g, inputs, out: (2 * g * (1 - out * out),))
    x = leaf([0.5, -1.0])
    y = apply(doubled, x)
    y.sum().backward()
    assert y.op is doubled and OPS["tanh"] is table_tanh
    np.testing.assert_allclose(x.grad, 2 * (1 - np.tanh(x.data) ** 2))


def test_concatenate_takes_a_sequence_or_the_tensors():
    a, b = leaf([1.0, 2.0]), leaf([3.0])
    np.testing.assert_array_equal(concatenate([a, b]).data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(concatenate(a, b).data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(concatenate((a,), axis=0).data, [1.0, 2.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)


def test_constants_get_no_gradient():
    x, c = leaf([1.0]), Tensor([2.0], dtype=np.float64)
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad


# ------------------------------------------------------------ no_grad, detach
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.op is None
    z = x * 2
    assert z.requires_grad            # restored afterwards

    @no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_detach_cuts_the_graph():
    x = leaf([2.0])
    y = x * x.detach()                # gradient flows through one factor only
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0])
    assert np.shares_memory(x.detach().data, x.data)


# --------------------------------------------------------------------- errors
def test_backward_on_non_scalar_without_grad():
    x = leaf(np.ones((3, 4)))
    with pytest.raises(RuntimeError) as info:
        (x * 2).backward()
    assert str(info.value) == ("backward() needs a gradient for a tensor of shape (3, 4); "
                               "pass grad= or call .sum() first")
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 4\)"):
        (x * 2).backward(np.ones(4))


def test_backward_without_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 3\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 3)))


def test_unknown_op_lists_the_table():
    with pytest.raises(KeyError, match="'add'"):
        apply("nope", Tensor([1.0]))


def test_tensor_exponent_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="exp"):
        Tensor([1.0]) ** Tensor([2.0])


def test_repr_and_helpers():
    x = leaf([1.0, 2.0])
    y = x * 2
    assert "requires_grad=True" in repr(y) and "op=mul" in repr(y)
    assert y.shape == (2,) and y.ndim == 1 and y.size == 2 and len(y) == 2
    assert x.is_leaf and not y.is_leaf
    assert y.sum().item() == 6.0
    x.grad = np.ones(2)
    x.zero_grad()
    assert x.grad is None


def test_max_ties_share_the_gradient():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_same_shape_gradients_are_not_copied_but_leaves_own_theirs():
    a, b = leaf(np.ones(3)), leaf(np.ones(3))
    (a + b).backward(np.arange(3.0))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 10.0                               # a leaf's grad is its own, writable array
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 2.0])
