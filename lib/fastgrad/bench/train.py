"""`python -m fastgrad.bench train [--quick]`: chapter 06's optimizers, 3x3 convolution,
LeNet training epoch and dtype dispatch, every ratio from one interleaved run
(`fastgrad.measure.compare`), each implementation checked against the fastgrad result
before it is timed.

1. One Adam step (lr 1e-3, PyTorch's defaults otherwise), float32, over two parameter sets:
   the parameters of `fastgrad.models.lenet.LeNet()` (its default sizes, the model the
   chapter trains: shapes read from the model, 151,306 values) and a DQN MLP 144-128-64-6
   (27,206 values). Implementations:
   fastgrad's `optim.Adam` (one fused Numba kernel over one flat buffer; its `step()`
   includes copying every `.grad` into that buffer; "kernel only" times the fused kernel
   without that copy, to show what it costs), NumPy in place (`out=`, scratch arrays
   allocated once), the report's style (one allocating NumPy op per line, as in the Adam
   listing of the Mojo library's report: `m = b1*m + (1-b1)*g` ...), and, when torch is
   installed, `torch.optim.Adam` with its CPU default (a per-tensor loop) and `fused=True`,
   on one thread (`torch.set_num_threads(1)`).
2. One SGD step with momentum 0.9 at the DQN's 27k values (call overhead dominates) and
   at 10M values in one tensor (memory bandwidth dominates; GB/s counts 20 bytes per value:
   read param, grad, momentum, write param, momentum).
3. conv2d forward, 3x3: `conv2d_3x3` (kernel size a compile-time constant, unrolled) vs
   the generic direct loop `conv2d_direct`, with im2col + matmul (and torch) for reference,
   at the report's size (N=1, C=64, K=64, 32x32, padding 1) and at the digits layer
   (N=64, C=16, K=32, 8x8, padding 1). GFLOP/s counts 2 N K C 9 OH OW.
4. One LeNet training epoch on the digits, fastgrad vs torch (`bench_lenet_epoch`): the
   same model (`LeNet(seed=0)` and the identical `torch.nn.Sequential` with its weights
   copied in), the same data (`load_digits`, `train_test_split(0.2, seed=0)`,
   `standardize`), the same batches (a `DataLoader` of 32, shuffled with seed 0, one per
   framework), the same optimizer (Adam, lr 2e-3) and the same loop (`train_epoch`, and
   its line-for-line torch twin), every thread pool at one thread (`threads.one_thread`).
   Before timing, both models must compute the same loss and gradients on the first
   batch (an AssertionError otherwise: nothing is timed). Then a per-phase breakdown
   (forward, backward, optimizer, the rest) for both, and fastgrad's time per op.
5. "TypedTensor layers 30% faster": a Linear forward+backward step through a dtype-
   dispatching path vs one specialised to float32 (`dispatch.bench_linear_dispatch`), at
   the digits MLP's sizes and at 512 x 1024 -> 1024, with the dispatch timed alone.
6. Whole training steps against PyTorch (chapter 09, `fastgrad.bench.steps`): the DQN MLP,
   the LeNet and chapter 07's GPT, fastgrad plain / as chapter 06 wrote it / its best
   configuration vs torch eager with default and fused Adam, the first losses checked equal.

Targets (printed as met / NOT met; never an error): fused Adam >= 3x the report's style,
and faster than torch's `fused=True` Adam (skipped without torch), for both parameter
sets; the LeNet epoch no slower than torch's (fastgrad / torch <= 1.0); the claim of
1.3x for the float32-specialised Linear, at each size; the MLP step >= 2x torch eager
(stretch 3x), the CNN and GPT steps no slower than torch.
`--quick` runs tiny sizes in a few seconds (for tests; the epoch is 3 batches): the
figures then mean nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from ..measure import compare, format_seconds
from . import dispatch, steps
from .kernels import _load, _verdict
from .threads import one_thread, optional_torch as _torch

ADAM_VS_REPORT_TARGET = 3.0    # fused Adam step vs the report's one-op-per-line NumPy style
EPOCH_TARGET = 1.0             # LeNet epoch: fastgrad time / torch time
EPOCH_BATCH, EPOCH_LR = 32, 2e-3
DQN = [(128, 144), (128,), (64, 128), (64,), (6, 64), (6,)]
LR, BETAS, EPS, MOMENTUM = 1e-3, (0.9, 0.999), 1e-8, 0.9


def lenet_shapes() -> list[tuple[int, ...]]:
    """The parameter shapes of `fastgrad.models.lenet.LeNet()` with its default sizes."""
    from ..models.lenet import LeNet

    return [tuple(p.shape) for p in LeNet(seed=0).parameters()]


def _problem(shapes, seed=0):
    """Initial parameters and one fixed set of gradients, float32."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) * 0.1 for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    return params, grads


