"""Chapter 05 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet" (naming the right exercise), and plausible wrong answers
get a fail whose message names the real mistake (the expected words)."""
import numpy as np
import pytest

from fastgrad.check import ch05


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers

def central_difference(f, x, i, eps=1e-6):
    old = x[i]
    x[i] = old + eps
    f_plus = f(x)
    x[i] = old - eps
    f_minus = f(x)
    x[i] = old
    return (f_plus - f_minus) / (2 * eps)


def relative_error(a, b, floor=1e-8):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def my_gradcheck(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x), dtype=np.float64)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return relative_error(analytic, numeric)


REFERENCES = {"central_difference": central_difference, "relative_error": relative_error,
              "my_gradcheck": my_gradcheck}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch05, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch05, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_stubbed_earlier_exercise_is_named_not_my_gradcheck():
    """A finished my_gradcheck that calls a still-stubbed central_difference (or
    relative_error): the verdict names that earlier exercise."""
    def central_difference(f, x, i, eps=1e-6):     # the exercise notebook's stub, same name
        raise NotImplementedError("Exercise: write your code here, then run the check cell below.")

    def my_gradcheck_calling_stub(f, grad_f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            numeric[i] = central_difference(f, x, i, eps)
        return relative_error(grad_f(x), numeric)
    result = ch05.my_gradcheck(my_gradcheck_calling_stub, show=False)
    assert result.status == "todo"
    assert "`central_difference`" in result.message and "not implemented yet" in result.message
    assert "earlier exercise" in result.message

    def relative_error_stub(a, b, floor=1e-8):
        raise NotImplementedError("Exercise")

    def my_gradcheck_calling_relerr_stub(f, grad_f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        numeric = np.array([ch05_ref_cd(f, x, i, eps) for i in np.ndindex(x.shape)]).reshape(x.shape)
        return relative_error_stub(grad_f(x), numeric)
    result = ch05.my_gradcheck(my_gradcheck_calling_relerr_stub, show=False)
    assert result.status == "todo" and "`relative_error_stub`" in result.message


ch05_ref_cd = central_difference


# ------------------------------------------------------------------ plausible wrong answers

def _cd_forward(f, x, i, eps=1e-6):
    fx = f(x)
    old = x[i]
    x[i] = old + eps
    f_plus = f(x)
    x[i] = old
    return (f_plus - fx) / eps


def _cd_backward(f, x, i, eps=1e-6):
    fx = f(x)
    old = x[i]
    x[i] = old - eps
    f_minus = f(x)
    x[i] = old
    return (fx - f_minus) / eps


def _cd_leaky(f, x, i, eps=1e-6):
    x[i] += eps
    f_plus = f(x)
    x[i] -= 2 * eps
    return (f_plus - f(x)) / (2 * eps)


def _cd_precedence(f, x, i, eps=1e-6):
    xp, xm = x.copy(), x.copy()
    xp[i] += eps
    xm[i] -= eps
    return (f(xp) - f(xm)) / 2 * eps


def _cd_no_division(f, x, i, eps=1e-6):
    xp, xm = x.copy(), x.copy()
    xp[i] += eps
    xm[i] -= eps
    return f(xp) - f(xm)


def _cd_own_step(f, x, i, eps=1e-6):
    h = 1e-6                      # ignores the eps it is given
    xp, xm = x.copy(), x.copy()
    xp[i] += h
    xm[i] -= h
    return (f(xp) - f(xm)) / (2 * h)


def _cd_all_elements(f, x, i, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def _cd_one_copy(f, x, i, eps=1e-6):
    xp = xm = x.copy()
    xp[i] += eps
    xm[i] -= eps
    return (f(xp) - f(xm)) / (2 * eps)


def _cd_alias(f, x, i, eps=1e-6):
    xp = x                        # not a copy
    xp[i] += eps
    f_plus = f(xp)
    xp[i] -= 2 * eps
    return (f_plus - f(xp)) / (2 * eps)


def _cd_float32(f, x, i, eps=1e-6):
    x32 = x.astype(np.float32)
    xp, xm = x32.copy(), x32.copy()
    xp[i] += eps
    xm[i] -= eps
    return (f(xp) - f(xm)) / (2 * eps)


def _cd_relative_step(f, x, i, eps=1e-6):
    h = eps * max(1.0, abs(float(x[i])))
    xp, xm = x.copy(), x.copy()
    xp[i] += h
    xm[i] -= h
    return (f(xp) - f(xm)) / (2 * eps)


CENTRAL_WRONG = [
    ("one-sided forward", _cd_forward, ["one-sided", "O(eps**2)"]),
    ("one-sided backward", _cd_backward, ["one-sided"]),
    ("divided by eps", lambda f, x, i, eps=1e-6: 2 * central_difference(f, x, i, eps), ["2*eps"]),
    ("sign flipped", lambda f, x, i, eps=1e-6: -central_difference(f, x, i, eps), ["sign"]),
    ("x left perturbed", _cd_leaky, ["x was changed"]),
    ("no default eps", lambda f, x, i, eps: central_difference(f, x, i, eps), ["default eps", "TypeError"]),
    ("/ 2 * eps", _cd_precedence, ["/ (2 * eps)", "parentheses"]),
    ("no division", _cd_no_division, ["divide it by 2*eps"]),
    ("own step, ignores eps", _cd_own_step, ["much smaller step", "eps argument"]),
    ("every element perturbed", _cd_all_elements, ["EVERY element", "x[i]"]),
    ("one copy under two names", _cd_one_copy, ["ONE copy"]),
    ("no copy (alias)", _cd_alias, ["x was changed", "share memory"]),
    ("float32 arithmetic", _cd_float32, ["float32", "float64"]),
    ("step scaled but not the division", _cd_relative_step, ["central difference"]),
    ("forgot return", lambda f, x, i, eps=1e-6: None, ["returned None"]),
]


def _re_no_abs(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max((a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _re_no_abs_denominator(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(a, b), floor)))


def _re_no_guard(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


def _re_overall(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), floor))


def _re_by_b(a, b, floor=1e-8):          # b is "the truth"
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _re_by_a(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), floor)))


