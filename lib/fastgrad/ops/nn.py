"""Neural-network ops (chapter 06): conv2d, max/avg pooling, cross-entropy, embedding, layer norm.

Each is one `register(Op(...))` like the ops of chapters 04-05, so it is reachable from
`Tensor`, gradient-checked by `check_all_ops()` and compared with a NumPy reference by the
tests. Layouts follow PyTorch: images NCHW, conv weights (K, C, R, S).

    conv2d(x, w; stride, padding)        forward and backward by im2col + matmul
                                         (`fastgrad.kernels.conv`)
    max_pool2d(x; kernel_size, stride)   square windows, no padding; overlapping windows
    avg_pool2d(x; kernel_size, stride)   (stride < kernel_size) work too (`fastgrad.kernels.pool`)
    cross_entropy(logits; targets)       mean over the batch of -log softmax(logits)[n, t_n],
                                         fused and stable (the row max is subtracted first)
    embedding(weight; indices)           weight[indices]; backward scatter-adds (np.add.at)
    layer_norm(x, weight, bias; eps)     normalise over the last axis, then scale and shift

Integer inputs (class targets, token indices) are *attributes*, not inputs: `apply` turns
every non-boolean array input into a float constant (`autograd._as_inputs`), and an index
must stay an integer. The Tensor methods are generated from the table and take attributes
as keywords (`x.conv2d(w, stride=2, padding=1)`, `logits.cross_entropy(targets=t)`);
`fastgrad.functional` has the PyTorch-style functions (`conv2d(x, w, stride, padding)`,
`cross_entropy(logits, targets)`, ...).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..kernels import conv as C
from ..kernels import pool as P
from ._base import Op, distinct, pick, randn, register


# ----------------------------------------------------------------------- conv2d
def _conv2d_forward(x, w, stride=1, padding=0):
    return C.conv2d(x, w, stride, padding)


def _conv2d_backward(g, inputs, out, stride=1, padding=0, needs=(True, True)):
    x, w = inputs
    return C.conv2d_backward(g, x, w, stride, padding, needs)


def _conv2d_shape(x_shape, w_shape, stride=1, padding=0):
    return C.conv2d_output_shape(x_shape, w_shape, stride, padding)


def _conv2d_reference(x, w, stride=1, padding=0):
    """sum over c, r, s of x_padded[n, c, i*stride + r, j*stride + s] * w[k, c, r, s]."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijrs,kcrs->nkij", windows, w)


# (x shape, w shape, stride, padding): square and not, C = 1, N = 1, strides 1-2, padding 0-1
_CONV_CASES = [((2, 3, 5, 5), (4, 3, 3, 3), 1, 0), ((1, 2, 6, 5), (3, 2, 3, 3), 2, 1),
               ((2, 1, 4, 6), (2, 1, 2, 3), 1, 1), ((1, 2, 7, 7), (2, 2, 3, 3), 2, 0),
               ((3, 2, 3, 4), (1, 2, 1, 1), 1, 0)]


def _sample_conv2d(rng, dtype, case=None):
    x_shape, w_shape, stride, padding = pick(rng, case, _CONV_CASES)
    return [randn(rng, x_shape, dtype), randn(rng, w_shape, dtype)], {"stride": stride, "padding": padding}


register(Op("conv2d", "composite", _conv2d_forward, _conv2d_backward, _conv2d_shape, _sample_conv2d,
            len(_CONV_CASES), doc="2-D convolution (cross-correlation), NCHW x (K, C, R, S) weight",
            reference=_conv2d_reference, method="conv2d", partial_backward=True))


# ---------------------------------------------------------------------- pooling
# Forward and backward are the Numba loops of `fastgrad.kernels.pool`; the references
# below stay plain NumPy. The record keeps only the forward's output for the backward, so
# max pooling's backward finds each window's winner again from x (the first largest
# element, row-major, as NumPy's argmax; the kernel module's docstring has the details).
def _pool_shape(name):
    def rule(shape, kernel_size=2, stride=None):
        return P.pool2d_output_shape(shape, kernel_size, stride, name)
    return rule


def _max_pool_forward(x, kernel_size=2, stride=None):
    return P.max_pool2d(x, kernel_size, stride)


def _max_pool_backward(g, inputs, out, kernel_size=2, stride=None):
    """Each window's gradient goes to its first largest element; windows that overlap
    add their gradients."""
    return (P.max_pool2d_backward(g, inputs[0], kernel_size, stride),)


