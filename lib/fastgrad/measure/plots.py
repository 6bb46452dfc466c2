"""Plots for measurements: speed-up versus size, and the roofline."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .timing import Comparison


def plot_sweep(results: dict[int, Comparison], *, ax=None, title: str = "", xlabel: str = "elements",
               speedup: bool = False):
    """Time per call (or speed-up over the baseline) against size, log-log, one line per implementation."""
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("plot_sweep needs at least one size in `results`")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    sizes = sorted(results)
    names = list(results[sizes[0]].timings)
    for name in names:
        if speedup:
            ys = [results[n].speedup(name) for n in sizes]
        else:
            ys = [results[n].median(name) for n in sizes]
        ax.plot(sizes, ys, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    baseline = results[sizes[0]].baseline
    ax.set_ylabel(f"speed-up over {baseline} (x)" if speedup else "seconds per call (median)")
    if speedup:
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def plot_speedups(comparison: Comparison, *, ax=None, title: str = ""):
    """Bar chart of speed-ups over the baseline, with min-max whiskers."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    names = list(comparison.timings)
    base = comparison.median(comparison.baseline)
    mid = [base / comparison.timings[n].median for n in names]
    low = [base / comparison.timings[n].max for n in names]
    high = [base / comparison.timings[n].min for n in names]
    err = np.array([np.subtract(mid, low), np.subtract(high, mid)])
    ax.bar(names, mid, yerr=err, capsize=4, color="tab:blue")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel(f"speed-up over {comparison.baseline} (x)")
    ax.set_title(title)
    for i, (v, top) in enumerate(zip(mid, high)):  # label above the whisker, 3 significant digits
        ax.annotate(f"{v:.3g}x", (i, top), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom")
    return ax


def plot_roofline(bandwidth_gbs: float, peak_gflops: float, points: Sequence[tuple[str, float, float]] = (),
                  *, ax=None, title: str = "Roofline", extra_roofs: Sequence[tuple[str, float]] = (),
                  extra_peaks: Sequence[tuple[str, float]] = ()):
    """The roofline: attainable GFLOP/s = min(peak, bandwidth x intensity).

    `points` are (label, arithmetic intensity in FLOP/byte, measured GFLOP/s);
    `extra_roofs` are (label, GB/s) for other bandwidths, e.g. in-cache;
    `extra_peaks` are (label, GFLOP/s) for other compute ceilings, e.g. float32.
    """
    import matplotlib.pyplot as plt

    if not (bandwidth_gbs > 0 and peak_gflops > 0):
        raise ValueError(f"roofline needs positive bandwidth and peak, got {bandwidth_gbs} GB/s, "
                         f"{peak_gflops} GFLOP/s")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    intensities = [p[1] for p in points] or [1.0]
    lo = min(min(intensities) / 4, 1 / 64)
    hi = max(max(intensities) * 4, 4 * max([peak_gflops, *(p for _, p in extra_peaks)]) / bandwidth_gbs)
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(x, np.minimum(peak_gflops, bandwidth_gbs * x), "k-", lw=2,
            label=f"roof: {bandwidth_gbs:.0f} GB/s, {peak_gflops:.0f} GFLOP/s")
    for label, bw in extra_roofs:
        ax.plot(x, np.minimum(peak_gflops, bw * x), "--", lw=1, label=f"{label}: {bw:.0f} GB/s")
    for label, peak in extra_peaks:
        ax.plot(x, np.minimum(peak, bandwidth_gbs * x), ":", lw=1.5, label=f"{label}: {peak:.0f} GFLOP/s")
    for label, intensity, gflops in points:
        ax.plot([intensity], [gflops], "o", ms=8, label=f"{label}: {gflops:.1f} GFLOP/s")
    ax.axvline(peak_gflops / bandwidth_gbs, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("performance (GFLOP/s)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return ax
