"""Checkers for chapter 05 (gradient checking): a central difference, a relative error
and a complete gradient check.

The cases are chosen to expose the usual mistakes: a one-sided difference (a function
with large curvature makes its O(eps) error visible), dividing by eps instead of 2*eps,
leaving x perturbed, a relative error without abs or without a guard for zeros, and a
gradient check that looks at one element or at sums only.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, run_cases

__all__ = ["central_difference", "my_gradcheck", "relative_error"]


def _as_float(value, what: str) -> float:
    if value is None:
        raise CaseFailed(f"the function returned None; expected {what} (did you forget `return`?).")
    if isinstance(value, (bool, np.bool_)):
        raise CaseFailed(f"returned {value!r}; expected {what}, a number, not True/False.")
    try:
        return float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise CaseFailed(f"expected {what} (one number), got {type(value).__name__} "
                         f"{np.shape(value) if hasattr(value, 'shape') else ''}.") from None


# ----------------------------------------------------------------------------- central difference

def _difference_case(description: str, f: Callable, df: Callable, x: np.ndarray, i, eps: float | None,
                     rtol: float) -> Case:
    def run(fn):
        x_in = x.copy()
        got = fn(f, x_in, i) if eps is None else fn(f, x_in, i, eps)
        value = _as_float(got, "the derivative df/dx[i]")
        if not np.array_equal(x_in, x):
            raise CaseFailed("x was changed by the call: after perturbing x[i], put the original value back "
                             "(or perturb a copy), or every later derivative is taken at the wrong point.")
        want = float(df(x)[i])
        if abs(value - want) <= rtol * abs(want):
            return
        h = 1e-6 if eps is None else eps
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        forward, backward = (f(xp) - f(x)) / h, (f(x) - f(xm)) / h
        hint = ""
        if abs(value - forward) <= 1e-9 * max(1.0, abs(forward)) or abs(value - backward) <= 1e-9 * max(1.0, abs(backward)):
            hint = (" Hint: this is a one-sided difference, (f(x+eps) - f(x)) / eps; its error is "
                    "eps/2 * f'' (O(eps)), large where f curves. Use (f(x+eps) - f(x-eps)) / (2*eps), "
                    "whose error is O(eps**2).")
        elif abs(value - 2 * want) <= 1e-3 * abs(want):
            hint = " Hint: twice the derivative: divide by 2*eps, the distance between x-eps and x+eps."
        elif abs(value + want) <= 1e-3 * abs(want):
            hint = " Hint: the sign is flipped: it is f(x+eps) - f(x-eps), not the other way round."
        raise CaseFailed(f"df/dx{list(i) if isinstance(i, tuple) else [i]} = {want:.10g} at this x, "
                         f"got {value:.10g} (relative error {abs(value - want) / abs(want):.2g}, "
                         f"allowed {rtol:g}).{hint}")
    return Case(description, run)


def central_difference(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `central_difference(f, x, i, eps=1e-6) -> float`, the derivative of the scalar
    function `f` with respect to `x[i]` by (f(x + eps e_i) - f(x - eps e_i)) / (2 eps);
    `x` is a float64 array, `i` an index into it (an int, or a tuple for 2-D x), x unchanged after.
    """
    def cube(x):
        return float(np.sum(x ** 3))

    def exp5(x):
        return float(np.sum(np.exp(5 * x)))

    def wave(x):
        return float(np.sum(np.sin(3 * x) * x))

    x1 = np.array([0.5, -1.0, 2.0])
    x2 = np.array([[0.1, -0.2, 0.3], [0.4, 0.25, -0.6]])
    cases = [
        _difference_case("f = sum(x**3) at x = [0.5, -1, 2], i = 2, eps = 1e-2",
                         cube, lambda x: 3 * x ** 2, x1, 2, 1e-2, 1e-3),
        _difference_case("f = sum(exp(5x)) (large curvature), i = 1, eps = 1e-3",
                         exp5, lambda x: 5 * np.exp(5 * x), np.array([0.1, 0.3, -0.2]), 1, 1e-3, 1e-4),
        _difference_case("2-D x, i = (1, 2), f = sum(sin(3x) * x), eps = 1e-4",
                         wave, lambda x: np.sin(3 * x) + 3 * x * np.cos(3 * x), x2, (1, 2), 1e-4, 1e-6),
        _difference_case("default eps (call without eps), f = sum(exp(5x))",
                         exp5, lambda x: 5 * np.exp(5 * x), np.array([0.2, -0.4]), 0, None, 1e-7),
        _difference_case("a single element x = [3.0], f = sum(x**3), eps = 1e-3",
                         cube, lambda x: 3 * x ** 2, np.array([3.0]), 0, 1e-3, 1e-5),
    ]
    return run_cases("central_difference", fn, cases, show=show)