# ------------------------------------------------------------------------- Adam
def _fastgrad(kind, params, grads, kernel_only=False, **kw):
    """A fastgrad optimizer over copies of `params` with `.grad` set: its `step`, or with
    `kernel_only` the fused kernel alone (the gradients gathered into the flat buffer once,
    so what is left out is the per-parameter `np.copyto` that `step()` does)."""
    from .. import optim
    from ..autograd import Tensor

    ts = [Tensor(p.copy(), requires_grad=True) for p in params]
    for t, g in zip(ts, grads):
        t.grad = g
    opt = getattr(optim, kind)(ts, lr=LR, **kw)
    if kernel_only:
        opt._gather()
        return opt._update, lambda: [t.data for t in ts]
    return opt.step, lambda: [t.data for t in ts]


def _report_adam(params, grads):
    """The report's style: one allocating NumPy op per line, per parameter."""
    ps = [p.copy() for p in params]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    b1, b2 = BETAS
    state = {"t": 0}

    def step():
        state["t"] += 1
        t = state["t"]
        for i, g in enumerate(grads):
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            m_hat = ms[i] / (1 - b1 ** t)
            v_hat = vs[i] / (1 - b2 ** t)
            ps[i] = ps[i] - LR * m_hat / (np.sqrt(v_hat) + EPS)
    return step, lambda: ps


def _inplace_adam(params, grads):
    """NumPy in place: every op writes into preallocated arrays (`out=`), per parameter."""
    ps = [p.copy() for p in params]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    tmp = [np.empty_like(p) for p in params]
    b1, b2 = (np.float32(b) for b in BETAS)
    one_b1, one_b2, eps = np.float32(1 - BETAS[0]), np.float32(1 - BETAS[1]), np.float32(EPS)
    state = {"t": 0}

    def step():
        state["t"] += 1
        t = state["t"]
        step_size = np.float32(LR / (1 - BETAS[0] ** t))
        bc2 = np.float32(math.sqrt(1 - BETAS[1] ** t))
        for p, g, m, v, w in zip(ps, grads, ms, vs, tmp):
            m *= b1
            np.multiply(g, one_b1, out=w)
            m += w
            v *= b2
            np.multiply(g, g, out=w)
            w *= one_b2
            v += w
            np.sqrt(v, out=w)
            w /= bc2
            w += eps
            np.divide(m, w, out=w)
            w *= step_size
            p -= w
    return step, lambda: ps


def _torch_adam(torch, params, grads, **kw):
    ts = [torch.tensor(p, requires_grad=True) for p in params]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    opt = torch.optim.Adam(ts, lr=LR, betas=BETAS, eps=EPS, **kw)
    return opt.step, lambda: [t.detach().numpy() for t in ts]


def _check_same(name, got, want, rtol=1e-4, atol=1e-6):
    for i, (a, b) in enumerate(zip(got, want)):
        if not np.allclose(a, b, rtol=rtol, atol=atol):
            err = np.abs(np.asarray(a) - b).max()
            raise AssertionError(f"{name}: parameter {i} {b.shape} disagrees with fastgrad (max error {err:.2e})")


