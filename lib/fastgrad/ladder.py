"""Chapter 09's speed-up ladder: one training step, made faster one rung at a time.

    step = training_step("mlp", rung="fused optimizer")    # or "cnn"; any rung of RUNGS
    step()                                                 # one step; returns the loss
    for r in RUNGS: print(r.name, r.adds)

The rungs are cumulative; each turns on one more speed-up and computes the same losses as
the plain step (to float32 rounding: `tests/test_ladder.py` runs 100 steps of each):

    plain            every switch off (`fastgrad.switches`): inputs converted on every op,
                     Numba dispatch for every elementwise op, every input's gradient,
                     gradient sums allocated; unfused layers (x @ W.T + b, relu, MSE as
                     sub/mul/mean); Adam as a Python loop over the parameters (`LoopAdam`,
                     the shape of PyTorch's default CPU Adam)
    lean dispatch    `lean_dispatch`: no conversion of Tensor inputs, small ops to NumPy
    needed grads     `needed_grads`, `inplace_grads`, `free_graph`: only needed gradients,
                     accumulated in place, the graph freed as backward goes
    buffer pool      `buffer_pool`: matmul results from a `BufferPool` reused across steps
    fused layers     Linear (+ ReLU) and Conv2d + ReLU as one op each (`functional.linear_relu`,
                     `conv2d_relu`), MSE as one op
    fused optimizer  `optim.Adam`: one Numba kernel over one flat buffer (chapter 06)

Models: "mlp" is the DQN network of the seed report (144-128-64-6, ReLU, MSE against
random targets, batch 64); "cnn" is chapter 06's `LeNet` on random 8x8 images (batch 32,
cross-entropy). Both use Adam (lr 1e-3) and a fixed batch, so losses can be compared.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from . import functional as F
from . import nn, optim
from .autograd import Tensor
from .buffers import BufferPool, pool_step
from .switches import NAMES, switches

__all__ = ["Rung", "RUNGS", "CHAPTER06", "BEST", "LoopAdam", "fused_forward", "training_step", "mlp", "rung"]


@dataclass(frozen=True)
class Rung:
    """One rung: its `name`, the switches on at it (`switches`, every other one off),
    whether layers and the optimizer are fused, and what it adds (`adds`)."""

    name: str
    switches: dict = field(default_factory=dict)
    fused_layers: bool = False
    fused_optimizer: bool = False
    adds: str = ""

    def settings(self) -> dict:
        """Every switch's value at this rung: those in `switches` on, all others off."""
        return {name: bool(self.switches.get(name, False)) for name in NAMES}


_NEEDED = dict(needed_grads=True, inplace_grads=True, free_graph=True)
RUNGS = (
    Rung("plain", {}, adds="nothing: every speed-up off"),
    Rung("lean dispatch", dict(lean_dispatch=True), adds="no input conversion, small ops to NumPy"),
    Rung("needed grads", dict(lean_dispatch=True, **_NEEDED),
         adds="only needed gradients, in-place accumulation, graph freed in backward"),
    Rung("buffer pool", dict(lean_dispatch=True, buffer_pool=True, **_NEEDED),
         adds="matmul results from a pool reused across steps"),
    Rung("fused layers", dict(lean_dispatch=True, buffer_pool=True, **_NEEDED), fused_layers=True,
         adds="Linear/Conv2d+bias+ReLU and MSE as single ops"),
    Rung("fused optimizer", dict(lean_dispatch=True, buffer_pool=True, **_NEEDED), fused_layers=True,
         fused_optimizer=True, adds="Adam as one kernel over one flat buffer"),
)


# Not rungs of the ladder: chapter 06's step as a user writes it (default switches, nn layers,
# the fused Adam), and the fastest configuration measured (the pool off: it was slower here).
CHAPTER06 = Rung("chapter 06", dict(lean_dispatch=True, needed_grads=True, inplace_grads=True),
                 fused_optimizer=True, adds="the library's defaults, unfused layers")
BEST = Rung("best", dict(lean_dispatch=True, **_NEEDED), fused_layers=True, fused_optimizer=True,
            adds="every rung but the buffer pool")


def rung(name: str | Rung) -> Rung:
    """The rung called `name` (KeyError listing the rungs otherwise); a Rung is returned as it is."""
    if isinstance(name, Rung):
        return name
    for r in RUNGS:
        if r.name == name:
            return r
    raise KeyError(f"no rung named {name!r}; the rungs are {[r.name for r in RUNGS]}")


