"""Checkers for chapter 04 (reverse-mode autodiff): backward rules as plain NumPy
functions, the broadcast reduction and the topological sort.

Each backward-rule checker works in two steps.

1. Direct cases: the learner's function on fixed, random and adversarial inputs
   (scalars, size 0, float32, non-contiguous views), with the incoming gradient and the
   inputs passed read-only, compared with the exact answer; a wrong answer gets a hint
   for the usual mistake (a missing transpose, a broadcast dimension not reduced, a
   reduced axis not re-inserted, a float64 result for float32 inputs).
2. The real machinery: the learner's rule is plugged into a copy of the op record
   (`dataclasses.replace(OPS[name], backward=...)`), swapped into the op table `OPS` for
   the duration of the case and always restored, and the library's own
   `fastgrad.gradcheck` runs on every sample the op knows (broadcasting, batches, axes).
   A failure names gradcheck's worst element: which input, which element, analytic
   versus numeric.

`topo_sort` runs on graphs of `Node`s whose `.parents` reads are watched: a search that
explores shared nodes again and again (exponential on a ladder of diamonds) or recurses
(one Python frame per node) is stopped and named before it can hang the cell or, with
a raised recursion limit, crash the kernel.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from typing import Callable

import numpy as np

from ._base import (TIME_LIMIT, Case, CaseFailed, CaseTimeout, CheckResult, learner_frame, expect_close, read_only,
                    run_cases)

__all__ = ["Node", "chain", "div_backward", "matmul_backward", "mul_backward", "sum_backward", "topo_sort",
           "unbroadcast"]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pair(result, what: str) -> tuple:
    """The learner returned (grad_a, grad_b)?"""
    if result is None:
        raise CaseFailed(f"the function returned None; expected a pair {what} (did you forget `return`?).")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CaseFailed(f"expected a pair {what}, got {type(result).__name__}"
                         + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "") + ".")
    return tuple(result)


def _with_hint(check: Callable[[], None], hint: str) -> None:
    """Run `check`; on failure, append `hint` to the message."""
    try:
        check()
    except CaseFailed as failure:
        raise CaseFailed(f"{failure} Hint: {hint}") from None


def _dtype_hint(want: np.ndarray, got) -> str:
    """A hint for a float64 answer to float32 inputs (or the other way round), else ''."""
    got_dtype = getattr(got, "dtype", None)
    if got_dtype is None or want.dtype.kind != "f" or got_dtype == want.dtype:
        return ""
    if want.dtype == np.float64:
        return (f"the inputs are float64 and a gradient has its input's dtype; yours is {got_dtype}: "
                "something in your code converts to a smaller type; keep grad's dtype.")
    return (f"the inputs are {want.dtype} and a gradient has its input's dtype; yours is {got_dtype}. "
            "Something in your code created a new array in another dtype (np.ones/np.zeros/np.full "
            "default to float64, .astype(float) is float64): keep grad's dtype, e.g. dtype=grad.dtype.")


def _close(want, got, what: str, hint: str, rtol=None, atol=None) -> None:
    """expect_close with `hint` appended, or a dtype hint for a wrong dtype (no hint for None)."""
    if got is None:
        expect_close(want, got, what=what)
    _with_hint(lambda: expect_close(want, got, what=what, rtol=rtol, atol=atol),
               _dtype_hint(np.asarray(want), got) or hint)


def _mistake(got, formulas: list) -> str:
    """The message of the first wrong formula in `formulas`, a list of (formula, message),
    whose value `got` equals; '' when none does."""
    if got is None:
        return ""
    got = np.asarray(got)
    for formula, message in formulas:
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(formula())
        except ValueError:
            continue
        if got.shape == value.shape and value.size and np.allclose(got, value, rtol=1e-4, atol=1e-6):
            return message
    return ""


# ----------------------------------------------------------------------------- the real machinery

@contextlib.contextmanager
def swapped_backward(op_name: str, backward: Callable):
    """Inside the block, `OPS[op_name]` is a copy of the op record whose backward is
    `backward`; the original record is put back afterwards, even after an error, a time
    limit or an interrupt. Everything that looks the op up in the table (`apply`,
    `Tensor` methods, `fastgrad.gradcheck`) uses the copy meanwhile."""
    from fastgrad.ops import OPS
    original = OPS[op_name]
    OPS[op_name] = dataclasses.replace(original, backward=backward)
    try:
        yield OPS[op_name]
    finally:
        OPS[op_name] = original


def _fit(grad, input_shape: tuple, out_shape: tuple, what: str, unreduced: tuple | None = None) -> np.ndarray:
    """A learner's gradient as an ndarray of `input_shape`. A gradient of shape `unreduced`
    (the input broadcast up, before the reduction) is summed back by the library's
    sum_to_shape: the learner writes that reduction in exercise 5, the rules before it ignore it."""
    from fastgrad.ops import sum_to_shape
    if grad is None:
        raise CaseFailed(f"{what} is None; expected an array (did you forget `return`?).")
    grad = np.asarray(grad)
    if grad.shape == tuple(input_shape):
        return grad
    if unreduced is not None and grad.shape == tuple(unreduced):
        return sum_to_shape(np.ascontiguousarray(grad), tuple(input_shape))
    raise CaseFailed(f"{what} has shape {grad.shape}, but its input has shape {tuple(input_shape)} "
                     f"(the output, and grad, have shape {tuple(out_shape)}).")


def _label(op_name: str, inputs, attrs: dict) -> str:
    shapes = ", ".join(str(np.shape(x)) for x in inputs)
    return f"{op_name}({shapes}{''.join(f', {k}={v!r}' for k, v in attrs.items())})"


def _table_case(op_name: str, make_backward: Callable[[Callable], Callable], input_names: tuple,
                hints: tuple, keep: Callable | None = None, what: str = "every sample case",
                seed: int = 0) -> Case:
    """Plug the learner's rule (wrapped by `make_backward(fn)` into the op table's
    backward signature) into a copy of `OPS[op_name]` and run `fastgrad.gradcheck` on
    the op's samples (`keep(inputs, attrs)` selects some), exactly as `check_op` does."""
    def run(fn):
        from fastgrad.autograd import apply
        from fastgrad.gradcheck import gradcheck
        from fastgrad.ops import OPS

        with swapped_backward(op_name, make_backward(fn)):
            op = OPS[op_name]
            samples = []
            for case in range(op.cases):
                inputs, attrs = op.sample(np.random.default_rng(seed + case), np.float64, case=case)
                if keep is None or keep(inputs, attrs):
                    samples.append((case, inputs, attrs))
            if not samples:
                raise RuntimeError(f"checker: no sample of {op_name!r} fits this exercise")
            for case, inputs, attrs in samples:
                label = _label(op_name, inputs, attrs)

                def forward(*xs, _attrs=attrs):
                    return apply(op_name, *xs, **_attrs)

                try:
                    result = gradcheck(forward, *inputs, seed=seed + case, name=label)
                except CaseFailed as failure:
                    raise CaseFailed(f"on {label}: {failure}") from None
                except ValueError as exc:
                    if "read-only" in str(exc):
                        raise
                    raise CaseFailed(f"on {label}, your rule raised ValueError: {exc}{learner_frame(exc)}") from None
                except Exception as exc:
                    raise CaseFailed(f"on {label}, your rule raised {type(exc).__name__}: "
                                     f"{exc}{learner_frame(exc)}") from None
                if not result.passed:
                    w = result.worst
                    where = (f"worst element: {input_names[w.input_index]}{list(w.index)}, your rule gives "
                             f"{w.analytic:.6g}, central differences {w.numeric:.6g} (relative error "
                             f"{w.rel_error:.2g})" if w is not None else "no element could be compared")
                    raise CaseFailed(f"fastgrad.gradcheck fails on {label}: {result.failures} of "
                                     f"{result.n_checked} gradient elements out of tolerance; {where}. "
                                     f"Hint: {hints[w.input_index] if w is not None else hints[0]}")
    return Case(f"your rule swapped into a copy of fastgrad's op table: fastgrad.gradcheck on {what} "
                f"of `{op_name}`", run)


