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
    assert "seconds" in ax.get_ylabel()
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