def bench_adam(label: str, shapes, repeats: int, torch) -> dict:
    """Time one Adam step five ways over `shapes`; print the table and return the ratios."""
    params, grads = _problem(shapes)
    makers = {"fastgrad fused Adam": lambda: _fastgrad("Adam", params, grads, betas=BETAS, eps=EPS),
              "fastgrad kernel only": lambda: _fastgrad("Adam", params, grads, True, betas=BETAS, eps=EPS),
              "numpy in place (out=)": lambda: _inplace_adam(params, grads),
              "report style (alloc per op)": lambda: _report_adam(params, grads)}
    if torch is not None:
        makers["torch Adam default"] = lambda: _torch_adam(torch, params, grads)
        makers["torch Adam fused=True"] = lambda: _torch_adam(torch, params, grads, fused=True)
    impls, results = {}, {}
    for name, make in makers.items():       # three steps each from the same start, then compared
        step, values = make()
        for _ in range(3):
            step()
        results[name] = [np.array(v) for v in values()]
        impls[name] = make()[0]              # a fresh optimizer for the timing
    for name, got in results.items():
        _check_same(name, got, results["fastgrad fused Adam"])
    n = sum(math.prod(s) for s in shapes)
    result = compare(impls, baseline="report style (alloc per op)", repeats=repeats)
    print(f"\n== Adam step, float32, {label}: {len(shapes)} tensors, {n:,} values ==")
    print(result.table())
    fused = "fastgrad fused Adam"
    out = {"n": n, "vs_report": result.speedup(fused), "median": result.median(fused),
           "vs_inplace": result.speedup(fused, over="numpy in place (out=)")}
    print(f"adam {label}: fastgrad fused {format_seconds(out['median'])}, {out['vs_report']:.2f}x the report's style "
          f"(target >= {ADAM_VS_REPORT_TARGET:g}x: {_verdict(out['vs_report'] >= ADAM_VS_REPORT_TARGET)}), "
          f"{out['vs_inplace']:.2f}x NumPy in place")
    if torch is None:
        out["vs_torch_fused"] = None
        print(f"adam {label}: vs torch fused=True: skipped (torch not installed)")
    else:
        out["vs_torch_fused"] = result.speedup(fused, over="torch Adam fused=True")
        out["vs_torch_default"] = result.speedup(fused, over="torch Adam default")
        print(f"adam {label}: fastgrad fused {out['vs_torch_fused']:.2f}x torch fused=True "
              f"(target > 1x: {_verdict(out['vs_torch_fused'] > 1.0)}), "
              f"{out['vs_torch_default']:.2f}x torch default")
    return out


# -------------------------------------------------------------------------- SGD
def _report_sgd(params, grads):
    ps = [p.copy() for p in params]
    bufs = [np.zeros_like(p) for p in params]

    def step():
        for i, g in enumerate(grads):
            bufs[i] = MOMENTUM * bufs[i] + g
            ps[i] = ps[i] - LR * bufs[i]
    return step, lambda: ps


def _inplace_sgd(params, grads):
    ps = [p.copy() for p in params]
    bufs = [np.zeros_like(p) for p in params]
    tmp = [np.empty_like(p) for p in params]
    mom, lr = np.float32(MOMENTUM), np.float32(LR)

    def step():
        for p, g, b, w in zip(ps, grads, bufs, tmp):
            b *= mom
            b += g
            np.multiply(b, lr, out=w)
            p -= w
    return step, lambda: ps


def _torch_sgd(torch, params, grads, **kw):
    ts = [torch.tensor(p, requires_grad=True) for p in params]
    for t, g in zip(ts, grads):
        t.grad = torch.tensor(g)
    opt = torch.optim.SGD(ts, lr=LR, momentum=MOMENTUM, **kw)
    return opt.step, lambda: [t.detach().numpy() for t in ts]


def bench_sgd(label: str, shapes, repeats: int, torch) -> dict:
    """Time one SGD-with-momentum step over `shapes`; GB/s at 20 bytes per value."""
    params, grads = _problem(shapes)
    makers = {"fastgrad fused SGD": lambda: _fastgrad("SGD", params, grads, momentum=MOMENTUM),
              "fastgrad kernel only": lambda: _fastgrad("SGD", params, grads, True, momentum=MOMENTUM),
              "numpy in place (out=)": lambda: _inplace_sgd(params, grads),
              "report style (alloc per op)": lambda: _report_sgd(params, grads)}
    if torch is not None:
        makers["torch SGD default"] = lambda: _torch_sgd(torch, params, grads)
        makers["torch SGD fused=True"] = lambda: _torch_sgd(torch, params, grads, fused=True)
    impls, results = {}, {}
    for name, make in makers.items():
        step, values = make()
        for _ in range(3):
            step()
        results[name] = [np.array(v) for v in values()]
        impls[name] = make()[0]
    for name, got in results.items():
        _check_same(name, got, results["fastgrad fused SGD"])
    del results
    n = sum(math.prod(s) for s in shapes)
    result = compare(impls, baseline="report style (alloc per op)", repeats=repeats, work=20 * n, work_unit="GB/s")
    print(f"\n== SGD step (momentum {MOMENTUM}), float32, {label}: {len(shapes)} tensors, {n:,} values ==")
    print(result.table())
    fused = "fastgrad fused SGD"
    out = {"n": n, "median": result.median(fused), "vs_report": result.speedup(fused),
           "vs_inplace": result.speedup(fused, over="numpy in place (out=)"), "rate": result.rate(fused)}
    out["kernel_only"] = result.median("fastgrad kernel only")
    line = (f"sgd {label}: fastgrad fused {format_seconds(out['median'])} ({out['rate']:.1f} GB/s; kernel alone "
            f"{format_seconds(out['kernel_only'])}), "
            f"{out['vs_report']:.2f}x the report's style, {out['vs_inplace']:.2f}x NumPy in place")
    if torch is not None:
        out["vs_torch_fused"] = result.speedup(fused, over="torch SGD fused=True")
        line += f", {out['vs_torch_fused']:.2f}x torch fused=True"
    print(line)
    return out


