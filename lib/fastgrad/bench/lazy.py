"""`python -m fastgrad.bench lazy [--quick]`: chapter 08's lazy graphs, one interleaved run
per comparison (`fastgrad.measure.compare`), every implementation checked against eager
fastgrad before it is timed.

0. Compiling: the first kernel compiled in this process, further new structures, and an
   in-memory cache hit (the dictionary lookup `codegen.compiled` does on a hit); then the
   disk cache: two new processes build the same five structures in an empty cache
   directory, the first compiles them, the second loads them from disk.
1. Softmax over (4096, 1024) float32, written with primitives (max, sub, exp, sum, div):
   lazy (warm cache; each call builds the graph, schedules and runs 3 kernels) vs eager
   fastgrad (the same primitives on `Tensor`s, and the table's composite `softmax` op) vs
   NumPy's textbook formula.
2. RMSNorm over (4096, 1024) float32: x * (mean(x*x) + eps) ** -0.5 * w, the same way.
3. An 8-op arithmetic chain over 10^7 float32 elements (and 10^6): lazy (1 kernel) vs
   eager (8 passes) vs NumPy.
4. LoRA, x @ W + s * (x @ A) @ B, at a small size (x 32x256, W 256x256, rank 8), where the
   cost of building and scheduling the graph shows: lazy's overhead over eager.

Bytes moved count each kernel's reads and writes once (`explain`'s figure); the fraction
of bandwidth is that over the measured float64 triad bandwidth (one thread, as the
kernels run). Every thread pool is held to one thread (`one_thread`). Targets (printed
as met / NOT met, never an error): lazy >= 2x eager on the chain and on softmax; lazy's
overhead under 10% of eager on LoRA.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..autograd import Tensor
from ..lazy import codegen, lazy, schedule
from ..lazy.schedule import _nbytes
from ..measure import compare, format_seconds
from ..measure.limits import triad_bandwidth
from .threads import one_thread


def softmax(x):
    e = (x - x.max(-1, keepdims=True)).exp()
    return e / e.sum(-1, keepdims=True)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_rms_norm(x, w, eps=1e-6):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + np.float32(eps)) * w


def rms_norm(x, w, eps=1e-6):
    return x * ((x * x).mean(-1, keepdims=True) + eps) ** -0.5 * w


def chain(a, b, c):
    """8 arithmetic ops: mul add mul sub mul add mul sub."""
    return ((((a * b + c) * 0.5 - a) * b + 1.0) * c) - b


def lora(x, W, A, B, scale=0.5):
    return x @ W + scale * ((x @ A) @ B)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def fused_bytes(out) -> int:
    """Bytes the scheduled kernels read and write (each array once per kernel)."""
    return sum(sum(_nbytes(x) for x in g.inputs) + _nbytes(g.output) for g in schedule(out))


def compile_figures() -> dict:
    """First compile in this process, three further new structures, and a cache hit."""
    x = np.ones(1000, np.float32)
    seconds = []
    exprs = [lambda t: t * 2.0 + 1.0, lambda t: (t * t).tanh(), lambda t: (t - 3.0) / (t + 2.0),
             lambda t: t.sigmoid() * t]
    for f in exprs:
        before = codegen.STATS["compiles"]
        f(lazy(x)).realize()
        if codegen.STATS["compiles"] > before:
            seconds.append(codegen.STATS["compile_seconds"][-1])
    g = schedule(exprs[0](lazy(x)))[0]
    kernel = codegen.generate(g)
    args = (np.empty(kernel.out_shape, np.float32), x, np.float32(2.0), np.float32(1.0))
    args = args[:1 + len(kernel.args)]
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        codegen.compiled(kernel, args)
    hit = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(200):
        codegen.generate(g)
    gen = (time.perf_counter() - start) / 200
    return {"first": seconds[0] if seconds else float("nan"), "further": seconds[1:], "hit": hit,
            "generate": gen}


_DISK_SCRIPT = """
import json, numpy as np, fastgrad as fg
from fastgrad.lazy import codegen
x = np.ones(1000, np.float32)
for f in [lambda t: t * 2.0 + 1.0, lambda t: (t * t).tanh(), lambda t: (t - 3.0) / (t + 2.0),
          lambda t: t.sigmoid() * t, lambda t: (t * t).sum()]:
    f(fg.lazy(x)).numpy()
