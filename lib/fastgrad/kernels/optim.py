"""Fused optimizer kernels (chapter 06): one pass over every parameter of a model.

    sgd_step(param, grad, momentum_buf, starts, active, lr, momentum, weight_decay, nesterov)
    adam_step(param, grad, exp_avg, exp_avg_sq, starts, active, steps,
              lr, beta1, beta2, eps, weight_decay, decoupled)

All arrays are 1-D and contiguous: `param`, `grad` and the state buffers hold every
parameter of the model one after the other (fastgrad.optim builds them). Parameter
i is the segment `starts[i]:starts[i+1]`; `active[i]` is False for a parameter that
got no gradient this step (PyTorch skips it: neither it nor its state changes), and
`steps[i]` is Adam's per-parameter step count (already incremented for this step).

Why it is fast. PyTorch's default CPU optimizer walks the parameters in Python and
runs several tensor ops per parameter (each a pass over memory and a dispatch); its
`fused=True` Adam runs one kernel per group of tensors. Here the whole update for
every parameter is one compiled call: one dispatch, and for each element a single
read of param/grad/state and a single write, the formula kept in registers. The
inner loop over a segment is branch-free and contiguous, so LLVM emits packed SIMD
instructions for it; the choices (momentum or not, Nesterov, weight decay, Adam or
AdamW) are tested once per segment, outside that loop. The loop runs over 0-based
views of the segment (`param[lo:hi]`): the same loop written as `range(lo, hi)` over
the whole buffer compiled to scalar instructions here (vsqrtss/vdivss, about 10x
slower), the view form to packed ones (vsqrtps/vdivps on zmm registers).

Arithmetic is done in the buffers' dtype (float32 stays float32, as in PyTorch), with
the scalars cast to it; the bias corrections are computed in float64 per segment,
as PyTorch computes them in Python floats.

No `fastmath`: the loops are elementwise (no reduction to reassociate), so they
vectorise without it, and its `nnan`/`ninf` flags would let LLVM assume that no NaN
or inf ever appears: a diverging run must show NaN in its weights, not undefined
values. `cache=True` keeps the compiled code on disk across sessions.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["sgd_step", "adam_step"]


@numba.njit(cache=True, error_model="numpy")
def sgd_step(param, grad, momentum_buf, starts, active, lr, momentum, weight_decay, nesterov):
    """SGD update in place, PyTorch's formula (dampening 0):

        g = grad + weight_decay * param
        buf = momentum * buf + g                 (buf starts at 0, so step 1 gives buf = g)
        d = g + momentum * buf if nesterov else buf     (d = g without momentum)
        param -= lr * d

    `param`, `grad`, `momentum_buf`: 1-D arrays of one float dtype (momentum_buf is
    ignored when momentum == 0). Returns nothing.
    """
    t = param.dtype.type
    lr_, mom, wd = t(lr), t(momentum), t(weight_decay)
    for s in range(starts.shape[0] - 1):
        if not active[s]:
            continue
        # 0-based views of the segment: a loop over range(lo, hi) compiled to scalar code
        # here, a loop over range(len(view)) to packed SIMD (checked in the assembly)
        lo, hi = starts[s], starts[s + 1]
        p, gr, buf = param[lo:hi], grad[lo:hi], momentum_buf[lo:hi]
        if momentum == 0.0:
            if weight_decay == 0.0:
                for i in range(p.shape[0]):
                    p[i] -= lr_ * gr[i]
            else:
                for i in range(p.shape[0]):
                    p[i] -= lr_ * (gr[i] + wd * p[i])
        elif nesterov:
            for i in range(p.shape[0]):
                g = gr[i] + wd * p[i]
                b = mom * buf[i] + g
                buf[i] = b
                p[i] -= lr_ * (g + mom * b)
        else:
            for i in range(p.shape[0]):
                g = gr[i] + wd * p[i]
                b = mom * buf[i] + g
                buf[i] = b
                p[i] -= lr_ * b


@numba.njit(cache=True, error_model="numpy")
def adam_step(param, grad, exp_avg, exp_avg_sq, starts, active, steps,
              lr, beta1, beta2, eps, weight_decay, decoupled):
    """Adam / AdamW update in place, PyTorch's formula (amsgrad off):

        AdamW (decoupled): param *= 1 - lr * weight_decay
        Adam:              g = grad + weight_decay * param
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        param -= lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

    `steps[s]`: the step number (1 on the first update) of segment s. Returns nothing.
    """
    t = param.dtype.type
    b1, b2, eps_ = t(beta1), t(beta2), t(eps)
    one_b1, one_b2 = t(1.0 - beta1), t(1.0 - beta2)
    wd = t(weight_decay)
    shrink = t(1.0 - lr * weight_decay) if decoupled else t(1.0)
    for s in range(starts.shape[0] - 1):
        if not active[s]:
            continue
        lo, hi = starts[s], starts[s + 1]
        p, gr, m_, v_ = param[lo:hi], grad[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        step = steps[s]
        step_size = t(lr / (1.0 - beta1 ** step))            # float64, then cast
        bc2_sqrt = t(math.sqrt(1.0 - beta2 ** step))
        if decoupled or weight_decay == 0.0:
            for i in range(p.shape[0]):               # shrink is exactly 1 without decay
                g = gr[i]
                m = b1 * m_[i] + one_b1 * g
                v = b2 * v_[i] + one_b2 * g * g
                m_[i] = m
                v_[i] = v
                p[i] = p[i] * shrink - step_size * m / (np.sqrt(v) / bc2_sqrt + eps_)
        else:
            for i in range(p.shape[0]):
                g = gr[i] + wd * p[i]
                m = b1 * m_[i] + one_b1 * g
                v = b2 * v_[i] + one_b2 * g * g
                m_[i] = m
                v_[i] = v
                p[i] -= step_size * m / (np.sqrt(v) / bc2_sqrt + eps_)
