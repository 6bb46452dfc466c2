"""Normalisation layers, composed from existing ops (mean, sub, mul, pow, add, reshape):
LayerNorm, BatchNorm1d, BatchNorm2d.

Composed means the gradient needs no new code: autograd differentiates the mean, the
centring and the x * (var + eps) ** -0.5 step by step (gradient-checked in
tests/test_nn.py). A fused op computes the same thing faster with fewer temporaries.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from .module import Module, Parameter


def normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps), mean and biased variance over `axes` (kept as size 1)."""
    centred = x - x.mean(axis=axes, keepdims=True)
    var = (centred * centred).mean(axis=axes, keepdims=True)
    return centred * (var + eps) ** -0.5


def layer_norm(x: Tensor, normalized_ndim: int, weight: Tensor | None, bias: Tensor | None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last `normalized_ndim` dimensions, then scale and shift
    elementwise by weight and bias (each of the shape of those dimensions, or None)."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    y = normalize(x, axes, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5,
               mean: np.ndarray | None = None, var: np.ndarray | None = None) -> Tensor:
    """Normalise each channel (axis 1) of x (N, C, ...) over all other axes, then scale
    and shift per channel. With `mean` and `var` (arrays of shape (C,), constants)
    those statistics are used instead of the batch's (evaluation mode)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if mean is None:
        y = normalize(x, (0,) + tuple(range(2, x.ndim)), eps)
    else:
        scale = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(shape)
        y = (x - mean.astype(x.dtype).reshape(shape)) * scale
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


class LayerNorm(Module):
    """Normalise each sample over its last dimensions (`normalized_shape`), then scale
    and shift: y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
    variance, as PyTorch. weight starts at ones, bias at zeros."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = float(eps)
        self.weight = Parameter(np.ones(self.normalized_shape), dtype=dtype) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape), dtype=dtype) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        """layer_norm(x) over the last len(normalized_shape) dimensions."""
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"LayerNorm({self.normalized_shape}) got an input of shape {x.shape}; its "
                             f"last {k} dimension(s) must be {self.normalized_shape}")
        return layer_norm(x, k, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.weight is not None}"


class _BatchNorm(Module):
    """Shared code of BatchNorm1d/2d: per-channel statistics over every axis but axis 1.

    Training: normalise with the batch's mean and biased variance, and update the
    buffers as PyTorch does: running = (1 - momentum) * running + momentum * batch,
    with the *unbiased* batch variance (n / (n - 1)) for running_var; momentum=None is
    the cumulative average over all batches. num_batches_tracked counts the updates.
    Eval: normalise with running_mean and running_var.
    """

    _ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        dtype = np.dtype(dtype)
        self.weight = Parameter(np.ones(num_features), dtype=dtype) if affine else None
        self.bias = Parameter(np.zeros(num_features), dtype=dtype) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            wanted = " or ".join(f"{n}-D" for n in self._ndims)
            raise ValueError(f"{name}({self.num_features}) expects a {wanted} input (N, C={self.num_features}"
                             f"{', ...' if max(self._ndims) > 2 else ''}), got shape {x.shape}")

    def forward(self, x: Tensor) -> Tensor:
        """Batch statistics (and a running-statistics update) in training, running
        statistics in eval."""
        self._check(x)
        if not self.training:
            return batch_norm(x, self.weight, self.bias, self.eps, self.running_mean, self.running_var)
        axes = (0,) + tuple(range(2, x.ndim))
        n = x.size // x.shape[1]
        if n < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than one value per channel "
                             f"(got input shape {x.shape}); use a larger batch, or eval()")
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        mean = x.data.mean(axis=axes)
        var = x.data.var(axis=axes) * (n / (n - 1))
        self.running_mean[...] = (1 - m) * self.running_mean + m * mean
        self.running_var[...] = (1 - m) * self.running_var + m * var
        return batch_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, "
                f"affine={self.weight is not None}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C (see `_BatchNorm`
    for the training and eval rules, which follow PyTorch's)."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C (see `_BatchNorm` for the
    training and eval rules, which follow PyTorch's)."""

    _ndims = (4,)
