"""Plots for measurements: speed-up versus size, speed-up bars, and the roofline.

Every figure has labelled axes with units, plain tick labels (`1k`, `0.5x`, `10 µs`,
never `4×10⁰`), at least three labelled ticks on a log axis, and a legend that covers
no data: above the data in a band kept free for it (`legend_above`), or outside the axes.
"""
from __future__ import annotations

import math
import textwrap
from typing import Sequence

import numpy as np

from .timing import Comparison, format_seconds

_LEGEND_FONTSIZE = 8


# --------------------------------------------------------------------------- ticks
def _nice_log_ticks(vmin: float, vmax: float) -> list[float]:
    """3 to 8 ticks for a log axis from vmin to vmax: powers of ten over many decades,
    1-2-5 steps over a few, finer steps within one decade."""
    if not (vmin > 0 and vmax > 0):
        return []
    lo, hi = sorted((vmin, vmax))
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    steps = ((1,), (1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8), (1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))
    for mantissas in steps:
        ticks = [float(f"{m * 10.0**d:.6g}") for d in decades for m in mantissas]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:                       # a range far narrower than a decade: evenly spaced ticks
        from matplotlib import ticker

        ticks = [float(f"{t:.6g}") for t in ticker.MaxNLocator(4).tick_values(lo, hi) if lo <= t <= hi and t > 0]
    if len(ticks) > 8:                       # many decades: every 2nd (3rd, ...) power of ten
        step = math.ceil(len(ticks) / 8)
        ticks = ticks[::step]
    return ticks


def _number(v: float) -> str:
    """0.01, 0.5, 2, 150, 2000, 3e+05: plain for everyday magnitudes."""
    return f"{v:g}" if 1e-3 <= abs(v) < 1e5 or v == 0 else f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")


def _count(n: float) -> str:
    """A size as a short label: 100, 4096, 16.4k, 1M, 10M."""
    if abs(n) < 10_000:
        return f"{n:g}"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:g}"  # pragma: no cover


def _log_axis(axis, label, fixed: Sequence[float] | None = None):
    """Readable labels on a log axis: the `fixed` ticks (e.g. the swept sizes) or 3-8 nice
    ones picked at draw time (so shared axes and later limits stay covered), no minor labels."""
    from matplotlib import ticker

    class NiceLogLocator(ticker.Locator):
        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            return _nice_log_ticks(vmin, vmax)

    axis.set_major_locator(ticker.FixedLocator(list(fixed)) if fixed is not None else NiceLogLocator())
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: label(v)))
    axis.set_minor_formatter(ticker.NullFormatter())
    if fixed is not None:
        axis.set_minor_locator(ticker.NullLocator())


def _speedup_label(v: float) -> str:
    """A ratio as a learner reads it: 0.5x, 4.1x, 230x, 1,200x (never 1.2e+03x)."""
    if v >= 100:
        return f"{v:,.0f}x"
    return f"{v:.3g}x"


# --------------------------------------------------------------------------- legend
def legend_above(ax, *others, fontsize: int = _LEGEND_FONTSIZE):
    """Draw the legend of `ax` (and of twin axes `others`) in a band above the data, and
    raise the top of each y axis just enough to keep that band empty: the legend covers
    no data point, whatever the data. Call it again after adding labelled artists."""
    handles, labels = [], []
    for a in (ax, *others):
        h, l = a.get_legend_handles_labels()
        handles += h
        labels += l
    if not handles:
        return None
    fig = ax.figure
    box = ax.get_position()
    width_pt = box.width * fig.get_figwidth() * 72
    height_pt = box.height * fig.get_figheight() * 72
    # Estimated sizes (points) of the entries: handle 2 em + gap 0.8 em + text + column gap 2 em.
    entry = sorted((fontsize * (4.8 + 0.6 * len(str(text))) for text in labels), reverse=True)
    ncols = max(1, max(k for k in range(1, len(entry) + 1) if sum(entry[:k]) <= 0.95 * width_pt or k == 1))
    rows = math.ceil(len(entry) / ncols)
    band = (fontsize * (1.7 * rows + 1.6)) / height_pt + 0.02   # legend height + paddings, in axes fraction
    band = min(band, 0.6)
    for a in (ax, *others):
        _reserve_top(a, band)
    return ax.legend(handles, labels, loc="upper center", ncols=ncols, fontsize=fontsize, framealpha=0.9)


def _reserve_top(ax, band: float):
    """Extend ax's data limits upwards so that, after autoscaling with the usual margins,
    the top `band` fraction of the axes holds no data."""
    lim = ax.dataLim
    if not (np.isfinite(lim.y0) and np.isfinite(lim.y1)):
        return
    margin = ax.margins()[1]
    log = ax.get_yscale() == "log"
    bottom = lim.y0
    if log and bottom <= 0:              # bars from 0 on a log axis: matplotlib clips them at the view's bottom
        bottom = ax.get_ylim()[0]
    if log and not (0 < bottom < lim.y1):
        return
    f = (lambda y: math.log10(y)) if log else (lambda y: y)
    lo, hi = f(bottom), f(lim.y1)
    spread = hi - lo or (math.log10(1.5) if log else max(abs(hi), 1.0) * 0.2)
    # data top at fraction (spread + m E) / ((1 + 2m) E) of the axes must be <= 1 - band
    extent = spread / ((1 - band) * (1 + 2 * margin) - margin)
    top = lo + extent
    x = lim.x0 if np.isfinite(lim.x0) else 0.0
    ax.update_datalim([(x, 10.0**top if log else top)], updatex=False)
    ax.autoscale_view(scalex=False)