def _table_info(op_name: str, what: str = "every sample case",
                how: str = "with your rule in the op table") -> Callable[[Callable], list[str]]:
    def info(fn):
        return [f"fastgrad.gradcheck passes {what} of `{op_name}` {how}."]
    return info


def _binary_backward(fn: Callable, names: tuple[str, str]) -> Callable:
    """The learner's `rule(grad, a, b) -> (grad_a, grad_b)` in the op table's signature."""
    def backward(g, inputs, out, **attrs):
        a, b = inputs
        got = _pair(fn(*read_only(g, a, b)), f"({names[0]}, {names[1]})")
        return (_fit(got[0], a.shape, out.shape, names[0], out.shape),
                _fit(got[1], b.shape, out.shape, names[1], out.shape))
    return backward


# ----------------------------------------------------------------------------- mul / div

def _binary_case(description: str, shape, dtype, rule: Callable, names: tuple[str, str],
                 hints: tuple[str, str], mistakes: tuple[list, list] = ([], []), positive_b: bool = False,
                 seed: int = 0) -> Case:
    """`mistakes`: for each output, (formula(grad, a, b), message) pairs of the usual wrong
    answers, so the hint names the one the learner wrote."""
    def run(fn):
        rng = _rng(seed)
        a = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape).astype(dtype)
        if positive_b:
            b = (np.abs(b) + 0.5).astype(dtype)
        grad = rng.standard_normal(shape).astype(dtype)
        want_a, want_b = rule(grad, a, b)
        try:
            result = fn(*read_only(grad, a, b))
        except ValueError as exc:
            if "read-only" in str(exc):
                raise
            raise CaseFailed(f"raised ValueError: {exc}{learner_frame(exc)}. Hint: grad, a and b all have shape "
                             f"{tuple(shape)} here and the rule is elementwise (*, /), not a matrix product "
                             "(@, np.dot).") from None
        got_a, got_b = _pair(result, f"({names[0]}, {names[1]})")
        rtol = 1e-4 if dtype == np.float32 else None
        for want, got, name, hint, wrong in zip((want_a, want_b), (got_a, got_b), names, hints, mistakes):
            _close(want, got, name, _mistake(got, [(lambda f=f: f(grad, a, b), m) for f, m in wrong]) or hint,
                   rtol=rtol)
    return Case(description, run)


