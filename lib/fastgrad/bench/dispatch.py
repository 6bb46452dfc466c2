"""The claim "TypedTensor layers 30% faster" (an optimisation report of a Mojo ML library:
a Linear layer specialised to float32 against one that dispatches on the dtype at run
time), measured in Python: `bench_linear_dispatch(repeats) -> dict`, also printed by
`python -m fastgrad.bench train`.

One Linear step is the forward y = x @ W.T + b, then the backward for a fixed upstream
gradient gy: dx = gy @ W, dW = gy.T @ x, db = gy.sum(0). Two implementations run the
*same* NumPy/BLAS calls, so the only difference is what happens around them:

- dtype-dispatching (`DispatchingLinear`): every forward and every backward does what a
  dtype-generic tensor library does at run time: `np.asarray` on the input, look its
  dtype up in a table of kernels (float32 and float64 registered), check that the
  input, W and b share that dtype, check the input's rank and shape, make it
  contiguous. Two dispatches per step.
- float32-specialised (`Float32Linear`): W and b checked once, at construction; forward
  and backward call the kernels directly. This is what a layer compiled for float32
  does: the compiler did its checks. (In Python nothing checks x then: the caller
  promises float32 arrays of the right shape.)

For reference, a third row times fastgrad's own `nn.Linear` through autograd (op table,
dtype checks of `apply`, graph recording, topological sort, gradient copies): the cost
of a real per-call path next to the dtype dispatch alone.

What decides the ratio: the dispatch costs a roughly constant number of µs per call
whatever the size, while the compute grows with batch x in x out. The specialised
step is faster by overhead / compute, so the gain is visible at the digits MLP's tiny
matrices and vanishes at 512 x 1024 x 1024. The dispatch is also timed alone, so the
printed explanation is a measured decomposition: the difference between the two
paths should match the dispatch's own cost.

Not measured here: a gain from specialising the *kernel* (a loop compiled for one
dtype can be vectorised at a known width, where a generic loop might not be). That is
a difference between kernels, not dispatch; here both paths call the same BLAS.

Everything runs on one thread (`one_thread`): BLAS threads would add their own
start-up cost to the small sizes and noise to the large one on a shared machine.
"""
from __future__ import annotations

import math

import numpy as np

from ..measure import compare, format_seconds, time_fn
from .threads import one_thread

CLAIM = 1.30   # "30% faster": the specialised step takes at most 1/1.3 of the dispatching one
SIZES = [("MLP 64->128", 32, 64, 128), ("MLP 128->10", 32, 128, 10), ("large 1024->1024", 512, 1024, 1024)]
QUICK_SIZES = [("MLP 64->128", 32, 64, 128), ("MLP 128->10", 32, 128, 10), ("large 128->128", 64, 128, 128)]


# ------------------------------------------------------------------- the kernels
def _linear_forward(x, w, b):
    """y = x @ w.T + b."""
    y = x @ w.T
    y += b
    return y


def _linear_backward(x, w, gy):
    """(dx, dW, db) for y = x @ w.T + b and the upstream gradient gy."""
    return gy @ w, gy.T @ x, gy.sum(axis=0)


# One entry per supported dtype, as a dtype-generic library registers its kernels. Both
# entries are the same NumPy code here (NumPy picks sgemm or dgemm inside): what is
# measured is the run-time lookup and checks, not a difference between kernels.
KERNELS = {np.dtype(np.float32): (_linear_forward, _linear_backward),
           np.dtype(np.float64): (_linear_forward, _linear_backward)}


def dispatch(x, w, b, width: int, what: str):
    """The run-time work of a dtype-generic layer for one call: returns (x as a
    contiguous array, (forward, backward) kernels for its dtype). `width` is the size
    x's last axis must have. TypeError for an unsupported or mixed dtype, ValueError
    for a wrong shape, each naming what it got."""
    x = np.asarray(x)
    try:
        kernels = KERNELS[x.dtype]
    except KeyError:
        raise TypeError(f"Linear.{what}: no kernel for dtype {x.dtype} "
                        f"(registered: {', '.join(str(d) for d in KERNELS)})") from None
    if w.dtype != x.dtype or b.dtype != x.dtype:
        raise TypeError(f"Linear.{what}: input {x.dtype} but weight {w.dtype} and bias {b.dtype}; "
                        "all three must share one dtype")
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"Linear.{what}: expected an input of shape (N, {width}), got {x.shape}")
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return x, kernels