# ------------------------------------------------------------------------- conv
def bench_conv(label: str, n: int, c: int, k: int, hw: int, repeats: int, torch) -> dict:
    """conv2d 3x3, padding 1: the unrolled kernel vs the generic loop, im2col and torch for reference."""
    from ..kernels import conv

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw), dtype=np.float32)
    w = rng.standard_normal((k, c, 3, 3), dtype=np.float32) * 0.1
    impls = {"direct (generic loop)": lambda: conv.conv2d_direct(x, w, 1, 1),
             "3x3 specialised": lambda: conv.conv2d_3x3(x, w, 1, 1),
             "im2col + matmul": lambda: conv.conv2d_im2col(x, w, 1, 1)}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        impls["torch conv2d"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=1)
    ref = conv.conv2d_direct(x, w, 1, 1)
    scale = max(1.0, float(np.abs(ref).max()))
    for name, fn in impls.items():           # checked before timed
        got = np.asarray(fn())
        err = float(np.abs(got - ref).max()) / scale
        if got.shape != ref.shape or err > 1e-4:
            raise AssertionError(f"conv {label}: {name} disagrees with conv2d_direct (shape {got.shape}, "
                                 f"relative error {err:.2e})")
    flops = 2 * n * k * c * 9 * hw * hw
    result = compare(impls, baseline="direct (generic loop)", repeats=repeats, work=flops, work_unit="GFLOP/s")
    print(f"\n== conv2d 3x3 forward, float32, {label}: x ({n}, {c}, {hw}, {hw}), w ({k}, {c}, 3, 3), "
          f"padding 1 ({flops / 1e6:.1f} MFLOP) ==")
    print(result.table())
    out = {"vs_direct": result.speedup("3x3 specialised"),
           "im2col_vs_3x3": result.speedup("im2col + matmul", over="3x3 specialised")}
    print(f"conv {label}: 3x3 specialised {out['vs_direct']:.2f}x the generic loop "
          f"({100 * (out['vs_direct'] - 1):+.0f}%), im2col + matmul {out['im2col_vs_3x3']:.2f}x the 3x3 kernel")
    return out


# ------------------------------------------------------------------ LeNet epoch
def lenet_data(batches: int | None = None):
    """The digits as chapter 06 trains on them: `load_digits`, `train_test_split(0.2,
    seed=0)`, `standardize` with the training set's statistics. Returns (x_train,
    y_train), only the first `batches` x 32 training samples when `batches` is given."""
    from ..data import load_digits, train_test_split
    from ..models.lenet import standardize

    x, y = load_digits()
    x_train, x_test, y_train, _ = train_test_split(x, y, 0.2, seed=0)
    x_train, _ = standardize(x_train, x_test)
    if batches is not None:
        x_train, y_train = x_train[:batches * EPOCH_BATCH], y_train[:batches * EPOCH_BATCH]
    return np.ascontiguousarray(x_train), np.ascontiguousarray(y_train)


def torch_twin(torch, model):
    """The `torch.nn.Sequential` with the same layers as the fastgrad Sequential `model`
    (Conv2d, ReLU, MaxPool2d, Flatten, Linear) and a copy of its weights, loaded with
    `strict=True` (the parameter names, `0.weight` ..., match). TypeError for a layer
    with no translation here."""
    from .. import nn

    layers = []
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Conv2d):
            layers.append(torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                          stride=layer.stride, padding=layer.padding, bias=layer.bias is not None))
        elif isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None))
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride))
        elif isinstance(layer, nn.Flatten):
            layers.append(torch.nn.Flatten(layer.start_dim, layer.end_dim))
        elif isinstance(layer, nn.ReLU):
            layers.append(torch.nn.ReLU())
        else:
            raise TypeError(f"torch_twin: layer {i} is a {type(layer).__name__}, which has no torch translation here")
    twin = torch.nn.Sequential(*layers)
    twin.load_state_dict({name: torch.from_numpy(a) for name, a in model.state_dict().items()}, strict=True)
    return twin