_SHAPES = [("2x3 float64", (2, 3), np.float64), ("a scalar (shape ())", (), np.float64),
           ("1 element", (1,), np.float64), ("size 0", (0, 3), np.float64),
           ("5x7 float32", (5, 7), np.float32), ("4x33 random float64", (4, 33), np.float64)]


def _mul_rule(grad, a, b):
    return grad * b, grad * a


def mul_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `mul_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a * b` (same shapes),
    then run `fastgrad.gradcheck` with it as the backward of the op table's `mul`."""
    hints = ("d(a*b)/da = b, so grad_a = grad * b (not grad * a), elementwise.",
             "d(a*b)/db = a, so grad_b = grad * a (not grad * b), elementwise.")
    chain_rule = "multiply by the incoming grad too (the chain rule): "
    mistakes = ([(lambda g, a, b: b, "you returned b, the local derivative: " + chain_rule + "grad_a = grad * b."),
                 (lambda g, a, b: g, "you returned grad unchanged, which is add's backward: for a product, "
                                     "grad_a = grad * b.")],
                [(lambda g, a, b: a, "you returned a, the local derivative: " + chain_rule + "grad_b = grad * a."),
                 (lambda g, a, b: g, "you returned grad unchanged, which is add's backward: for a product, "
                                     "grad_b = grad * a.")])
    cases = [_binary_case(d, s, t, _mul_rule, ("grad_a", "grad_b"), hints, mistakes, seed=i)
             for i, (d, s, t) in enumerate(_SHAPES)]
    cases.append(_table_case("mul", lambda fn: _binary_backward(fn, ("grad_a", "grad_b")), ("a", "b"), hints))
    return run_cases("mul_backward", fn, cases, show=show, info=_table_info("mul"))


def _div_rule(grad, a, b):
    return grad / b, -grad * a / (b * b)


def div_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `div_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a / b` (same shapes),
    then run `fastgrad.gradcheck` with it as the backward of the op table's `div`."""
    hints = ("d(a/b)/da = 1/b, so grad_a = grad / b.",
             "d(a/b)/db = -a/b**2: mind the minus sign, the factor a and the square, "
             "grad_b = -grad * a / b**2 (with parentheses: / (b * b), not / b * b).")
    mistakes = ([(lambda g, a, b: g * b, "you computed grad * b: the derivative of a / b with respect to a is "
                                         "1/b, so grad_a = grad / b."),
                 (lambda g, a, b: 1 / b, "you returned 1/b, the local derivative: multiply by the incoming grad "
                                         "too (the chain rule), grad_a = grad / b.")],
                [(lambda g, a, b: g * a / (b * b), "the minus sign is missing: d(a/b)/db = -a/b**2."),
                 (lambda g, a, b: -g * a / b, "the square is missing: d(a/b)/db = -a/b**2, so divide by b * b."),
                 (lambda g, a, b: -g / (b * b), "the factor a is missing: d(a/b)/db = -a/b**2."),
                 (lambda g, a, b: -g * a, "`/ b * b` divides by b and then multiplies by b again (Python reads "
                                          "left to right): write / (b * b) or / b**2."),
                 (lambda g, a, b: -a / (b * b), "you returned -a/b**2, the local derivative: multiply by the "
                                                "incoming grad too (the chain rule).")])
    cases = [_binary_case(d, s, t, _div_rule, ("grad_a", "grad_b"), hints, mistakes, positive_b=(i % 2 == 0),
                          seed=i)
             for i, (d, s, t) in enumerate(_SHAPES)]
    cases.append(_table_case("div", lambda fn: _binary_backward(fn, ("grad_a", "grad_b")), ("a", "b"), hints))
    return run_cases("div_backward", fn, cases, show=show, info=_table_info("div"))


# ----------------------------------------------------------------------------- matmul

