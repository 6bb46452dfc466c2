"""PyTorch-style functions over the neural-network ops of the table (`fastgrad.ops.nn`).

Each is one `apply(...)` call, so it records the graph like any Tensor method:

    >>> import numpy as np
    >>> from fastgrad.autograd import Tensor
    >>> logits = Tensor([[1000.0, 0.0], [0.0, 1000.0]], requires_grad=True)
    >>> loss = cross_entropy(logits, np.array([0, 1]))      # large logits do not overflow
    >>> float(loss.item())
    0.0

Integer arguments (targets, indices) are passed to the ops as attributes, so they stay
integers (an array *input* would be turned into a float constant by `apply`).
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, apply

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "cross_entropy", "embedding", "layer_norm",
           "linear", "linear_relu", "conv2d_relu", "mse_loss"]


def _ints(values) -> np.ndarray:
    """Targets/indices as an integer array (a Tensor's data, a list or an array)."""
    array = np.asarray(values.data if isinstance(values, Tensor) else values)
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(np.int64)        # integral floats (a Tensor of labels) are accepted
    return array


def conv2d(x, w, stride: int = 1, padding: int = 0) -> Tensor:
    """2-D convolution of x (N, C, H, W) with w (K, C, R, S) -> (N, K, OH, OW) (no bias)."""
    return apply("conv2d", x, w, stride=int(stride), padding=int(padding))


def max_pool2d(x, kernel_size: int, stride: int | None = None) -> Tensor:
    """Max over kernel_size x kernel_size windows of x (N, C, H, W); stride defaults to kernel_size."""
    return apply("max_pool2d", x, kernel_size=int(kernel_size),
                 stride=int(kernel_size if stride is None else stride))


def avg_pool2d(x, kernel_size: int, stride: int | None = None) -> Tensor:
    """Mean over kernel_size x kernel_size windows of x (N, C, H, W); stride defaults to kernel_size."""
    return apply("avg_pool2d", x, kernel_size=int(kernel_size),
                 stride=int(kernel_size if stride is None else stride))


def cross_entropy(logits, targets) -> Tensor:
    """Mean cross-entropy of logits (N, C) against integer class targets (N,): a fused,
    stable log-softmax + negative log-likelihood."""
    return apply("cross_entropy", logits, targets=_ints(targets))


def embedding(indices, weight) -> Tensor:
    """Rows of weight (V, D) at integer `indices` (any shape) -> indices.shape + (D,)."""
    return apply("embedding", weight, indices=_ints(indices))


def layer_norm(x, weight, bias, eps: float = 1e-5) -> Tensor:
    """Normalise x over its last axis (mean 0, variance 1), then `* weight + bias`."""
    return apply("layer_norm", x, weight, bias, eps=float(eps))


def linear(x, weight, bias=None) -> Tensor:
    """x @ weight.T + bias as one fused op (chapter 09), x (..., in), weight (out, in),
    bias (out,) or None: PyTorch's `F.linear`. One graph node instead of three
    (transpose, matmul, broadcast add), and the bias add is done in place."""
    return apply("linear", x, weight, activation=None) if bias is None else \
        apply("linear", x, weight, bias, activation=None)


def linear_relu(x, weight, bias=None) -> Tensor:
    """relu(x @ weight.T + bias) as one fused op: bias and ReLU in one pass after the
    matmul, and in backward the ReLU mask and the bias gradient in one pass (chapter 09)."""
    return apply("linear", x, weight, activation="relu") if bias is None else \
        apply("linear", x, weight, bias, activation="relu")


def conv2d_relu(x, w, bias=None, stride: int = 1, padding: int = 0) -> Tensor:
    """relu(conv2d(x, w, stride, padding) + bias) as one fused op (chapter 09): the bias and
    the ReLU in one pass over the product before its copy to NCHW, and in backward the ReLU
    mask and the bias gradient in one pass. bias (K,) or None."""
    inputs = (x, w) if bias is None else (x, w, bias)
    return apply("conv2d_layer", *inputs, stride=int(stride), padding=int(padding), activation="relu")


def mse_loss(prediction, target) -> Tensor:
    """mean((prediction - target)^2) over every element, fused (PyTorch's `F.mse_loss`
    with reduction="mean"); the shapes must be equal (no broadcasting)."""
    return apply("mse_loss", prediction, target)
