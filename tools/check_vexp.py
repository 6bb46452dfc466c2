"""Full check of `fastgrad.kernels.vexp`: every float32, timings, vectorisation.

    .venv/bin/python tools/check_vexp.py > tools/check_vexp.log

1. Every one of the 2^32 float32 bit patterns goes through `exp_array` (the real,
   vectorised kernel) in chunks; a Numba loop compares each result with float64
   `math.exp` rounded to float32:
     LO32 <= x <= HI32   ulp distance (order-preserving integer views) -> histogram
     x > HI32, +inf      must be +inf
     x < LO32, -inf      must be 0.0, and the reference below FLT_MIN (absolute error)
     NaN                 must be NaN
2. float64 on a random sample against long-double exp rounded to float64.
3. `exp_array` vs `np.exp(x, out=out)` (and an njit loop calling np.exp) on 10^6 and
   10^7 float32, one thread, interleaved (`fastgrad.measure.compare`).
4. Whether the loops are vectorised (float vectors in their LLVM IR).
"""
from __future__ import annotations

import math
import os
import platform
import sys
import time

import numba
import numpy as np

from fastgrad.bench.threads import one_thread
from fastgrad.kernels.vexp import HI32, HI64, LO32, LO64, _bits_of_float, exp_array, vectorised
from fastgrad.measure import compare

CHUNK = 1 << 24
STRIDE = int(os.environ.get('VEXP_STRIDE', 1))  # >1: a quick partial sweep
TINY32 = np.float32(np.finfo(np.float32).tiny)


@numba.njit(error_model="numpy")
def _key32(bits):
    """Order-preserving integer of a float32's bits (sign-magnitude -> two's complement)."""
    b = np.int64(bits)
    return -(b & 0x7FFFFFFF) if b < 0 else b


@numba.njit(error_model="numpy")
def _score_chunk(x, y, hist, worst, bad, max_flush_err):
    """Accumulate into hist[0..3] (0, 1, 2, >2 ulps), worst = [max ulp, its input bits],
    bad = [wrong overflow, wrong flush, wrong NaN, reference not below FLT_MIN]."""
    xb, yb = x.view(np.int32), y.view(np.int32)
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        if xi != xi:
            if yi == yi:
                bad[2] += 1
            continue
        ref = np.float32(math.exp(np.float64(xi)))
        if xi > HI32:
            if yi != np.inf:
                bad[0] += 1
        elif xi < LO32:
            if yi != 0:
                bad[1] += 1
            if ref >= TINY32:
                bad[3] += 1
            max_flush_err[0] = max(max_flush_err[0], np.float64(ref))
        else:
            if yi != yi:
                u = np.int64(1) << 40
            else:
                u = abs(_key32(yb[i]) - _key32(_bits_of_float(ref)))
            hist[min(u, 3)] += 1
            if u > worst[0]:
                worst[0], worst[1] = u, xb[i]


def sweep_float32():
    hist = np.zeros(4, np.int64)
    worst = np.zeros(2, np.int64)
    bad = np.zeros(4, np.int64)
    flush = np.zeros(1, np.float64)
    out = np.empty(CHUNK, np.float32)
    start = time.perf_counter()
    for lo in range(0, 1 << 32, CHUNK * STRIDE):
        x = np.arange(lo, lo + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        exp_array(x, out)
        _score_chunk(x, out, hist, worst, bad, flush)
    seconds = time.perf_counter() - start
    worst_x = np.array([worst[1]], np.int64).astype(np.int32).view(np.float32)[0]
    print(f"float32: all 2^32 bit patterns in {seconds:.0f} s")
    print(f"  accepted range [{LO32!r}, {HI32!r}]: {hist.sum()} inputs")
    print(f"  max ulp error: {worst[0]}  (worst input x = {worst_x!r} = {float(worst_x).hex()})")
    print(f"  ulp histogram: 0: {hist[0]}  1: {hist[1]}  2: {hist[2]}  >2: {hist[3]}")
    share = hist / hist.sum()
    print(f"  shares:        0: {share[0]:.4%}  1: {share[1]:.4%}  2: {share[2]:.4%}  >2: {share[3]:.4%}")
    print(f"  x > HI32 not inf: {bad[0]}   x < LO32 not 0: {bad[1]}   NaN not NaN: {bad[2]}")
    print(f"  flushed range: reference >= FLT_MIN in {bad[3]} cases; max absolute error {flush[0]:.3e} "
          f"(FLT_MIN = {float(TINY32):.3e})")


def _key64(a):
    i = a.view(np.int64)
    return np.where(i < 0, -(i & np.int64(0x7FFFFFFFFFFFFFFF)), i)


def sample_float64(n=1 << 23):
    rng = np.random.default_rng(2026)
    x = np.concatenate([rng.uniform(LO64, HI64, n), rng.uniform(-1.0, 1.0, n // 4),
                        np.linspace(LO64, LO64 + 1.0, n // 8), np.linspace(HI64 - 1.0, HI64, n // 8)])
    y = np.empty_like(x)
    exp_array(x, y)
    ref = np.exp(x.astype(np.longdouble)).astype(np.float64)
    u = np.abs(_key64(y) - _key64(ref))
    hist = [int(np.sum(u == k)) for k in (0, 1, 2)] + [int(np.sum(u > 2))]
    print(f"float64: {x.size} random/edge samples in [{LO64!r}, {HI64!r}] vs long-double exp "
          f"({np.finfo(np.longdouble).nmant + 1}-bit mantissa) rounded to float64")
    print(f"  max ulp error: {u.max()}  (worst input x = {x[u.argmax()]!r})")
    print(f"  ulp histogram: 0: {hist[0]}  1: {hist[1]}  2: {hist[2]}  >2: {hist[3]}")


@numba.njit(error_model="numpy")
def _np_exp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = np.exp(x[i])


def timings():
    rng = np.random.default_rng(0)
    for n in (10**6, 10**7):
        x = rng.uniform(-10, 10, n).astype(np.float32)
        out = np.empty_like(x)
        with one_thread():
            result = compare({"np.exp(x, out=out)": lambda: np.exp(x, out=out),
                              "exp_array (fast_exp)": lambda: exp_array(x, out),
                              "njit loop of np.exp": lambda: _np_exp_loop(x, out)},
                             repeats=9, work=8 * n, work_unit="GB/s")
        print(f"\nfloat32, n = {n:.0e}, one thread:")
        print(result.table())
        print(f"exp_array vs np.exp: {result.speedup('exp_array (fast_exp)'):.2f}x")


def vectorisation():
    print(f"\nUSING_SVML: {numba.config.USING_SVML}")
    for dtype in (np.float32, np.float64):
        sig = (numba.types.Array(numba.from_dtype(dtype), 1, "C"),) * 2
        print(f"exp_array[{np.dtype(dtype).name}] vectorised: {vectorised(exp_array, sig)}   "
              f"njit loop of np.exp[{np.dtype(dtype).name}] vectorised: {vectorised(_np_exp_loop, sig)}")


def main():
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}  numba {numba.__version__}  "
          f"numpy {np.__version__}  {platform.machine()}  cpu {numba.config.CPU_NAME or ''}"
          f"{__import__('llvmlite.binding', fromlist=['x']).get_host_cpu_name()}")
    print(f"load before: {os.getloadavg()}")
    sweep_float32()
    sample_float64()
    vectorisation()
    timings()
    print(f"\nload after: {os.getloadavg()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
