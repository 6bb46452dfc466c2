"""`python -m fastgrad.bench scratch [--quick]`: chapter 09's check of the report's claim
"allocator overhead dominated matmul time: scratch buffers gave 9.7-17.7x speedup on
matmul backward" (a Zig DQN library: MLP 144-128-64-6, batch 64, float32), and what
`fastgrad.buffers.BufferPool` gains at the course's sizes.

Every figure is one interleaved run (`fastgrad.measure.compare`) with every thread pool
at one thread (`threads.one_thread`); every variant is checked equal to the reference
(fresh NumPy arrays) before it is timed. "speed-up" = baseline median / reuse median.

1. The cost of a fresh buffer, written once: reuse vs `np.empty` vs `np.zeros` vs fresh
   pages from the OS (one anonymous mmap per array, unmapped when it dies: what a page
   allocator does for every allocation, and what glibc's malloc does above its mmap
   threshold), at the seed's 64 x 144 float32 (36 KB), 4 MB and 64 MB.
2. Matmul backward of the seed's three layers, batched as NumPy/BLAS does it (dx = g W^T,
   dW = x^T g, db = sum g): fresh arrays, fastgrad's `kernels.matmul`, `out=` into buffers
   allocated once, the pool, `np.zeros` + accumulate, fresh pages.
3. The same backward one sample at a time (the report's plan: "64 separate passes"),
   compiled (Numba, like the report's native loop): the per-sample outer product and
   dx row in a reused buffer, in `np.empty` (malloc) each sample, or in fresh pages each
   sample; per layer and for the three layers.
4. A large backward, dW = x^T g with a 36 MB result (above the 32 MB mmap threshold):
   fresh vs reuse.
5. The course's sizes: an MLP 144-128-64-6 batch-64 training step (NumPy forward, ReLU,
   MSE, backward, SGD) fresh vs `out=` buffers vs the pool; and fastgrad's own steps (the
   DQN MLP, LeNet on the 8x8 digits, a small GPT with d_model 128): step time and what
   allocating their arrays (every value and gradient in the graph, written once) costs
   fresh vs from the pool: the most a pool could remove from that step.

The verdict line says whether a baseline reproduces 9.7-17.7x (within 20%) and which.
`--quick` runs tiny sizes in a few seconds (for tests): the figures then mean nothing.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import mmap
import time

import numba
import numpy as np

from ..measure import compare, format_seconds
from ..buffers import BufferPool
from .kernels import _load
from .threads import one_thread

CLAIM = (9.7, 17.7)
SEED_SIZES = (144, 128, 64, 6)
SEED_BATCH = 64


# ------------------------------------------------------------------ allocators
def fresh_pages(shape, dtype=np.float32) -> np.ndarray:
    """An array on freshly mapped pages (anonymous mmap), unmapped when the array dies:
    every first write to each 4 KB page is a page fault, as with a page allocator."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    return np.frombuffer(mmap.mmap(-1, max(n, 1)), dtype, count=n // dtype.itemsize).reshape(shape)


def _libc_mmap():
    """(mmap, munmap) from libc as ctypes functions Numba can call, or None (Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        fmap, funmap = libc.mmap, libc.munmap
    except (OSError, AttributeError):
        return None
    f32p = ctypes.POINTER(ctypes.c_float)
    fmap.restype, fmap.argtypes = f32p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                         ctypes.c_int, ctypes.c_long]
    funmap.restype, funmap.argtypes = ctypes.c_int, [f32p, ctypes.c_size_t]
    return fmap, funmap


# ------------------------------------------------------------- the seed's layers
def seed_layers(batch=SEED_BATCH, sizes=SEED_SIZES, seed=0):
    """[(x, w, g)] per layer, float32, as the report writes a layer (y = x @ w): x (batch,
    in), w (in, out), g = dL/dy (batch, out)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, i), dtype=np.float32),
             rng.standard_normal((i, o), dtype=np.float32) / np.float32(np.sqrt(i)),
             rng.standard_normal((batch, o), dtype=np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]