def _pool_reference(reduce):
    """The pooling formula window by window in float64: reduce(x[..., window]) for every window."""
    def reference(x, kernel_size=2, stride=None):
        stride = kernel_size if stride is None else stride
        n, c, h, w = x.shape
        oh, ow = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
        out = np.empty((n, c, oh, ow))
        for i in range(oh):
            for j in range(ow):
                out[:, :, i, j] = reduce(x[:, :, i * stride:i * stride + kernel_size,
                                           j * stride:j * stride + kernel_size], axis=(2, 3))
        return out
    return reference


_max_pool_reference = _pool_reference(np.max)


def _avg_pool_forward(x, kernel_size=2, stride=None):
    return P.avg_pool2d(x, kernel_size, stride)


def _avg_pool_backward(g, inputs, out, kernel_size=2, stride=None):
    """Every element of a window receives 1/k^2 of the window's gradient."""
    x = inputs[0]
    return (P.avg_pool2d_backward(g, x.shape, kernel_size, stride, dtype=x.dtype),)


_avg_pool_reference = _pool_reference(np.mean)


# (shape, kernel_size, stride): non-overlapping, overlapping (stride < k), a ragged edge
_POOL_CASES = [((2, 3, 4, 4), 2, 2), ((1, 2, 5, 4), 2, 1), ((2, 1, 7, 6), 3, 2), ((1, 2, 6, 6), 3, 3)]


def _sample_pool(values):
    def sample(rng, dtype, case=None):
        shape, k, s = pick(rng, case, _POOL_CASES)
        return [values(rng, shape, dtype)], {"kernel_size": k, "stride": s}
    return sample


register(Op("max_pool2d", "composite", _max_pool_forward, _max_pool_backward, _pool_shape("max_pool2d"),
            _sample_pool(distinct), len(_POOL_CASES),
            doc="max over k x k windows of an NCHW input (stride defaults to k)",
            reference=_max_pool_reference, method="max_pool2d"))
register(Op("avg_pool2d", "composite", _avg_pool_forward, _avg_pool_backward, _pool_shape("avg_pool2d"),
            _sample_pool(randn), len(_POOL_CASES),
            doc="mean over k x k windows of an NCHW input (stride defaults to k)",
            reference=_avg_pool_reference, method="avg_pool2d"))


# ---------------------------------------------------------------- cross-entropy
def _check_targets(shape, targets, name="cross_entropy"):
    shape = tuple(shape)
    t = np.asarray(targets)
    if len(shape) != 2:
        raise ValueError(f"{name}: logits {shape} must be 2-D (N, C): one row of class scores per sample")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices, got dtype {t.dtype} "
                        f"(shape {t.shape}); convert them with targets.astype(np.int64)")
    if t.shape != shape[:1]:
        raise ValueError(f"{name}: logits {shape} need targets of shape {shape[:1]} (one class per row), "
                         f"got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= shape[1]):
        raise ValueError(f"{name}: targets must lie in [0, {shape[1]}) for logits {shape}; "
                         f"got values from {t.min()} to {t.max()}")
    return t


def _cross_entropy_shape(shape, targets=None):
    _check_targets(shape, targets)
    return ()


def _cross_entropy_forward(logits, targets=None):
    """mean_n [log sum_c exp(z_nc) - z_n,t_n], with z = logits - row max (so exp <= 1)."""
    t = _check_targets(logits.shape, targets)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(len(t)), t]
    return np.asarray((log_total - picked).mean(), dtype=logits.dtype)


def _cross_entropy_backward(g, inputs, out, targets=None):
    """d loss / d logits = (softmax(logits) - onehot(targets)) / N."""
    logits = inputs[0]
    t = np.asarray(targets)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = e / e.sum(axis=1, keepdims=True)
    grad[np.arange(len(t)), t] -= 1
    return (grad * (g / logits.dtype.type(len(t))),)


def _cross_entropy_reference(logits, targets=None):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets].mean()


_CE_CASES = [(4, 3, 1.0), (6, 5, 3.0), (1, 4, 1.0), (5, 2, 10.0)]     # (N, C, logit scale)


def _sample_cross_entropy(rng, dtype, case=None):
    n, c, scale = pick(rng, case, _CE_CASES)
    logits = (scale * rng.standard_normal((n, c))).astype(dtype)
    return [logits], {"targets": rng.integers(0, c, n)}