_rung_named = rung      # training_step's parameter `rung` hides the function inside it


class LoopAdam:
    """Adam as PyTorch's default CPU implementation is shaped: a Python loop over the
    parameters, several NumPy array operations per parameter (each a pass over memory and
    a temporary). The same formulas as `optim.Adam` (PyTorch's), so the two agree to
    float32 rounding; the ladder's baseline for the fused optimizer."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.steps = 0

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        self.steps += 1
        b1, b2 = self.beta1, self.beta2
        bc1, bc2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if g is None:
                continue
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v) / p.data.dtype.type(math.sqrt(bc2)) + p.data.dtype.type(self.eps)
            p.data -= p.data.dtype.type(self.lr / bc1) * (m / denom)

    def zero_grad(self) -> None:
        """p.grad = None for every parameter."""
        for p in self.params:
            p.grad = None


def fused_forward(model: nn.Sequential, x: Tensor) -> Tensor:
    """`model(x)` with every Linear (followed by a ReLU or not) run as one fused op
    (`functional.linear_relu` / `functional.linear`), and every Conv2d followed by a ReLU
    as `functional.conv2d_relu`; other layers run as they are."""
    layers = list(model)
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU):
            x = F.conv2d_relu(x, layer.weight, layer.bias, layer.stride, layer.padding)
            i += 2
            continue
        if isinstance(layer, nn.Linear):
            if i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU):
                x = F.linear_relu(x, layer.weight, layer.bias)
                i += 2
                continue
            x = F.linear(x, layer.weight, layer.bias)
        else:
            x = layer(x)
        i += 1
    return x


def mlp(sizes=(144, 128, 64, 6), seed=0, dtype=np.float32) -> nn.Sequential:
    """The DQN network: Linear layers of `sizes` with a ReLU between each pair."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, seed=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _problem(kind: str, seed: int, batch: int | None):
    """(model, x, target, loss function of (model output, target, fused)) for `kind`."""
    rng = np.random.default_rng(seed + 1)
    if kind == "mlp":
        from_model = mlp(seed=seed)
        n = batch or 64
        x = rng.standard_normal((n, 144)).astype(np.float32)
        target = rng.standard_normal((n, 6)).astype(np.float32)

        def loss(out, t, fused):
            if fused:
                return F.mse_loss(out, t)
            d = out - t
            return (d * d).mean()
        return from_model, Tensor(x), Tensor(target), loss
    if kind == "cnn":
        from .models.lenet import LeNet
        model = LeNet(seed=seed)
        n = batch or 32
        x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
        labels = rng.integers(0, 10, n)
        return model, Tensor(x), labels, lambda out, t, fused: F.cross_entropy(out, t)
    raise ValueError(f"training_step: kind must be 'mlp' or 'cnn', got {kind!r}")


def training_step(kind: str = "mlp", rung: str | Rung = "fused optimizer", seed: int = 0,
                  batch: int | None = None, lr: float = 1e-3):
    """A function running one training step of model `kind` ("mlp" or "cnn") at `rung`
    (a name in RUNGS, or a Rung), returning the loss (a float). The model, data and
    optimizer state live in the closure; `step.model`, `step.optimizer` and `step.rung`
    expose them, `step.x` and `step.target` the batch. The same `seed` gives the same initial weights and data at every rung."""
    r = _rung_named(rung)
    model, x, target, loss_fn = _problem(kind, seed, batch)
    params = list(model.parameters())
    opt = optim.Adam(params, lr=lr) if r.fused_optimizer else LoopAdam(params, lr=lr)
    settings = r.settings()
    pool = BufferPool() if settings["buffer_pool"] else None
    forward = (lambda: fused_forward(model, x)) if r.fused_layers else (lambda: model(x))

    def run() -> float:
        opt.zero_grad()
        loss = loss_fn(forward(), target, r.fused_layers)
        loss.backward()
        opt.step()
        return float(loss.data)

    def step() -> float:
        with switches(**settings), (pool_step(pool) if pool is not None else contextlib.nullcontext()):
            return run()      # run()'s locals (the graph) are gone before the pool step ends

    step.model, step.optimizer, step.rung, step.pool = model, opt, r, pool
    step.x, step.target = x, target
    return step