def backward_fresh(layers):
    """[(dx, dw, db)] with fresh arrays (the reference)."""
    return [(g @ w.T, x.T @ g, g.sum(axis=0)) for x, w, g in layers]


def backward_fastgrad(layers):
    from ..kernels.matmul import matmul

    return [(matmul(g, w.T), matmul(x.T, g), g.sum(axis=0)) for x, w, g in layers]


def backward_into(layers, bufs):
    """The same into `bufs` [(dx, dw, db)] allocated once (`out=`)."""
    for (x, w, g), (dx, dw, db) in zip(layers, bufs):
        np.matmul(g, w.T, out=dx)
        np.matmul(x.T, g, out=dw)
        np.sum(g, axis=0, out=db)
    return bufs


def backward_pool(layers, pool):
    """The same into buffers from `pool` (its caller runs it inside `pool.step()`)."""
    bufs = [(pool.get(x.shape), pool.get(w.shape), pool.get(w.shape[1])) for x, w, _ in layers]
    return backward_into(layers, bufs)


def backward_zeros(layers):
    """Zero-filled gradients accumulated into (`np.zeros` then `+=`), as a grad buffer is."""
    out = []
    for x, w, g in layers:
        dx, dw, db = np.zeros(x.shape, np.float32), np.zeros(w.shape, np.float32), np.zeros(w.shape[1], np.float32)
        dx += g @ w.T
        dw += x.T @ g
        db += g.sum(axis=0)
        out.append((dx, dw, db))
    return out


def backward_pages(layers):
    """Into fresh pages for every result (a page allocator)."""
    bufs = [(fresh_pages(x.shape), fresh_pages(w.shape), fresh_pages(w.shape[1])) for x, w, _ in layers]
    return backward_into(layers, bufs)


def _check(name, got, want, rtol=1e-4, atol=1e-4):
    for i, (gs, ws) in enumerate(zip(got, want)):
        for which, a, b in zip(("dx", "dw", "db"), gs, ws):
            if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
                raise AssertionError(f"{name}: layer {i} {which} differs from the reference "
                                     f"(max |diff| {np.max(np.abs(a - b)) if a.shape == b.shape else a.shape})")


# ------------------------------------------------- per-sample, compiled (Numba)
@numba.njit(cache=True)
def _sample_into(x, w, g, i, t, row, dw, dx):
    """Sample i: t = outer(x[i], g[i]); dw += t; row = w @ g[i]; dx[i] = row."""
    n, m = w.shape
    for a in range(n):
        for b in range(m):
            t[a, b] = x[i, a] * g[i, b]
    for a in range(n):
        for b in range(m):
            dw[a, b] += t[a, b]
    for a in range(n):
        s = np.float32(0.0)
        for b in range(m):
            s += w[a, b] * g[i, b]
        row[a] = s
    for a in range(n):
        dx[i, a] = row[a]


@numba.njit(cache=True)
def per_sample_reuse(x, w, g, dw, dx, t, row):
    """Per-sample backward with the temporaries `t` (in, out) and `row` (in,) reused."""
    dw[:] = 0
    for i in range(x.shape[0]):
        _sample_into(x, w, g, i, t, row, dw, dx)


@numba.njit(cache=True)
def per_sample_malloc(x, w, g, dw, dx):
    """Per-sample backward allocating both temporaries every sample (`np.empty`: malloc)."""
    dw[:] = 0
    n, m = w.shape
    for i in range(x.shape[0]):
        _sample_into(x, w, g, i, np.empty((n, m), np.float32), np.empty(n, np.float32), dw, dx)


_PAGES = _libc_mmap()
per_sample_pages = None
if _PAGES is not None:
    _mmap, _munmap = _PAGES
    _PROT, _FLAGS = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS

    # cache=False: Numba cannot cache a function that calls ctypes (their addresses change)
    @numba.njit(cache=False)
    def per_sample_pages(x, w, g, dw, dx):
        """Per-sample backward with both temporaries on fresh pages every sample (mmap +
        munmap per allocation, as a page allocator does)."""
        dw[:] = 0
        n, m = w.shape
        for i in range(x.shape[0]):
            pt = _mmap(0, n * m * 4, _PROT, _FLAGS, -1, 0)
            pr = _mmap(0, n * 4, _PROT, _FLAGS, -1, 0)
            _sample_into(x, w, g, i, numba.carray(pt, (n, m)), numba.carray(pr, (n,)), dw, dx)
            _munmap(pt, n * m * 4)
            _munmap(pr, n * 4)


