"""Fused layer ops (chapter 09): `linear` (matmul + bias + activation), `conv2d_layer`
(convolution + bias + activation) and `mse_loss`.

    linear(x, w[, b]; activation)   y = act(x @ w.T + b), x (..., in), w (out, in) as in
                                    PyTorch, b (out,); activation None or "relu"
    conv2d_layer(x, w[, b]; stride, padding, activation)
                                    act(conv2d(x, w) + b), NCHW, b (K,) per channel
    mse_loss(p, t)                  mean((p - t)^2) over every element, a 0-d result

One op where the unfused graph has five (transpose, matmul, broadcast add, relu; and in
backward a mask multiply and a reduction for the bias): the matmul stays BLAS, the bias and
the ReLU are one pass in place over its result (`fastgrad.kernels.fused`), and backward
masks the gradient and sums the bias gradient in one pass before two BLAS products, each
only when its input needs a gradient (`partial_backward`). Every gradient is a new array
(`fresh_grads`). The ReLU's backward reads the saved output: y > 0 exactly where the
pre-activation was > 0, so the pre-activation is never stored.
"""
from __future__ import annotations

import numpy as np

from ..kernels import conv as C
from ..kernels import fused as F
from ..shapes import Shape
from ._base import Op, pick, randn, register
from .matmul import product

ACTIVATIONS = (None, "relu")


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"linear: activation must be one of {ACTIVATIONS}, got {activation!r}")


def _linear_shape(x_shape: Shape, w_shape: Shape, b_shape: Shape | None = None, activation=None) -> Shape:
    _check_activation(activation)
    if len(w_shape) != 2:
        raise ValueError(f"linear: the weight must be 2-D (out_features, in_features), got shape {w_shape}")
    if len(x_shape) < 1 or x_shape[-1] != w_shape[1]:
        raise ValueError(f"linear: input of shape {x_shape} does not fit weight of shape {w_shape}: "
                         f"the input's last dimension must be in_features = {w_shape[1]}")
    if b_shape is not None and tuple(b_shape) != (w_shape[0],):
        raise ValueError(f"linear: bias of shape {b_shape} does not fit weight of shape {w_shape}: "
                         f"it must be ({w_shape[0]},)")
    return tuple(x_shape[:-1]) + (w_shape[0],)


def _linear_forward(x, w, b=None, activation=None):
    x2 = x.reshape(-1, x.shape[-1])
    y = product(x2, w.T)                                # BLAS reads the transpose in place
    if b is not None or activation == "relu":
        F.bias_relu_(y, b, activation == "relu")
    return y.reshape(x.shape[:-1] + (w.shape[0],))


def _linear_backward(g, inputs, out, activation=None, needs=(True, True, True)):
    x, w = inputs[0], inputs[1]
    has_b = len(inputs) == 3
    g2 = np.ascontiguousarray(g.reshape(-1, w.shape[0]))
    want_db = has_b and needs[2]
    if activation == "relu":
        gz, db = F.relu_backward_colsum(g2, np.ascontiguousarray(out.reshape(g2.shape)), want_db)
    else:
        gz, db = g2, (g2.sum(axis=0) if want_db else None)
    dx = product(gz, w).reshape(x.shape) if needs[0] else None
    dw = product(gz.T, x.reshape(-1, x.shape[-1])) if needs[1] else None
    return (dx, dw, db) if has_b else (dx, dw)


def _linear_reference(x, w, b=None, activation=None):
    y = x @ w.T + (0 if b is None else b)
    return np.maximum(y, 0) if activation == "relu" else y


# (x shape, out_features, bias, activation): batches of rows, a 3-D input, 1 row, no bias
_LINEAR_CASES = [((4, 5), 3, True, "relu"), ((4, 5), 3, True, None), ((2, 3, 4), 2, True, "relu"),
                 ((1, 3), 4, False, "relu"), ((3, 2), 1, False, None), ((5, 6), 4, True, "relu")]


def _sample_linear(rng, dtype, case=None):
    """Inputs whose pre-activations are all at least 0.1 from 0 for "relu" (a finite-
    difference step never crosses the kink): drawn again until they are."""
    x_shape, out, bias, activation = pick(rng, case, _LINEAR_CASES)
    while True:
        x, w = randn(rng, x_shape, dtype), randn(rng, (out, x_shape[-1]), dtype)
        b = randn(rng, (out,), dtype) if bias else None
        pre = _linear_reference(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64))
        if activation is None or np.abs(pre).min() >= 0.1:
            break
    return ([x, w, b] if bias else [x, w]), {"activation": activation}