def check_lenet_agree(model, twin, torch, xb, yb, loss_rtol: float = 1e-5, grad_tol: float = 1e-3) -> dict:
    """Forward, cross-entropy and backward on one batch (xb, yb) in both frameworks.

    Returns {"loss_fastgrad", "loss_torch", "grad_error"} (the largest gradient
    difference, relative to the largest gradient of the same parameter). Raises
    AssertionError, naming the loss or the parameter, when the losses differ by more
    than `loss_rtol` relative or a gradient by more than `grad_tol`: two models that
    compute different things must not be timed against each other. Leaves every
    gradient cleared.
    """
    from ..autograd import Tensor
    from ..functional import cross_entropy

    model.zero_grad()
    twin.zero_grad()
    loss = cross_entropy(model(Tensor(xb)), yb)
    loss.backward()
    twin_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(xb)), torch.from_numpy(yb))
    twin_loss.backward()
    ours, theirs = float(loss.item()), float(twin_loss.item())
    if not abs(ours - theirs) <= loss_rtol * abs(theirs):
        raise AssertionError(f"lenet epoch: the first batch's loss differs, fastgrad {ours:.7f} vs torch "
                             f"{theirs:.7f}; the two models do not compute the same thing, so nothing is timed")
    twin_params = dict(twin.named_parameters())
    worst = 0.0
    for name, p in model.named_parameters():
        want = twin_params[name].grad.numpy()
        err = float(np.abs(p.grad - want).max()) / max(float(np.abs(want).max()), 1e-30)
        if not err <= grad_tol:
            raise AssertionError(f"lenet epoch: the gradient of {name} {want.shape} differs from torch's "
                                 f"(relative error {err:.2e}); nothing is timed")
        worst = max(worst, err)
    model.zero_grad()
    twin.zero_grad()
    return {"loss_fastgrad": ours, "loss_torch": theirs, "grad_error": worst}


