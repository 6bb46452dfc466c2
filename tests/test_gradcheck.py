"""Gradient checking: every op in the table passes, and wrong backwards are caught and located."""
import dataclasses

import numpy as np
import pytest

from fastgrad.autograd import Tensor, apply
from fastgrad.gradcheck import (GradcheckError, check_all_ops, check_op, gradcheck, numeric_vjp)
from fastgrad.ops import OPS


# --------------------------------------------------------- the whole op table
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_in_the_table_passes_gradcheck(name):
    """Walks OPS, so an op registered later without a correct backward fails here."""
    result = check_op(name)
    assert result.passed, str(result)
    assert result.n_checked > 0


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_float64_samples_for_each_case(name):
    op = OPS[name]
    assert op.cases >= 1
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(case), np.float64, case=case)
        floats = [x for i, x in enumerate(inputs) if i not in op.nondiff]
        assert floats and all(x.dtype == np.float64 for x in floats)
        assert isinstance(attrs, dict)


def test_check_all_ops_reports_every_op():
    report = check_all_ops()
    assert report.passed and report.failed == []
    text = str(report)
    assert f"{len(OPS)}/{len(OPS)} ops pass" in text
    for name in OPS:
        assert name in text


# ------------------------------------------------- wrong backwards are caught
def _broken(monkeypatch, name, backward):
    """Replace OPS[name]'s backward for this test only."""
    monkeypatch.setitem(OPS, name, dataclasses.replace(OPS[name], backward=backward))


def test_wrong_element_is_named(monkeypatch):
    def bad_mul_backward(g, inputs, out):
        a, b = inputs
        ga = g * b
        ga[1, 2] += 0.5                      # one wrong element
        return ga, g * a
    _broken(monkeypatch, "mul", bad_mul_backward)
    rng = np.random.default_rng(0)
    result = gradcheck(lambda a, b: a * b, rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))
    assert not result.passed and result.failures == 1
    w = result.worst
    assert (w.input_index, w.index) == (0, (1, 2))
    assert w.analytic - w.numeric == pytest.approx(0.5, rel=1e-6)
    text = str(result)
    for word in ["FAIL", "input 0", "element (1, 2)", "analytic", "numeric", "abs error"]:
        assert word in text