def _swap_last(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _matmul_case(description: str, a_shape, b_shape, dtype, seed: int, non_contiguous: bool = False) -> Case:
    def run(fn):
        rng = _rng(seed)
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        if non_contiguous:  # transposed views: same values, other strides
            a = _swap_last(np.ascontiguousarray(_swap_last(a)))
        grad = rng.standard_normal(np.matmul(a, b).shape).astype(dtype)
        want_a, want_b = grad @ _swap_last(b), _swap_last(a) @ grad
        batched = len(a_shape) > 2
        grad_in, b_in = read_only(grad, b)
        a_in = a if non_contiguous else read_only(a)
        try:
            result = fn(grad_in, a_in, b_in)
        except ValueError as exc:
            if "read-only" not in str(exc) and ("matmul" in str(exc) or "align" in str(exc)
                                                or "mismatch" in str(exc) or "broadcast" in str(exc)):
                extra = (" For batched inputs transpose only the last two axes, np.swapaxes(b, -1, -2): "
                         "b.T reverses ALL axes.") if batched else ""
                raise CaseFailed(f"raised ValueError: {exc}{learner_frame(exc)}. Hint: shapes tell you where "
                                 f"the transposes go: grad_a must have a's shape {a.shape}, so grad_a = grad "
                                 f"{grad.shape} @ b^T {_swap_last(b).shape}; grad_b = a^T {_swap_last(a).shape} "
                                 f"@ grad. Use the matrix product @, not the elementwise *.{extra}") from None
            raise
        got_a, got_b = _pair(result, "(grad_a, grad_b)")
        t_hint = ("for batched inputs transpose only the last two axes: np.swapaxes(b, -1, -2) "
                  "(b.T reverses ALL axes), and multiply with @ (np.dot pairs every batch with every "
                  "other)." if batched else "")
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        _close(want_a, got_a, "grad_a", t_hint or _mistake(got_a, [
            (lambda: grad * b, "you computed grad * b, an elementwise product: use the matrix product @, not the "
                               "elementwise *."),
            (lambda: grad @ b, "you computed grad @ b: b needs a transpose, grad_a = grad @ b.T; grad @ b has "
                               "the right shape only because b is square."),
            (lambda: b @ grad.T, "you computed b @ grad.T, the transpose of grad @ b.T: the operands go in the "
                                 "order grad @ b.T."),
            (lambda: b.T @ grad, "you computed b.T @ grad: matrix products do not commute, the operands go in "
                                 "the order grad @ b.T."),
        ]) or f"grad_a = grad @ b.T (shape {want_a.shape}); a missing transpose of b gives the right shape only "
              "when b is square, and the operands go in this order.", rtol=rtol, atol=rtol)
        _close(want_b, got_b, "grad_b", t_hint or _mistake(got_b, [
            (lambda: grad * a, "you computed grad * a, an elementwise product: use the matrix product @, not the "
                               "elementwise *."),
            (lambda: a @ grad, "you computed a @ grad: a needs a transpose, grad_b = a.T @ grad; a @ grad has "
                               "the right shape only because a is square."),
            (lambda: grad.T @ a, "you computed grad.T @ a, the transpose of a.T @ grad: the operands go in the "
                                 "order a.T @ grad."),
            (lambda: grad @ a.T, "you computed grad @ a.T: matrix products do not commute, the operands go in "
                                 "the order a.T @ grad."),
        ]) or f"grad_b = a.T @ grad (shape {want_b.shape}); a missing transpose of a gives the right shape only "
              "when a is square, and the operands go in this order.", rtol=rtol, atol=rtol)
    return Case(description, run)


def _matmul_backward(fn: Callable) -> Callable:
    def backward(g, inputs, out, **attrs):
        a, b = inputs
        got = _pair(fn(*read_only(g, a, b)), "(grad_a, grad_b)")
        batch = out.shape[:-2]      # batch dimensions broadcast: summed back like a broadcast add
        return (_fit(got[0], a.shape, out.shape, "grad_a", batch + a.shape[-2:]),
                _fit(got[1], b.shape, out.shape, "grad_b", batch + b.shape[-2:]))
    return backward


def matmul_backward(fn: Callable, *, batched: bool = False, show: bool = True) -> CheckResult:
    """Check `matmul_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a @ b`.

    a is (m, k), b is (k, n), grad is (m, n). With `batched=True` also (B, m, k) @ (B, k, n).
    Then `fastgrad.gradcheck` runs with it as the backward of the op table's `matmul`, on
    the 2-D samples (with `batched=True`, also the batched ones, batch dimensions broadcast).
    """
    cases = [
        _matmul_case("square 3x3 @ 3x3 float64", (3, 3), (3, 3), np.float64, 0),
        _matmul_case("2x3 @ 3x4 float64", (2, 3), (3, 4), np.float64, 1),
        _matmul_case("1x1 @ 1x1", (1, 1), (1, 1), np.float64, 2),
        _matmul_case("row vector 1x5 @ 5x1", (1, 5), (5, 1), np.float64, 3),
        _matmul_case("size 0: 0x3 @ 3x2", (0, 3), (3, 2), np.float64, 4),
        _matmul_case("17x9 @ 9x13 float32", (17, 9), (9, 13), np.float32, 5),
        _matmul_case("non-contiguous a (a transposed view)", (6, 4), (4, 5), np.float64, 6, non_contiguous=True),
    ]
    if batched:
        cases += [
            _matmul_case("batched 2x3x4 @ 2x4x5", (2, 3, 4), (2, 4, 5), np.float64, 7),
            _matmul_case("batched square 3x4x4 @ 3x4x4", (3, 4, 4), (3, 4, 4), np.float64, 8),
        ]
    hints = ("grad_a = grad @ swapaxes(b, -1, -2): shape of a." if batched else "grad_a = grad @ b.T: shape of a.",
             "grad_b = swapaxes(a, -1, -2) @ grad: shape of b." if batched else "grad_b = a.T @ grad: shape of b.")
    what = "the 2-D and batched samples" if batched else "the 2-D samples"

    def fits(inputs, attrs):
        ndims = [np.ndim(x) for x in inputs]
        return min(ndims) >= 2 and (batched or max(ndims) == 2)
    cases.append(_table_case("matmul", _matmul_backward, ("a", "b"), hints, keep=fits, what=what))
    return run_cases("matmul_backward", fn, cases, show=show, info=_table_info("matmul", what))


# ----------------------------------------------------------------------------- sum

def _expected_sum_grad(grad: np.ndarray, shape: tuple, axis, keepdims: bool) -> np.ndarray:
    ndim = len(shape)
    axes = tuple(range(ndim)) if axis is None else tuple(
        a % max(ndim, 1) for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))
    keep = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return np.broadcast_to(np.reshape(grad, keep), shape).astype(grad.dtype)


