"""The chapter 07 ops (fastgrad.ops.attention): rms_norm, rope, causal_softmax.

The generic table tests (tests/test_ops.py: forward against `reference` for every sample
case and dtype, the backward contract, Tensor reachability; tests/test_gradcheck.py:
check_all_ops and the generic wrong backwards) cover these ops because they are in the
table. Here: the properties that make them right for attention (RoPE's offset and
relative-position property, the mask's exact zeros and stability), plausible wrong
backwards caught by check_op, and the error messages.
"""
import dataclasses

import numpy as np
import pytest

from fastgrad.autograd import Tensor, apply
from fastgrad.gradcheck import check_all_ops, check_op
from fastgrad.ops import OPS
from fastgrad.ops.attention import causal_mask, rope_tables

NEW_OPS = ["rms_norm", "rope", "causal_softmax"]


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_ops_are_in_the_table_and_pass_gradcheck(name):
    op = OPS[name]
    assert op.reference is not None and op.method == name and op.cases >= 4
    result = check_op(name)
    assert result.passed, str(result)


def test_check_all_ops_covers_the_new_ops():
    report = check_all_ops()
    for name in NEW_OPS:
        assert name in report.results and report[name].passed, str(report[name])


@pytest.mark.parametrize("name", NEW_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(name, dtype):
    op = OPS[name]
    tol = dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(case), dtype, case=case)
        out = op.forward(*inputs, **attrs)
        assert out.dtype == dtype and out.shape == op.shape(*[x.shape for x in inputs], **attrs)
        expected = op.reference(*[x.astype(np.float64) for x in inputs], **attrs)
        np.testing.assert_allclose(out, expected, **tol, err_msg=f"{name} case {case}")


# ------------------------------------------------------------------------ rms_norm
def test_rms_norm_rows_have_unit_rms_before_the_weight():
    rng = np.random.default_rng(0)
    x = 5 * rng.standard_normal((4, 7, 16))
    y = OPS["rms_norm"].forward(x, np.ones(16), eps=0.0)
    np.testing.assert_allclose(np.sqrt((y ** 2).mean(axis=-1)), 1.0, rtol=1e-12)
    w = rng.standard_normal(16)
    np.testing.assert_allclose(OPS["rms_norm"].forward(x, w, eps=0.0), y * w, rtol=1e-12)
    # not centred: a constant row stays constant (LayerNorm would give zeros)
    np.testing.assert_allclose(OPS["rms_norm"].forward(np.full((1, 4), 3.0), np.ones(4), eps=0.0), 1.0)


def test_rms_norm_through_tensor_method_and_errors():
    x = Tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    w = Tensor(np.ones(4), requires_grad=True)
    y = x.rms_norm(w, eps=1e-5)
    assert y.op is OPS["rms_norm"]
    y.sum().backward()
    assert x.grad.shape == (3, 4) and w.grad.shape == (4,)
    with pytest.raises(ValueError, match=r"rms_norm: input \(3, 4\) needs a weight of shape \(4,\)"):
        OPS["rms_norm"].shape((3, 4), (3,))


# ---------------------------------------------------------------------------- rope
def _rope(x, offset=0, base=10000.0):
    return OPS["rope"].forward(x, offset=offset, base=base)


def test_rope_at_an_offset_equals_the_slice_of_the_full_sequence():
    """What the KV cache relies on: rotating rows p..p+t-1 alone at offset p gives exactly
    those rows of the rotated full sequence (and offset 0 does not)."""
    x = np.random.default_rng(0).standard_normal((2, 4, 50, 16)).astype(np.float32)
    full = _rope(x)
    for p, t in [(0, 5), (17, 1), (49, 1), (10, 30)]:
        part = _rope(x[..., p:p + t, :], offset=p)
        np.testing.assert_array_equal(part, full[..., p:p + t, :])
    wrong = _rope(x[..., 17:18, :], offset=0)            # the "RoPE at position 0" bug
    assert np.abs(wrong - full[..., 17:18, :]).max() > 0.1


def test_rope_scores_depend_only_on_the_distance():
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((1, 32)), rng.standard_normal((1, 32))
    def score(m, n):
        return float(_rope(q, offset=m)[0] @ _rope(k, offset=n)[0])
    for d in (0, 1, 5, 40):
        scores = [score(m + d, m) for m in (0, 3, 100, 1000)]
        np.testing.assert_allclose(scores, scores[0], rtol=1e-9, atol=1e-9)
    assert abs(score(5, 0) - score(6, 0)) > 1e-3          # but it does depend on the distance


def test_rope_is_a_rotation_and_backward_is_its_inverse():
    x = np.random.default_rng(2).standard_normal((3, 9, 8))
    y = _rope(x, offset=4)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(_rope(x[:, :1], offset=0), x[:, :1])        # position 0: identity
    back = OPS["rope"].backward(y, [x], y, offset=4)[0]                       # R(-theta) R(theta) x
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12)


def test_rope_pairs_feature_i_with_feature_i_plus_half():
    """Only features i and i + head_dim/2 mix; pair 0 turns by one radian per position."""
    x = np.zeros((2, 6))
    x[:, 0] = 1.0
    y = _rope(x)
    np.testing.assert_allclose(y[1], [np.cos(1), 0, 0, np.sin(1), 0, 0], atol=1e-15)


