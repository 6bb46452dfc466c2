"""fastgrad.kernels.vexp: fast_exp's accuracy in ulps, its edge cases, its dtypes, and
that loops calling it vectorise (tools/check_vexp.py sweeps every float32)."""
import warnings

import numba
import numpy as np
import pytest

from fastgrad.kernels.vexp import HI32, HI64, LO32, LO64, MAX_ULP32, MAX_ULP64, exp_array, fast_exp, vectorised

F32_MIN = np.finfo(np.float32).tiny
F64_MIN = np.finfo(np.float64).tiny
LONG_DOUBLE_IS_WIDER = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def order_key(a):
    """The order-preserving integer of each float's bits: ulp distance = key difference."""
    it = np.int32 if a.dtype == np.float32 else np.int64
    i = a.view(it).astype(np.int64)
    return np.where(i < 0, -(i & np.int64(np.iinfo(it).max)), i)


def ulps(got, want):
    """ulp distance elementwise; NaN vs NaN is 0, NaN vs a number is huge."""
    d = np.abs(order_key(got) - order_key(want))
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    d[nan_got & nan_want] = 0
    d[nan_got ^ nan_want] = np.iinfo(np.int64).max
    return d


def ref32(x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # overflow to inf in the cast is expected
        return np.exp(x.astype(np.float64)).astype(np.float32)


def ref64(x):
    if not LONG_DOUBLE_IS_WIDER:
        return np.exp(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.exp(x.astype(np.longdouble)).astype(np.float64)


def run(x):
    out = np.empty_like(x)
    exp_array(x, out)
    return out


def edge_cases(dtype, lo, hi):
    f = np.dtype(dtype).type
    info = np.finfo(dtype)
    up, down = f(np.inf), f(-np.inf)
    values = [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal, info.tiny, -info.tiny,
              1e-30, -1e-30, info.eps, -info.eps, 0.5, -0.5, 1.0, -1.0, np.log(2) / 2, -np.log(2) / 2,
              hi, np.nextafter(hi, down), lo, np.nextafter(lo, up)]
    return np.array(values, dtype=dtype)


# ------------------------------------------------------------------ accuracy
def test_float32_within_max_ulps_over_the_accepted_range():
    spread = np.linspace(LO32, HI32, 1 << 22, dtype=np.float32)
    small = np.geomspace(1e-38, 1.0, 1 << 18).astype(np.float32)  # |x| near 0, where exp(x) ~ 1
    x = np.concatenate([spread, small, -small, edge_cases(np.float32, LO32, HI32)])
    u = ulps(run(x), ref32(x))
    assert u.max() <= MAX_ULP32, f"{u.max()} ulps at x = {x[u.argmax()]!r}"
    assert np.mean(u == 0) > 0.8   # mostly correctly rounded (95% in the full sweep)


def test_float64_within_max_ulps_on_a_random_sample():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(LO64, HI64, 1 << 20), rng.uniform(-1, 1, 1 << 18),
                        rng.uniform(LO64, LO64 + 1, 1 << 16), rng.uniform(HI64 - 1, HI64, 1 << 16),
                        edge_cases(np.float64, LO64, HI64)])
    u = ulps(run(x), ref64(x))
    bound = MAX_ULP64 if LONG_DOUBLE_IS_WIDER else MAX_ULP64 + 1   # np.exp's own error on top
    assert u.max() <= bound, f"{u.max()} ulps at x = {x[u.argmax()]!r}"


@pytest.mark.parametrize("dtype, lo, hi, ref, tiny",
                         [(np.float32, LO32, HI32, ref32, F32_MIN), (np.float64, LO64, HI64, ref64, F64_MIN)])
def test_thresholds_are_where_exp_leaves_the_normal_floats(dtype, lo, hi, ref, tiny):
    up, down = dtype(np.inf), dtype(-np.inf)
    x = np.array([hi, np.nextafter(hi, up), lo, np.nextafter(lo, down)], dtype=dtype)
    r = ref(x)
    assert np.isfinite(r[0]) and np.isinf(r[1])
    assert r[2] >= tiny and r[3] < tiny


@pytest.mark.parametrize("dtype, lo, hi", [(np.float32, LO32, HI32), (np.float64, LO64, HI64)])
def test_special_values(dtype, lo, hi):
    f = dtype
    big = np.finfo(dtype).max
    x = np.array([np.inf, -np.inf, np.nan, -np.nan, big, -big, 1e30, -1e30, np.nextafter(hi, f(np.inf)),
                  np.nextafter(lo, f(-np.inf))], dtype=dtype)
    y = run(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.array([np.inf, 0, np.nan, np.nan, np.inf, 0, np.inf, 0, np.inf, 0], dtype))


