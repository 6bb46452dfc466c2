"""Measuring honestly: timing without JIT warm-up, interleaved comparisons that report
ratios from one run, this machine's limits (bandwidth, peak FLOP/s) and plots.

`python -m fastgrad.bench machine` prints this machine's limits.
"""
from .limits import BLAS_CAPS, MachineLimits, blas_info, cpu_name, gemm_flops, machine_limits, triad_bandwidth
from .plots import legend_above, plot_roofline, plot_speedups, plot_sweep
from .timing import Comparison, Timing, calibrate, compare, format_seconds, sweep, time_fn

__all__ = [
    "BLAS_CAPS", "Comparison", "MachineLimits", "Timing", "blas_info", "calibrate", "compare", "cpu_name",
    "format_seconds", "gemm_flops", "legend_above", "machine_limits", "plot_roofline", "plot_speedups", "plot_sweep",
    "sweep", "time_fn", "triad_bandwidth",
]
