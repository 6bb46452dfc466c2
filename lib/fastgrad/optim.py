"""Optimizers (chapter 06): SGD (momentum, Nesterov, weight decay), Adam and AdamW,
with PyTorch's update formulas, each step one fused Numba kernel over all parameters.

    opt = Adam(model.parameters(), lr=1e-3)
    for x, y in loader:
        opt.zero_grad()
        loss = ...; loss.backward()
        opt.step()

The flat buffer (read this before touching `p.data`). At construction the optimizer
copies every parameter's values into ONE contiguous 1-D buffer (`opt.flat`) and
REBINDS `p.data` to a view of its segment of it: `p.data` keeps its shape and values,
but it is a new array object, and `np.shares_memory(p.data, opt.flat)` is True. The
gradient (`opt.flat_grad`) and the optimizer's state (momentum, Adam's moments) are
flat buffers of the same layout. `step()` copies each parameter's `.grad` into
`opt.flat_grad` and runs one kernel (`fastgrad.kernels.optim`) that updates the
whole buffer in place, so every `p.data` sees its new values (same object).

If you replace `p.data` by another array of the same shape after construction
(`p.data = loaded_weights`), the next `step()` copies the new values into the buffer
and rebinds `p.data` to its view again (the new array itself is not updated). Writing
into `p.data[...]` in place needs nothing: that is the buffer.

Why it is fast: PyTorch's default CPU step runs several tensor ops per parameter from
Python; here it is one compiled call over one contiguous buffer, each element read
and written once (see fastgrad/kernels/optim.py). What remains per parameter is a
`np.copyto` of its gradient into the flat gradient buffer.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .autograd import Tensor
from .kernels import optim as _k
from .shapes import FLOAT_DTYPES

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _check_number(name: str, value, low: float = 0.0, high: float | None = None,
                  high_open: bool = False) -> float:
    """`value` as a float in [low, high] (or [low, high)), else a TypeError / ValueError."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < low or (high is not None and (v >= high if high_open else v > high)):
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"invalid {name}: {value!r} (must be a finite number >= {low}{bound})")
    return v