class DispatchingLinear:
    """A Linear layer that dispatches on the dtype on every call (see the module docstring)."""

    def __init__(self, w: np.ndarray, b: np.ndarray):
        self.w, self.b = w, b

    def forward(self, x):
        """y = x @ W.T + b, after the run-time dispatch on x's dtype."""
        x, (forward, _) = dispatch(x, self.w, self.b, self.w.shape[1], "forward")
        return forward(x, self.w, self.b)

    def backward(self, x, gy):
        """(dx, dW, db), after the run-time dispatch on gy's dtype."""
        gy, (_, backward) = dispatch(gy, self.w, self.b, self.w.shape[0], "backward")
        return backward(x, self.w, gy)


class Float32Linear:
    """A Linear layer specialised to float32: W (out, in) and b (out,) are checked once
    here; forward and backward then call the kernels with no checks (the caller passes
    float32 arrays of the right shapes, as a compiler would guarantee)."""

    def __init__(self, w: np.ndarray, b: np.ndarray):
        if w.dtype != np.float32 or b.dtype != np.float32:
            raise TypeError(f"Float32Linear: weight {w.dtype} and bias {b.dtype} must be float32")
        if w.ndim != 2 or b.shape != (w.shape[0],) or not w.flags.c_contiguous:
            raise ValueError(f"Float32Linear: weight {w.shape} (contiguous) and bias {b.shape} must be "
                             "(out, in) and (out,)")
        self.w, self.b = w, b

    def forward(self, x):
        """y = x @ W.T + b (x: float32 (N, in), unchecked)."""
        return _linear_forward(x, self.w, self.b)

    def backward(self, x, gy):
        """(dx, dW, db) (gy: float32 (N, out), unchecked)."""
        return _linear_backward(x, self.w, gy)


def _step(layer, x, gy):
    """One forward and one backward; returns (y, dx, dW, db)."""
    return (layer.forward(x),) + tuple(layer.backward(x, gy))


def _fastgrad_linear(w, b):
    """fastgrad's nn.Linear with weights (w, b); a step function returning (y, dx, dW, db)."""
    from .. import nn
    from ..autograd import Tensor

    layer = nn.Linear(w.shape[1], w.shape[0], seed=0)
    layer.load_state_dict({"weight": w, "bias": b})

    def step(x, gy):
        xt = Tensor(x, requires_grad=True)
        layer.zero_grad()
        y = layer(xt)
        y.backward(gy)
        return y.data, xt.grad, layer.weight.grad, layer.bias.grad
    return step


def _check(label, name, got, want, exact):
    """Every implementation's (y, dx, dW, db) against the float32-specialised ones."""
    for part, a, e in zip(("y", "dx", "dW", "db"), got, want):
        a = np.asarray(a)
        ok = np.array_equal(a, e) if exact else (
            a.shape == e.shape and np.allclose(a, e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max()))))
        if not ok:
            raise AssertionError(f"linear {label}: {name} {part} {a.shape} disagrees with the float32-specialised "
                                 f"layer {e.shape}" + ("" if a.shape != e.shape else
                                                      f" (max error {float(np.abs(a - e).max()):.2e})"))