def _cotangent(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_missing_transpose_in_matmul_backward(monkeypatch):
    def bad_matmul_backward(g, inputs, out):
        a, b = inputs
        return g @ b, a.swapaxes(-1, -2) @ g   # dA should be g @ b^T
    _broken(monkeypatch, "matmul", bad_matmul_backward)
    rng = np.random.default_rng(1)      # square, so the wrong shapes still fit together
    square = gradcheck(lambda a, b: a @ b, rng.standard_normal((3, 3)), rng.standard_normal((3, 3)))
    assert not square.passed and square.worst.input_index == 0


def test_forgotten_broadcast_reduction_is_caught(monkeypatch):
    def bad_add_backward(g, inputs, out):
        return g, g                          # forgot sum_to_shape
    _broken(monkeypatch, "add", bad_add_backward)
    with pytest.raises(RuntimeError, match=r"add.backward returned a gradient of shape \(3, 4\) "
                                           r"for input 1 of shape \(4,\)"):
        gradcheck(lambda a, b: a + b, np.ones((3, 4)), np.ones(4))


def test_random_cotangent_catches_what_sum_misses(monkeypatch):
    """softmax sums to 1, so d sum(softmax)/dx = 0: a backward returning zeros passes
    the all-ones check and only a random cotangent exposes it."""
    _broken(monkeypatch, "softmax", lambda g, inputs, out, axis=-1: (np.zeros_like(g),))
    x = np.random.default_rng(0).standard_normal((2, 5))
    assert gradcheck(lambda t: t.softmax(), x, cotangent="ones").passed
    assert not gradcheck(lambda t: t.softmax(), x).passed


def test_check_op_takes_an_op_record():
    """A copy of a table op with another backward is checked without touching the table
    (how a learner's rule can run through the library's own gradcheck)."""
    wrong = dataclasses.replace(OPS["tanh"], backward=lambda g, inputs, out: (g * (1 - out),))
    result = check_op(wrong)
    assert not result.passed and result.name.startswith("tanh(")
    assert check_op(OPS["tanh"]).passed and OPS["tanh"] is not wrong


def test_raise_on_fail(monkeypatch):
    _broken(monkeypatch, "tanh", lambda g, inputs, out: (g * (1 - out),))   # should be 1 - out**2
    with pytest.raises(GradcheckError, match="tanh: FAIL"):
        gradcheck(lambda t: t.tanh(), np.linspace(-1, 1, 5), raise_on_fail=True, name="tanh")
    result = check_op("tanh")
    assert not result.passed and result.name.startswith("tanh(")


# ------------------------------------------------------ eps and tolerances
def test_eps_too_large_or_too_small_fails_and_1e6_passes():
    x = np.linspace(-1.0, 2.0, 7)

    def f(t):
        return (t * 3.0).exp()
    assert gradcheck(f, x, eps=1e-6).passed
    assert not gradcheck(f, x, eps=1e-1).passed      # truncation error ~ eps^2 f'''/6
    assert not gradcheck(f, x, eps=1e-13).passed     # rounding error ~ 1e-16 |f| / eps


def test_loose_tolerance_hides_a_small_bug(monkeypatch):
    _broken(monkeypatch, "exp", lambda g, inputs, out: (g * out * 1.001,))
    x = np.linspace(-1.0, 1.0, 5)
    assert not gradcheck(lambda t: t.exp(), x).passed
    assert gradcheck(lambda t: t.exp(), x, rtol=1e-2, atol=1e-2).passed


def test_inputs_are_checked_in_float64():
    x32 = np.linspace(0.5, 2.0, 6, dtype=np.float32)
    seen = []

    def f(a, b):
        seen.extend([a.dtype, b.dtype])
        return a.log() * b
    result = gradcheck(f, x32, Tensor(x32))
    assert result.passed and result.max_abs_error < 1e-8     # float32 would give ~1e-2
    assert set(seen) == {np.dtype(np.float64)}


def test_kink_at_zero_fails_which_is_why_samples_avoid_it():
    x = np.array([-1.0, 0.0, 1.0])
    result = gradcheck(lambda t: t.relu(), x)
    assert not result.passed and result.worst.index == (1,)
    assert result.worst.numeric == pytest.approx(0.5 * _cotangent((3,))[1])


def test_numeric_vjp_matches_a_known_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), dtype=np.float64, requires_grad=True)
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(numeric_vjp(lambda t: t * t, [x], v, 0, 1e-6), v * 2 * x.data, rtol=1e-8)


def test_input_not_used_gets_zero_gradient_and_passes():
    result = gradcheck(lambda a, b: a * 2.0, np.ones(3), np.ones(2))
    assert result.passed and result.n_checked == 5


def test_boolean_inputs_are_passed_through():
    cond = np.array([True, False, True])
    assert gradcheck(lambda c, a, b: apply("where", c, a, b), cond, np.ones(3), np.zeros(3)).passed


def test_fn_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda t: t.data, np.ones(2))


# ------------------------------------------------------ composites of many ops
def _attention(q, k, v):
    return ((q @ k.transpose()) * 0.5).softmax(axis=-1) @ v


def _layernorm(x, gain, bias):
    d = x - x.mean(axis=-1, keepdims=True)
    return d / ((d * d).mean(axis=-1, keepdims=True) + 1e-5) ** 0.5 * gain + bias


def _mlp_loss(x, w1, w2):
    return ((x @ w1).gelu() @ w2).log_softmax()[:, 0].mean()


def _movement(a):
    return (a[::2].T * a[1::2].T).max(axis=0) + a.reshape(-1)[:3].sum()


@pytest.mark.parametrize("fn, shapes", [
    (_attention, [(2, 3, 4), (2, 3, 4), (2, 3, 4)]),
    (_layernorm, [(3, 5), (5,), (5,)]),
    (_mlp_loss, [(4, 3), (3, 6), (6, 2)]),
    (_movement, [(4, 3)]),
])
def test_composites_pass(fn, shapes):
    rng = np.random.default_rng(0)
    result = gradcheck(fn, *[rng.standard_normal(s) for s in shapes])
    assert result.passed, str(result)