# ----------------------------------------------------------------------------- relative error

def _reference_relative_error(a, b, floor: float = 1e-8) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _relerr_case(description: str, a, b, hint: str = "") -> Case:
    def run(fn):
        a_in, b_in = np.array(a), np.array(b)
        want = _reference_relative_error(a_in, b_in)
        value = _as_float(fn(a_in.copy(), b_in.copy()), "the largest relative error")
        if np.isnan(value):
            raise CaseFailed(f"got nan, expected {want:.6g}: 0/0 where an element of a and b is 0. Hint: guard "
                             "the denominator, max(|a|, |b|, floor) with floor = 1e-8.")
        if not np.isclose(value, want, rtol=1e-6, atol=1e-15):
            advice = hint
            a64, b64 = a_in.astype(np.float64), b_in.astype(np.float64)
            overall = float(np.max(np.abs(a64 - b64)) / max(np.max(np.abs(a64)), np.max(np.abs(b64)), 1e-8))
            if value < 0:
                raise CaseFailed(f"got {value:.6g}, expected {want:.6g}: a relative error is never negative. "
                                 "Hint: take the absolute value of a - b, and of a and b in the denominator.")
            if np.isclose(value, overall, rtol=1e-6) and not np.isclose(overall, want, rtol=1e-6):
                advice = ("compute the error per element (elementwise), then take the max: a small gradient "
                        "entry that is 50% wrong must not hide behind a large correct one.")
            raise CaseFailed(f"expected {want:.6g}, got {value:.6g} for a = {a_in.tolist()}, "
                             f"b = {b_in.tolist()}." + (f" Hint: {advice}" if advice else ""))
    return Case(description, run)