# ------------------------------------------------------------------ sections
def _ratios(c, base="reuse"):
    return {name: c.median(name) / c.median(base) for name in c.names}


def _print(title, c, ratios, base="reuse"):
    print(f"\n{title}")
    print(c.table())
    print("speed-up of " + base + " over: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items() if k != base))


def bench_alloc(sizes_bytes, repeats):
    """Write a float32 buffer once: reuse vs np.empty vs np.zeros vs fresh pages."""
    out = {}
    for nbytes in sizes_bytes:
        n = nbytes // 4
        buf = np.empty(n, np.float32)
        one = np.float32(1.0)

        def fill(a):
            a.fill(one)
            return a
        impls = {"reuse": lambda: fill(buf), "np.empty": lambda: fill(np.empty(n, np.float32)),
                 "np.zeros": lambda: fill(np.zeros(n, np.float32)), "fresh pages": lambda: fill(fresh_pages(n))}
        for name, f in impls.items():
            if not np.array_equal(f(), np.ones(n, np.float32)):
                raise AssertionError(f"alloc {name}: wrong contents")
        c = compare(impls, repeats=repeats, target=0.01)
        r = _ratios(c)
        _print(f"1. write a fresh {nbytes / 2**20:.3g} MB buffer once", c, r)
        out[nbytes] = r
    return out


def bench_matmul_backward(layers, repeats):
    """Section 2: batched backward of the seed's layers."""
    ref = backward_fresh(layers)
    bufs = [(np.empty(x.shape, np.float32), np.empty(w.shape, np.float32), np.empty(w.shape[1], np.float32))
            for x, w, _ in layers]
    pool = BufferPool()

    def pooled():
        with pool.step():
            backward_pool(layers, pool)
    impls = {"reuse": lambda: backward_into(layers, bufs), "fresh": lambda: backward_fresh(layers),
             "fastgrad matmul": lambda: backward_fastgrad(layers), "pool": pooled,
             "np.zeros + acc": lambda: backward_zeros(layers), "fresh pages": lambda: backward_pages(layers)}
    for name in ("reuse", "fastgrad matmul", "np.zeros + acc", "fresh pages"):
        _check(name, impls[name](), ref)
    with pool.step():
        _check("pool", backward_pool(layers, pool), ref)
    pooled()
    if pool.stats().escaped:
        raise AssertionError("pool: buffers escaped the step")
    c = compare(impls, repeats=repeats)
    r = _ratios(c)
    shapes = " ".join(f"{w.shape[0]}->{w.shape[1]}" for _, w, _ in layers)
    _print(f"2. matmul backward, batched (batch {layers[0][0].shape[0]}, layers {shapes}, float32)", c, r)
    return r


def bench_per_sample(layers, repeats):
    """Section 3: per-sample compiled backward, per layer and all layers."""
    out = {}
    bufs = [(np.empty(w.shape, np.float32), np.empty(x.shape, np.float32), np.empty(w.shape, np.float32),
             np.empty(w.shape[0], np.float32)) for x, w, _ in layers]
    outs = {k: [(np.empty(w.shape, np.float32), np.empty(x.shape, np.float32)) for x, w, _ in layers]
            for k in ("malloc", "pages")}
    ref = [(x.T @ g, g @ w.T) for x, w, g in layers]

    def run(kind, idx):
        for j in idx:
            x, w, g = layers[j]
            if kind == "reuse":
                dw, dx, t, row = bufs[j]
                per_sample_reuse(x, w, g, dw, dx, t, row)
            elif kind == "malloc":
                per_sample_malloc(x, w, g, *outs["malloc"][j])
            else:
                per_sample_pages(x, w, g, *outs["pages"][j])
    kinds = ["reuse", "malloc"] + (["pages"] if per_sample_pages is not None else [])
    all_idx = list(range(len(layers)))
    for kind in kinds:
        run(kind, all_idx)
        got = [bufs[j][:2] if kind == "reuse" else outs[kind][j] for j in all_idx]
        for j, ((dw, dx), (rw, rx)) in enumerate(zip(got, ref)):
            if not (np.allclose(dw, rw, rtol=1e-4, atol=1e-4) and np.allclose(dx, rx, rtol=1e-4, atol=1e-4)):
                raise AssertionError(f"per-sample {kind}: layer {j} differs from x.T @ g / g @ w.T")
    names = {"reuse": "reuse", "malloc": "np.empty each sample", "pages": "fresh pages each sample"}
    for idx, label in [([j], f"layer {layers[j][1].shape[0]}->{layers[j][1].shape[1]}") for j in all_idx] \
            + [(all_idx, "all layers")]:
        impls = {names[k]: (lambda k=k, idx=idx: run(k, idx)) for k in kinds}
        c = compare(impls, repeats=repeats)
        r = _ratios(c)
        _print(f"3. per-sample backward, compiled, {label} (batch {layers[0][0].shape[0]})", c, r)
        out[label] = r
    if per_sample_pages is None:
        print("   (fresh pages skipped: no libc mmap here)")
    return out


def bench_large(k, n, repeats):
    """Section 4: dw = x.T @ g with an (n, n) float32 result, fresh vs reuse vs pool."""
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((k, n), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    ref = x.T @ g
    buf = np.empty((n, n), np.float32)
    pool = BufferPool()

    def pooled():
        with pool.step():
            np.matmul(x.T, g, out=pool.get((n, n)))
    impls = {"reuse": lambda: np.matmul(x.T, g, out=buf), "fresh": lambda: x.T @ g, "pool": pooled}
    for name, got in (("reuse", impls["reuse"]()), ("fresh", impls["fresh"]())):
        if not np.allclose(got, ref, rtol=1e-4, atol=1e-4):
            raise AssertionError(f"large {name} differs")
    c = compare(impls, repeats=repeats, target=0.05)
    r = _ratios(c)
    _print(f"4. large backward dw = x.T @ g, x, g ({k}, {n}): a {n * n * 4 / 2**20:.0f} MB result", c, r)
    return r


# ---------------------------------------------------------- course's sizes
def numpy_mlp_step(params, x, y, lr, alloc):
    """One MLP training step (Linear-ReLU ... Linear, MSE, SGD) in NumPy; `alloc(shape,
    tag)` gives every activation and gradient buffer. Returns the loss."""
    acts, h = [x], x
    for j, (w, b) in enumerate(params):
        z = alloc((h.shape[0], w.shape[1]), ("z", j))
        np.matmul(h, w, out=z)
        z += b
        if j < len(params) - 1:
            np.maximum(z, 0, out=z)
        acts.append(z)
        h = z
    d = alloc(h.shape, "d")
    np.subtract(h, y, out=d)
    loss = float(np.vdot(d, d)) / d.size
    d *= np.float32(2.0 / d.size)
    for j in range(len(params) - 1, -1, -1):
        w, b = params[j]
        dw = alloc(w.shape, ("dw", j))
        np.matmul(acts[j].T, d, out=dw)
        db = alloc(b.shape, ("db", j))
        np.sum(d, axis=0, out=db)
        if j:
            dh = alloc(acts[j].shape, ("dh", j))
            np.matmul(d, w.T, out=dh)
            dh *= acts[j] > 0
            d = dh
        w -= lr * dw
        b -= lr * db
    return loss


def bench_mlp_numpy(sizes, batch, repeats):
    rng = np.random.default_rng(0)
    init = [(rng.standard_normal((i, o), dtype=np.float32) / np.float32(np.sqrt(i)), np.zeros(o, np.float32))
            for i, o in zip(sizes[:-1], sizes[1:])]
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.standard_normal((batch, sizes[-1]), dtype=np.float32)
    lr = np.float32(1e-3)
    fixed: dict = {}
    pool = BufferPool()

    def fresh(shape, tag):
        return np.empty(shape, np.float32)

    def static(shape, tag):
        a = fixed.get(tag)
        if a is None:
            a = fixed[tag] = np.empty(shape, np.float32)
        return a

    def pooled_step(p):
        with pool.step():
            return numpy_mlp_step(p, x, y, lr, lambda s, t: pool.get(s))
    variants = {"reuse": lambda p: numpy_mlp_step(p, x, y, lr, static),
                "fresh": lambda p: numpy_mlp_step(p, x, y, lr, fresh), "pool": pooled_step}
    want = None
    for name, f in variants.items():          # three steps from the same start must agree
        p = [(w.copy(), b.copy()) for w, b in init]
        losses = [f(p) for _ in range(3)]
        if want is None:
            want = losses, p
        elif not (np.allclose(losses, want[0], rtol=1e-5) and all(np.array_equal(a, b) for pa, pb in
                                                                  zip(p, want[1]) for a, b in zip(pa, pb))):
            raise AssertionError(f"MLP numpy step {name}: losses or parameters differ from reuse")
    if pool.stats().escaped:
        raise AssertionError("pool: buffers escaped the MLP step")
    params = {k: [(w.copy(), b.copy()) for w, b in init] for k in variants}
    c = compare({k: (lambda k=k: variants[k](params[k])) for k in variants}, repeats=repeats)
    r = _ratios(c)
    _print(f"5a. MLP {'-'.join(map(str, sizes))} batch {batch} training step in NumPy (float32)", c, r)
    return r


def graph_arrays(loss) -> list[tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of every value in `loss`'s graph, twice (its value and its gradient):
    the arrays one step allocates at least (kernels' own temporaries come on top)."""
    from ..autograd import topological_order

    nodes = [t for t in topological_order(loss) if t.op is not None]
    return [(t.data.shape, t.data.dtype) for t in nodes] * 2


def bench_fastgrad_step(label, step, arrays, repeats):
    """Time `step` (a whole fastgrad training step) and allocating `arrays` fresh vs from a
    pool (each written once)."""
    pool = BufferPool()
    one = 1

    def fresh():
        keep = []
        for shape, dtype in arrays:
            a = np.empty(shape, dtype)
            a.fill(one)
            keep.append(a)

    def pooled():
        with pool.step():
            _pool_fill(pool, arrays, one)
    pooled()
    if pool.stats().escaped:
        raise AssertionError("pool: buffers escaped the replay")
    c = compare({"fresh": fresh, "pool": pooled}, repeats=repeats)
    t_step = compare({"step": step}, repeats=max(3, repeats // 2), target=0.05).median("step")
    saved = c.median("fresh") - c.median("pool")
    nbytes = sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in arrays)
    print(f"\n5b. {label}: step {format_seconds(t_step)}; its {len(arrays)} graph arrays ({nbytes / 2**20:.2f} MB) "
          f"fresh {format_seconds(c.median('fresh'))} vs pool {format_seconds(c.median('pool'))}: "
          f"the pool could remove {format_seconds(saved)} = {100 * saved / t_step:.1f}% of the step"
          + (" (negative: the pool is slower)" if saved < 0 else ""))
    return dict(step=t_step, fresh=c.median("fresh"), pool=c.median("pool"), share=saved / t_step)


def _pool_fill(pool, arrays, one):
    for shape, dtype in arrays:
        pool.get(shape, dtype).fill(one)


def fastgrad_steps(quick):
    """[(label, step function, graph arrays)] for the DQN MLP, LeNet and a small GPT."""
    from .. import nn, optim
    from ..autograd import Tensor
    from ..functional import cross_entropy
    from ..models.gpt import GPT, GPTConfig
    from ..models.lenet import LeNet

    rng = np.random.default_rng(0)
    out = []
    sizes, batch = ((16, 8, 4), 4) if quick else (SEED_SIZES, SEED_BATCH)
    layers = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(i, o, seed=rng), nn.ReLU()]
    mlp = nn.Sequential(*layers[:-1])
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.standard_normal((batch, sizes[-1])).astype(np.float32)

    def mlp_loss():
        d = mlp(Tensor(x)) - Tensor(y)
        return (d * d).mean()
    out.append((f"fastgrad MLP {'-'.join(map(str, sizes))} batch {batch}, MSE, Adam", mlp_loss,
                optim.Adam(mlp.parameters(), lr=1e-3)))

    lenet = LeNet((4, 8), 16, seed=0) if quick else LeNet(seed=0)
    nb = 4 if quick else 32
    xd = rng.standard_normal((nb, 1, 8, 8)).astype(np.float32)
    yd = rng.integers(0, 10, nb)
    out.append((f"fastgrad LeNet{' (tiny)' if quick else ''} batch {nb} on 8x8 digits, cross-entropy, Adam",
                lambda: cross_entropy(lenet(Tensor(xd)), yd), optim.Adam(lenet.parameters(), lr=2e-3)))

    cfg = GPTConfig(block_size=16, n_layer=1, n_head=2, d_model=16) if quick else \
        GPTConfig(block_size=64, n_layer=4, n_head=4, d_model=128)
    gpt = GPT(cfg, seed=0)
    gb = 2 if quick else 8
    ids = rng.integers(0, cfg.vocab_size, (gb, cfg.block_size + 1))
    out.append((f"fastgrad GPT d_model {cfg.d_model}, {cfg.n_layer} layers, batch {gb} x {cfg.block_size} tokens, Adam",
                lambda: gpt.loss(ids[:, :-1], ids[:, 1:]), optim.Adam(gpt.parameters(), lr=1e-3)))

    steps = []
    for label, loss_fn, opt in out:
        def step(loss_fn=loss_fn, opt=opt):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
            return loss
        arrays = graph_arrays(step())
        steps.append((label, step, arrays))
    return steps


# ------------------------------------------------------------------ verdict
def verdict(results) -> str:
    """Which baselines give the claimed 9.7-17.7x (within 20%) over reused buffers."""
    lo, hi = CLAIM[0] / 1.2, CLAIM[1] * 1.2
    found, best = [], ("", 0.0)
    for section, ratios in results.items():
        for name, r in ratios.items():
            if name == "reuse":
                continue
            if r > best[1]:
                best = (f"{section}: {name}", r)
            if lo <= r <= hi:
                found.append(f"{section}: {name} {r:.1f}x")
    claim = f"the report's {CLAIM[0]}-{CLAIM[1]}x from scratch buffers on matmul backward"
    if found:
        return f"verdict: {claim} REPRODUCED only against " + "; ".join(found) + \
            " (against fresh np.empty arrays: not reproduced)"
    return f"verdict: {claim} NOT reproduced; the largest speed-up of reuse was {best[1]:.2f}x ({best[0]})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench scratch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, figures mean nothing")
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = 3 if quick else 7
    start = time.perf_counter()
    print(f"load (1-min average): {_load()}; one thread per pool")
    sizes, batch = ((16, 12, 8, 3), 4) if quick else (SEED_SIZES, SEED_BATCH)
    layers = seed_layers(batch, sizes)
    results = {}
    with one_thread():
        alloc = bench_alloc([36 << 10] if quick else [36 << 10, 4 << 20, 64 << 20], repeats)
        results.update({f"write {k / 2**20:.3g} MB": v for k, v in alloc.items()})
        results["batched backward"] = bench_matmul_backward(layers, repeats)
        for label, r in bench_per_sample(layers, repeats).items():
            results[f"per-sample compiled backward, {label}"] = r
        results["large backward"] = bench_large(*((8, 64) if quick else (64, 3072)), repeats)
        course = {"MLP step numpy": bench_mlp_numpy(sizes, batch, repeats)}
        for label, step, arrays in fastgrad_steps(quick):
            course[label] = bench_fastgrad_step(label, step, arrays, repeats)
    print()
    print(verdict({k: v for k, v in results.items() if not k.startswith("write")}))
    print(f"load (1-min average) at the end: {_load()}; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