def _re_mean(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.mean(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _re_plus_floor(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / (np.maximum(np.abs(a), np.abs(b)) + floor)))


def _re_nanmax(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _re_builtin_max(a, b, floor=1e-8):
    a, b = np.ravel(np.asarray(a, float)), np.ravel(np.asarray(b, float))
    errors = [abs(x - y) / max(abs(x), abs(y), floor) for x, y in zip(a, b)]
    return max(errors, default=0.0)


def _re_nan_to_num(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.nan_to_num(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b)))))


def _re_no_empty(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def _re_min(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.minimum(np.abs(a), np.abs(b)), floor)))


def _re_sum_denominator(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def _re_norms(a, b, floor=1e-8):       # the textbook one-liner for whole gradients
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


RELERR_WRONG = [
    ("no abs in the numerator", _re_no_abs, ["absolute value"]),
    ("no abs in the denominator", _re_no_abs_denominator, ["negative"]),
    ("no guard for zeros", _re_no_guard, ["nan", "floor"]),
    ("overall instead of elementwise", _re_overall, ["elementwise", "per element"]),
    ("divided by |b| only", _re_by_b, ["|a| > |b|", "one argument only", "LARGER"]),
    ("divided by |a| only", _re_by_a, ["one argument only"]),
    ("mean instead of max", _re_mean, ["MEAN", "max"]),
    ("floor added", _re_plus_floor, ["floor", "not added"]),
    ("nanmax", _re_nanmax, ["NaN", "nanmax"]),
    ("builtin max skips NaN", _re_builtin_max, ["NaN", "max()"]),
    ("nan_to_num instead of a floor", _re_nan_to_num, ["tiny value"]),
    ("np.max of nothing", _re_no_empty, ["empty", "return 0.0"]),
    ("min in the denominator", _re_min, ["LARGER"]),
    ("sum in the denominator", _re_sum_denominator, ["not by their sum"]),
    ("norms of the whole arrays", _re_norms, ["elementwise"]),
    ("returns the array", lambda a, b, floor=1e-8: np.abs(np.asarray(a) - np.asarray(b)), ["one number"]),
    ("returns a pass/fail flag", lambda a, b, floor=1e-8: relative_error(a, b, floor) < 1e-5, ["True/False"]),
]


def _gc_first_only(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    i = (0,) * x.ndim
    return relative_error(grad_f(x)[i], central_difference(f, x, i, eps))


def _gc_sums(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = [central_difference(f, x, i, eps) for i in np.ndindex(x.shape)]
    return relative_error(np.sum(grad_f(x)), np.sum(numeric))


def _gc_flat(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.array([central_difference(f, x, i, eps) for i in range(len(x))])
    return relative_error(np.asarray(grad_f(x))[: len(x)], numeric)


def _gc_no_convert(f, grad_f, x, eps=1e-6):
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return relative_error(grad_f(x), numeric)


def _gc_converts_only_analytic(f, grad_f, x, eps=1e-6):
    analytic = np.asarray(grad_f(np.asarray(x, dtype=np.float64)))
    numeric = np.zeros(x.shape)
    x = x.copy()
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return relative_error(analytic, numeric)


def _gc_leaky(f, grad_f, x, eps=1e-6):
    numeric = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        x[i] += eps
        f_plus = f(x)
        x[i] -= 2 * eps
        numeric[i] = (f_plus - f(x)) / (2 * eps)
    return relative_error(grad_f(x), numeric)


def _gc_mean(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x), dtype=np.float64)
    errors = [relative_error(analytic[i], central_difference(f, x, i, eps)) for i in np.ndindex(x.shape)]
    return float(np.mean(errors))


def _gc_one_sided(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        numeric[i] = (f(x) - fx) / eps
        x[i] = old
    return relative_error(grad_f(x), numeric)


def _gc_allclose_flag(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return 0.0 if np.allclose(grad_f(x), numeric, rtol=1e-5, atol=1e-8) else 1.0


def _gc_absolute(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return float(np.max(np.abs(np.asarray(grad_f(x)) - numeric)))


def _gc_builtin_max(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x), dtype=np.float64)
    return max(relative_error(analytic[i], central_difference(f, x, i, eps)) for i in np.ndindex(x.shape))


def _gc_ravel_index(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.zeros(x.size)
    for k in range(x.size):              # x[k] on a 2-D x is a whole row
        numeric[k] = central_difference(f, x, k % len(x), eps)
    return relative_error(np.ravel(grad_f(x)), numeric)


def _gc_divide_by_eps(f, grad_f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        numeric[i] = (f(xp) - f(xm)) / eps
    return relative_error(grad_f(x), numeric)


GRADCHECK_WRONG = [
    ("first element only", _gc_first_only, ["WRONG", "every element"]),
    ("sums only", _gc_sums, ["WRONG", "sums"]),
    ("flat 1-D only", _gc_flat, ["x is 3x4"]),
    ("float32 x not converted", _gc_no_convert, ["float32", "float64"]),
    ("float32 differences, float64 analytic", _gc_converts_only_analytic, ["f was evaluated at a float32 x"]),
    ("x left perturbed", _gc_leaky, ["x was changed"]),
    ("mean of the errors", _gc_mean, ["one element of 200", "max"]),
    ("one-sided differences", _gc_one_sided, ["CORRECT", "one-sided"]),
    ("pass/fail flag from allclose", _gc_allclose_flag, ["about 1e-3", "not a pass/fail flag"]),
    ("absolute error", _gc_absolute, ["not an absolute error"]),
    ("builtin max skips NaN", _gc_builtin_max, ["NaN", "max()"]),
    ("integer index into 2-D x", _gc_ravel_index, ["x is 2-D", "np.ndindex"]),
    ("divides by eps", _gc_divide_by_eps, ["CORRECT"]),
    ("returns a bool", lambda f, g, x, eps=1e-6: my_gradcheck(f, g, x, eps) < 1e-5, ["True/False"]),
    ("forgot return", lambda f, g, x, eps=1e-6: None, ["returned None"]),
]

WRONG = ([(ch05.central_difference, {}, fn, words, f"central: {name}") for name, fn, words in CENTRAL_WRONG]
         + [(ch05.relative_error, {}, fn, words, f"relerr: {name}") for name, fn, words in RELERR_WRONG]
         + [(ch05.my_gradcheck, {}, fn, words, f"gradcheck: {name}") for name, fn, words in GRADCHECK_WRONG])


@pytest.mark.parametrize("checker, kwargs, fn, words", [w[:4] for w in WRONG], ids=[w[4] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, kwargs, fn, words):
    result = checker(fn, show=False, **kwargs)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _cd_copies(f, x, i, eps=1e-6):
    xp, xm = x.copy(), x.copy()
    xp[i] += eps
    xm[i] -= eps
    return (f(xp) - f(xm)) / (2 * eps)


def _cd_arithmetic_restore(f, x, i, eps=1e-6):
    x[i] += eps               # restored by arithmetic: may land one rounding step away, harmless
    f_plus = f(x)
    x[i] -= 2 * eps
    f_minus = f(x)
    x[i] += eps
    return 0.5 * (f_plus - f_minus) / eps


def _cd_unit_vector(f, x, i, eps=1e-6):
    e = np.zeros_like(x)
    e[i] = eps
    return float((f(x + e) - f(x - e)) / (2 * eps))


def _re_where(a, b, floor=1e-8):
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    if not a.size:
        return 0.0
    scale = np.where(np.abs(a) > np.abs(b), np.abs(a), np.abs(b))
    return float((np.abs(a - b) / np.where(scale < floor, floor, scale)).max())


def _re_loop(a, b, floor=1e-8):
    a, b = np.ravel(np.asarray(a, float)), np.ravel(np.asarray(b, float))
    worst = 0.0
    for x, y in zip(a, b):
        err = abs(x - y) / max(abs(x), abs(y), floor)
        if np.isnan(err):             # NaN wins, like np.max
            return float("nan")
        worst = max(worst, err)
    return worst


def _gc_list_comprehension(f, grad_f, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64).copy()
    numeric = np.array([central_difference(f, x, i, eps) for i in np.ndindex(x.shape)]).reshape(x.shape)
    return relative_error(grad_f(x), numeric)


def _gc_flat_view(f, grad_f, x, eps=1e-6):
    x = x.astype(np.float64)          # a float64 copy
    flat = x.reshape(-1)              # a view: perturbing flat[k] perturbs x
    numeric = np.empty(flat.size)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = f(x)
        flat[k] = old - eps
        minus = f(x)
        flat[k] = old
        numeric[k] = (plus - minus) / (2 * eps)
    return relative_error(np.ravel(grad_f(x)), numeric)


def _gc_zeros_like_input(f, grad_f, x, eps=1e-6):
    numeric = np.zeros_like(x)        # float32 when x is: stores the numbers only (about 7 digits)
    x = np.array(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        numeric[i] = central_difference(f, x, i, eps)
    return relative_error(grad_f(x), numeric)


RIGHT = [
    (ch05.central_difference, {}, _cd_copies, "central: two copies"),
    (ch05.central_difference, {}, _cd_arithmetic_restore, "central: restored by arithmetic"),
    (ch05.central_difference, {}, _cd_unit_vector, "central: a unit vector"),
    (ch05.relative_error, {}, _re_where, "relerr: np.where"),
    (ch05.relative_error, {}, _re_loop, "relerr: a Python loop"),
    (ch05.my_gradcheck, {}, _gc_list_comprehension, "gradcheck: list comprehension"),
    (ch05.my_gradcheck, {}, _gc_flat_view, "gradcheck: a flat view"),
    (ch05.my_gradcheck, {}, _gc_zeros_like_input, "gradcheck: numeric stored in x's dtype"),
]


@pytest.mark.parametrize("checker, kwargs, fn", [r[:3] for r in RIGHT], ids=[r[3] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, kwargs, fn):
    result = checker(fn, show=False, **kwargs)
    assert result.status == "pass", result.message