def torch_train_epoch(torch, model, loader, optimizer) -> tuple[float, float]:
    """`fastgrad.models.lenet.train_epoch` line for line in torch: zero_grad, forward,
    cross-entropy, backward, step per batch, plus the same loss and accuracy sums.
    Returns (mean loss, accuracy)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        target = torch.from_numpy(yb)
        logits = model(torch.from_numpy(xb))
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        optimizer.step()
        n = len(yb)
        total_loss += float(loss.item()) * n
        correct += int((logits.argmax(dim=1) == target).sum())
        seen += n
    return total_loss / seen, correct / seen


PHASES = ("forward", "backward", "optimizer", "rest")


def _phased_epoch(loader, zero_grad, forward, backward, step, totals) -> None:
    """One epoch with a clock between the phases, added into `totals` (seconds):
    forward (model + loss), backward, optimizer (zero_grad + step), epoch (the whole
    loop, so "rest" = batching, wrapping, loss.item and accuracy is what is left)."""
    clock = time.perf_counter
    start = clock()
    for xb, yb in loader:
        t0 = clock()
        zero_grad()
        t1 = clock()
        logits, loss = forward(xb, yb)
        t2 = clock()
        backward(loss)
        t3 = clock()
        step()
        t4 = clock()
        _ = float(loss.item()), int((logits.argmax(1) == yb).sum())
        totals["optimizer"] += (t1 - t0) + (t4 - t3)
        totals["forward"] += t2 - t1
        totals["backward"] += t3 - t2
    totals["epoch"] += clock() - start


@contextmanager
def _op_clock():
    """Within the block every op of fastgrad's table has a clock around its forward and
    backward: yields {(op name, "forward" | "backward"): seconds}. The table is restored
    on exit. (Op kernels work on arrays and never call other ops, so nothing is counted
    twice; the clock adds well under a microsecond per call.)"""
    from ..ops import OPS

    totals = defaultdict(float)
    saved = dict(OPS)

    def clocked(fn, key):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[key] += time.perf_counter() - start
        return run
    try:
        for name, op in saved.items():
            OPS[name] = dataclasses.replace(op, forward=clocked(op.forward, (name, "forward")),
                                            backward=clocked(op.backward, (name, "backward")))
        yield totals
    finally:
        OPS.clear()
        OPS.update(saved)


def _phase_table(phases: dict) -> str:
    """ms per epoch and share of the epoch, per phase, for each framework measured."""
    names = list(phases)
    rows = [["phase"] + [f"{n} ms/epoch (share)" for n in names]
            + (["fastgrad / torch"] if "torch" in phases else [])]
    for phase in PHASES + ("epoch",):
        row = [phase]
        for n in names:
            sec = phases[n][phase]
            row.append(f"{1e3 * sec:.1f} ({100 * sec / phases[n]['epoch']:.0f}%)")
        if "torch" in phases:
            row.append(f"{phases['fastgrad'][phase] / max(phases['torch'][phase], 1e-12):.2f}x")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
                     for r in rows)


def bench_lenet_epoch(repeats: int, torch, batches: int | None = None, phase_epochs: int = 2,
                      verbose: bool = True) -> dict:
    """Time one LeNet training epoch on the digits, fastgrad vs torch (see item 4 of the
    module docstring), every thread pool at one thread; `batches` limits the epoch to
    the first batches x 32 training samples (for quick runs). Without torch (None) only
    fastgrad is timed and the ratio is None.

    Order: build both models with the same weights, check they agree on the first batch
    (AssertionError otherwise, before any timing), one untimed epoch each (Numba
    compiles, caches fill; its mean loss is reported), `repeats` interleaved timed
    epochs (medians), then `phase_epochs` epochs each with a clock between the phases
    and, for fastgrad, around every op.

    Returns {"fastgrad", "torch": median seconds per epoch (torch None without it),
    "ratio": fastgrad / torch or None, "met": ratio <= 1.0 or None, "batches",
    "samples", "check": the first-batch check (None without torch), "first_epoch":
    {framework: (mean loss, accuracy)}, "phases": {framework: {phase: seconds per
    epoch}}, "ops": [((op, "forward"|"backward"), seconds per epoch)] largest first,
    "outside_ops": seconds per epoch of forward + backward spent outside the op kernels}.
    """
    x, y = lenet_data(batches)
    # Python's full garbage collections (35-250 ms each here, with torch and the notebook's
    # objects alive) otherwise land inside whichever op is running and swamp the per-op
    # clock; freezing the objects that exist now keeps them out of every collection, as a
    # long training script would (gc.freeze), and both frameworks get the same treatment.
    gc.collect()
    gc.freeze()
    try:
        return _bench_lenet_epoch(x, y, repeats, torch, phase_epochs, verbose)
    finally:
        gc.unfreeze()


def _bench_lenet_epoch(x, y, repeats, torch, phase_epochs, verbose):
    from .. import optim
    from ..autograd import Tensor
    from ..data import DataLoader
    from ..functional import cross_entropy
    from ..models.lenet import LeNet, train_epoch

    with one_thread(torch):
        model = LeNet(seed=0)
        twin = None if torch is None else torch_twin(torch, model)   # before any step: the same start
        check = None if torch is None else check_lenet_agree(model, twin, torch, x[:EPOCH_BATCH], y[:EPOCH_BATCH])
        loader = DataLoader(x, y, batch_size=EPOCH_BATCH, shuffle=True, seed=0)
        opt = optim.Adam(model.parameters(), lr=EPOCH_LR)
        epochs = {"fastgrad": lambda: train_epoch(model, loader, opt)}
        if torch is not None:
            twin_loader = DataLoader(x, y, batch_size=EPOCH_BATCH, shuffle=True, seed=0)   # the same batches
            twin_opt = torch.optim.Adam(twin.parameters(), lr=EPOCH_LR)
            epochs["torch"] = lambda: torch_train_epoch(torch, twin, twin_loader, twin_opt)
        first = {name: epoch() for name, epoch in epochs.items()}
        result = compare(epochs, baseline="fastgrad", repeats=repeats, warmup=0)

        phases = {}
        with _op_clock() as op_seconds:
            totals = defaultdict(float)
            for _ in range(phase_epochs):
                _phased_epoch(loader, opt.zero_grad, lambda xb, yb: _fg_forward(model, Tensor, cross_entropy, xb, yb),
                              lambda loss: loss.backward(), opt.step, totals)
        phases["fastgrad"] = totals
        if torch is not None:
            totals = defaultdict(float)
            for _ in range(phase_epochs):
                _phased_epoch(twin_loader, twin_opt.zero_grad, lambda xb, yb: _torch_forward(torch, twin, xb, yb),
                              lambda loss: loss.backward(), twin_opt.step, totals)
            phases["torch"] = totals
    for name, totals in phases.items():
        per_epoch = {k: v / phase_epochs for k, v in totals.items()}
        per_epoch["rest"] = per_epoch["epoch"] - sum(per_epoch[p] for p in PHASES[:3])
        phases[name] = per_epoch
    ops = sorted(((key, sec / phase_epochs) for key, sec in op_seconds.items()), key=lambda kv: -kv[1])
    out = {"fastgrad": result.median("fastgrad"), "torch": result.median("torch") if torch is not None else None,
           "batches": len(loader), "samples": len(x), "check": check, "first_epoch": first, "phases": phases,
           "ops": ops, "outside_ops": phases["fastgrad"]["forward"] + phases["fastgrad"]["backward"]
           - sum(sec for _, sec in ops)}
    out["ratio"] = None if torch is None else out["fastgrad"] / out["torch"]
    out["met"] = None if torch is None else out["ratio"] <= EPOCH_TARGET
    if verbose:
        _print_lenet(out, result)
    return out


def _fg_forward(model, Tensor, cross_entropy, xb, yb):
    """The forward phase in fastgrad: (logits as an array, loss)."""
    logits = model(Tensor(xb))
    return logits.data, cross_entropy(logits, yb)


def _torch_forward(torch, model, xb, yb):
    """The forward phase in torch, from NumPy batches: (logits as an array, loss)."""
    logits = model(torch.from_numpy(xb))
    return logits.detach().numpy(), torch.nn.functional.cross_entropy(logits, torch.from_numpy(yb))


def _print_lenet(r: dict, result) -> None:
    print(f"\n== LeNet training epoch, digits: {r['samples']} training images, {r['batches']} batches of "
          f"{EPOCH_BATCH}, Adam lr {EPOCH_LR:g}, every thread pool at 1 thread ==")
    if r["check"] is None:
        print("check before timing: skipped (torch not installed)")
    else:
        c = r["check"]
        print(f"check before timing (first batch): loss fastgrad {c['loss_fastgrad']:.6f}, torch "
              f"{c['loss_torch']:.6f}; gradients agree within {c['grad_error']:.1e} (relative)")
    print("first epoch (untimed; same start, same batches): "
          + ", ".join(f"{name} mean loss {loss:.4f}, train accuracy {acc:.3f}"
                      for name, (loss, acc) in r["first_epoch"].items()))
    print(result.table())
    print("\nper phase, from separately clocked epochs (the clocks add a little):")
    print(_phase_table(r["phases"]))
    epoch = r["phases"]["fastgrad"]["epoch"]
    top = ", ".join(f"{name} {kind} {1e3 * sec:.1f} ms ({100 * sec / epoch:.0f}%)"
                    for (name, kind), sec in r["ops"][:6])
    print(f"fastgrad's largest ops per epoch (share of the epoch): {top}; forward + backward outside the "
          f"op kernels (autograd, Python): {1e3 * r['outside_ops']:.1f} ms ({100 * r['outside_ops'] / epoch:.0f}%)")
    print(lenet_line(r))


def lenet_line(r: dict) -> str:
    """The epoch's verdict and what limits it, from the measured figures."""
    ph = r["phases"]["fastgrad"]
    shares = ", ".join(f"{p} {100 * ph[p] / ph['epoch']:.0f}%" for p in PHASES)
    (name, kind), sec = r["ops"][0]
    limits = (f"fastgrad's epoch: {shares}; its largest op: {name} {kind} ({100 * sec / ph['epoch']:.0f}% "
              f"of the epoch)")
    if r["torch"] is None:
        return (f"lenet epoch: fastgrad {1e3 * r['fastgrad']:.1f} ms; vs torch: skipped (torch not installed); "
                + limits)
    slowest = max(PHASES[:3], key=lambda p: ph[p] / max(r["phases"]["torch"][p], 1e-12))
    return (f"lenet epoch: fastgrad {1e3 * r['fastgrad']:.1f} ms, torch {1e3 * r['torch']:.1f} ms, "
            f"fastgrad/torch {r['ratio']:.2f} (target <= {EPOCH_TARGET:g}: {_verdict(r['met'])}); " + limits
            + f"; furthest behind torch: {slowest} "
              f"({ph[slowest] / max(r['phases']['torch'][slowest], 1e-12):.1f}x torch's)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (for tests)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds per comparison")
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 9)
    epoch_repeats = args.repeats or (3 if quick else 5)     # an epoch lasts seconds: fewer rounds
    torch = _torch()
    big = 200_000 if quick else 10_000_000
    convs = ([("report size", 1, 8, 8, 16), ("digits layer", 4, 4, 8, 8)] if quick else
             [("report size", 1, 64, 64, 32), ("digits layer", 64, 16, 32, 8)])

    print(f"fastgrad train benchmark{' (--quick: tiny sizes, figures not meaningful)' if quick else ''}")
    print(f"torch: {'not installed (torch rows skipped)' if torch is None else torch.__version__ + ', 1 thread'}, "
          f"load average: {_load()}")
    adam = {label: bench_adam(label, shapes, repeats, torch)
            for label, shapes in (("LeNet 8x8 digits", lenet_shapes()), ("DQN 144-128-64-6", DQN))}
    sgd = {label: bench_sgd(label, shapes, repeats, torch)
           for label, shapes in (("DQN 144-128-64-6", DQN), (f"one tensor of {big:,}", [(big,)]))}
    conv = {label: bench_conv(label, n, c, k, hw, repeats, torch) for label, n, c, k, hw in convs}
    epoch = bench_lenet_epoch(epoch_repeats, torch, batches=3 if quick else None, phase_epochs=1 if quick else 2)
    linear = dispatch.bench_linear_dispatch(repeats, dispatch.QUICK_SIZES if quick else dispatch.SIZES)
    whole = steps.run(repeats, torch, quick)

    print("\n== Summary ==")
    for label, r in adam.items():
        torch_part = ("torch fused=True: skipped" if r["vs_torch_fused"] is None else
                      f"{r['vs_torch_fused']:.2f}x torch fused=True, {r['vs_torch_default']:.2f}x torch default")
        print(f"adam {label} ({r['n']:,} values): fused {format_seconds(r['median'])} = {r['vs_report']:.2f}x the "
              f"report's style, {r['vs_inplace']:.2f}x NumPy in place, {torch_part}")
    for label, r in sgd.items():
        print(f"sgd {label}: fused {format_seconds(r['median'])} ({r['rate']:.1f} GB/s; kernel alone "
              f"{format_seconds(r['kernel_only'])}) = {r['vs_report']:.2f}x the "
              f"report's style, {r['vs_inplace']:.2f}x NumPy in place"
              + ("" if torch is None else f", {r['vs_torch_fused']:.2f}x torch fused=True"))
    for label, r in conv.items():
        print(f"conv {label}: 3x3 specialised {r['vs_direct']:.2f}x the generic loop; "
              f"im2col + matmul {r['im2col_vs_3x3']:.2f}x the 3x3 kernel")
    print(lenet_line(epoch))
    for label, r in linear.items():
        print(f"linear {label}: float32-specialised {r['speedup']:.2f}x the dtype-dispatching path, dispatch alone "
              f"{format_seconds(r['dispatch_alone'])} of a {format_seconds(r['dispatching'])} step "
              f"({100 * r['dispatch_alone'] / r['dispatching']:.2g}%); fastgrad nn.Linear "
              f"{format_seconds(r['fastgrad'])}")
    print(dispatch.explain(linear))
    print("\n".join(steps.summary_lines(whole, torch)))
    for label, r in adam.items():
        print(f"target fused Adam >= {ADAM_VS_REPORT_TARGET:g}x the report's style ({label}): "
              f"{_verdict(r['vs_report'] >= ADAM_VS_REPORT_TARGET)}")
        print(f"target fused Adam faster than torch fused=True ({label}): "
              + ("skipped (torch not installed)" if r["vs_torch_fused"] is None
                 else _verdict(r["vs_torch_fused"] > 1.0)))
    print(f"target LeNet epoch no slower than torch (fastgrad/torch <= {EPOCH_TARGET:g}): "
          + ("skipped (torch not installed)" if epoch["ratio"] is None
             else f"{_verdict(epoch['met'])} ({epoch['ratio']:.2f})"))
    for label, r in linear.items():
        print(f"claim float32-specialised Linear >= {dispatch.CLAIM:.2f}x the dtype-dispatching one ({label}): "
              f"{_verdict(r['claim_met'])} ({r['speedup']:.2f}x)")
    print(f"(load average at the end: {_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
