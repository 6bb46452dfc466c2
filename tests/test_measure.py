"""fastgrad.measure: structure, calibration and ratio arithmetic. No test asserts a speed."""
import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastgrad import measure  # noqa: E402
from fastgrad.measure import (Comparison, Timing, calibrate, compare, format_seconds,  # noqa: E402
                            machine_limits, plot_roofline, plot_speedups, plot_sweep, sweep, time_fn)


def test_timing_statistics():
    t = Timing([3.0, 1.0, 2.0, 100.0, 2.5], number=4)
    assert t.median == 2.5 and t.min == 1.0 and t.max == 100.0 and t.repeats == 5
    assert t.mean == pytest.approx(21.7)
    assert "median=2.5 s" in repr(t) and "repeats=5" in repr(t) and "number=4" in repr(t)


@pytest.mark.parametrize("seconds, text", [
    (1.234, "1.23 s"), (0.00789, "7.89 ms"), (4.56e-6, "4.56 µs"), (1.23e-8, "12.3 ns"),
    (0.0, "0 ns"), (12.0, "12 s"), (1e-3, "1 ms"), (-2e-3, "-2 ms"), (math.inf, "inf s"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_time_fn_warms_up_then_repeats():
    calls = []
    t = time_fn(lambda: calls.append(1), repeats=4, number=3, warmup=2)
    assert isinstance(t, Timing) and len(t.times) == 4 and t.number == 3
    assert len(calls) == 2 + 4 * 3
    assert all(x >= 0 for x in t.times)


def test_time_fn_passes_arguments_and_rejects_bad_settings():
    seen = []
    time_fn(lambda a, b: seen.append((a, b)), 1, "x", repeats=1, number=1, warmup=0)
    assert seen == [(1, "x")]
    for bad in (dict(repeats=0), dict(warmup=-1), dict(number=0)):
        with pytest.raises(ValueError):
            time_fn(lambda: None, **bad)


def test_time_fn_warm_up_happens_before_any_timed_call(monkeypatch):
    # Record, for each call of fn, how many perf_counter() readings were taken before it:
    # the warm-up call (where Numba would compile) must come before the first reading.
    from fastgrad.measure import timing

    readings, calls = [], []
    real = timing.time.perf_counter
    monkeypatch.setattr(timing.time, "perf_counter", lambda: readings.append(1) or real())
    time_fn(lambda: calls.append(len(readings)), repeats=2, number=1, warmup=1)
    assert calls[0] == 0 and all(c > 0 for c in calls[1:])


def test_calibrate_loops_fast_calls_and_not_slow_ones():
    assert calibrate(lambda: None, target=0.002) > 10
    assert calibrate(lambda: None, target=1.0, max_number=50) == 50
    assert calibrate(lambda: sum(range(50_000)), target=1e-9) == 1


def _cmp():
    return Comparison({"python": Timing([4.0, 4.0, 5.0], 1), "numpy": Timing([1.0, 2.0, 1.0], 10),
                       "numba": Timing([0.5, 0.5, 0.6], 10)}, baseline="python", work=8e9, work_unit="GB/s")


def test_comparison_ratio_math():
    c = _cmp()
    assert c.speedup("python") == 1.0
    assert c.speedup("numpy") == 4.0 and c.speedup("numba") == 8.0
    assert c.speedup("numba", over="numpy") == 2.0
    assert c.speedups() == {"python": 1.0, "numpy": 4.0, "numba": 8.0}
    assert c.fastest() == "numba" and c.names == ["python", "numpy", "numba"]
    assert c.rate("numpy") == pytest.approx(8.0)
    table = c.table()
    assert table.splitlines()[0].startswith("implementation") and "GB/s" in table
    assert "4.00x" in table and "8.00x" in table and "16.0" in table  # numba: 8e9 B / 0.5 s
    assert repr(c) == table


def test_comparison_table_columns_fit_long_names():
    # A baseline name longer than any fixed column (notebook 03's allocation table) used to
    # run its "vs ..." header into the min..max column.
    c = Comparison({"kernel, reused buffers": Timing([1.01e-6, 1.04e-6], 1),
                    "+ checks (scratch=, out=)": Timing([4.88e-6, 4.93e-6], 1), "x": Timing([3.6e-6], 1)},
                   baseline="kernel, reused buffers", work=1e3, work_unit="GFLOP/s")
    lines = c.table().splitlines()
    header = lines[0]
    assert len({len(line) for line in lines}) == 1          # every row as wide as the header
    assert "  min..max  vs kernel, reused buffers  GFLOP/s" in header   # columns separated, none overlapping
    vs_end = header.index("vs kernel, reused buffers") + len("vs kernel, reused buffers")
    for line, ratio in zip(lines[1:], ("1.00x", "0.21x", "0.28x")):
        assert line[:vs_end].endswith(ratio)                 # each speed-up right-aligned under its header
    name_width = len("+ checks (scratch=, out=)")
    assert all(line[name_width:name_width + 2] == "  " for line in lines)   # the name column fits its longest name


def test_comparison_rejects_unknown_baseline():
    with pytest.raises(ValueError, match="'nope' is not one of"):
        Comparison({"a": Timing([1.0], 1)}, baseline="nope")


def test_compare_structure_and_interleaving():
    log = []
    impls = {"a": lambda x: log.append("a"), "b": lambda x: log.append("b"), "c": lambda x: log.append("c")}
    c = compare(impls, 0, repeats=3, target=1e-9, warmup=1)
    assert c.baseline == "a" and set(c.timings) == {"a", "b", "c"}
    assert all(len(t.times) == 3 and t.number == 1 for t in c.timings.values())
    # after warm-up (1 call each) and calibration (1 call each, target ~0), rounds rotate the order
    assert log[6:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert c.speedup("a") == 1.0


def test_compare_baseline_and_errors():
    impls = {"slow": lambda: None, "fast": lambda: None}
    assert compare(impls, baseline="fast", repeats=1, target=1e-6).baseline == "fast"
    with pytest.raises(ValueError, match="baseline 'missing' is not one of"):
        compare(impls, baseline="missing")
    with pytest.raises(ValueError, match="at least one"):
        compare({})
    with pytest.raises(TypeError, match="not callable"):
        compare({"a": 3})


def test_sweep_builds_args_per_size():
    seen = []
    results = sweep({"sum": np.sum, "py": lambda x: seen.append(len(x))}, lambda n: (np.ones(n),),
                    [1, 10, 100], repeats=2, target=1e-6)
    assert sorted(results) == [1, 10, 100]
    assert set(seen) == {1, 10, 100}
    assert all(isinstance(c, Comparison) and c.baseline == "sum" for c in results.values())


def test_plots_build_labelled_axes():
    results = {n: Comparison({"a": Timing([n * 1e-6], 1), "b": Timing([n * 5e-7], 1)}, "a") for n in (10, 100)}
    ax = plot_sweep(results, speedup=True, title="t")
    assert ax.get_xscale() == "log" and "speed-up over a" in ax.get_ylabel()
    assert [line.get_ydata()[0] for line in ax.get_lines()[:2]] == [1.0, 2.0]
    ax = plot_sweep(results)
    assert "time per call" in ax.get_ylabel()
    ax = plot_speedups(results[10])
    assert "speed-up" in ax.get_ylabel()
    ax = plot_roofline(40.0, 200.0, [("triad", 1 / 12, 3.0), ("matmul", 50.0, 150.0)],
                       extra_roofs=[("L2", 150.0)], extra_peaks=[("float32", 400.0)])
    assert "FLOP / byte" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
    roof = ax.get_lines()[0]
    x, y = roof.get_xdata(), roof.get_ydata()
    assert np.allclose(y, np.minimum(200.0, 40.0 * x))
    assert np.allclose(ax.get_lines()[2].get_ydata(), np.minimum(400.0, 40.0 * x))
    with pytest.raises(ValueError):
        plot_roofline(0.0, 100.0)
    with pytest.raises(ValueError):
        plot_sweep({})
    plt.close("all")


def _drawn(ax):
    ax.figure.canvas.draw()
    return ax.figure.canvas.get_renderer()


def _labels(axis):
    """The texts of the labelled ticks inside the view."""
    lo, hi = sorted(axis.get_view_interval())
    return [t.get_text() for tick, t in zip(axis.get_majorticklocs(), axis.get_majorticklabels())
            if lo <= tick <= hi and t.get_text()]


def _data_points_in_display(ax):
    points = []
    for line in ax.get_lines():
        xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        if len(xy) > 2 or line.get_marker() not in (None, "None", ""):   # data series, not axhline/axvline
            points.append(ax.transData.transform(xy))
    return np.concatenate(points)


def _sweep(speedups_by_name, sizes=(100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)):
    return {n: Comparison({name: Timing([1e-6 / s[i]], 1) for name, s in speedups_by_name.items()},
                          next(iter(speedups_by_name))) for i, n in enumerate(sizes)}


@pytest.mark.parametrize("speedup", [True, False])
def test_plot_sweep_ticks_are_plain_and_legend_covers_no_point(speedup):
    # Speed-ups within one decade gave a log axis with one labelled tick and `4×10⁰`-style minor labels.
    results = _sweep({"numpy, seed style": [1] * 6, "numpy out=": [1.3, 1.35, 1.4, 1.6, 1.4, 1.5],
                      "numba loop (fused)": [3.2, 2.8, 2.4, 2.6, 2.3, 3.4]})
    ax = plot_sweep(results, speedup=speedup)
    renderer = _drawn(ax)
    assert _labels(ax.xaxis) == ["100", "1000", "10k", "100k", "1M", "10M"]       # on the swept sizes
    ylabels = _labels(ax.yaxis)
    assert len(ylabels) >= 3
    every = ylabels + [t.get_text() for t in ax.yaxis.get_minorticklabels()]
    assert not any("×" in t or "$" in t or "^" in t for t in every), every
    if speedup:
        assert all(t.endswith("x") for t in ylabels) and "1x" in ylabels and "2x" in ylabels
    else:
        assert all(t.endswith(("s", "ms", "µs", "ns")) for t in ylabels)
    legend = ax.get_legend().get_window_extent(renderer)
    points = _data_points_in_display(ax)
    assert len(points) == 18
    inside = [(x, y) for x, y in points if legend.x0 <= x <= legend.x1 and legend.y0 <= y <= legend.y1]
    assert not inside, f"the legend covers {len(inside)} data points"
    axes_box = ax.get_window_extent(renderer)
    assert axes_box.y0 <= legend.y0 and legend.y1 <= axes_box.y1     # inside the axes, above the lines
    plt.close("all")


def test_plot_sweep_shared_axes_keep_every_point_visible_and_uncovered():
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    small = _sweep({"scalar": [1] * 4, "simd": [1.1, 3, 6, 7], "numpy": [0.5, 2, 5, 6]}, sizes=(10, 100, 1000, 10_000))
    large = _sweep({"scalar": [1] * 4, "simd": [1.2, 4, 9, 30], "numpy": [0.4, 2, 6, 20]},
                   sizes=(10, 100, 1000, 10_000))
    for ax, res in zip(axes, (small, large)):
        plot_sweep(res, ax=ax, speedup=True)
    fig.tight_layout()
    renderer = _drawn(axes[0])
    for ax in axes:
        legend = ax.get_legend().get_window_extent(renderer)
        box = ax.get_window_extent(renderer)
        for x, y in _data_points_in_display(ax):
            assert box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1            # nothing clipped by sharey
            assert not (legend.x0 <= x <= legend.x1 and legend.y0 <= y <= legend.y1)
    plt.close("all")


def test_plot_speedups_long_names_do_not_overlap_and_labels_stay_inside():
    c = Comparison({"numba scalar": Timing([1e-3], 1), "numba SIMD": Timing([2.5e-4], 1),
                    "threaded": Timing([1.4e-4], 1), "numpy": Timing([2.6e-4], 1),
                    "numpy out= (reused buffer)": Timing([2e-4], 1)}, "numba scalar")
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, log in zip(axes.flat, (None, True, False, None)):
        plot_speedups(c, ax=ax, title="a + b", log=log)
    fig.tight_layout()
    renderer = _drawn(axes[0, 0])
    for ax in axes.flat:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
        assert len(boxes) == 5
        for left, right in zip(boxes, boxes[1:]):
            assert left.x1 < right.x0, "x tick labels overlap"
        box = ax.get_window_extent(renderer)
        for text in ax.texts:                                             # the "4x" labels above the bars
            t = text.get_window_extent(renderer)
            assert box.y0 <= t.y0 and t.y1 <= box.y1
        assert all(t.endswith("x") for t in _labels(ax.yaxis))
    assert "10x" in _labels(axes[0, 1].yaxis) and len(_labels(axes[0, 1].yaxis)) >= 3  # log=True: 1x, 2x, 5x, 10x
    assert axes[0, 0].get_yscale() == "linear" and axes[0, 1].get_yscale() == "log"
    wide = Comparison({"python": Timing([1.0], 1), "numba": Timing([1e-3], 1)}, "python")
    assert plot_speedups(wide).get_yscale() == "log"                      # auto: log beyond 30x
    plt.close("all")


def test_plot_roofline_legend_outside_and_plain_ticks():
    ax = plot_roofline(20.0, 150.0, [("triad", 1 / 12, 1.5), ("a long name for a kernel (f32, 1e7)", 1 / 12, 1.6),
                                     ("matmul", 40.0, 90.0)], extra_roofs=[("in cache", 120.0)])
    renderer = _drawn(ax)
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1            # outside, right of the axes
    assert legend.x1 <= ax.figure.bbox.x1 + 1                        # and inside the figure
    for axis in (ax.xaxis, ax.yaxis):
        labels = _labels(axis)
        assert len(labels) >= 3 and not any("$" in t or "×" in t for t in labels), labels
    assert "0.1" in _labels(ax.xaxis) and "100" in _labels(ax.yaxis)
    assert any("ridge point" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close("all")


def test_nice_log_ticks():
    from fastgrad.measure.plots import _nice_log_ticks

    assert _nice_log_ticks(0.01, 300) == [0.01, 0.1, 1, 10, 100]
    assert _nice_log_ticks(0.3, 20) == [0.5, 1, 2, 5, 10, 20]
    assert _nice_log_ticks(0.8, 3.5) == [0.8, 1, 1.5, 2, 3]
    assert len(_nice_log_ticks(1.02, 1.08)) >= 3
    assert len(_nice_log_ticks(1e-12, 1e12)) <= 8


def test_bandwidth_and_gemm_on_tiny_sizes():
    for parallel in (False, True):
        gbs = measure.triad_bandwidth(1000, parallel=parallel, repeats=2)
        assert math.isfinite(gbs) and gbs > 0
    for dtype in (np.float32, np.float64):
        gflops = measure.gemm_flops(16, dtype, repeats=2)
        assert math.isfinite(gflops) and gflops > 0
    with pytest.raises(ValueError):
        measure.triad_bandwidth(0)


def test_machine_limits_tiny():
    m = machine_limits(in_cache=512, out_of_cache=4096, gemm_n=16, repeats=2)
    numbers = [m.bandwidth_in_cache_1t, m.bandwidth_in_cache_all, m.bandwidth_dram_1t, m.bandwidth_dram_all,
               m.gemm_float32, m.gemm_float64]
    assert all(math.isfinite(x) and x > 0 for x in numbers)
    assert m.bandwidth == max(m.bandwidth_dram_1t, m.bandwidth_dram_all)
    assert m.peak("float32") == m.gemm_float32 and m.peak(np.float64) == m.gemm_float64
    assert m.ridge_point("float64") == pytest.approx(m.gemm_float64 / m.bandwidth)
    assert m.attainable(1e-9) == pytest.approx(m.bandwidth * 1e-9)
    assert m.attainable(1e9, "float64") == m.gemm_float64
    assert m.cores >= 1 and m.threads >= 1 and "library" in m.blas
    assert m.as_dict()["gemm_n"] == 16
    text = m.report()
    assert "GB/s" in text and "float32" in text and "float64" in text and "n=16" in text
    assert repr(m) == text


def test_cli_machine_prints_bandwidth_and_peaks():
    out = subprocess.run([sys.executable, "-m", "fastgrad.bench", "machine", "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("GB/s") >= 4
    lines = out.stdout.splitlines()
    assert any("float32" in line and "GFLOP/s" in line for line in lines)
    assert any("float64" in line and "GFLOP/s" in line for line in lines)


def test_cli_unknown_suite():
    out = subprocess.run([sys.executable, "-m", "fastgrad.bench", "no_such_suite"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown benchmark suite" in out.stderr


def test_machine_limits_warns_about_a_busy_machine():
    m = machine_limits(in_cache=512, out_of_cache=4096, gemm_n=16, repeats=1)
    m.load_average, m.cores = 8.0, 2
    m.bandwidth_in_cache_1t, m.bandwidth_in_cache_all = 100.0, 1.0
    warnings = m.warnings()
    assert any("load average 8.0" in w for w in warnings) and any("all threads slower" in w for w in warnings)
    assert "Warning: load average" in m.report()
    m.load_average, m.bandwidth_in_cache_all, m.bandwidth_dram_all = 0.1, 150.0, max(m.bandwidth_dram_1t, 1.0)
    m.bandwidth_dram_1t = m.bandwidth_dram_all
    assert m.warnings() == []
