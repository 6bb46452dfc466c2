"""Training utilities over parameters' gradients: `clip_grad_norm_`."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm: float, eps: float = 1e-6) -> float:
    """Scale the gradients of `parameters` in place so that their total L2 norm (all
    gradients seen as one vector) is at most `max_norm`, as `torch.nn.utils.clip_grad_norm_`:
    when the norm exceeds max_norm every `.grad` is multiplied by max_norm / (norm + eps).

    parameters  an iterable of Tensors (e.g. `model.parameters()`) or one Tensor; those
                whose `.grad` is None are skipped.
    Returns the total norm *before* clipping (a float; inf or nan when a gradient holds them,
    and then nothing is scaled, so the caller can see it and skip the step).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + eps)
        for g in grads:
            g *= g.dtype.type(scale)
    return total
