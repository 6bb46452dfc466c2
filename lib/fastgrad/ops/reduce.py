"""Reductions (sum, mean, max) and the softmax family.

A reduction's backward puts the reduced axes back (size 1) and copies the gradient
along them (`expand_reduced`): every input element that went into a sum receives the
sum's gradient. `axis` is None (all), an int or a tuple of ints; `keepdims` as NumPy.
softmax and log_softmax subtract the max along the axis first, so exp never overflows.
"""
from __future__ import annotations

import numpy as np

from ..shapes import normalize_axes
from . import _kernels as K
from ._base import Op, distinct, expand_reduced, pick, randn, reduced_shape, register


def _reduce_shape(name):
    def rule(shape, axis=None, keepdims=False):
        return reduced_shape(tuple(shape), normalize_axes(axis, len(shape), name), keepdims)
    return rule


_REDUCE_CASES = [((), None, False), ((3, 4), None, False), ((3, 4), 1, True), ((3, 4), 0, False),
                 ((2, 3, 4), (0, 2), False), ((2, 3, 4), -1, True), ((5,), 0, False)]


def _sample_reduce(values):
    def sample(rng, dtype, case=None):
        shape, axis, keepdims = pick(rng, case, _REDUCE_CASES)
        return [values(rng, shape, dtype)], {"axis": axis, "keepdims": keepdims}
    return sample


# ------------------------------------------------------------------------ sum
def _sum_forward(a, axis=None, keepdims=False):
    axes = normalize_axes(axis, a.ndim, "sum")
    return np.asarray(K.sum(a, axis=axes, keepdims=keepdims), dtype=a.dtype)


def _sum_backward(g, inputs, out, axis=None, keepdims=False):
    a = inputs[0]
    return (expand_reduced(g, a.shape, normalize_axes(axis, a.ndim, "sum")),)


register(Op("sum", "reduce", _sum_forward, _sum_backward, _reduce_shape("sum"),
            _sample_reduce(randn), len(_REDUCE_CASES), doc="sum over axis (None = all), keepdims",
            reference=np.sum, method="sum"))


# ----------------------------------------------------------------------- mean
def _count(shape, axes):
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _mean_forward(a, axis=None, keepdims=False):
    axes = normalize_axes(axis, a.ndim, "mean")
    total = np.asarray(K.sum(a, axis=axes, keepdims=keepdims), dtype=a.dtype)
    return total / a.dtype.type(_count(a.shape, axes))


def _mean_backward(g, inputs, out, axis=None, keepdims=False):
    a = inputs[0]
    axes = normalize_axes(axis, a.ndim, "mean")
    return (expand_reduced(g / a.dtype.type(_count(a.shape, axes)), a.shape, axes),)


register(Op("mean", "reduce", _mean_forward, _mean_backward, _reduce_shape("mean"),
            _sample_reduce(randn), len(_REDUCE_CASES), doc="mean over axis (None = all), keepdims",
            reference=np.mean, method="mean"))


# ------------------------------------------------------------------------ max
def _max_forward(a, axis=None, keepdims=False):
    axes = normalize_axes(axis, a.ndim, "max")
    return np.asarray(K.max(a, axis=axes, keepdims=keepdims), dtype=a.dtype)


def _max_backward(g, inputs, out, axis=None, keepdims=False):
    """The gradient flows to the element(s) that won; ties share it equally
    (the choice of torch.amax; at a tie max is not differentiable anyway)."""
    a = inputs[0]
    axes = normalize_axes(axis, a.ndim, "max")
    keep = reduced_shape(a.shape, axes, keepdims=True)
    winners = (a == out.reshape(keep)).astype(a.dtype)
    count = winners.sum(axis=axes, keepdims=True)
    return (K.mul(expand_reduced(g, a.shape, axes), winners / count),)


register(Op("max", "reduce", _max_forward, _max_backward, _reduce_shape("max"),
            _sample_reduce(distinct), len(_REDUCE_CASES),
            doc="max over axis (None = all), keepdims; ties share the gradient",
            reference=np.max, method="max"))


# ------------------------------------------------------------ softmax family
def _axis_shape(name):
    def rule(shape, axis=-1):
        normalize_axes(axis, len(shape), name)      # raises for a bad axis
        return tuple(shape)
    return rule


def _softmax_forward(a, axis=-1):
    shifted = K.sub(a, K.max(a, axis=axis, keepdims=True))    # largest entry becomes 0
    e = K.exp(shifted)
    return K.div(e, K.sum(e, axis=axis, keepdims=True))


def _softmax_backward(g, inputs, out, axis=-1):
    # ds_i = s_i (g_i - sum_j g_j s_j): the Jacobian diag(s) - s s^T applied to g
    dot = K.sum(K.mul(g, out), axis=axis, keepdims=True)
    return (K.mul(out, K.sub(g, dot)),)


def _log_softmax_forward(a, axis=-1):
    shifted = K.sub(a, K.max(a, axis=axis, keepdims=True))
    log_total = K.log(K.sum(K.exp(shifted), axis=axis, keepdims=True))
    return K.sub(shifted, log_total)


def _log_softmax_backward(g, inputs, out, axis=-1):
    # d log_softmax: g_i - softmax_i * sum_j g_j, with softmax = exp(output)
    return (K.sub(g, K.mul(K.exp(out), K.sum(g, axis=axis, keepdims=True))),)


def _softmax_reference(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_reference(a, axis=-1):
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


_SOFTMAX_CASES = [((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((6,), 0)]


def _sample_softmax(rng, dtype, case=None):
    shape, axis = pick(rng, case, _SOFTMAX_CASES)
    return [(3 * rng.standard_normal(shape)).astype(dtype)], {"axis": axis}


register(Op("softmax", "composite", _softmax_forward, _softmax_backward, _axis_shape("softmax"),
            _sample_softmax, len(_SOFTMAX_CASES),
            doc="exp(a) / sum(exp(a)) along axis (max subtracted first)",
            reference=_softmax_reference, method="softmax"))
register(Op("log_softmax", "composite", _log_softmax_forward, _log_softmax_backward,
            _axis_shape("log_softmax"), _sample_softmax, len(_SOFTMAX_CASES),
            doc="a - log(sum(exp(a))) along axis (max subtracted first)",
            reference=_log_softmax_reference, method="log_softmax"))