# --------------------------------------------------------------------------- plots
def plot_sweep(results: dict[int, Comparison], *, ax=None, title: str = "", xlabel: str = "array size (elements)",
               speedup: bool = False):
    """Time per call (or speed-up over the baseline) against size, log-log, one line per
    implementation. x ticks sit on the swept sizes (1k, 1M, ...), y ticks read as times
    (10 µs) or speed-ups (0.5x, 1x, 2x); the legend sits in a band above the lines."""
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
    _log_axis(ax.xaxis, _count, fixed=sizes if len(sizes) <= 8 else None)
    _log_axis(ax.yaxis, _speedup_label if speedup else format_seconds)
    ax.set_xlabel(xlabel)
    baseline = results[sizes[0]].baseline
    ax.set_ylabel(f"speed-up over {baseline} (x, log scale)" if speedup else "time per call (median, log scale)")
    if speedup:
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="y", alpha=0.1)
    legend_above(ax)
    return ax


def _wrapped_names(names: Sequence[str], ax) -> tuple[list[str], bool]:
    """Bar labels wrapped to the width a bar has; True if a word is still too long (rotate)."""
    fig = ax.figure
    width_pt = ax.get_position().width * fig.get_figwidth() * 72
    fontsize = 10
    chars = max(6, int(width_pt / max(1, len(names)) / (0.6 * fontsize)) - 1)
    wrapped = [textwrap.fill(n, chars, break_long_words=False) for n in names]
    too_long = any(len(line) > chars for w in wrapped for line in w.splitlines())
    return wrapped, too_long


def plot_speedups(comparison: Comparison, *, ax=None, title: str = "", log: bool | None = None):
    """Bar chart of speed-ups over the baseline, with min-max whiskers and each median
    written above its bar.

    `log`: a log y axis (ticks 1x, 2x, 5x, ...); by default only when the speed-ups span
    more than 30x. Pass it instead of calling `ax.set_yscale` afterwards, which resets
    matplotlib's tick labels to `10⁰`-style ones. Long names are wrapped (or rotated)
    so the x labels never overlap.
    """
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    names = list(comparison.timings)
    base = comparison.median(comparison.baseline)
    mid = [base / comparison.timings[n].median for n in names]
    low = [base / comparison.timings[n].max for n in names]
    high = [base / comparison.timings[n].min for n in names]
    err = np.array([np.subtract(mid, low), np.subtract(high, mid)])
    positions = np.arange(len(names))
    ax.bar(positions, mid, yerr=err, capsize=4, color="tab:blue")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel(f"speed-up over {comparison.baseline} (x)")
    ax.set_title(title)
    if log is None:
        log = max(high) / min(low) > 30
    if log:
        ax.set_yscale("log")
        _log_axis(ax.yaxis, _speedup_label)
    else:
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: _speedup_label(v)))
    labels, rotate = _wrapped_names(names, ax)
    ax.set_xticks(positions, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    for i, (v, top) in enumerate(zip(mid, high)):  # label above the whisker, 3 significant digits
        ax.annotate(_speedup_label(v), (i, top), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom")
    _reserve_top(ax, 0.15)                        # room for those labels inside the axes
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def plot_roofline(bandwidth_gbs: float, peak_gflops: float, points: Sequence[tuple[str, float, float]] = (),
                  *, ax=None, title: str = "Roofline", extra_roofs: Sequence[tuple[str, float]] = (),
                  extra_peaks: Sequence[tuple[str, float]] = ()):
    """The roofline: attainable GFLOP/s = min(peak, bandwidth x intensity).

    `points` are (label, arithmetic intensity in FLOP/byte, measured GFLOP/s);
    `extra_roofs` are (label, GB/s) for other bandwidths, e.g. in-cache;
    `extra_peaks` are (label, GFLOP/s) for other compute ceilings, e.g. float32.
    The legend sits outside the axes, on the right, so it covers no point or roof.
    """
    import matplotlib.pyplot as plt

    if not (bandwidth_gbs > 0 and peak_gflops > 0):
        raise ValueError(f"roofline needs positive bandwidth and peak, got {bandwidth_gbs} GB/s, "
                         f"{peak_gflops} GFLOP/s")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
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
    ridge = peak_gflops / bandwidth_gbs
    ax.axvline(ridge, color="grey", lw=0.8, ls=":", label=f"ridge point: {ridge:.2g} FLOP/byte")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis, _number)
    _log_axis(ax.yaxis, _number)
    ax.set_xlabel("arithmetic intensity (FLOP / byte, log scale)")
    ax.set_ylabel("performance (GFLOP/s, log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(fontsize=_LEGEND_FONTSIZE, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return ax