def _check_not_broadcast_view(got) -> None:
    if isinstance(got, np.ndarray) and got.size > 1 and any(s == 0 and n > 1 for s, n in zip(got.strides, got.shape)):
        raise CaseFailed("the result is a broadcast view (np.broadcast_to without .copy()): its elements share "
                         "memory, one number seen many times, and NumPy marks it read-only. A gradient is "
                         "accumulated and updated in place later (grad += ..., an optimizer step), so return a "
                         "real array: np.broadcast_to(grad, input_shape).copy().")


def _sum_hint(axis, keepdims: bool, grad_shape: tuple) -> str:
    if isinstance(axis, tuple) and not keepdims:
        return (f"axis is a tuple here, {axis} (the library's sum takes None, an int or a tuple): all those "
                "axes are gone from grad; np.expand_dims(grad, axis) accepts the tuple and puts them back.")
    if axis is not None and not keepdims:
        return (f"with keepdims=False, re-insert the summed axis {axis} (grad = np.expand_dims(grad, axis): it "
                f"returns a new view, so assign it) before np.broadcast_to(grad, input_shape): otherwise NumPy "
                f"lines grad {grad_shape} up with the LAST axes of the input.")
    kept = (f"with keepdims=True grad {grad_shape} still has the summed axes, as size 1, so no np.expand_dims "
            "is needed: " if keepdims and axis is not None else "")
    return (kept + "every input element contributed once to its sum, so it gets the grad of that sum: "
            "np.broadcast_to(grad, input_shape) copies it back (a sum's backward copies, it does not divide: "
            "that is mean's).")


def _sum_case(description: str, shape, axis, keepdims: bool, dtype=np.float64, seed: int = 0) -> Case:
    def run(fn):
        rng = _rng(seed)
        x = rng.standard_normal(shape).astype(dtype)
        out = np.sum(x, axis=axis, keepdims=keepdims)
        grad = np.asarray(rng.standard_normal(np.shape(out))).astype(dtype)
        want = _expected_sum_grad(grad, tuple(shape), axis, keepdims)
        hint = _sum_hint(axis, keepdims, grad.shape)
        try:
            got = fn(read_only(grad), tuple(shape), axis, keepdims)
        except (ValueError, TypeError, IndexError) as exc:
            if "read-only" in str(exc):
                raise
            raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: {hint}") from None
        _close(want, got, "grad_x", hint)
        _check_not_broadcast_view(got)
    return Case(description, run)


def _sum_backward(fn: Callable) -> Callable:
    def backward(g, inputs, out, axis=None, keepdims=False):
        got = fn(read_only(g), tuple(inputs[0].shape), axis, keepdims)
        return (_fit(got, inputs[0].shape, out.shape, "grad_x"),)
    return backward


