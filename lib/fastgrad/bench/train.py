"""`python -m fastgrad.bench train [--quick]`: chapter 06's optimizers and 3x3 convolution,
every ratio from one interleaved run (`fastgrad.measure.compare`), each implementation
checked against the fastgrad result before it is timed.

1. One Adam step (lr 1e-3, PyTorch's defaults otherwise), float32, over two parameter sets:
   a LeNet for 8x8 digits (conv 16x1x3x3 + 16, conv 32x16x3x3 + 32, linear 64x512 + 64,
   10x64 + 10: 38,282 values) and a DQN MLP 144-128-64-6 (27,206 values). Implementations:
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

Targets (printed as met / NOT met; never an error): fused Adam >= 3x the report's style,
and faster than torch's `fused=True` Adam (skipped without torch); for both parameter sets.
Not measured here yet: the LeNet training epoch, fastgrad vs torch.
`--quick` runs tiny sizes in a few seconds (for tests): the figures then mean nothing.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from ..measure import compare, format_seconds
from .kernels import _load, _verdict

ADAM_VS_REPORT_TARGET = 3.0    # fused Adam step vs the report's one-op-per-line NumPy style
LENET = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (64, 512), (64,), (10, 64), (10,)]
DQN = [(128, 144), (128,), (64, 128), (64,), (6, 64), (6,)]
LR, BETAS, EPS, MOMENTUM = 1e-3, (0.9, 0.999), 1e-8, 0.9


def _torch():
    """torch on one thread, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (for tests)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds per comparison")
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 9)
    torch = _torch()
    big = 200_000 if quick else 10_000_000
    convs = ([("report size", 1, 8, 8, 16), ("digits layer", 4, 4, 8, 8)] if quick else
             [("report size", 1, 64, 64, 32), ("digits layer", 64, 16, 32, 8)])

    print(f"fastgrad train benchmark{' (--quick: tiny sizes, figures not meaningful)' if quick else ''}")
    print(f"torch: {'not installed (torch rows skipped)' if torch is None else torch.__version__ + ', 1 thread'}, "
          f"load average: {_load()}")
    adam = {label: bench_adam(label, shapes, repeats, torch)
            for label, shapes in (("LeNet 8x8 digits", LENET), ("DQN 144-128-64-6", DQN))}
    sgd = {label: bench_sgd(label, shapes, repeats, torch)
           for label, shapes in (("DQN 144-128-64-6", DQN), (f"one tensor of {big:,}", [(big,)]))}
    conv = {label: bench_conv(label, n, c, k, hw, repeats, torch) for label, n, c, k, hw in convs}

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
    for label, r in adam.items():
        print(f"target fused Adam >= {ADAM_VS_REPORT_TARGET:g}x the report's style ({label}): "
              f"{_verdict(r['vs_report'] >= ADAM_VS_REPORT_TARGET)}")
        print(f"target fused Adam faster than torch fused=True ({label}): "
              + ("skipped (torch not installed)" if r["vs_torch_fused"] is None
                 else _verdict(r["vs_torch_fused"] > 1.0)))
    print("(not measured by this suite yet: the LeNet training epoch, fastgrad vs torch)")
    print(f"(load average at the end: {_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