register(Op("linear", "composite", _linear_forward, _linear_backward, _linear_shape, _sample_linear,
            len(_LINEAR_CASES), doc="act(x @ w.T + b): a fused Linear layer (activation None or 'relu')",
            reference=_linear_reference, method="linear", partial_backward=True, fresh_grads=True))


# ------------------------------------------------------------------- conv2d_layer
def _conv_layer_shape(x_shape, w_shape, b_shape=None, stride=1, padding=0, activation=None):
    _check_activation(activation)
    shape = C.conv2d_output_shape(x_shape, w_shape, stride, padding)
    if b_shape is not None and tuple(b_shape) != (w_shape[0],):
        raise ValueError(f"conv2d_layer: bias of shape {b_shape} does not fit weight of shape {w_shape}: "
                         f"it must be ({w_shape[0]},)")
    return shape


def _conv_layer_forward(x, w, b=None, stride=1, padding=0, activation=None):
    return C.conv2d(x, w, stride, padding, bias=b, relu=activation == "relu")


def _conv_layer_backward(g, inputs, out, stride=1, padding=0, activation=None, needs=(True, True, True)):
    x, w = inputs[0], inputs[1]
    has_b = len(inputs) == 3
    gz, db = F.relu_backward_channels(g, out, has_b and needs[2], relu=activation == "relu")
    dx, dw = C.conv2d_backward(gz, x, w, stride, padding, (needs[0], needs[1]))
    return (dx, dw, db) if has_b else (dx, dw)


def _conv_layer_reference(x, w, b=None, stride=1, padding=0, activation=None):
    from .nn import _conv2d_reference
    y = _conv2d_reference(x, w, stride, padding) + (0 if b is None else b.reshape(1, -1, 1, 1))
    return np.maximum(y, 0) if activation == "relu" else y


# (x shape, w shape, stride, padding, bias, activation)
_CONV_LAYER_CASES = [((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, True, "relu"), ((1, 2, 6, 5), (3, 2, 3, 3), 2, 1, True, None),
                     ((2, 1, 4, 4), (2, 1, 3, 3), 1, 0, False, "relu"), ((1, 2, 3, 3), (1, 2, 1, 1), 1, 0, True, "relu")]


def _sample_conv_layer(rng, dtype, case=None):
    """Pre-activations at least 0.1 from 0 for "relu" (drawn again until they are)."""
    x_shape, w_shape, stride, padding, bias, activation = pick(rng, case, _CONV_LAYER_CASES)
    attrs = {"stride": stride, "padding": padding, "activation": activation}
    while True:
        x, w = randn(rng, x_shape, dtype), randn(rng, w_shape, dtype)
        b = randn(rng, (w_shape[0],), dtype) if bias else None
        pre = _conv_layer_reference(x.astype(np.float64), w.astype(np.float64),
                                    None if b is None else b.astype(np.float64), stride, padding)
        if activation is None or np.abs(pre).min() >= 0.1:
            return ([x, w, b] if bias else [x, w]), attrs


register(Op("conv2d_layer", "composite", _conv_layer_forward, _conv_layer_backward, _conv_layer_shape,
            _sample_conv_layer, len(_CONV_LAYER_CASES),
            doc="act(conv2d(x, w) + b): a fused Conv2d layer (activation None or 'relu')",
            reference=_conv_layer_reference, method="conv2d_layer", partial_backward=True))


# ------------------------------------------------------------------------ mse_loss
def _mse_shape(p_shape: Shape, t_shape: Shape) -> Shape:
    if tuple(p_shape) != tuple(t_shape):
        raise ValueError(f"mse_loss: prediction of shape {p_shape} and target of shape {t_shape} must "
                         "have the same shape (no broadcasting: a (N, 1) vs (N,) mix-up would silently "
                         "compare every pair)")
    return ()


def _mse_backward(g, inputs, out, needs=(True, True)):
    p, t = inputs
    gp = F.mse_backward(g, p, t)
    return (gp if needs[0] else None), (np.negative(gp) if needs[1] else None)


def _sample_mse(rng, dtype, case=None):
    shape = pick(rng, case, [(4, 3), (7,), (2, 3, 2), (1, 1)])
    return [randn(rng, shape, dtype), randn(rng, shape, dtype)], {}


register(Op("mse_loss", "composite", lambda p, t: F.mse(p, t), _mse_backward, _mse_shape, _sample_mse, 4,
            doc="mean((p - t)^2): the mean squared error, fused (one pass, no temporaries)",
            reference=lambda p, t: np.mean((p - t) ** 2), method="mse_loss",
            partial_backward=True, fresh_grads=True))
