"""This machine's limits: memory bandwidth (a Numba STREAM-style triad) and peak
GEMM FLOP/s (BLAS through NumPy), the two roofs of the roofline model.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import numba
import numpy as np

from .timing import time_fn


@numba.njit(cache=True)
def triad(a, b, c, scalar):
    """a = b + scalar * c, one thread (STREAM's triad: 2 reads, 1 write per element)."""
    for i in range(a.shape[0]):
        a[i] = b[i] + scalar * c[i]


@numba.njit(cache=True, parallel=True)
def triad_parallel(a, b, c, scalar):
    """a = b + scalar * c, split across all threads with `prange`."""
    for i in numba.prange(a.shape[0]):
        a[i] = b[i] + scalar * c[i]


def triad_bandwidth(n: int, parallel: bool = False, repeats: int = 7) -> float:
    """Measured GB/s of the float64 triad on arrays of `n` elements.

    Counts 3 arrays x 8 bytes per element, as STREAM does (the write-allocate read of
    `a` is not counted, so the true traffic is up to 4/3 of this).
    """
    if n < 1:
        raise ValueError(f"triad_bandwidth needs n >= 1, got {n}")
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    fn = triad_parallel if parallel else triad
    seconds = time_fn(fn, a, b, c, 3.0, repeats=repeats).median
    return 3 * 8 * n / seconds / 1e9


def gemm_flops(n: int = 1024, dtype=np.float32, repeats: int = 5) -> float:
    """Measured GFLOP/s of NumPy's BLAS matmul on n x n matrices (2 n^3 FLOPs).

    The output array is reused, so allocation is not timed.
    """
    if n < 1:
        raise ValueError(f"gemm_flops needs n >= 1, got {n}")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    seconds = time_fn(np.matmul, a, b, out, repeats=repeats).median
    return 2 * n**3 / seconds / 1e9


#: Environment variables that hold OpenBLAS below what this CPU could do: CORETYPE picks
#: the kernels of an older CPU (Haswell = AVX2 on an AVX-512 machine), L2_SIZE the cache
#: size its blocking assumes.
BLAS_CAPS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_info() -> dict:
    """Which BLAS NumPy uses, the kernels it chose (as threadpoolctl reports them, e.g.
    "Haswell" or "SkylakeX" for OpenBLAS) and the environment variables that change its speed."""
    info = {"library": "unknown"}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["library"] = f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_info

        kernels = sorted({str(pool["architecture"]) for pool in threadpool_info()
                          if pool.get("user_api") == "blas" and pool.get("architecture")})
        if kernels:
            info["kernels"] = ", ".join(kernels)
    except Exception:  # threadpoolctl missing or unable to inspect this BLAS
        pass
    for var in (*BLAS_CAPS, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def simd_flags() -> list[str]:
    """The widest SIMD instruction sets the CPU reports (avx512f, avx2, fma, neon...)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except (OSError, StopIteration):
        flags = []
    return [f for f in ("avx512f", "avx2", "fma", "avx", "sse4_2", "neon", "asimd") if f in flags]


@dataclass
class MachineLimits:
    """Measured roofs: bandwidth in GB/s and GEMM peak in GFLOP/s."""

    cpu: str
    cores: int
    threads: int
    simd: list[str]
    bandwidth_in_cache_1t: float
    bandwidth_in_cache_all: float
    bandwidth_dram_1t: float
    bandwidth_dram_all: float
    gemm_float32: float
    gemm_float64: float
    blas: dict
    in_cache_n: int = 16_384
    out_of_cache_n: int = 10_000_000
    gemm_n: int = 1024
    load_average: float | None = None   # 1-minute load average when measured (Unix)

    @property
    def bandwidth(self) -> float:
        """Out-of-cache bandwidth (the better of 1 thread and all threads): the memory
        roof for arrays too big for the caches."""
        return max(self.bandwidth_dram_1t, self.bandwidth_dram_all)

    @property
    def bandwidth_in_cache(self) -> float:
        """In-cache bandwidth (the better of 1 thread and all threads)."""
        return max(self.bandwidth_in_cache_1t, self.bandwidth_in_cache_all)

    def peak(self, dtype="float32") -> float:
        """Measured BLAS GEMM GFLOP/s: the compute roof we can actually reach."""
        return self.gemm_float32 if np.dtype(dtype) == np.float32 else self.gemm_float64

    def ridge_point(self, dtype="float32") -> float:
        """Arithmetic intensity (FLOP/byte) where memory-bound turns compute-bound."""
        return self.peak(dtype) / self.bandwidth

    def attainable(self, intensity: float, dtype="float32") -> float:
        """Roofline: the GFLOP/s a kernel of `intensity` FLOP/byte can reach at most."""
        return min(self.peak(dtype), self.bandwidth * intensity)

    def as_dict(self) -> dict:
        """All figures as a plain dict (e.g. to save next to other results)."""
        from dataclasses import asdict

        return asdict(self)

    def warnings(self) -> list[str]:
        """Signs that the figures are unreliable, e.g. a machine busy with other work."""
        notes = []
        if self.load_average is not None and self.load_average > 1.5 * self.cores:
            notes.append(f"load average {self.load_average:.1f} on {self.cores} cores: other processes were "
                         "running, so these figures are low; measure again on a quiet machine.")
        if (self.bandwidth_in_cache_all < self.bandwidth_in_cache_1t
                or self.bandwidth_dram_all < 0.8 * self.bandwidth_dram_1t):
            notes.append("all threads slower than one thread: the cores are shared with other work "
                         "(threads waiting for a core), or the arrays are too small to split.")
        return notes

    def report(self) -> str:
        """A few lines of text: CPU, bandwidths (GB/s), GEMM peaks (GFLOP/s), BLAS."""
        blas = ", ".join(f"{k}={v}" for k, v in self.blas.items())
        mib = lambda n: 3 * 8 * n / 2**20
        return "\n".join([
            f"CPU: {self.cpu} ({self.cores} cores, {self.threads} Numba threads, SIMD: {' '.join(self.simd) or '?'})",
            "Memory bandwidth (float64 triad a = b + s*c, GB/s):",
            f"  in cache     ({mib(self.in_cache_n):7.2f} MiB): {self.bandwidth_in_cache_1t:7.1f} GB/s (1 thread) "
            f"{self.bandwidth_in_cache_all:7.1f} GB/s (all threads)",
            f"  out of cache ({mib(self.out_of_cache_n):7.1f} MiB): {self.bandwidth_dram_1t:7.1f} GB/s (1 thread) "
            f"{self.bandwidth_dram_all:7.1f} GB/s (all threads)",
            f"Peak GEMM (BLAS matmul via NumPy, n={self.gemm_n}, all threads):",
            f"  float32: {self.gemm_float32:7.1f} GFLOP/s   ridge point {self.ridge_point('float32'):5.1f} FLOP/byte",
            f"  float64: {self.gemm_float64:7.1f} GFLOP/s   ridge point {self.ridge_point('float64'):5.1f} FLOP/byte",
            f"BLAS: {blas}",
            *(f"Warning: {note}" for note in self.warnings()),
        ])

    def __repr__(self) -> str:
        return self.report()


def machine_limits(in_cache: int = 16_384, out_of_cache: int = 10_000_000, gemm_n: int = 1024,
                   repeats: int = 5) -> MachineLimits:
    """Measure this machine's roofs (a few seconds).

    `in_cache`: elements per triad array small enough to stay in L2 (3 x 128 KiB);
    `out_of_cache`: large enough to stream from DRAM (3 x 80 MB, beyond any L3);
    `gemm_n`: size of the square matrices for the BLAS peak.
    """
    return MachineLimits(
        cpu=cpu_name(), cores=os.cpu_count() or 1, threads=numba.get_num_threads(), simd=simd_flags(),
        bandwidth_in_cache_1t=triad_bandwidth(in_cache, repeats=repeats),
        bandwidth_in_cache_all=triad_bandwidth(in_cache, parallel=True, repeats=repeats),
        bandwidth_dram_1t=triad_bandwidth(out_of_cache, repeats=repeats),
        bandwidth_dram_all=triad_bandwidth(out_of_cache, parallel=True, repeats=repeats),
        gemm_float32=gemm_flops(gemm_n, np.float32, repeats=repeats),
        gemm_float64=gemm_flops(gemm_n, np.float64, repeats=repeats),
        blas=blas_info(), in_cache_n=in_cache, out_of_cache_n=out_of_cache, gemm_n=gemm_n,
        load_average=_load_average(),
    )


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on Windows
        return None
