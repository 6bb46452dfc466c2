"""`python -m fastgrad.bench kernels [--quick]`: chapter 02 and 03 kernels against NumPy
and BLAS, every ratio from one interleaved run (`fastgrad.measure.compare`).

1. Fused a*b+c, float32, 10^7 elements: `fastgrad.kernels.elementwise.fma(a, b, c, out=)`
   vs NumPy's `a*b+c` (and numexpr when installed), as ratios and as a fraction of this
   machine's measured bandwidth (all-thread triad, out of cache). Bytes counted: 4 arrays
   x 4 bytes per element (read a, b, c; write out), as STREAM counts.
2. Matmul, float32, n = 256, 512, 1024: the best Numba kernel (`matmul_packed` on one
   thread's worth of loops, `matmul_parallel` on all of Numba's threads) vs BLAS through
   NumPy, as a ratio and in GFLOP/s (2 n^3 FLOPs), with the BLAS library and its settings.
3. The same matmul comparison against BLAS *uncapped*: when OPENBLAS_CORETYPE or
   OPENBLAS_L2_SIZE is set (CORETYPE=Haswell holds OpenBLAS to AVX2 kernels on an AVX-512
   CPU), it runs again in a subprocess without them, and the summary prints both ratios,
   naming each BLAS configuration (its kernels, as threadpoolctl reports them).

Targets (printed as met / not met; never an error): fused >= 1.5x NumPy and >= 80% of
the measured bandwidth; best Numba matmul >= 50% of BLAS at n = 1024 on all cores
(against BLAS as configured and against uncapped BLAS).
`--quick` runs tiny sizes in a few seconds (for tests): the figures then mean nothing.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

import numba
import numpy as np

from ..measure import BLAS_CAPS, blas_info, compare, cpu_name, time_fn, triad_bandwidth

FUSED_SPEEDUP_TARGET = 1.5     # fastgrad fma vs NumPy a*b+c
FUSED_BANDWIDTH_TARGET = 0.80  # fraction of the measured triad bandwidth
MATMUL_TARGET = 0.50           # best Numba matmul / BLAS at the largest size


def _load() -> str:
    """The 1-minute load average, with a warning above the core count: figures from a busy
    machine are low, threaded ones most of all (Linux/macOS only)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return "unknown"
    cores = os.cpu_count() or 1
    busy = f" (more than the {cores} cores: other processes compete, threaded figures are unreliable)"
    return f"{load:.1f}" + (busy if load > cores else "")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench_fused(n: int, bandwidth: float, repeats: int) -> dict:
    """Time fused a*b+c three (or four) ways on float32 arrays of n elements; print and return ratios."""
    from ..kernels import elementwise

    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    out = np.empty_like(a)
    impls = {
        "numpy a*b+c": lambda: a * b + c,
        "fastgrad fma(out=)": lambda: elementwise.fma(a, b, c, out=out),
    }
    try:
        ne = importlib.import_module("numexpr")
        impls["numexpr"] = lambda: ne.evaluate("a * b + c", out=out)
    except ImportError:
        ne = None
    np.testing.assert_allclose(elementwise.fma(a, b, c, out=out), a * b + c, rtol=1e-5, atol=1e-5)
    nbytes = 4 * 4 * n
    result = compare(impls, baseline="numpy a*b+c", repeats=repeats, work=nbytes, work_unit="GB/s")
    print(f"\n== Fused a*b+c, float32, n = {n:,} ({nbytes / 1e6:.0f} MB moved per call: 4 arrays x 4 B) ==")
    print(result.table())
    if ne is None:
        print("(numexpr not installed: skipped)")
    speedup = result.speedup("fastgrad fma(out=)")
    rate = result.rate("fastgrad fma(out=)")
    fraction = rate / bandwidth
    print(f"fused: fastgrad vs NumPy {speedup:.2f}x (target >= {FUSED_SPEEDUP_TARGET}x: "
          f"{_verdict(speedup >= FUSED_SPEEDUP_TARGET)})")
    print(f"fused: fastgrad {rate:.1f} GB/s = {100 * fraction:.0f}% of measured {bandwidth:.1f} GB/s "
          f"(target >= {100 * FUSED_BANDWIDTH_TARGET:.0f}%: {_verdict(fraction >= FUSED_BANDWIDTH_TARGET)})")
    if ne is not None:
        print(f"fused: fastgrad vs numexpr {result.median('numexpr') / result.median('fastgrad fma(out=)'):.2f}x")
    return {"speedup": speedup, "rate": rate, "fraction": fraction}