def bench_linear_dispatch(repeats: int = 9, sizes=None, verbose: bool = True) -> dict:
    """Time one Linear forward+backward step, float32, dtype-dispatching vs float32-
    specialised (and fastgrad's nn.Linear for reference), interleaved, on one thread,
    at each (label, batch, in, out) of `sizes` (default: the digits MLP's two layers at
    batch 32 and 512 x 1024 -> 1024). Each implementation is checked against the
    specialised one before it is timed.

    Returns {label: {"speedup": specialised over dispatching, "dispatching",
    "specialised", "fastgrad": median seconds per step, "dispatch_alone": seconds of
    the two dispatches alone, "difference": dispatching - specialised seconds,
    "spread": max - min of the dispatching step's repeats (the noise a difference must
    exceed to mean anything), "claim_met": speedup >= 1.3, "flops": per step}}. Prints tables and one line per
    size when `verbose`.
    """
    out = {}
    with one_thread():
        for label, n, k, m in (SIZES if sizes is None else sizes):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, k), dtype=np.float32)
            w = (rng.standard_normal((m, k), dtype=np.float32) / np.float32(math.sqrt(k)))
            b = rng.standard_normal(m, dtype=np.float32)
            gy = rng.standard_normal((n, m), dtype=np.float32)
            generic, typed, fg_step = DispatchingLinear(w, b), Float32Linear(w, b), _fastgrad_linear(w, b)
            want = _step(typed, x, gy)
            _check(label, "dtype-dispatching", _step(generic, x, gy), want, exact=True)
            _check(label, "fastgrad nn.Linear", fg_step(x, gy), want, exact=False)
            flops = 6 * n * k * m
            impls = {"dtype-dispatching": lambda: _step(generic, x, gy),
                     "float32-specialised": lambda: _step(typed, x, gy),
                     "fastgrad nn.Linear (autograd)": lambda: fg_step(x, gy)}
            result = compare(impls, baseline="dtype-dispatching", repeats=repeats, work=flops, work_unit="GFLOP/s")
            alone = time_fn(lambda: (dispatch(x, w, b, k, "forward"), dispatch(gy, w, b, m, "backward")),
                            repeats=repeats).median
            r = {"flops": flops, "speedup": result.speedup("float32-specialised"),
                 "dispatching": result.median("dtype-dispatching"), "specialised": result.median("float32-specialised"),
                 "fastgrad": result.median("fastgrad nn.Linear (autograd)"), "dispatch_alone": alone}
            r["difference"] = r["dispatching"] - r["specialised"]
            t = result.timings["dtype-dispatching"]
            r["spread"] = t.max - t.min
            r["claim_met"] = r["speedup"] >= CLAIM
            out[label] = r
            if verbose:
                print(f"\n== Linear forward+backward, float32, 1 thread, {label}: x ({n}, {k}), W ({m}, {k}) "
                      f"({flops / 1e6:.3g} MFLOP per step) ==")
                print(result.table())
                print(describe(label, r))
    return out


def describe(label: str, r: dict) -> str:
    """One line: the ratio, the claim's verdict and where the difference comes from."""
    share = r["dispatch_alone"] / r["dispatching"]
    return (f"linear {label}: float32-specialised {r['speedup']:.2f}x the dtype-dispatching path "
            f"(claim >= {CLAIM:.2f}x: {'met' if r['claim_met'] else 'NOT met'}); per step the dispatch alone "
            f"costs {format_seconds(r['dispatch_alone'])} (2 calls), the measured difference is "
            f"{format_seconds(r['difference'])} (repeats spread over {format_seconds(r['spread'])}: "
            f"{'within' if abs(r['difference']) <= r['spread'] else 'beyond'} the noise), the specialised step "
            f"{format_seconds(r['specialised'])} (dispatch = {100 * share:.2g}% of the dispatching step); "
            f"fastgrad nn.Linear {format_seconds(r['fastgrad'])}")


def explain(results: dict) -> str:
    """Where the difference comes from, from the measured figures: the dispatch is a
    per-call constant, so a 1.3x gain needs a step whose compute is at most
    dispatch / 0.3."""
    alone = [r["dispatch_alone"] for r in results.values()]
    needed = float(np.median(alone)) / (CLAIM - 1)
    met = [label for label, r in results.items() if r["claim_met"]]
    return (f"linear dispatch: the dispatch is a per-call cost of {format_seconds(min(alone))}.."
            f"{format_seconds(max(alone))} per step at every size, while the compute grows with "
            f"batch x in x out; a {CLAIM:.1f}x gain needs a specialised step under about "
            f"{format_seconds(needed)} (dispatch / {CLAIM - 1:.1f}). Claim met at: "
            f"{', '.join(met) if met else 'none of the sizes measured'}")
