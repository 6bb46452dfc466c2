"""Checkers for chapter 05 (gradient checking): a central difference, a relative error
and a complete gradient check.

The cases are chosen to expose the usual mistakes: a one-sided difference (a function
with large curvature, or a minimum, makes its O(eps) error visible), dividing by eps
instead of 2*eps, `/ 2 * eps` without parentheses, ignoring the eps given, perturbing
every element, leaving x perturbed, float32 arithmetic (the checker's `f` records the
dtype it is evaluated at), a relative error without abs, without a guard for zeros,
divided by one argument only, averaged instead of maximised or blind to NaN, and a
gradient check that looks at one element, at sums, at the mean error, or that answers
pass/fail instead of the error itself.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._base import TODO, Case, CaseFailed, CheckResult, learner_frame, run_cases

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


class _Recorded:
    """The checker's scalar function `f`, recording the dtypes it is evaluated at, so a
    difference computed in float32 is seen directly rather than guessed from its error."""

    def __init__(self, f: Callable):
        self.f = f
        self.dtypes: set[str] = set()

    def __call__(self, x):
        self.dtypes.add(str(np.asarray(x).dtype))
        return self.f(x)

    def expect_float64(self, where: str) -> None:
        other = sorted(self.dtypes - {"float64"})
        if other:
            raise CaseFailed(f"f was evaluated at a {other[0]} x: {where} ran in {other[0]}, where x + 1e-6 "
                             "rounds away most of the step (float32 keeps about 7 digits). Work on a float64 "
                             "copy: x = np.array(x, dtype=np.float64), and perturb that.")


def _unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    """x is back to its values, up to a few units in the last place (x[i] += eps, then
    -= 2 eps, then += eps can land one rounding step away, which is harmless)."""
    if before.shape != after.shape:
        return False
    return bool(np.all(np.abs(after - before) <= 4 * np.spacing(np.abs(before))))


# ----------------------------------------------------------------------------- central difference

def _exact_central(f: Callable, x: np.ndarray, i, h: float) -> float:
    xp, xm = x.copy(), x.copy()
    xp[i] += h
    xm[i] -= h
    return (f(xp) - f(xm)) / (2 * h)


def _difference_case(description: str, f: Callable, df: Callable, x: np.ndarray, i, eps: float | None,
                     rtol: float) -> Case:
    def run(fn):
        x_in = x.copy()
        recorded = _Recorded(f)
        got = fn(recorded, x_in, i) if eps is None else fn(recorded, x_in, i, eps)
        value = _as_float(got, "the derivative df/dx[i]")
        if not _unchanged(x, x_in):
            raise CaseFailed("x was changed by the call: after perturbing x[i], put the original value back "
                             "(or perturb a copy), or every later derivative is taken at the wrong point. "
                             "(x = x.copy() inside the function, or `xp = x` without copy, share memory.)")
        recorded.expect_float64("your central difference")
        h = 1e-6 if eps is None else eps
        want = float(df(x)[i])
        central = _exact_central(f, x, i, h)
        # A big eps makes the central difference itself differ from df by ~eps**2: it must be THAT value.
        exact = abs(value - central) <= 1e-8 * abs(central) if h >= 1e-3 else abs(value - want) <= rtol * abs(want)
        if exact:
            return
        forward, backward = (f(x + _unit(x, i, h)) - f(x)) / h, (f(x) - f(x - _unit(x, i, h))) / h
        everything = (f(x + h) - f(x - h)) / (2 * h)
        hint = ""

        def near(a, b, tol=1e-6):
            return abs(a - b) <= tol * max(abs(b), 1e-300)
        if near(value, forward, 1e-9) or near(value, backward, 1e-9):
            hint = (" Hint: this is a one-sided difference, (f(x+eps) - f(x)) / eps; its error is "
                    "eps/2 * f'' (O(eps)), large where f curves. Use (f(x+eps) - f(x-eps)) / (2*eps), "
                    "whose error is O(eps**2).")
        elif near(value, 2 * central, 1e-3):
            hint = " Hint: twice the derivative: divide by 2*eps, the distance between x-eps and x+eps."
        elif near(value, -central, 1e-3):
            hint = " Hint: the sign is flipped: it is f(x+eps) - f(x-eps), not the other way round."
        elif near(value, central * h * h, 1e-3):
            hint = (" Hint: `/ 2 * eps` multiplies by eps (Python evaluates left to right): write "
                    "/ (2 * eps), with parentheses.")
        elif near(value, central * 2 * h, 1e-3):
            hint = " Hint: that is f(x+eps) - f(x-eps) itself: divide it by 2*eps."
        elif x.size > 1 and near(value, everything, 1e-6):
            hint = (" Hint: you moved EVERY element of x by eps (x + eps adds to all of them): perturb only "
                    "x[i], e.g. xp = x.copy(); xp[i] += eps.")
        elif value == 0.0:
            hint = (" Hint: f(x+eps) and f(x-eps) were evaluated at the same point: `xp = xm = x.copy()` makes "
                    "ONE copy with two names; copy twice, or perturb, evaluate and restore in turn.")
        elif h >= 1e-3 and near(value, want, 1e-6):
            hint = (f" Hint: that is the derivative for a much smaller step than the eps = {h:g} you were "
                    "given (with this eps the central difference is f' + eps**2 f'''/6): use the eps "
                    "argument, not a constant of your own.")
        shown = central if h >= 1e-3 else want
        what = "the central difference" if h >= 1e-3 else "df/dx"
        raise CaseFailed(f"{what}{list(i) if isinstance(i, tuple) else [i]} = {shown:.10g} here (eps = {h:g}), "
                         f"got {value:.10g} (relative error {abs(value - shown) / abs(shown):.2g}).{hint}")
    return Case(description, run)


def _unit(x: np.ndarray, i, h: float) -> np.ndarray:
    e = np.zeros_like(x)
    e[i] = h
    return e


def central_difference(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `central_difference(f, x, i, eps=1e-6) -> float`, the derivative of the scalar
    function `f` with respect to `x[i]` by (f(x + eps e_i) - f(x - eps e_i)) / (2 eps);
    `x` is a float64 array, `i` an index into it (an int, or a tuple for 2-D x), x unchanged
    after. With a large eps the answer must be that central difference (not a more exact
    derivative from a step of your own), and f must be evaluated in float64.
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
        _difference_case("f = sum(x**3), i = 0, a large eps = 0.1 (the answer is f' + eps**2)",
                         cube, lambda x: 3 * x ** 2, np.array([0.5, -1.0, 2.0]), 0, 0.1, 1e-3),
    ]
    return run_cases("central_difference", fn, cases, show=show)


# ----------------------------------------------------------------------------- relative error

def _reference_relative_error(a, b, floor: float = 1e-8) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _relerr_advice(value: float, a64: np.ndarray, b64: np.ndarray, want: float) -> str:
    """Name the mistake whose formula gives `value`, if one does."""
    def same(formula) -> bool:
        with np.errstate(all="ignore"):
            try:
                v = float(formula())
            except (ValueError, ZeroDivisionError):
                return False
        return np.isclose(value, v, rtol=1e-6, atol=1e-15) and not np.isclose(v, want, rtol=1e-6, atol=1e-15)
    diff = np.abs(a64 - b64)
    if same(lambda: np.max(diff / np.maximum(np.abs(b64), 1e-8))) or \
            same(lambda: np.max(diff / np.maximum(np.abs(a64), 1e-8))) or \
            same(lambda: np.max(diff / np.maximum(np.minimum(np.abs(a64), np.abs(b64)), 1e-8))):
        return ("you divided by one argument only (|a| or |b|), or by the smaller one: divide by the LARGER "
                "magnitude, max(|a|, |b|, floor), so the result is the same whichever argument is the 'truth'.")
    if same(lambda: np.mean(diff / np.maximum(np.maximum(np.abs(a64), np.abs(b64)), 1e-8))):
        return ("that is the MEAN of the elementwise errors: take the max, so one wrong element among "
                "many is not averaged away.")
    if same(lambda: np.max(diff) / max(np.max(np.abs(a64)), np.max(np.abs(b64)), 1e-8)) or \
            same(lambda: np.linalg.norm(a64 - b64) / max(np.linalg.norm(a64), np.linalg.norm(b64), 1e-8)) or \
            same(lambda: np.linalg.norm(a64 - b64) / max(np.linalg.norm(a64) + np.linalg.norm(b64), 1e-8)):
        return ("compute the error per element (elementwise), then take the max: a small gradient "
                "entry that is 50% wrong must not hide behind a large correct one.")
    if same(lambda: np.max(diff / (np.maximum(np.abs(a64), np.abs(b64)) + 1e-8))):
        return ("the floor is a lower bound for the denominator, max(|a|, |b|, floor), not added to it: "
                "at exactly |a| = floor, b = 0 the error is 1.")
    if same(lambda: np.max(diff / np.maximum((np.abs(a64) + np.abs(b64)) / 2, 1e-8))) or \
            same(lambda: np.max(diff / np.maximum(np.abs(a64) + np.abs(b64), 1e-8))):
        return "divide by max(|a|, |b|, floor), the larger magnitude, not by their sum or average."
    return ""


def _relerr_case(description: str, a, b, hint: str = "") -> Case:
    def run(fn):
        a_in, b_in = np.array(a), np.array(b)
        want = _reference_relative_error(a_in, b_in)
        try:
            got = fn(a_in.copy(), b_in.copy())
        except (ValueError, ZeroDivisionError) as exc:
            if a_in.size == 0:
                raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: with nothing "
                                 "to compare there is no error: return 0.0 when the arrays are empty "
                                 "(np.max of an empty array raises).") from None
            raise
        value = _as_float(got, "the largest relative error")
        if math.isnan(want):
            if math.isnan(value) or math.isinf(value):
                return
            raise CaseFailed(f"got {value:.6g} for a = {a_in.tolist()}, b = {b_in.tolist()}: a NaN element must "
                             "make the error NaN, never hide, or a gradient full of NaN passes the check. Hint: "
                             "np.max propagates NaN; Python's max() and np.nanmax skip it, np.nan_to_num "
                             "turns it into 0.")
        if math.isnan(value):
            raise CaseFailed(f"got nan, expected {want:.6g}: 0/0 where an element of a and b is 0. Hint: guard "
                             "the denominator, max(|a|, |b|, floor) with floor = 1e-8.")
        if not np.isclose(value, want, rtol=1e-6, atol=1e-15):
            if value < 0:
                raise CaseFailed(f"got {value:.6g}, expected {want:.6g}: a relative error is never negative. "
                                 "Hint: take the absolute value of a - b, and of a and b in the denominator.")
            advice = _relerr_advice(value, a_in.astype(np.float64), b_in.astype(np.float64), want) or hint
            shown = (f"a = {a_in.tolist()}, b = {b_in.tolist()}" if a_in.size <= 6 else
                     f"a and b of {a_in.size} elements")
            raise CaseFailed(f"expected {want:.6g}, got {value:.6g} for {shown}." + (f" Hint: {advice}" if advice else ""))
    return Case(description, run)


def _one_wrong_among_many():
    a = np.linspace(1.0, 2.0, 1000)
    b = a.copy()
    b[637] *= 1.5
    return a, b


def relative_error(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `relative_error(a, b, floor=1e-8) -> float`: the largest elementwise
    |a - b| / max(|a|, |b|, floor) (0.0 for empty arrays, NaN when an element is NaN)."""
    many_a, many_b = _one_wrong_among_many()
    cases = [
        _relerr_case("three elements, a below b in the worst one", [1.0, -2.0, 3.0], [1.1, -2.0, 4.0],
                     "take the absolute value of a - b: here a < b in the worst element."),
        _relerr_case("scalars 1.0 and 1.1", 1.0, 1.1,
                     "divide by the larger magnitude, max(|a|, |b|, floor), so the result is symmetric in a and b."),
        _relerr_case("|a| > |b|: a = 2.0, b = 1.0 (the same error as a = 1.0, b = 2.0)", [2.0], [1.0],
                     "divide by the larger magnitude, max(|a|, |b|, floor), so the result is symmetric in a and b."),
        _relerr_case("negative numbers", [-1.0, -4.0], [-1.5, -4.0],
                     "the denominator is max(|a|, |b|, floor): abs, or a negative 'size' flips the sign."),
        _relerr_case("elementwise, not overall: a small entry 50% wrong next to a big one", [100.0, 1.0],
                     [100.0, 2.0], "compute the error per element, then take the max: a small gradient entry "
                     "that is 50% wrong must not hide behind a large correct one."),
        _relerr_case("one wrong element among 1,000 (max, not mean)", many_a, many_b,
                     "take the max of the elementwise errors, not their mean."),
        _relerr_case("both zero (a ReLU's gradient where it is off)", [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]),
        _relerr_case("a tiny value against 0", [0.0, 1.0], [1e-12, 1.0],
                     "below the floor the denominator is floor = 1e-8, so 1e-12 against 0 counts as 1e-4, "
                     "not as a 100% error."),
        _relerr_case("exactly at the floor: 1e-8 against 0 (error 1.0)", [1e-8, 1.0], [0.0, 1.0],
                     "the denominator is max(|a|, |b|, floor) = 1e-8 here, so the error is 1e-8 / 1e-8 = 1."),
        _relerr_case("NaN in a (a broken backward): the error must be NaN", [1.0, np.nan, 1.0], [1.0, 1.0, 1.0]),
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
    if name == "near_minimum":
        # f'' / f' is large near a minimum: a one-sided difference is off by eps / (2 x) = 5e-4 here.
        return (lambda x: float(np.sum(x ** 2))), (lambda x: 2 * x), np.array([1e-3, -2e-3, 1.5e-3, -1e-3])
    if name == "many":
        # 200 elements, gradients of size ~100: an absolute error or a mean shows in the reported number.
        x = rng.uniform(1.5, 2.5, 200) * rng.choice([-1.0, 1.0], 200)
        return (lambda x: float(np.sum(10 * x ** 3))), (lambda x: 30 * x ** 2), x
    raise KeyError(name)


def _gradcheck_case(description: str, problem: str, wrong: Callable | None = None, dtype=np.float64,
                    hint: str = "", expect: tuple[float, float] | None = None) -> Case:
    """`wrong` breaks the correct gradient; `expect` = (low, high) asks for the reported
    worst error itself to lie in that range (a gradient wrong by a known amount)."""
    def run(fn):
        f, grad_f, x = _problem(problem)
        x = x.astype(dtype)
        g = grad_f if wrong is None else (lambda x: wrong(grad_f(x)))
        x_in = x.copy()
        recorded = _Recorded(f)
        worst = _as_float(fn(recorded, g, x_in), "the worst relative error")
        if not _unchanged(x, x_in):
            raise CaseFailed("x was changed by the check: restore every x[i] after perturbing it "
                             "(or work on a copy).")
        recorded.expect_float64("your gradient check")
        if wrong is None and not worst < 1e-5:
            raise CaseFailed(f"this gradient is CORRECT, but your check reports a worst relative error of "
                             f"{worst:.3g} (expected below 1e-5). " + (hint or "Use central differences, "
                             "(f(x+eps) - f(x-eps)) / (2*eps) (a one-sided difference is off by eps/2 * f''), "
                             "in float64, and the relative error per element."))
        if wrong is not None and expect is None and worst <= 1e-2:
            raise CaseFailed(f"this gradient is WRONG, but your check reports a worst relative error of only "
                             f"{worst:.3g} (expected above 1e-2). " + hint)
        if expect is not None and not expect[0] <= worst <= expect[1]:
            raise CaseFailed(f"one element of this gradient is wrong by a relative 1e-3, so the worst relative "
                             f"error is about 1e-3, but your check reports {worst:.3g}. " + hint)
    return Case(description, run)


def _flip_last(g):
    g = np.array(g, dtype=np.float64)
    g.flat[-1] = -g.flat[-1]
    return g


def _break_middle(g):
    g = np.array(g, dtype=np.float64)
    g[1, 2] *= 1.5
    return g


def _scale_one(factor: float, index: int = 123):
    def wrong(g):
        g = np.array(g, dtype=np.float64)
        g[index] *= factor
        return g
    return wrong


def _nan_one(g):
    g = np.array(g, dtype=np.float64)
    g[2] = np.nan
    return g


def _stub_watch(fn: Callable):
    """`fn` wrapped so that a NotImplementedError raised in ANOTHER function (a stub of an
    earlier exercise that `fn` calls) is remembered with that function's name."""
    seen: dict[str, str] = {}
    code = getattr(fn, "__code__", None)

    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as exc:
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None and code is not None and tb.tb_frame.f_code is not code:
                seen["name"] = tb.tb_frame.f_code.co_name
            raise
    return wrapped, seen


def my_gradcheck(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `my_gradcheck(f, grad_f, x, eps=1e-6) -> float`: the worst relative error between
    `grad_f(x)` and central differences of the scalar function `f` over EVERY element of
    `x` (any shape; work on a float64 copy), leaving x unchanged. Correct gradients must give
    < 1e-5, wrong ones > 1e-2 (NaN counts as wrong), and a gradient with one element wrong by
    a relative 1e-3 must report about 1e-3.
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
        _gradcheck_case("correct: f = sum(x**2) near its minimum, x ~ 0.001", "near_minimum",
                        hint="near a minimum f' is small and f'' is not: a one-sided difference (f(x+eps) - "
                             "f(x)) / eps is off by eps/2 * f'' there. Use central differences, (f(x+eps) - "
                             "f(x-eps)) / (2*eps)."),
        _gradcheck_case("wrong: one element of 200 is 50% off", "many", _scale_one(1.5),
                        hint="report the WORST element (max), not the mean error: one wrong element among "
                             "many must fail the check. " + every),
        _gradcheck_case("wrong: one element of the gradient is NaN", "cube", _nan_one,
                        hint="a NaN must not hide: np.max propagates NaN (Python's max() and np.nanmax skip "
                             "it); return the worst error even when it is NaN."),
        _gradcheck_case("slightly wrong: one element of 200 is off by a relative 1e-3 (gradients ~100)", "many",
                        _scale_one(1 + 1e-3), expect=(3e-4, 3e-3),
                        hint="return the worst RELATIVE error itself (max over elements of your "
                             "relative_error), not a pass/fail flag, not an absolute error, not a mean."),
        _gradcheck_case("correct, but x given in float32", "cube", dtype=np.float32,
                        hint="x arrived in float32, where x + 1e-6 rounds away most of the step: convert "
                             "x = np.array(x, dtype=np.float64) first."),
    ]
    watched, seen = _stub_watch(fn) if callable(fn) else (fn, {})
    result = run_cases("my_gradcheck", watched, cases, show=False)
    if result.status == TODO and seen.get("name"):
        name = seen["name"]
        result.message = (f"`{name}`, which your my_gradcheck calls, is not implemented yet: finish that earlier "
                          f"exercise (replace its `raise NotImplementedError` line and re-run its cell), then "
                          "re-run this cell.")
    if show:
        print(result)
    return result