print(json.dumps({k: codegen.STATS[k] for k in ("compile_seconds", "load_seconds")}))
"""


def disk_cache_figures() -> tuple[dict, dict]:
    """Seconds per kernel in a new process with an empty disk cache, then in a second new
    process that finds the five kernels on disk (the first of each includes Numba's own
    start-up, which no cache removes)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, FASTGRAD_CACHE_DIR=cache, FASTGRAD_LAZY_DISK_CACHE="1")
        runs = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", _DISK_SCRIPT], env=env, capture_output=True,
                                  text=True, timeout=600, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def _check(name, got, want, rtol=1e-5):
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=name)


def bench(title, impls, want, out_lazy, bandwidth, repeats):
    for name, fn in impls.items():
        _check(name, np.asarray(fn()), want)
    comp = compare(impls, baseline="eager fastgrad", repeats=repeats)
    moved = fused_bytes(out_lazy)
    print(f"\n{title}: {len(schedule(out_lazy))} lazy kernel(s), {moved / 1e6:.1f} MB moved fused")
    print(comp.table())
    gbs = moved / comp.median("lazy") / 1e9
    print(f"lazy: {gbs:.1f} GB/s = {gbs / bandwidth:.0%} of the measured bandwidth")
    return comp


def main(argv=None) -> int:
    """Run the suite with every thread pool (BLAS, Numba, torch) held to one thread, as the
    generated kernels run: the ratios compare code, not thread pools."""
    with one_thread():
        return _main(argv)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench lazy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 7)
    rows, cols = (64, 128) if quick else (4096, 1024)
    chain_sizes = (10_000, 100_000) if quick else (1_000_000, 10_000_000)
    rng = np.random.default_rng(0)
    f32 = np.float32

    comp = compile_figures()
    further = ", ".join(format_seconds(s) for s in comp["further"])
    print(f"fastgrad lazy benchmark{' (--quick: tiny sizes, figures not meaningful)' if quick else ''}")
    print(f"compile: first kernel in this process {format_seconds(comp['first'])}; "
          f"further new structures {further}; in-memory cache hit {format_seconds(comp['hit'])}; "
          f"generating the source, {format_seconds(comp['generate'])}, which a graph of a known structure skips (schedule cache)")
    cold, warm = disk_cache_figures()
    if len(cold["compile_seconds"]) == 5 and len(warm["load_seconds"]) == 5:
        gain = np.median(cold["compile_seconds"][1:]) / np.median(warm["load_seconds"][1:])
        print(f"disk cache: a new process compiles 5 structures in "
              f"{format_seconds(sum(cold['compile_seconds']))} (first {format_seconds(cold['compile_seconds'][0])}, "
              f"then median {format_seconds(np.median(cold['compile_seconds'][1:]))}); the next process loads them in "
              f"{format_seconds(sum(warm['load_seconds']))} (first {format_seconds(warm['load_seconds'][0])}, "
              f"then median {format_seconds(np.median(warm['load_seconds'][1:]))}: {gain:.0f}x faster per structure)")
    else:
        print(f"disk cache: not used (compiled {len(cold['compile_seconds'])}, then "
              f"{len(warm['compile_seconds'])} compiled and {len(warm['load_seconds'])} loaded)")
    triad_n = 1_000_000 if quick else 10_000_000
    bandwidth = triad_bandwidth(triad_n, repeats=repeats)
    print(f"measured bandwidth: {bandwidth:.1f} GB/s (float64 triad, one thread, {triad_n:,} "
          "elements; measured again at the end: on a loaded machine the two differ)")

    ratios = {}
    x = rng.standard_normal((rows, cols)).astype(f32)
    w = (1 + 0.1 * rng.standard_normal(cols)).astype(f32)
    want = Tensor(x).softmax(-1).data
    c = bench(f"softmax ({rows}, {cols}) float32", {
        "lazy": lambda: softmax(lazy(x)).numpy(),
        "eager fastgrad": lambda: softmax(Tensor(x)).data,
        "eager softmax op": lambda: Tensor(x).softmax(-1).data,
        "numpy": lambda: np_softmax(x),
    }, want, softmax(lazy(x)), bandwidth, repeats)
    ratios["softmax"] = c.speedup("lazy")

    want = rms_norm(Tensor(x), Tensor(w)).data
    c = bench(f"RMSNorm ({rows}, {cols}) float32", {
        "lazy": lambda: rms_norm(lazy(x), lazy(w)).numpy(),
        "eager fastgrad": lambda: rms_norm(Tensor(x), Tensor(w)).data,
        "eager rms_norm op": lambda: Tensor(x).rms_norm(Tensor(w), eps=1e-6).data,
        "numpy": lambda: np_rms_norm(x, w),
    }, want, rms_norm(lazy(x), lazy(w)), bandwidth, repeats)
    ratios["rmsnorm"] = c.speedup("lazy")

    for n in chain_sizes:
        a, b, cc = (rng.standard_normal(n).astype(f32) for _ in range(3))
        c = bench(f"8-op chain, {n:,} float32", {
            "lazy": lambda: chain(lazy(a), lazy(b), lazy(cc)).numpy(),
            "eager fastgrad": lambda: chain(Tensor(a), Tensor(b), Tensor(cc)).data,
            "numpy": lambda: chain(a, b, cc),
        }, chain(Tensor(a), Tensor(b), Tensor(cc)).data, chain(lazy(a), lazy(b), lazy(cc)),
            bandwidth, repeats)
        ratios[f"chain {n:,}"] = c.speedup("lazy")

    xs = rng.standard_normal((32, 256)).astype(f32)
    W, A, B = (rng.standard_normal(s).astype(f32) * 0.1 for s in ((256, 256), (256, 8), (8, 256)))
    c = bench("LoRA x 32x256, W 256x256, rank 8", {
        "lazy": lambda: lora(lazy(xs), lazy(W), lazy(A), lazy(B)).numpy(),
        "eager fastgrad": lambda: lora(Tensor(xs), Tensor(W), Tensor(A), Tensor(B)).data,
        "numpy": lambda: lora(xs, W, A, B),
    }, lora(Tensor(xs), Tensor(W), Tensor(A), Tensor(B)).data,
        lora(lazy(xs), lazy(W), lazy(A), lazy(B)), bandwidth, repeats)
    overhead = c.median("lazy") / c.median("eager fastgrad") - 1
    print(f"\nlazy overhead on LoRA: {overhead:+.1%} of eager ({format_seconds(c.median('eager fastgrad'))})")

    again = triad_bandwidth(triad_n, repeats=repeats)
    print(f"measured bandwidth again: {again:.1f} GB/s (the fractions above used {bandwidth:.1f})")

    print("\ntargets:")
    big = f"chain {chain_sizes[-1]:,}"
    print(f"  lazy >= 2x eager on the 8-op chain at {chain_sizes[-1]:,}: {ratios[big]:.2f}x "
          f"{_verdict(ratios[big] >= 2)}")
    print(f"  lazy >= 2x eager on softmax: {ratios['softmax']:.2f}x {_verdict(ratios['softmax'] >= 2)}")
    print(f"  lazy overhead < 10% of eager on LoRA: {overhead:+.1%} {_verdict(overhead < 0.10)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