def _matmul_comparison(n: int, repeats: int):
    """BLAS and the Numba matmuls on n x n float32, checked, then timed interleaved."""
    from ..kernels import matmul as mm

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    impls = {
        "BLAS": lambda: np.matmul(a, b, out=out),
        "matmul_packed": lambda: mm.matmul_packed(a, b, out=out),
        "matmul_parallel": lambda: mm.matmul_parallel(a, b, out=out),
    }
    ref = a.astype(np.float64) @ b.astype(np.float64)
    for name, fn in impls.items():  # checked before timed
        err = np.abs(fn() - ref).max() / max(1.0, np.abs(ref).max())
        if err > 1e-4:
            raise AssertionError(f"{name} disagrees with the float64 reference: relative error {err:.2e}")
    result = compare(impls, baseline="BLAS", repeats=repeats, work=2 * n**3, work_unit="GFLOP/s")
    best = max(("matmul_packed", "matmul_parallel"), key=result.rate)
    return impls, result, {"best": best, "ratio": result.rate(best) / result.rate("BLAS"),
                           "gflops": result.rate(best), "blas": result.rate("BLAS")}


def bench_matmul(n: int, repeats: int) -> dict:
    """Time BLAS (as configured here) and the Numba matmuls on n x n float32; print and return the best ratio."""
    impls, result, summary = _matmul_comparison(n, repeats)
    best, ratio = summary["best"], summary["ratio"]
    print(f"\n== Matmul float32, n = {n} ({2 * n**3 / 1e9:.2f} GFLOP per call) ==")
    print(result.table())
    print(f"matmul n={n}: best Numba {best} {result.rate(best):.1f} GFLOP/s vs BLAS "
          f"{result.rate('BLAS'):.1f} GFLOP/s = {100 * ratio:.0f}% of BLAS")
    # Two thread pools (OpenBLAS's and Numba's) alternating on the same cores can slow each
    # other down (threads still spinning from the last call); show the threaded kernels alone too.
    alone_numba = 2 * n**3 / time_fn(impls["matmul_parallel"], repeats=repeats).median / 1e9
    alone_blas = 2 * n**3 / time_fn(impls["BLAS"], repeats=repeats).median / 1e9
    print(f"matmul n={n}, each timed alone (not interleaved): matmul_parallel {alone_numba:.1f} GFLOP/s, "
          f"BLAS {alone_blas:.1f} GFLOP/s = {100 * alone_numba / alone_blas:.0f}%")
    return summary


def _describe(info: dict) -> str:
    """A BLAS configuration in a few words: its kernels and the capping variables."""
    caps = ", ".join(f"{var}={info[var]}" for var in BLAS_CAPS if var in info) or \
        f"{' and '.join(BLAS_CAPS)} unset"
    return f"{info.get('library', 'unknown')}, kernels {info.get('kernels', 'not reported')}, {caps}"


def uncapped_env(env: dict) -> dict:
    """`env` without the variables that hold OpenBLAS below this CPU (`BLAS_CAPS`)."""
    return {k: v for k, v in env.items() if k not in BLAS_CAPS}