def relative_error(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `relative_error(a, b, floor=1e-8) -> float`: the largest elementwise
    |a - b| / max(|a|, |b|, floor) (0.0 for empty arrays)."""
    cases = [
        _relerr_case("scalars 1.0 and 1.1", 1.0, 1.1,
                     "divide by the larger magnitude, max(|a|, |b|, floor), so the result is symmetric in a and b."),
        _relerr_case("a below b in the worst element", [1.0, -2.0, 3.0], [1.1, -2.0, 4.0],
                     "take the absolute value of a - b: here a < b in the worst element."),
        _relerr_case("negative numbers", [-1.0, -4.0], [-1.5, -4.0],
                     "the denominator is max(|a|, |b|, floor): abs, or a negative 'size' flips the sign."),
        _relerr_case("elementwise, not overall: a small entry 50% wrong next to a big one", [100.0, 1.0],
                     [100.0, 2.0], "compute the error per element, then take the max: a small gradient entry "
                     "that is 50% wrong must not hide behind a large correct one."),
        _relerr_case("both zero (a ReLU's gradient where it is off)", [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
        _relerr_case("a tiny value against 0", [0.0, 1.0], [1e-12, 1.0],
                     "below the floor the denominator is floor = 1e-8, so 1e-12 against 0 counts as 1e-4, "
                     "not as a 100% error."),
        _relerr_case("2-D arrays", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.4]]),
        _relerr_case("float32 inputs", np.float32([0.1, 0.2]), np.float32([0.1, 0.25])),
        _relerr_case("empty arrays (return 0.0)", np.zeros(0), np.zeros(0),
                     "with nothing to compare there is no error: return 0.0 (np.max of an empty array raises)."),
    ]
    return run_cases("relative_error", fn, cases, show=show)


# ----------------------------------------------------------------------------- gradient check

def _problem(name: str):
    """(f, correct gradient, x) for a few functions."""
    rng = np.random.default_rng(5)
    if name == "cube":
        return (lambda x: float(np.sum(x ** 3))), (lambda x: 3 * x ** 2), rng.uniform(-2, 2, 5)
    if name == "tanh_layer":
        w = rng.standard_normal((4, 4))
        return ((lambda x: float(np.sum(np.tanh(x @ w)))),
                (lambda x: (1 - np.tanh(x @ w) ** 2) @ w.T), rng.standard_normal((3, 4)))
    if name == "logsumexp":
        def lse(x):
            m = x.max()
            return float(m + np.log(np.sum(np.exp(x - m))))
        return lse, (lambda x: np.exp(x - x.max()) / np.sum(np.exp(x - x.max()))), rng.standard_normal(6)
    if name == "relu_sq":
        x = np.array([-1.5, -0.5, 0.5, 1.0, -2.0, 1.5])
        return (lambda x: float(np.sum(np.maximum(x, 0) ** 2))), (lambda x: 2 * np.maximum(x, 0)), x
    raise KeyError(name)


def _gradcheck_case(description: str, problem: str, wrong: Callable | None = None, dtype=np.float64,
                    hint: str = "") -> Case:
    def run(fn):
        f, grad_f, x = _problem(problem)
        x = x.astype(dtype)
        g = grad_f if wrong is None else (lambda x: wrong(grad_f(x)))
        x_in = x.copy()
        worst = _as_float(fn(f, g, x_in), "the worst relative error")
        if not np.array_equal(x_in, x):
            raise CaseFailed("x was changed by the check: restore every x[i] after perturbing it.")
        if wrong is None and not worst < 1e-5:
            raise CaseFailed(f"this gradient is CORRECT, but your check reports a worst relative error of "
                             f"{worst:.3g} (expected below 1e-5). " + (hint or "Use central differences in "
                             "float64 and the relative error per element."))
        if wrong is not None and not worst > 1e-2:
            raise CaseFailed(f"this gradient is WRONG, but your check reports a worst relative error of only "
                             f"{worst:.3g} (expected above 1e-2). " + hint)
    return Case(description, run)


def _flip_last(g):
    g = np.array(g, dtype=np.float64)
    g.flat[-1] = -g.flat[-1]
    return g


def _break_middle(g):
    g = np.array(g, dtype=np.float64)
    g[1, 2] *= 1.5
    return g


def my_gradcheck(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `my_gradcheck(f, grad_f, x, eps=1e-6) -> float`: the worst relative error between
    `grad_f(x)` and central differences of the scalar function `f` over EVERY element of
    `x` (any shape; work on a float64 copy), leaving x unchanged. Correct gradients must give
    < 1e-5, wrong ones > 1e-2.
    """
    every = "check every element, e.g. `for i in np.ndindex(x.shape):`."
    cases = [
        _gradcheck_case("correct: f = sum(x**3)", "cube"),
        _gradcheck_case("wrong: grad = x**2 (factor 3 missing)", "cube", lambda g: g / 3),
        _gradcheck_case("correct: f = sum(tanh(x @ W)), x is 3x4", "tanh_layer",
                        hint="x is 2-D here: " + every),
        _gradcheck_case("wrong: the 2-D gradient is off in element [1, 2] only", "tanh_layer", _break_middle,
                        hint=every),
        _gradcheck_case("wrong: only the LAST element's sign is flipped", "cube", _flip_last, hint=every),
        _gradcheck_case("wrong: right values in the wrong places (same sum)", "cube", lambda g: g[::-1],
                        hint="compare element by element, not sums: a permuted gradient has the right sum."),
        _gradcheck_case("correct: log-sum-exp (a composite)", "logsumexp"),
        _gradcheck_case("correct: sum(relu(x)**2), gradient exactly 0 where x < 0", "relu_sq",
                        hint="where both gradients are 0 the relative error must be 0: guard the denominator."),
        _gradcheck_case("correct, but x given in float32", "cube", dtype=np.float32,
                        hint="x arrived in float32, where x + 1e-6 rounds away most of the step: convert "
                             "x = np.array(x, dtype=np.float64) first."),
    ]
    return run_cases("my_gradcheck", fn, cases, show=show)
