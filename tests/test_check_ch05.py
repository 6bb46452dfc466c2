"""Chapter 05 checkers: pass on reference answers, "todo" on stubs, and catch the
plausible wrong answers with a message that helps."""
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


def test_copying_central_difference_passes():
    def copying(f, x, i, eps=1e-6):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        return (f(xp) - f(xm)) / (2 * eps)
    assert ch05.central_difference(copying, show=False).passed


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch05, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


# ------------------------------------------------------------------ plausible wrong answers

def fails(checker, fn, *words):
    result = checker(fn, show=False)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message
    return result


def test_one_sided_difference_is_caught():
    def forward(f, x, i, eps=1e-6):
        fx = f(x)
        old = x[i]
        x[i] = old + eps
        f_plus = f(x)
        x[i] = old
        return (f_plus - fx) / eps
    fails(ch05.central_difference, forward, "one-sided", "O(eps**2)")


def test_dividing_by_eps_is_caught():
    def by_eps(f, x, i, eps=1e-6):
        return 2 * central_difference(f, x, i, eps)
    fails(ch05.central_difference, by_eps, "2*eps")


def test_sign_flip_is_caught():
    fails(ch05.central_difference, lambda f, x, i, eps=1e-6: -central_difference(f, x, i, eps), "sign")


def test_not_restoring_x_is_caught():
    def leaky(f, x, i, eps=1e-6):
        x[i] += eps
        f_plus = f(x)
        x[i] -= 2 * eps
        return (f_plus - f(x)) / (2 * eps)
    fails(ch05.central_difference, leaky, "x was changed")


def test_missing_default_eps_is_reported():
    fails(ch05.central_difference, lambda f, x, i, eps: central_difference(f, x, i, eps), "default eps",
          "TypeError")


def test_missing_abs_in_numerator():
    def no_abs(a, b, floor=1e-8):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max((a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))
    fails(ch05.relative_error, no_abs, "absolute value")


def test_missing_abs_in_denominator():
    def no_abs(a, b, floor=1e-8):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b) / np.maximum(np.maximum(a, b), floor)))
    fails(ch05.relative_error, no_abs, "negative")


def test_missing_guard_gives_nan_message():
    def no_guard(a, b, floor=1e-8):
        a, b = np.asarray(a, float), np.asarray(b, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))
    fails(ch05.relative_error, no_guard, "nan", "floor")


def test_overall_norm_instead_of_elementwise():
    def overall(a, b, floor=1e-8):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), floor))
    fails(ch05.relative_error, overall, "elementwise", "per element")


def test_returning_bool_is_caught():
    fails(ch05.my_gradcheck, lambda f, g, x, eps=1e-6: my_gradcheck(f, g, x, eps) < 1e-5, "True/False")


def test_gradcheck_of_first_element_only():
    def first_only(f, grad_f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        i = (0,) * x.ndim
        return relative_error(grad_f(x)[i], central_difference(f, x, i, eps))
    fails(ch05.my_gradcheck, first_only, "WRONG", "every element")


def test_gradcheck_of_sums_only():
    def sums(f, grad_f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        numeric = [central_difference(f, x, i, eps) for i in np.ndindex(x.shape)]
        return relative_error(np.sum(grad_f(x)), np.sum(numeric))
    fails(ch05.my_gradcheck, sums, "WRONG", "sums")


def test_gradcheck_flat_1d_only():
    def flat(f, grad_f, x, eps=1e-6):
        x = np.array(x, dtype=np.float64)
        numeric = np.array([central_difference(f, x, i, eps) for i in range(len(x))])
        return relative_error(np.asarray(grad_f(x))[: len(x)], numeric)
    fails(ch05.my_gradcheck, flat, "x is 3x4")


def test_gradcheck_in_float32_is_caught():
    def no_convert(f, grad_f, x, eps=1e-6):
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            numeric[i] = central_difference(f, x, i, eps)
        return relative_error(grad_f(x), numeric)
    fails(ch05.my_gradcheck, no_convert, "float32", "float64")


def test_gradcheck_that_leaves_x_perturbed():
    def leaky(f, grad_f, x, eps=1e-6):
        numeric = np.zeros_like(x, dtype=np.float64)
        for i in np.ndindex(x.shape):
            x[i] += eps
            f_plus = f(x)
            x[i] -= 2 * eps
            numeric[i] = (f_plus - f(x)) / (2 * eps)
        return relative_error(grad_f(x), numeric)
    fails(ch05.my_gradcheck, leaky, "x was changed")