register(Op("cross_entropy", "composite", _cross_entropy_forward, _cross_entropy_backward,
            _cross_entropy_shape, _sample_cross_entropy, len(_CE_CASES),
            doc="mean over rows of -log_softmax(logits)[n, targets[n]] (fused, stable)",
            reference=_cross_entropy_reference, method="cross_entropy"))


# -------------------------------------------------------------------- embedding
def _check_indices(shape, indices, name="embedding"):
    shape = tuple(shape)
    i = np.asarray(indices)
    if len(shape) != 2:
        raise ValueError(f"{name}: weight {shape} must be 2-D (num_embeddings, dim)")
    if i.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {i.dtype} (shape {i.shape})")
    if i.size and (i.min() < 0 or i.max() >= shape[0]):
        raise ValueError(f"{name}: indices must lie in [0, {shape[0]}) for weight {shape}; "
                         f"got values from {i.min()} to {i.max()}")
    return i


def _embedding_shape(shape, indices=None):
    return _check_indices(shape, indices).shape + (tuple(shape)[1],)


def _embedding_forward(weight, indices=None):
    return weight[_check_indices(weight.shape, indices)]


def _embedding_backward(g, inputs, out, indices=None):
    """A row used several times receives the sum of its gradients (np.add.at, not +=)."""
    grad = np.zeros_like(inputs[0])
    np.add.at(grad, np.asarray(indices).reshape(-1), g.reshape(-1, grad.shape[1]))
    return (grad,)


_EMB_CASES = [(5, 3, (4,)), (6, 2, (2, 3)), (3, 4, (7,))]     # (V, D, indices shape): repeats


def _sample_embedding(rng, dtype, case=None):
    v, d, shape = pick(rng, case, _EMB_CASES)
    indices = rng.integers(0, v, shape)
    indices.flat[-1] = indices.flat[0]                  # at least one row used twice
    return [randn(rng, (v, d), dtype)], {"indices": indices}


register(Op("embedding", "composite", _embedding_forward, _embedding_backward, _embedding_shape,
            _sample_embedding, len(_EMB_CASES), doc="rows of weight (V, D) picked by integer indices",
            reference=lambda weight, indices=None: weight[indices], method="embedding"))


# ------------------------------------------------------------------- layer norm
def _layer_norm_shape(x_shape, w_shape, b_shape, eps=1e-5):
    x_shape = tuple(x_shape)
    if not x_shape or tuple(w_shape) != x_shape[-1:] or tuple(b_shape) != x_shape[-1:]:
        raise ValueError(f"layer_norm: input {x_shape} needs weight and bias of shape {x_shape[-1:]} "
                         f"(its last axis), got weight {tuple(w_shape)} and bias {tuple(b_shape)}")
    return x_shape


def _normalise(x, eps):
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    rstd = 1 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + x.dtype.type(eps))
    return centred * rstd, rstd


def _layer_norm_forward(x, weight, bias, eps=1e-5):
    xhat, _ = _normalise(x, eps)
    return xhat * weight + bias


def _layer_norm_backward(g, inputs, out, eps=1e-5):
    """With xhat = (x - mean) * rstd and h = g * weight (D = last axis):
    dx = rstd * (h - mean(h) - xhat * mean(h * xhat)); dweight = sum g * xhat; dbias = sum g."""
    x, weight, _ = inputs
    xhat, rstd = _normalise(x, eps)
    h = g * weight
    dx = rstd * (h - h.mean(axis=-1, keepdims=True) - xhat * (h * xhat).mean(axis=-1, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(axis=lead), g.sum(axis=lead)


def _layer_norm_reference(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_LN_CASES = [((3, 5), 1e-5), ((2, 3, 4), 1e-5), ((6,), 1e-3), ((4, 1, 3), 1e-5)]


def _sample_layer_norm(rng, dtype, case=None):
    shape, eps = pick(rng, case, _LN_CASES)
    d = shape[-1]
    return ([randn(rng, shape, dtype), (1 + 0.5 * rng.standard_normal(d)).astype(dtype),
             randn(rng, (d,), dtype)], {"eps": eps})


register(Op("layer_norm", "composite", _layer_norm_forward, _layer_norm_backward, _layer_norm_shape,
            _sample_layer_norm, len(_LN_CASES),
            doc="(x - mean) / sqrt(var + eps) * weight + bias over the last axis",
            reference=_layer_norm_reference, method="layer_norm"))