def sum_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `sum_backward(grad, input_shape, axis, keepdims) -> grad_x`.

    `out = x.sum(axis=axis, keepdims=keepdims)`; `axis` is None, an int (possibly negative)
    or a tuple of ints. The answer is a new array of `input_shape` with grad's dtype. Then
    `fastgrad.gradcheck` runs with it as the backward of the op table's `sum`.
    """
    cases = [
        _sum_case("(3, 4) axis=1 keepdims=True", (3, 4), 1, True),
        _sum_case("(3, 4) axis=0 keepdims=True", (3, 4), 0, True, seed=1),
        _sum_case("(3, 4) axis=None (sum of everything)", (3, 4), None, False, seed=2),
        _sum_case("(3, 4) axis=None keepdims=True (grad has shape (1, 1))", (3, 4), None, True, seed=10),
        _sum_case("(3, 4) axis=1 keepdims=False", (3, 4), 1, False, seed=3),
        _sum_case("square (4, 4) axis=1 keepdims=False", (4, 4), 1, False, seed=4),
        _sum_case("(2, 3, 4) axis=1 keepdims=False", (2, 3, 4), 1, False, seed=5),
        _sum_case("(2, 3, 4) axis=-1 keepdims=False", (2, 3, 4), -1, False, seed=6),
        _sum_case("(2, 3, 4) axis=(0, 2) keepdims=False (a tuple of axes)", (2, 3, 4), (0, 2), False, seed=11),
        _sum_case("(5,) axis=0 keepdims=False (to a scalar)", (5,), 0, False, seed=7),
        _sum_case("size 0: (0, 3) axis=0 keepdims=False", (0, 3), 0, False, seed=8),
        _sum_case("(3, 5) axis=0 keepdims=False float32", (3, 5), 0, False, np.float32, seed=9),
        _sum_case("(3, 5) axis=None float32", (3, 5), None, False, np.float32, seed=12),
        _sum_case("(3, 5) axis=1 keepdims=True float32", (3, 5), 1, True, np.float32, seed=13),
    ]
    cases.append(_table_case("sum", _sum_backward, ("x",),
                             ("broadcast grad back to the input's shape, after putting back the summed axes.",)))
    return run_cases("sum_backward", fn, cases, show=show, info=_table_info("sum"))


# ----------------------------------------------------------------------------- unbroadcast

def _reference_unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    extra = grad.ndim - len(shape)
    g = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _unbroadcast_todo(grad_shape: tuple, shape: tuple) -> str:
    extra = len(grad_shape) - len(shape)
    ones = [extra + i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1]
    todo = []
    if extra:
        todo.append(f"sum the {extra} leading axes the input did not have")
    if ones:
        todo.append(f"sum axes {ones} of grad, where the input had size 1, with keepdims=True")
    return " and ".join(todo)


def _unbroadcast_case(description: str, grad_shape, shape, dtype=np.float64, seed: int = 0) -> Case:
    def run(fn):
        grad = _rng(seed).standard_normal(grad_shape).astype(dtype)
        want = _reference_unbroadcast(grad, tuple(shape))
        todo = _unbroadcast_todo(tuple(grad_shape), tuple(shape))
        try:
            got = fn(read_only(grad), tuple(shape))
        except (ValueError, IndexError, TypeError) as exc:
            if "read-only" in str(exc):
                raise
            raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: grad "
                             f"{tuple(grad_shape)} -> input shape {tuple(shape)}: {todo or 'nothing to reduce, return grad'}.") from None
        got_shape = np.shape(got) if got is not None else None
        if got is not None and got_shape != tuple(shape):
            if not todo:
                hint = "nothing was broadcast here (the input has grad's shape): return grad as it is."
            else:
                hint = ("the broadcast dimensions were not reduced at all: " if got_shape == tuple(grad_shape)
                        else "") + todo + " (grad.sum(...) returns a new array: assign it, grad = grad.sum(...))."
            if todo and len(got_shape) < len(shape):
                hint += " An axis that disappeared was summed without keepdims=True (or squeezed)."
            raise CaseFailed(f"result has shape {got_shape}, expected {tuple(shape)} (grad {tuple(grad_shape)} "
                             f"summed to the input's shape {tuple(shape)}). Hint: {hint}")
        _close(want, got, "reduced grad", "every copy of a broadcast value contributed to the output, so the "
               "gradient is the SUM over the copies (not the mean, not one of them).",
               rtol=1e-5 if dtype == np.float32 else None)
    return Case(description, run, time_limit=5.0)


def _add_backward(fn: Callable) -> Callable:
    """The backward of `add` written with the learner's unbroadcast."""
    def backward(g, inputs, out, **attrs):
        a, b = inputs
        return (_fit(fn(read_only(g), tuple(a.shape)), a.shape, out.shape, "unbroadcast(grad, a.shape)"),
                _fit(fn(read_only(g), tuple(b.shape)), b.shape, out.shape, "unbroadcast(grad, b.shape)"))
    return backward