class Optimizer:
    """Base class: owns the flat parameter and gradient buffers; subclasses add state
    buffers and the kernel call in `_update`.

    Optimizer(params)
        params   an iterable of fastgrad Tensors with requires_grad=True, all float32
                 or all float64 (a TypeError otherwise), at least one (ValueError).

    Attributes: `params` (the list), `flat` (all parameter values, 1-D, contiguous;
    each `p.data` is a view of it), `flat_grad` (the gathered gradients), `starts`
    (int64, parameter i is `flat[starts[i]:starts[i+1]]`), `dtype`.
    """

    def __init__(self, params):
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError("params must be an iterable of Tensors (e.g. model.parameters() or [w, b]), "
                            f"got a single {type(params).__name__}")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of Tensors, got {type(params).__name__}") from None
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}] is a {type(p).__name__}, not a fastgrad Tensor")
            if not p.requires_grad:
                raise ValueError(f"params[{i}] (shape {p.shape}) has requires_grad=False: "
                                 "an optimizer updates only tensors that get gradients")
            if p.op is not None:
                raise ValueError(f"params[{i}] (shape {p.shape}) is not a leaf: it was computed by "
                                 f"{p.op.name!r}; optimize the tensors it was computed from")
            if id(p) in seen:
                raise ValueError(f"params[{i}] (shape {p.shape}) appears more than once in params")
            seen.add(id(p))
        dtypes = sorted({str(p.dtype) for p in params})
        if len(dtypes) > 1:
            raise TypeError(f"all parameters must have one dtype, got {', '.join(dtypes)}: "
                            "convert them (e.g. all float32) before creating the optimizer")
        dtype = params[0].dtype
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"parameters must be float32 or float64, got {dtype}")

        self.params: list[Tensor] = params
        self.dtype = np.dtype(dtype)
        sizes = [p.data.size for p in params]
        self.starts = np.zeros(len(params) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.starts[1:])
        total = int(self.starts[-1])
        self.flat = np.empty(total, dtype=self.dtype)
        self.flat_grad = np.zeros(total, dtype=self.dtype)
        self._views: list[np.ndarray] = []
        self._grad_views: list[np.ndarray] = []
        for i, p in enumerate(params):
            lo, hi = int(self.starts[i]), int(self.starts[i + 1])
            view = self.flat[lo:hi].reshape(p.shape)
            view[...] = p.data
            p.data = view                               # p now lives in the flat buffer
            self._views.append(view)
            self._grad_views.append(self.flat_grad[lo:hi].reshape(p.shape))
        self._active = np.zeros(len(params), dtype=np.bool_)

    def _state_buffer(self) -> np.ndarray:
        return np.zeros_like(self.flat)

    def _gather(self) -> None:
        """Copy every `.grad` into `flat_grad`, mark who has one, re-adopt replaced data."""
        active = self._active
        for i, p in enumerate(self.params):
            view = self._views[i]
            if p.data is not view:                     # someone assigned p.data = ...
                if p.data.shape != view.shape:
                    raise ValueError(f"parameter {i}: p.data was replaced by an array of shape "
                                     f"{p.data.shape}, but the optimizer holds shape {view.shape}")
                view[...] = p.data
                p.data = view
            g = p.grad
            if g is None:
                active[i] = False
                continue
            if g.shape != view.shape:
                raise ValueError(f"parameter {i}: grad has shape {g.shape}, parameter has {view.shape}")
            np.copyto(self._grad_views[i], g)
            active[i] = True

    def step(self) -> None:
        """Update every parameter that has a gradient, in place, in one kernel call.

        Parameters whose `.grad` is None are skipped (values and state unchanged), as
        in PyTorch."""
        self._gather()
        self._update()

    def _update(self) -> None:                         # pragma: no cover - abstract
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients: `p.grad = None` (PyTorch's default), or fill them with
        zeros in place when `set_to_none=False`."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    @property
    def lr(self) -> float:
        """The learning rate; assign to change it between steps (a schedule)."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _check_number("learning rate", value)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self.params)} parameters, {self.flat.size} values, "
                f"{self.dtype}, {self._hyper()})")

    def _hyper(self) -> str:
        return f"lr={self.lr}"


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's `torch.optim.SGD` (dampening 0):

        g = grad + weight_decay * p
        buf = momentum * buf + g        (buf = g on the first step)
        p -= lr * (g + momentum * buf if nesterov else buf)      (p -= lr * g without momentum)

    SGD(params, lr, momentum=0, nesterov=False, weight_decay=0). Parameters, gradients
    and the momentum buffer (`opt.momentum_buffer`, 1-D, zeros at first) are flat
    buffers; `step()` is one fused kernel over all of them (see the module docstring).
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.lr = lr
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum requires momentum > 0")
        super().__init__(params)
        self.momentum_buffer = self._state_buffer()

    def _update(self) -> None:
        _k.sgd_step(self.flat, self.flat_grad, self.momentum_buffer, self.starts, self._active,
                    self.lr, self.momentum, self.weight_decay, self.nesterov)

    def _hyper(self) -> str:
        return (f"lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay}")


class Adam(Optimizer):
    """Adam, PyTorch's `torch.optim.Adam` (amsgrad off; weight decay added to the gradient):

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0). `t` counts the
    steps of each parameter (`opt.steps`, one per parameter: a parameter skipped for
    lack of a gradient does not advance). The moments `opt.exp_avg`, `opt.exp_avg_sq`
    are flat buffers; `step()` is one fused kernel over everything.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr = lr
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check_number("beta1", beta1, 0.0, 1.0, high_open=True),
                      _check_number("beta2", beta2, 0.0, 1.0, high_open=True))
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        super().__init__(params)
        self.exp_avg = self._state_buffer()
        self.exp_avg_sq = self._state_buffer()
        self.steps = np.zeros(len(self.params), dtype=np.int64)

    def _update(self) -> None:
        self.steps += self._active                     # only parameters with a gradient
        _k.adam_step(self.flat, self.flat_grad, self.exp_avg, self.exp_avg_sq, self.starts,
                     self._active, self.steps, self.lr, self.betas[0], self.betas[1], self.eps,
                     self.weight_decay, self._decoupled)

    def _hyper(self) -> str:
        return f"lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay}"


class AdamW(Adam):
    """AdamW, PyTorch's `torch.optim.AdamW`: Adam with decoupled weight decay,

        p *= 1 - lr * weight_decay      (instead of adding weight_decay * p to the gradient)

    then Adam's update. AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=1e-2) -- PyTorch's defaults. One fused kernel per step, as Adam.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
