"""Basic layers, each a thin module over ops of the table: Linear, ReLU, GELU, Flatten,
Dropout, Sequential.

Random initialisation and dropout masks take `seed`: an int, a `np.random.Generator`
(shared, so several layers draw from one stream), or None for fresh entropy.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor, apply
from .module import Module, Parameter


def _generator(seed) -> np.random.Generator:
    """A Generator from an int seed, a Generator (returned as is) or None."""
    return np.random.default_rng(seed)


class Linear(Module):
    """y = x @ weight.T + bias, for x of shape (..., in_features).

    weight has shape (out_features, in_features), as in PyTorch, so state dicts are
    interchangeable. Initialisation is PyTorch's default: weight and bias uniform on
    [-1/sqrt(in_features), 1/sqrt(in_features)].
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, seed=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear({in_features}, {out_features}): sizes must be positive")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = _generator(seed)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)), dtype=dtype)
        self.bias = Parameter(rng.uniform(-bound, bound, out_features), dtype=dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x @ weight.T (+ bias)."""
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear(in_features={self.in_features}) got an input of shape {x.shape}; "
                             f"its last dimension must be {self.in_features}")
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """max(x, 0), elementwise (the op `relu`)."""

    def forward(self, x: Tensor) -> Tensor:
        """relu(x)."""
        return apply("relu", x)


class GELU(Module):
    """GELU, tanh approximation, elementwise (the op `gelu`; PyTorch's
    `GELU(approximate='tanh')`)."""

    def forward(self, x: Tensor) -> Tensor:
        """gelu(x)."""
        return apply("gelu", x)

    def extra_repr(self) -> str:
        return "approximate='tanh'"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        """x reshaped with the dimensions start_dim..end_dim merged."""
        start = self.start_dim + x.ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + x.ndim if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < x.ndim:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit "
                             f"an input of shape {x.shape}")
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        return x.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training, each element is zeroed with probability p and the
    survivors are scaled by 1/(1-p), so the expected value is unchanged and evaluation
    needs no rescaling. In eval mode it returns its input unchanged.

    seed  an int or a Generator: the masks are reproducible (same seed, same sequence
          of masks), and successive calls draw new masks.
    """

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout(p={p}): p is a probability, between 0 and 1")
        self.p = float(p)
        self._rng = _generator(seed)

    def forward(self, x: Tensor) -> Tensor:
        """x * mask / (1-p) in training; x in eval."""
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * np.zeros(x.shape, dtype=x.dtype)
        keep = self._rng.random(x.shape) >= self.p
        return x * (keep / (1.0 - self.p)).astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied one after the other: `Sequential(Linear(64, 128), ReLU(), ...)`.

    The layers are the attributes "0", "1", ... so parameter names are `0.weight`,
    `2.bias`, as in PyTorch. Supports `len`, iteration and indexing (`seq[0]`, `seq[-1]`).
    """

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)
        self._n = len(layers)

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return (getattr(self, str(i)) for i in range(self._n))

    def __getitem__(self, i: int) -> Module:
        if not -self._n <= i < self._n:
            raise IndexError(f"Sequential of {self._n} layers has no layer {i}")
        return getattr(self, str(i % self._n))

    def forward(self, x):
        """Each layer applied to the previous one's output."""
        for layer in self:
            x = layer(x)
        return x