def test_rope_tables_grow_and_slice():
    cos, sin = rope_tables(300, 5, 8, 10000.0, np.float64)
    assert cos.shape == (5, 4)
    angles = np.arange(300, 305)[:, None] * 10000.0 ** (-np.arange(0, 8, 2) / 8)
    np.testing.assert_allclose(cos, np.cos(angles), rtol=1e-12)
    np.testing.assert_allclose(sin, np.sin(angles), rtol=1e-12)


def test_rope_errors():
    with pytest.raises(ValueError, match="even head_dim"):
        OPS["rope"].shape((4, 5))
    with pytest.raises(ValueError, match="non-negative int"):
        OPS["rope"].shape((4, 6), offset=-1)
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    assert x.rope(offset=2).op is OPS["rope"]


# ------------------------------------------------------------------ causal_softmax
def _cs(s, offset=0, scale=1.0):
    return OPS["causal_softmax"].forward(s, offset=offset, scale=scale)


def test_causal_softmax_masks_the_future_with_exact_zeros():
    s = np.random.default_rng(0).standard_normal((2, 6, 6)).astype(np.float32)
    p = _cs(s)
    assert np.all(p[:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(p[:, 0, 0] == 1)


def test_causal_softmax_equals_where_then_softmax():
    """Against the ops of the table: masked fill with a very negative number, then softmax."""
    rng = np.random.default_rng(1)
    s = rng.standard_normal((3, 4, 7))
    mask = causal_mask(4, 7, 3)
    filled = apply("where", mask, Tensor(np.full(s.shape, -1e30)), Tensor(s * 0.5))
    np.testing.assert_allclose(_cs(s, offset=3, scale=0.5), filled.softmax(-1).data, rtol=1e-12, atol=1e-300)


def test_causal_softmax_offset_is_the_rows_of_the_full_matrix():
    """Queries after `offset` cached positions: their rows of the square causal softmax."""
    s = np.random.default_rng(2).standard_normal((4, 10, 10))
    full = _cs(s, scale=0.3)
    for t in (1, 3, 10):
        np.testing.assert_allclose(_cs(s[:, -t:], offset=10 - t, scale=0.3), full[:, -t:], rtol=1e-13)
    assert np.abs(_cs(s[:, -1:], offset=0, scale=0.3) - full[:, -1:]).max() > 0.1   # offset forgotten


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_causal_softmax_is_stable(dtype):
    s = np.array([[[1000.0, 1001.0, 5000.0], [-1000.0, -1000.0, 3e4], [1e4, 1e4, 1e4]]], dtype=dtype)
    p = _cs(s)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p[0, 0], [1, 0, 0])
    np.testing.assert_allclose(p[0, 1], [0.5, 0.5, 0], rtol=1e-6)
    np.testing.assert_allclose(p[0, 2], 1 / 3, rtol=1e-6)


def test_causal_softmax_backward_leaves_masked_entries_without_gradient():
    s = Tensor(np.random.default_rng(3).standard_normal((5, 5)), requires_grad=True)
    (s.causal_softmax(offset=0, scale=2.0) * np.random.default_rng(4).standard_normal((5, 5))).sum().backward()
    assert np.all(s.grad[np.triu_indices(5, 1)] == 0) and np.abs(s.grad).max() > 0


def test_causal_softmax_errors():
    with pytest.raises(ValueError, match=r"\(5,\) must be \(\.\.\., Tq, Tk\)"):
        OPS["causal_softmax"].shape((5,))
    with pytest.raises(ValueError, match="non-negative int"):
        OPS["causal_softmax"].shape((2, 5), offset=-3)


# ------------------------------------------------------- plausible wrong backwards
def _rope_backward_same_direction(g, inputs, out, offset=0, base=10000.0):
    return (OPS["rope"].forward(g, offset=offset, base=base),)        # R(theta) instead of R(-theta)


def _rope_backward_at_zero(g, inputs, out, offset=0, base=10000.0):
    return OPS["rope"].backward(g, inputs, out, offset=0, base=base)   # forgot the offset


def _rms_backward_no_mean_term(g, inputs, out, eps=1e-5):
    x, w = inputs
    rstd = 1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return g * w * rstd, (g * x * rstd).sum(axis=tuple(range(x.ndim - 1)))


def _cs_backward_no_scale(g, inputs, out, offset=0, scale=1.0):
    return OPS["causal_softmax"].backward(g, inputs, out, offset=offset, scale=1.0)


def _cs_backward_unmasked(g, inputs, out, offset=0, scale=1.0):
    """The Jacobian of the softmax WITHOUT the mask (recomputed from the scores)."""
    z = scale * inputs[0]
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return (scale * p * (g - (g * p).sum(axis=-1, keepdims=True)),)


@pytest.mark.parametrize("name, backward", [
    ("rope", _rope_backward_same_direction), ("rope", _rope_backward_at_zero),
    ("rms_norm", _rms_backward_no_mean_term),
    ("causal_softmax", _cs_backward_no_scale), ("causal_softmax", _cs_backward_unmasked),
])
def test_plausible_wrong_backwards_fail_gradcheck(name, backward):
    wrong = dataclasses.replace(OPS[name], backward=backward)
    assert not check_op(wrong).passed
