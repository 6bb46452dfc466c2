"""Convolution, pooling, embedding and loss layers, each a thin module over one op of the
table (through `fastgrad.functional`): Conv2d, MaxPool2d, AvgPool2d, Embedding,
CrossEntropyLoss.

Shapes and parameter names follow PyTorch (images NCHW, conv weight (K, C, R, S),
`weight` and `bias`), so state dicts are interchangeable with torch's.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from .layers import _generator
from .module import Module, Parameter


def _pair(value, what: str) -> tuple[int, int]:
    """An int n -> (n, n); a pair of ints -> itself; anything else a ValueError."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _positive_int(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Conv2d(Module):
    """2-D convolution of x (N, in_channels, H, W) -> (N, out_channels, OH, OW), plus a
    per-channel bias: OH = (H + 2 padding - R) // stride + 1 (OW likewise).

    weight has shape (out_channels, in_channels, R, S) and bias (out_channels,), as in
    PyTorch. kernel_size is an int (square) or a pair (R, S); stride and padding are ints.
    Initialisation is PyTorch's default (kaiming-uniform with a=sqrt(5)): weight and
    bias uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in = in_channels * R * S.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0, bias: bool = True, seed=None, dtype=np.float32):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "Conv2d in_channels")
        self.out_channels = _positive_int(out_channels, "Conv2d out_channels")
        self.kernel_size = _pair(kernel_size, "Conv2d kernel_size")
        self.stride = _positive_int(stride, "Conv2d stride")
        self.padding = _positive_int(padding, "Conv2d padding", minimum=0)
        rng = _generator(seed)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Parameter(rng.uniform(-bound, bound, shape), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, self.out_channels), dtype=dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """conv2d(x, weight) (+ bias broadcast as (1, K, 1, 1))."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d(in_channels={self.in_channels}) got an input of shape {x.shape}; "
                             f"it expects (N, {self.in_channels}, H, W)")
        y = F.conv2d(x, self.weight, self.stride, self.padding)
        if self.bias is None:
            return y
        return y + self.bias.reshape((1, self.out_channels, 1, 1))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    """Shared settings of the pooling layers: square windows, no padding."""

    _fn = None

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _positive_int(kernel_size, f"{name} kernel_size")
        self.stride = self.kernel_size if stride is None else _positive_int(stride, f"{name} stride")

    def forward(self, x: Tensor) -> Tensor:
        """The pooled x (N, C, OH, OW)."""
        return type(self)._fn(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Maximum over kernel_size x kernel_size windows of x (N, C, H, W), moved by `stride`
    (default kernel_size, i.e. non-overlapping windows); no padding. The gradient goes to
    the maximum of each window."""

    _fn = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """Mean over kernel_size x kernel_size windows of x (N, C, H, W), moved by `stride`
    (default kernel_size); no padding."""

    _fn = staticmethod(F.avg_pool2d)


class Embedding(Module):
    """A lookup table: integer indices of any shape -> their rows of weight
    (num_embeddings, embedding_dim), output shape indices.shape + (embedding_dim,).
    weight starts standard normal, N(0, 1), as in PyTorch. The gradient scatter-adds
    into the rows used (a row used twice gets both contributions)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, seed=None, dtype=np.float32):
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "Embedding num_embeddings")
        self.embedding_dim = _positive_int(embedding_dim, "Embedding embedding_dim")
        rng = _generator(seed)
        self.weight = Parameter(rng.standard_normal((self.num_embeddings, self.embedding_dim)), dtype=dtype)

    def forward(self, indices) -> Tensor:
        """weight[indices] (indices: an integer array, list or Tensor)."""
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class CrossEntropyLoss(Module):
    """Mean cross-entropy of logits (N, C) against integer class targets (N,): a fused,
    stable log-softmax + negative log-likelihood (`functional.cross_entropy`).
    `loss_fn(logits, targets)` returns a scalar Tensor."""

    def forward(self, logits: Tensor, targets) -> Tensor:
        """cross_entropy(logits, targets)."""
        return F.cross_entropy(logits, targets)
