"""Run every fastgrad CUDA kernel on a real GPU: correctness against NumPy, then median
times over repeats after a warm-up, GB/s and GFLOP/s, and PyTorch's CUDA equivalents
when torch with CUDA is installed. Writes a JSON report (device, driver, date, figures)
to reports/gpu_<device>_<date>.json, or to --out.

Without a GPU (or on the simulator) it says so and exits 0. One short run: a few minutes.

    python tools/gpu_check.py [--repeats 20] [--out reports/my_gpu.json]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


def _median_seconds(run, sync, repeats: int) -> float:
    run()
    sync()                                          # warm-up: compile and first transfer
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _cases(gk, rng):
    """name -> (device function on device arrays, NumPy reference, bytes moved, flops)."""
    from numba import cuda
    n = 1 << 24
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    m = 1024
    A, B = rng.standard_normal((m, m)).astype(np.float32), rng.standard_normal((m, m)).astype(np.float32)
    X = rng.standard_normal((4096, 1024)).astype(np.float32)
    heads, max_len, d = 16, 1024, 64
    q = rng.standard_normal((heads, d)).astype(np.float32)
    K, V = (rng.standard_normal((heads, max_len, d)).astype(np.float32) for _ in range(2))
    dev = {name: cuda.to_device(x) for name, x in dict(a=a, b=b, c=c, A=A, B=B, X=X, q=q, K=K, V=V).items()}
    out_v, out_m, out_x = cuda.device_array(n, np.float32), cuda.device_array((m, m), np.float32), \
        cuda.device_array(X.shape, np.float32)
    out_q = cuda.device_array(q.shape, np.float32)
    blocks = gk.blocks_for(n, 256, 65535)
    partial = cuda.device_array(1024, np.float32)
    tile = 16
    grid = (m // tile, m // tile)
    e = np.exp(X - X.max(axis=1, keepdims=True))
    s = np.einsum("hd,hpd->hp", q, K) / np.sqrt(d)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return {
        "add": (lambda: gk.add_kernel[blocks, 256](dev["a"], dev["b"], out_v), lambda: out_v.copy_to_host(),
                a + b, 12 * n, n),
        "fma": (lambda: gk.fma_kernel[blocks, 256](dev["a"], dev["b"], dev["c"], out_v),
                lambda: out_v.copy_to_host(), a * b + c, 16 * n, 2 * n),
        "block_sum": (lambda: gk.block_sum_kernel[1024, gk.REDUCE_THREADS](dev["a"], partial),
                      lambda: np.array(partial.copy_to_host().sum()), np.array(a.astype(np.float64).sum()), 4 * n, n),
        "matmul_naive": (lambda: gk.matmul_naive_kernel[grid, (tile, tile)](dev["A"], dev["B"], out_m),
                         lambda: out_m.copy_to_host(), A @ B, 12 * m * m, 2 * m ** 3),
        "matmul_tiled_16": (lambda: gk.matmul_tiled_kernel(tile)[grid, (tile, tile)](dev["A"], dev["B"], out_m),
                            lambda: out_m.copy_to_host(), A @ B, 12 * m * m, 2 * m ** 3),
        "softmax_rows": (lambda: gk.softmax_rows_kernel[X.shape[0], gk.REDUCE_THREADS](dev["X"], out_x),
                         lambda: out_x.copy_to_host(), e / e.sum(axis=1, keepdims=True), 8 * X.size, 5 * X.size),
        "attention_decode": (lambda: gk.attention_decode_kernel[heads, gk.REDUCE_THREADS](
            dev["q"], dev["K"], dev["V"], max_len, out_q), lambda: out_q.copy_to_host(),
            np.einsum("hp,hpd->hd", w, V), 8 * K.size, 4 * K.size),
    }, dict(a=a, b=b, c=c, A=A, B=B, X=X, q=q, K=K, V=V)


def _torch_times(host, repeats):
    try:
        import torch
    except ImportError:
        return {}, "torch not installed"
    if not torch.cuda.is_available():
        return {}, "torch has no CUDA"
    t = {k: torch.from_numpy(v).cuda() for k, v in host.items()}
    sync = torch.cuda.synchronize
    runs = {
        "add": lambda: t["a"] + t["b"],
        "fma": lambda: torch.addcmul(t["c"], t["a"], t["b"]),
        "block_sum": lambda: t["a"].sum(),
        "matmul_tiled_16": lambda: t["A"] @ t["B"],
        "softmax_rows": lambda: torch.softmax(t["X"], dim=1),
        "attention_decode": lambda: torch.softmax((t["K"] @ t["q"][:, :, None])[..., 0] / 8.0, 1)[:, None, :] @ t["V"],
    }
    return {name: _median_seconds(run, sync, repeats) for name, run in runs.items()}, torch.__version__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None, help="where to write the JSON report")
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        print("no CUDA GPU: NUMBA_ENABLE_CUDASIM=1 runs the simulator, which times nothing real; nothing to do")
        return 0
    from numba import cuda
    if not cuda.is_available():
        print("no CUDA GPU found (numba.cuda.is_available() is False): nothing to measure; exiting")
        return 0
    from fastgrad.kernels import cuda as gk
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    rng = np.random.default_rng(0)
    cases, host = _cases(gk, rng)
    report = {"device": name, "compute_capability": list(device.compute_capability),
              "driver": str(cuda.cudadrv.driver.driver.get_version()),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "repeats": args.repeats, "kernels": {}}
    print(f"{name} (compute capability {device.compute_capability})")
    print(f"{'kernel':18s} {'correct':>7s} {'median':>10s} {'GB/s':>8s} {'GFLOP/s':>8s}")
    for kernel, (run, fetch, want, moved, flops) in cases.items():
        run()
        cuda.synchronize()
        got = fetch()
        ok = bool(np.allclose(got, want, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(want).max()))))
        seconds = _median_seconds(run, cuda.synchronize, args.repeats)
        report["kernels"][kernel] = {"correct": ok, "median_seconds": seconds, "GB_per_s": moved / seconds / 1e9,
                                     "GFLOP_per_s": flops / seconds / 1e9}
        print(f"{kernel:18s} {str(ok):>7s} {seconds * 1e3:8.3f} ms {moved / seconds / 1e9:8.1f} "
              f"{flops / seconds / 1e9:8.1f}")
    torch_times, torch_version = _torch_times(host, args.repeats)
    report["torch"] = {"version": torch_version, "median_seconds": torch_times}
    for kernel, seconds in torch_times.items():
        print(f"torch {kernel:12s} {seconds * 1e3:8.3f} ms  (fastgrad / torch: "
              f"{report['kernels'][kernel]['median_seconds'] / seconds:.2f}x the time)")
    out = Path(args.out) if args.out else \
        ROOT / "reports" / f"gpu_{re.sub(r'[^A-Za-z0-9]+', '_', name)}_{report['date'][:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(k["correct"] for k in report["kernels"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