def unbroadcast(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `unbroadcast(grad, shape) -> grad summed down to shape` (a.k.a. sum_to_shape).

    The forward broadcast an input of `shape` to `grad.shape`; every copy contributed, so
    the backward sums the copies: over leading axes the input did not have, and over axes
    where the input had size 1. Then `fastgrad.gradcheck` runs on the op table's `add`
    with a backward built from it: `(unbroadcast(grad, a.shape), unbroadcast(grad, b.shape))`.
    """
    cases = [
        _unbroadcast_case("same shape (3, 4) -> (3, 4): nothing to do", (3, 4), (3, 4)),
        _unbroadcast_case("bias: (3, 4) -> (4,)", (3, 4), (4,), seed=1),
        _unbroadcast_case("(3, 4) -> (1, 4)", (3, 4), (1, 4), seed=2),
        _unbroadcast_case("column: (3, 4) -> (3, 1)", (3, 4), (3, 1), seed=3),
        _unbroadcast_case("(2, 3, 4) -> (3, 1)", (2, 3, 4), (3, 1), seed=4),
        _unbroadcast_case("scalar: (2, 3) -> ()", (2, 3), (), seed=5),
        _unbroadcast_case("(5,) -> (1,)", (5,), (1,), seed=6),
        _unbroadcast_case("(1, 4) -> (1, 4): a size-1 axis that was not broadcast", (1, 4), (1, 4), seed=7),
        _unbroadcast_case("(2, 1, 3) -> (1, 1, 3): a size-1 axis broadcast, one not", (2, 1, 3), (1, 1, 3), seed=10),
        _unbroadcast_case("size 0: (0, 4) -> (4,)", (0, 4), (4,), seed=8),
        _unbroadcast_case("(64, 10) -> (10,) float32", (64, 10), (10,), np.float32, seed=9),
    ]
    cases.append(_table_case("add", _add_backward, ("a", "b"),
                             ("sum grad over the axes where a was broadcast.",
                              "sum grad over the axes where b was broadcast.")))
    return run_cases("unbroadcast", fn, cases, show=show,
                     info=_table_info("add", how="(broadcasting included) with a backward built from your unbroadcast"))


# ----------------------------------------------------------------------------- topological sort

class _Recursing(BaseException):
    """Raised from `Node.parents` when the call stack has grown far beyond where the case
    started: the learner's search recurses. A BaseException, so `except Exception` in the
    learner's code cannot swallow it."""


class _Revisiting(BaseException):
    """Raised from `Node.parents` when the learner's search has read far more parent lists
    than the graph has nodes: it explores shared nodes again and again."""


@dataclasses.dataclass
class _Watch:
    depth: int          # sys._getframe(depth) succeeding means the stack grew by the margin
    max_reads: int
    reads: int = 0


_WATCH: _Watch | None = None
_DEPTH_MARGIN = 100     # frames; an iterative search stays within a handful of its start


class Node:
    """A graph node for the topological-sort exercise: a name and the nodes it was computed from.

    Nodes compare and hash by identity (two nodes can share a name). While a checker
    case runs, reading `.parents` is watched (see `topo_sort`).
    """

    def __init__(self, name: str, parents=()):
        self.name = name
        self._parents = list(parents)

    @property
    def parents(self) -> list:
        watch = _WATCH
        if watch is not None:
            watch.reads += 1
            if watch.reads > watch.max_reads:
                raise _Revisiting()
            try:
                sys._getframe(watch.depth)
            except ValueError:      # the stack is not that deep: no recursion
                pass
            else:
                raise _Recursing()
        return self._parents

    @parents.setter
    def parents(self, value) -> None:
        self._parents = list(value)

    def __repr__(self) -> str:
        return f"Node({self.name!r})"


def chain(n: int) -> Node:
    """x0 -> x1 -> ... -> x{n-1}; returns the last node (the root of the backward pass)."""
    node = Node("x0")
    for i in range(1, n):
        node = Node(f"x{i}", [node])
    return node


def _stack_depth() -> int:
    frame, depth = sys._getframe(1), 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


@contextlib.contextmanager
def _watching(count: int):
    """Watch `.parents` reads during the learner's call: at most 20 per node (a correct
    search reads each node's parents once or twice), and no recursion."""
    global _WATCH
    usable = hasattr(sys, "_getframe")
    _WATCH = _Watch(depth=_stack_depth() + _DEPTH_MARGIN if usable else 10**9, max_reads=20 * count + 100)
    try:
        yield _WATCH
    finally:
        _WATCH = None


def _reachable(root: Node) -> list[Node]:
    seen, stack, out = {id(root)}, [root], []
    while stack:
        node = stack.pop()
        out.append(node)
        for p in node._parents:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return out


def _check_order(order, root: Node, expected_count: int) -> None:
    if order is None:
        raise CaseFailed("the function returned None; expected a list of nodes (did you forget `return`?).")
    if isinstance(order, (set, frozenset, dict)):
        raise CaseFailed(f"returned a {type(order).__name__}, which has no order; return a list, parents "
                         "before children.")
    order = list(order)
    for node in order:
        if not isinstance(node, Node):
            raise CaseFailed(f"the list contains {node!r} ({type(node).__name__}); expected the Node objects "
                             "themselves, not their names or ids.")
    seen: dict[int, int] = {}
    for position, node in enumerate(order):
        if id(node) in seen:
            raise CaseFailed(f"{node!r} appears twice (positions {seen[id(node)]} and {position}). Hint: keep a "
                             "`visited` set so a node reached along two paths (a diamond) is listed once; "
                             "otherwise its backward would run twice and its gradient double.")
        seen[id(node)] = position
    if len(order) != expected_count:
        missing = [n for n in _reachable(root) if id(n) not in seen]
        message = (f"got {len(order)} nodes, expected {expected_count} (every node reachable from the root "
                   "through .parents, the root and the leaves included).")
        names = {n.name for n in order}
        twins = [n for n in missing if n.name in names]
        if twins:
            message += (f" Missing: {twins[0]!r}, a different node with the same name as one in your list. "
                        "Hint: identify nodes by identity (a set of nodes, or of id(node)), not by name: two "
                        "nodes can share a name (two layers' weights both called 'w').")
        elif missing:
            message += f" Missing, for example: {missing[0]!r}."
        raise CaseFailed(message)
    for node in order:
        for parent in node._parents:
            if seen[id(parent)] > seen[id(node)]:
                raise CaseFailed(f"{parent!r} comes after its child {node!r} (positions {seen[id(parent)]} and "
                                 f"{seen[id(node)]}). Expected parents BEFORE children, the root last; backward "
                                 "then walks the list reversed. Hint: append a node only after all its parents "
                                 "are done (post-order), not when you first see it.")
    if order[-1] is not root:
        raise CaseFailed(f"the root should be last, got {order[-1]!r} last.")


def _topo_case(description: str, build: Callable[[], tuple[Node, int]], slow_after: float | None = None,
               time_limit: float | None = None, is_chain: bool = False) -> Case:
    def run(fn):
        root, count = build()
        with _watching(count) as watch:
            start = time.perf_counter()
            try:
                order = fn(root)
            except _Recursing:
                raise CaseFailed(
                    f"your function recursed: it was more than {_DEPTH_MARGIN} calls deep in a graph of "
                    f"{count} nodes, and was stopped there. A recursive depth-first search needs one Python "
                    f"frame per node: Python stops it at the recursion limit ({sys.getrecursionlimit()} now), "
                    "and raising the limit with sys.setrecursionlimit only moves the failure (every frame costs "
                    "memory, and on Python before 3.11, or through C code, deep recursion overflows the C "
                    "stack and kills the kernel). Hint: use an explicit stack of (node, parents_done) pairs "
                    "and a while loop.") from None
            except RecursionError:
                raise CaseFailed("raised RecursionError: a recursive depth-first search needs one Python frame "
                                 f"per node and Python stops at {sys.getrecursionlimit()}. Hint: use "
                                 "an explicit stack of (node, parents_done) pairs instead of recursion.") from None
            except CaseTimeout:
                if not is_chain:
                    raise
                raise CaseFailed(
                    f"did not finish a chain of {count} nodes within {time_limit or TIME_LIMIT:g} s (with a "
                    "set, sorting takes about 0.1 s per 10,000 nodes). A chain has no shared nodes, so the usual "
                    "cause is a slow `visited` lookup: `x in list` compares x with every element seen so far, "
                    "so the work grows with the square of the graph. Hint: keep `visited` in a set (or a set "
                    "of id(node)).") from None
            except _Revisiting:
                raise CaseFailed(
                    f"stopped after reading .parents {watch.reads - 1} times for a graph of only {count} "
                    "nodes: your search explores shared nodes again and again (every diamond doubles the "
                    "paths, so 40 diamonds make 2**40), even if it removes duplicates at the end. Hint: keep a "
                    "`visited` set and skip a node already seen, so each node is explored once.") from None
            seconds = time.perf_counter() - start
        _check_order(order, root, count)
        if slow_after is not None and seconds > slow_after:
            raise CaseFailed(f"correct, but took {seconds:.1f} s for {count} nodes. Hint: mark nodes as visited "
                             "when you first push them, so no node is explored twice, and use a set (not "
                             "a list) for `visited`: `x in list` compares x with every element.")
    return Case(description, run, time_limit=time_limit)


def _single():
    return Node("x"), 1


def _diamond():
    x = Node("x")
    a = Node("a = f(x)", [x])
    b = Node("b = g(x)", [x])
    return Node("y = a + b", [a, b]), 4


def _reused():
    x = Node("x")
    return Node("y = x * x", [x, x]), 2


def _skip():
    # y depends on a and on x directly; a depends on x. Breadth-first order reversed gets this wrong.
    x = Node("x")
    w = Node("w")
    a = Node("a = x * w", [x, w])
    b = Node("b = tanh(a)", [a])
    return Node("y = x + b", [x, b]), 5


def _mlp():
    x, w1, b1, w2, b2 = (Node(n) for n in ("x", "w1", "b1", "w2", "b2"))
    h = Node("h = x @ w1", [x, w1])
    hb = Node("hb = h + b1", [h, b1])
    r = Node("r = relu(hb)", [hb])
    o = Node("o = r @ w2", [r, w2])
    ob = Node("ob = o + b2", [o, b2])
    sq = Node("sq = ob * ob", [ob, ob])
    return Node("loss = sum(sq)", [sq]), 12


def _same_names():
    # Two layers whose weights are both called "w", and two different nodes called "h".
    x, w_first, w_second = Node("x"), Node("w"), Node("w")
    h_first = Node("h", [x, w_first])
    h_second = Node("h", [h_first, w_second])
    return Node("loss", [h_second, w_first]), 6


def _ladder(n: int = 40):
    # Diamonds in a row: a search that revisits nodes takes 2**n steps.
    node = Node("x0")
    for i in range(1, n + 1):
        left = Node(f"l{i}", [node])
        right = Node(f"r{i}", [node])
        node = Node(f"x{i}", [left, right])
    return node, 1 + 3 * n


def topo_sort(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `topo_sort(root) -> list of nodes`: every node reachable from `root` via
    `.parents`, each exactly once, parents before children (root last), without recursion.

    While the learner's function runs, `.parents` reads are watched: more than 20 reads per
    node (a search that re-explores shared nodes, exponential on the 40-diamond ladder) or a
    call stack more than 100 frames deeper than the start (recursion) stops the case with
    that diagnosis, before it can hang the cell or crash the kernel.
    """
    cases = [
        _topo_case("a single node", _single),
        _topo_case("a chain of 3", lambda: (chain(3), 3)),
        _topo_case("a diamond: y = f(x) + g(x)", _diamond),
        _topo_case("a node used twice: y = x * x", _reused),
        _topo_case("a skip connection: y = x + tanh(x * w)", _skip),
        _topo_case("a small MLP: loss = sum((relu(x@w1+b1)@w2+b2)**2)", _mlp),
        _topo_case("two different nodes with the same name (both weights called 'w')", _same_names),
        _topo_case("40 diamonds in a row (revisiting shared nodes would take 2**40 steps)", _ladder,
                   time_limit=5.0),
        _topo_case("a chain of 5,000 nodes (deeper than Python's recursion limit)", lambda: (chain(5000), 5000)),
        # A list as `visited` takes ~4 s here (quadratic); the generous limit lets it finish and
        # get the "use a set" hint even on a loaded machine instead of a bare timeout.
        _topo_case("a chain of 10,000 nodes", lambda: (chain(10_000), 10_000), slow_after=1.0,
                   time_limit=30.0, is_chain=True),
        _topo_case("a chain of 100,000 nodes (deeper than any recursion limit a kernel survives)",
                   lambda: (chain(100_000), 100_000), is_chain=True),
    ]
    return run_cases("topo_sort", fn, cases, show=show)