@pytest.mark.parametrize("dtype, lo, ref, tiny", [(np.float32, LO32, ref32, F32_MIN), (np.float64, LO64, ref64, F64_MIN)])
def test_below_the_threshold_flushes_to_zero_within_the_smallest_normal(dtype, lo, ref, tiny):
    x = np.linspace(np.nextafter(lo, dtype(-np.inf)), lo - 30, 10_001, dtype=dtype)
    y, r = run(x), ref(x)
    assert np.all(y == 0)
    assert r.max() < tiny and r.max() > 0      # NumPy gives subnormals there: the error is < tiny


# ------------------------------------------------------------------ dtypes and calling
@numba.njit
def _scalar(x):
    return fast_exp(x)


def test_float32_stays_float32_and_float64_stays_float64():
    _scalar(np.float32(1.0)), _scalar(1.0)
    sigs = {s.args[0]: s.return_type for s in _scalar.nopython_signatures}
    assert sigs == {numba.float32: numba.float32, numba.float64: numba.float64}
    x = np.linspace(-5, 5, 64, dtype=np.float32)
    run(x)
    fresh = numba.njit(error_model="numpy")(exp_array.py_func)   # uncached: inspectable
    fresh.compile((numba.float32[::1], numba.float32[::1]))
    text = fresh.inspect_llvm(fresh.signatures[0])
    assert "fpext" not in text and " double" not in text, "the float32 kernel computes in float64"


def test_plain_python_call_is_numpy_exp():
    assert fast_exp(np.float32(1.5)) == np.exp(np.float32(1.5))
    np.testing.assert_array_equal(fast_exp(np.array([0.0, 2.0])), np.exp([0.0, 2.0]))


def test_integer_argument_is_a_typing_error_naming_the_type():
    with pytest.raises(numba.core.errors.TypingError, match="float32 or float64 scalar, got int64"):
        _scalar(3)


@pytest.mark.parametrize("fastmath", [True, {"reassoc", "nsz"}])
def test_fastmath_caller_gets_the_same_bits(fastmath):
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = fast_exp(x[i])
    fast = numba.njit(error_model="numpy", fastmath=fastmath)(loop)
    for dtype, lo, hi in ((np.float32, LO32, HI32), (np.float64, LO64, HI64)):
        x = np.linspace(lo, hi, 100_003, dtype=dtype)
        out = np.empty_like(x)
        fast(x, out)
        np.testing.assert_array_equal(out, run(x))


def test_callable_from_exec_generated_source():
    source = ("from fastgrad.kernels.vexp import fast_exp\n"
              "def kernel(out, x):\n"
              "    for i0 in range(out.shape[0]):\n"
              "        out[i0] = fast_exp(x[i0] - np.float32(1.0))\n")
    namespace = {"np": np}
    exec(compile(source, "<fastgrad.lazy kernel>", "exec"), namespace)
    kernel = numba.njit(error_model="numpy")(namespace["kernel"])
    x = np.linspace(-20, 20, 1001, dtype=np.float32)
    out = np.empty_like(x)
    kernel(out, x)
    np.testing.assert_array_equal(out, run(x - np.float32(1.0)))
    assert vectorised(kernel)


# ------------------------------------------------------------------ vectorisation
def test_exp_array_loop_is_vectorised():
    for dtype in (np.float32, np.float64):
        run(np.ones(16, dtype))
    assert vectorised(exp_array)


def test_vectorised_says_false_for_loops_that_are_not():
    @numba.njit(error_model="numpy")
    def recurrence(x, out):
        out[0] = x[0]
        for i in range(1, x.shape[0]):
            out[i] = out[i - 1] * x[i] + 1.0

    @numba.njit(error_model="numpy")
    def libm_loop(x, out):
        for i in range(x.shape[0]):
            out[i] = np.exp(x[i])

    x = np.ones(16, np.float32)
    recurrence(x, x.copy())
    libm_loop(x, x.copy())
    assert not vectorised(recurrence)
    if not numba.config.USING_SVML:    # without SVML: one scalar expf call per lane
        assert not vectorised(libm_loop)


def test_vectorised_needs_a_compiled_function():
    with pytest.raises(ValueError, match="no compiled signatures"):
        vectorised(numba.njit(lambda x: x))

