"""Gradient checking: compare a backward pass with central finite differences.

For a function `fn` of tensors, pick a random cotangent `v` (same shape as the
output) and compare, for every element x_j of every input,

    analytic:  (v^T J)_j          from  fn(x).backward(grad=v)
    numeric:   (v.f(x + eps e_j) - v.f(x - eps e_j)) / (2 eps)

Everything runs in float64: with eps = 1e-6 the central difference has truncation
error ~ eps^2 and rounding error ~ 1e-16 / eps, both far below the tolerance, while
float32 rounding (~1e-7 / eps) would swamp it. A random `v` rather than `.sum()`
(v = all ones) matters: with all-ones, gradients that are wrong but sum to the right
totals (a missing transpose of a square matrix, swapped rows) go unnoticed.

An element passes when |analytic - numeric| <= atol + rtol * |numeric|.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .autograd import Tensor, apply, no_grad
from .ops import OPS, Op

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-6


class GradcheckError(AssertionError):
    """Raised by `gradcheck(..., raise_on_fail=True)`; the message is the report."""


@dataclass
class WorstElement:
    """The element whose analytic and numeric gradients disagree most (relative to tolerance)."""

    input_index: int          # which input of fn
    index: tuple[int, ...]    # which element of that input
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float          # abs_error / max(|analytic|, |numeric|)


@dataclass
class GradcheckResult:
    """Outcome of `gradcheck`: `passed`, counts, the worst element, a printable report."""

    name: str
    passed: bool
    n_checked: int
    worst: WorstElement | None
    eps: float
    rtol: float
    atol: float
    failures: int = 0
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs_error(self) -> float:
        return self.worst.abs_error if self.worst else 0.0

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        text = (f"gradcheck {self.name}: {verdict} ({self.n_checked} elements, eps={self.eps:g}, "
                f"rtol={self.rtol:g}, atol={self.atol:g})")
        w = self.worst
        if w is not None and not self.passed:
            text += (f"\n  {self.failures} element(s) out of tolerance; worst: input {w.input_index}, "
                     f"element {w.index}: analytic {w.analytic:.6g}, numeric {w.numeric:.6g}, "
                     f"abs error {w.abs_error:.3g}, rel error {w.rel_error:.3g}")
        elif w is not None:
            text += f"\n  max abs error {w.abs_error:.2e}, rel error {w.rel_error:.2e}"
        return "\n".join([text, *("  " + n for n in self.notes)])

    __repr__ = __str__


def _to_float64(x):
    """Float inputs become float64 Tensors that require grad; boolean arrays stay constants."""
    if isinstance(x, Tensor):
        x = x.data
    x = np.asarray(x)
    if x.dtype == np.bool_:
        return x
    return Tensor(x, dtype=np.float64, requires_grad=True)


def numeric_vjp(fn: Callable, inputs: list, v: np.ndarray, i: int, eps: float) -> np.ndarray:
    """Central-difference estimate of v^T J with respect to input `i`, one element at a time.

    Each element costs two forward passes: (v.f(x+eps) - v.f(x-eps)) / (2 eps). The
    element is nudged in place and restored; under `no_grad()` no graph is recorded.
    """
    x = inputs[i].data
    grad = np.zeros_like(x)
    with no_grad():
        for j in np.ndindex(x.shape):
            saved = x[j]
            x[j] = saved + eps
            plus = float(np.sum(v * fn(*inputs).data))
            x[j] = saved - eps
            minus = float(np.sum(v * fn(*inputs).data))
            x[j] = saved
            grad[j] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn: Callable, *inputs, eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL,
              atol: float = DEFAULT_ATOL, seed: int = 0, raise_on_fail: bool = False,
              name: str | None = None, cotangent="random") -> GradcheckResult:
    """Check `fn`'s backward against central differences, with a random cotangent.

    fn       takes tensors (one per input) and returns a Tensor of any shape.
    inputs   arrays or Tensors; float ones are copied to float64 and checked, boolean
             arrays (e.g. `where`'s condition) are passed through unchanged.
    eps      finite-difference step; rtol/atol the tolerances; seed for the cotangent.
    cotangent  "random" (the default: standard normal v), "ones" (the weaker check of
             `fn(x).sum()`, kept to show what it misses) or an array of the output's shape.
    Returns a `GradcheckResult` (truthy when it passes); on failure it names the worst
    element: input index, element index, analytic, numeric and error.
    """
    name = name or getattr(fn, "__name__", "fn")
    xs = [_to_float64(x) for x in inputs]
    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: {name} must return a Tensor, got {type(out).__name__}")
    if isinstance(cotangent, str) and cotangent == "random":
        v = np.random.default_rng(seed).standard_normal(out.shape)
    elif isinstance(cotangent, str) and cotangent == "ones":
        v = np.ones(out.shape)
    else:
        v = np.broadcast_to(np.asarray(cotangent, dtype=np.float64), out.shape)
    for x in xs:
        if isinstance(x, Tensor):
            x.grad = None
    if out.requires_grad:
        out.backward(grad=v)

    worst, worst_score, failures, n_checked = None, -1.0, 0, 0
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            continue
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        numeric = numeric_vjp(fn, xs, v, i, eps)
        abs_err = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        failures += int(np.sum(~(abs_err <= allowed)))      # NaN counts as a failure
        n_checked += x.size
        if x.size == 0:
            continue
        score = np.where(np.isnan(abs_err), np.inf, abs_err / allowed)
        j = np.unravel_index(int(np.argmax(score)), x.shape)
        if score[j] > worst_score:
            a, n = float(analytic[j]), float(numeric[j])
            worst_score = float(score[j])
            worst = WorstElement(i, tuple(int(k) for k in j), a, n, float(abs_err[j]),
                                 float(abs_err[j] / max(abs(a), abs(n), 1e-300)))
    result = GradcheckResult(name, failures == 0, n_checked, worst, eps, rtol, atol, failures)
    if raise_on_fail and not result.passed:
        raise GradcheckError(str(result))
    return result


def check_op(op: str | Op, seed: int = 0, **tolerances) -> GradcheckResult:
    """Gradient-check the op `OPS[op]` on every configuration its `sample` knows
    (case = 0 .. op.cases - 1: broadcasting, axes, keepdims ...), in float64.

    `op` is a name in the table or an `Op` record (for instance the table's op with a
    backward rule of your own, `dataclasses.replace(OPS["tanh"], backward=rule)`).
    Returns the first failing case's result (its name shows the shapes and attrs),
    or, when all pass, one result covering them all with the worst error seen.
    """
    op = op if isinstance(op, Op) else OPS[op]
    name = op.name
    passed = []
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(seed + case), np.float64, case=case)

        def fn(*xs, _attrs=attrs):
            return apply(op, *xs, **_attrs)

        shapes = ", ".join(str(np.shape(x)) for x in inputs)
        label = f"{name}({shapes}{''.join(f', {k}={v!r}' for k, v in attrs.items())})"
        result = gradcheck(fn, *inputs, seed=seed + case, name=label, **tolerances)
        if not result.passed:
            return result
        passed.append(result)
    worst = max(passed, key=lambda r: r.max_abs_error)
    return GradcheckResult(f"{name} ({op.cases} cases)", True, sum(r.n_checked for r in passed),
                           worst.worst, worst.eps, worst.rtol, worst.atol)


@dataclass
class OpTableReport:
    """`check_all_ops()` result: one `GradcheckResult` per op, printable as a table."""

    results: dict[str, GradcheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results.values())

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.results.items() if not r.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __getitem__(self, name: str) -> GradcheckResult:
        return self.results[name]

    def __str__(self) -> str:
        lines = [f"{'op':<13} {'verdict':<7} {'max abs error':>13}"]
        for n, r in self.results.items():
            lines.append(f"{n:<13} {'PASS' if r.passed else 'FAIL':<7} {r.max_abs_error:>13.1e}")
        lines.append(f"{sum(r.passed for r in self.results.values())}/{len(self.results)} ops pass")
        for n in self.failed:
            lines.append(str(self.results[n]))
        return "\n".join(lines)

    __repr__ = __str__


def check_all_ops(seed: int = 0, **tolerances) -> OpTableReport:
    """`check_op` for every op in the table, in alphabetical order. An op whose forward or
    backward raises (say, a gradient of the wrong shape) is reported as failed with the
    error, so one broken op does not hide the others."""
    results = {}
    for name in sorted(OPS):
        try:
            results[name] = check_op(name, seed=seed, **tolerances)
        except Exception as exc:  # report it; the table walk goes on
            results[name] = GradcheckResult(name, False, 0, None, tolerances.get("eps", DEFAULT_EPS),
                                            tolerances.get("rtol", DEFAULT_RTOL),
                                            tolerances.get("atol", DEFAULT_ATOL),
                                            notes=[f"raised {type(exc).__name__}: {exc}"])
    return OpTableReport(results)


__all__ = ["gradcheck", "check_op", "check_all_ops", "numeric_vjp", "GradcheckResult",
           "GradcheckError", "WorstElement", "OpTableReport"]