# ------------------------------------- generic wrong backwards, applied to every op
def _mutant(transform):
    """A wrong backward built from the right one: `transform(grads, g, inputs, out, attrs,
    backward)` changes the correct gradients. The wrapper records on `changed` whether
    it ever produced a gradient different from the correct one, so a mutant that
    happens to equal the right answer for some op (swapping the equal gradients of
    `a + b`) is recognised as harmless instead of counted as missed."""
    def wrap(backward, changed):
        def wrong(g, inputs, out, **attrs):
            right = backward(g, inputs, out, **attrs)
            grads = tuple(None if x is None else np.array(x) for x in transform(
                right, g, inputs, out, attrs, backward))
            if len(grads) != len(right) or any(_differ(x, y) for x, y in zip(grads, right)):
                changed.append(True)
            return grads
        return wrong
    return wrap


def _differ(x, y) -> bool:
    if x is None or y is None:
        return (x is None) != (y is None)
    return x.shape != y.shape or not np.array_equal(x, y)


def _each(fn):
    """Apply fn to every gradient that is not None."""
    return lambda grads, *rest: tuple(None if x is None else fn(x) for x in grads)


def _perturb_one(grads, *rest):
    """One element of one input's gradient off by 0.1 (the middle element of the first
    non-empty gradient): the 'one wrong element among many' mistake."""
    out = [None if x is None else np.array(x) for x in grads]
    for x in out:
        if x is not None and x.size:
            x.flat[x.size // 2] += 0.1
            break
    return tuple(out)


def _swap_inputs(grads, *rest):
    """The gradients of two inputs of the same shape exchanged (the first such pair)."""
    out = list(grads)
    live = [i for i, x in enumerate(out) if x is not None]
    for i in live:
        for j in live:
            if i < j and out[i].shape == out[j].shape:
                out[i], out[j] = out[j], out[i]
                return tuple(out)
    return tuple(out)


def _ignore_upstream(grads, g, inputs, out, attrs, backward):
    """The local derivative only: the incoming gradient replaced by ones."""
    return backward(np.ones_like(g), inputs, out, **attrs)


GENERIC_MUTANTS = {
    "gradient scaled by 1.01": _each(lambda x: x * 1.01),
    "gradient negated": _each(lambda x: -x),
    "gradient zeroed": _each(np.zeros_like),
    "one element perturbed": _perturb_one,
    "incoming gradient ignored (ones used)": _ignore_upstream,
}


def _caught(op) -> bool:
    """True when check_op fails, or raises (a wrong-shaped gradient is an error too)."""
    try:
        return not check_op(op).passed
    except Exception:
        return True


@pytest.mark.parametrize("mutant", sorted(GENERIC_MUTANTS))
@pytest.mark.parametrize("name", sorted(OPS))
def test_generic_wrong_backward_is_caught(name, mutant):
    """Every op's samples expose each generic mistake in its backward. Derived from the
    table, so an op registered later is covered without a new mutant."""
    op = OPS[name]
    changed = []
    wrong = dataclasses.replace(op, backward=_mutant(GENERIC_MUTANTS[mutant])(op.backward, changed))
    result = check_op(wrong)      # shapes stay right, so gradcheck itself must say FAIL (no exception)
    assert changed, f"'{mutant}' never changed a gradient of {name}: its samples give zero gradients?"
    assert not result.passed, f"{name}: the backward with '{mutant}' passes check_op"


def test_swapped_input_gradients_are_caught_wherever_they_change_something():
    """Exchanging the gradients of two same-shaped inputs, for every op where that changes
    the answer: not add (its two gradients are equal) nor one-input ops, but the binary
    ops, where and concatenate."""
    applied = []
    for name, op in sorted(OPS.items()):
        changed = []
        wrong = dataclasses.replace(op, backward=_mutant(_swap_inputs)(op.backward, changed))
        result = check_op(wrong)
        if changed:
            applied.append(name)
            assert not result.passed, f"{name}: swapped input gradients pass check_op"
    assert {"sub", "mul", "div", "matmul", "where", "concatenate"} <= set(applied), applied


def test_a_mutant_that_changes_nothing_is_not_counted_as_caught():
    changed = []
    identity = _mutant(lambda grads, *rest: grads)
    same = dataclasses.replace(OPS["add"], backward=identity(OPS["add"].backward, changed))
    assert check_op(same).passed and not changed


# ------------------------------------- plausible wrong backwards (extra, hand-written)
def _g(fn):
    """A backward from a one-input formula: fn(g, x, out) -> grad."""
    return lambda g, inputs, out, **attrs: (fn(g, inputs[0], out),)


MUTANTS = {      # not every op needs one: the generic mutants above cover every op
    "add: forgot sum_to_shape on b": ("add", lambda g, i, o: (g, g)),
    "sub: no minus on b": ("sub", lambda g, i, o: (g, g) if g.shape == i[1].shape else (g, g.sum(0))),
    "mul: gradients swapped": ("mul", lambda g, i, o: (g * i[0], g * i[1])),
    "div: d/db sign flipped": ("div", lambda g, i, o: (g / i[1], g * o / i[1])),
    "neg: returned g": ("neg", _g(lambda g, x, o: g)),
    "pow: p x^p instead of p x^(p-1)": ("pow", lambda g, i, o, exponent: (g * exponent * o,)),
    "exp: used the input": ("exp", _g(lambda g, x, o: g * x)),
    "log: multiplied by x": ("log", _g(lambda g, x, o: g * x)),
    "tanh: 1 - out": ("tanh", _g(lambda g, x, o: g * (1 - o))),
    "sigmoid: out only": ("sigmoid", _g(lambda g, x, o: g * o)),
    "relu: passes negatives": ("relu", _g(lambda g, x, o: g)),
    "gelu: dropped the tanh' term": ("gelu", _g(lambda g, x, o: g * 0.5 * (1 + np.tanh(
        0.7978845608 * (x + 0.044715 * x ** 3))))),
    "matmul: missing transpose": ("matmul", lambda g, i, o: (g @ i[1], np.swapaxes(i[0], -1, -2) @ g)),
    "matmul: used out instead of g": ("matmul", lambda g, i, o: (
        o @ np.swapaxes(i[1], -1, -2), np.swapaxes(i[0], -1, -2) @ o)),
    "sum: keepdims shape forgotten": ("sum", lambda g, i, o, axis, keepdims: (np.ones_like(i[0]) * g.sum(),)),
    "mean: did not divide by n": ("mean", lambda g, i, o, axis, keepdims:
                                  (OPS["sum"].backward(g, i, o, axis=axis, keepdims=keepdims)[0],)),
    "max: gradient to every element": ("max", lambda g, i, o, axis, keepdims:
                                       OPS["sum"].backward(g, i, o, axis=axis, keepdims=keepdims)),
    "softmax: forgot the - sum(g s) term": ("softmax", lambda g, i, o, axis: (g * o,)),
    "log_softmax: used out for softmax": ("log_softmax", lambda g, i, o, axis:
                                          (g - o * g.sum(axis=axis, keepdims=True),)),
    "reshape: reshaped to the wrong order": ("reshape", lambda g, i, o, new_shape:
                                             (g.reshape(i[0].shape[::-1]).T.copy(),)),
    "permute: same axes, not the inverse": ("permute", lambda g, i, o, axes: (np.transpose(g, axes),)),
    "broadcast_to: took one copy": ("broadcast_to", lambda g, i, o, new_shape:
                                    (g.reshape((-1,) + i[0].shape)[0] if g.size else g,)),
    "getitem: scattered to the start": ("getitem", lambda g, i, o, index:
                                        (np.concatenate([g.reshape(-1), np.zeros(i[0].size - g.size)])
                                         .reshape(i[0].shape),)),
    "concatenate: pieces in reverse": ("concatenate", lambda g, i, o, axis:
                                       tuple(np.split(np.flip(g, axis), np.cumsum(
                                           [a.shape[axis] for a in i[::-1]])[:-1], axis)[::-1])),
    "where: branches swapped": ("where", lambda g, i, o, _right=OPS["where"].backward:
                                (None,) + _right(g, [~i[0], i[1], i[2]], o)[1:]),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_plausible_wrong_backward_is_caught(monkeypatch, mutant):
    """Mistakes seen in practice, on top of the generic mutants: each is caught too."""
    name, backward = MUTANTS[mutant]
    _broken(monkeypatch, name, backward)
    assert _caught(name)


def test_check_all_ops_reports_an_op_that_raises(monkeypatch):
    _broken(monkeypatch, "add", lambda g, i, o: (g, g))          # wrong shape for a broadcast b
    report = check_all_ops()
    assert report.failed == ["add"]
    assert "raised RuntimeError" in str(report) and "add.backward" in str(report)