def bench_matmul_uncapped(sizes, repeats: int) -> dict:
    """The matmul comparison again in a subprocess with `BLAS_CAPS` unset (OpenBLAS reads
    them once, when it loads, so only a new process can drop them). Prints its tables and
    returns {"blas": blas_info() there, n: summary}. Only this benchmark does this: tests
    and CI keep their environment."""
    command = [sys.executable, "-m", "fastgrad.bench", "kernels", "--matmul-json",
               "--sizes", ",".join(map(str, sizes)), "--repeats", str(repeats)]
    proc = subprocess.run(command, env=uncapped_env(dict(os.environ)), capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the uncapped-BLAS subprocess failed:\n{proc.stderr}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n== Matmul float32 against BLAS with {' and '.join(BLAS_CAPS)} unset (a subprocess) ==")
    print(f"BLAS there: {_describe(data['blas'])}")
    results = {"blas": data["blas"]}
    for n in sizes:
        r = data[str(n)]
        print(f"-- n = {n}\n{r.pop('table')}")
        print(f"matmul n={n}: best Numba {r['best']} {r['gflops']:.1f} GFLOP/s vs uncapped BLAS "
              f"{r['blas']:.1f} GFLOP/s = {100 * r['ratio']:.0f}% of uncapped BLAS")
        results[n] = r
    return results


def _matmul_json(sizes, repeats: int) -> int:
    """--matmul-json: the matmul comparisons only, as one JSON line (for `bench_matmul_uncapped`)."""
    data = {"blas": blas_info()}
    for n in sizes:
        _, result, summary = _matmul_comparison(n, repeats)
        data[str(n)] = {**summary, "table": result.table()}
    print(json.dumps(data))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench kernels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (for tests)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds per comparison")
    parser.add_argument("--sizes", default=None, help="matmul sizes, comma-separated (default 256,512,1024)")
    parser.add_argument("--matmul-json", action="store_true",
                        help="only the matmul comparisons, printed as JSON (used for the uncapped-BLAS run)")
    args = parser.parse_args(argv)
    quick = args.quick
    fused_n = 100_000 if quick else 10_000_000
    sizes = tuple(int(n) for n in args.sizes.split(",")) if args.sizes else (64, 96, 128) if quick else (256, 512, 1024)
    repeats = args.repeats or (3 if quick else 7)
    triad_n = 1_000_000 if quick else 20_000_000
    if args.matmul_json:
        return _matmul_json(sizes, repeats)

    info = blas_info()
    blas = ", ".join(f"{k}={v}" for k, v in info.items())
    print(f"fastgrad kernels benchmark{' (--quick: tiny sizes, figures not meaningful)' if quick else ''}")
    print(f"BLAS: {blas}")
    bandwidth = triad_bandwidth(triad_n, parallel=True, repeats=repeats)
    print(f"CPU: {cpu_name()}, Numba threads: {numba.get_num_threads()}, "
          f"threading layer: {numba.threading_layer()}, load average: {_load()}")
    print(f"measured bandwidth: {bandwidth:.1f} GB/s (float64 triad, all threads, {triad_n:,} elements per array)")

    fused = bench_fused(fused_n, bandwidth, repeats)
    print(f"\nBLAS for the GEMM figures below: {blas}")
    mats = {n: bench_matmul(n, repeats) for n in sizes}
    capped = any(var in info for var in BLAS_CAPS)
    if capped:
        free = bench_matmul_uncapped(sizes, repeats)
        free_info = free["blas"]
    else:  # nothing to drop: the BLAS above already chose its kernels for this CPU
        print(f"\n(neither {' nor '.join(BLAS_CAPS)} is set: the BLAS above is already uncapped)")
        free, free_info = mats, info

    top = sizes[-1]
    here = f"BLAS as configured here ({_describe(info)})"
    there = f"uncapped BLAS ({_describe(free_info)})" if capped else "uncapped BLAS (the same run)"
    print("\n== Summary ==")
    print(f"fused a*b+c float32 n={fused_n:,}: {fused['speedup']:.2f}x NumPy, "
          f"{100 * fused['fraction']:.0f}% of measured bandwidth")
    print(f"matmul: ratios are the best Numba kernel's GFLOP/s over BLAS's, from interleaved runs; "
          f"'capped' = {here}, 'uncapped' = {there}")
    for n, r in mats.items():
        u = free[n]
        print(f"matmul float32 n={n}: best Numba = {100 * r['ratio']:.0f}% of capped BLAS ({r['best']} "
              f"{r['gflops']:.1f} vs {r['blas']:.1f} GFLOP/s), {100 * u['ratio']:.0f}% of uncapped BLAS "
              f"({u['best']} {u['gflops']:.1f} vs {u['blas']:.1f} GFLOP/s)")
    print(f"target fused >= {FUSED_SPEEDUP_TARGET}x NumPy: {_verdict(fused['speedup'] >= FUSED_SPEEDUP_TARGET)}")
    print(f"target fused >= {100 * FUSED_BANDWIDTH_TARGET:.0f}% of bandwidth: "
          f"{_verdict(fused['fraction'] >= FUSED_BANDWIDTH_TARGET)}")
    print(f"target matmul >= {100 * MATMUL_TARGET:.0f}% of BLAS at n={top} with {numba.get_num_threads()} threads: "
          f"{_verdict(mats[top]['ratio'] >= MATMUL_TARGET)} (best: {mats[top]['best']})")
    print(f"target matmul >= {100 * MATMUL_TARGET:.0f}% of uncapped BLAS at n={top}: "
          f"{_verdict(free[top]['ratio'] >= MATMUL_TARGET)} (best: {free[top]['best']})")
    print(f"(BLAS: {blas}; load average at the end: {_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
