"""Checkers for chapter 06 (layers, convolution, optimizers, training): the backward of a
Linear layer, im2col, the shape of a convolution's output, SGD with momentum and Adam
as in-place steps, and a numerically stable cross-entropy.

Each checker compares the learner's function with a reference (the library's own
`fastgrad.kernels.conv.im2col` and `conv2d_output_shape`, PyTorch's update rules for the
optimizers) and, when they disagree, recomputes the usual wrong formulas on the same
input to name the one the learner wrote. Inputs that must not change are passed
read-only. The mistakes they catch and name:

* linear_backward: grad_w transposed (x.T @ grad_out, shape (in, out), or its values in a
  square case), grad_x = grad_out @ w.T (a shape error, or wrong values when w is
  square), grad_b not summed over the batch, summed over the wrong axis or over
  everything, a mean instead of a sum (in grad_b or grad_w), keepdims=True, the batch
  dimension squeezed away for N = 1, a view of an input returned (a loop that starts
  from grad_out[0]), inputs written in place, float64 results for float32 inputs.
* im2col: columns in (r, s, c) or (c, s, r) order instead of the weight's (c, r, s),
  rows in (i, j, n) or (n, j, i) order, windows not moved by the stride (starting at
  (i, j)) or the stride ignored, padding ignored, padding on one side only, OH and OW
  by true division (a float), without the +1, rounded up, or with R and S swapped, the
  result transposed or not reshaped, a non-zero border, x written in place, a dtype
  change.
* conv_output_shape: padding counted once or not at all, no +1, rounded up, the stride
  ignored, +1 before the division, floats (true division), C instead of K, OH and OW
  swapped, no ValueError (or another exception, or a message without both shapes) on a
  channel mismatch or a kernel larger than the padded input, the raw input compared with
  the kernel instead of the padded one.
* sgd_momentum_step: param or velocity rebound instead of updated in place (a copy
  updated), lr inside the velocity (v = m*v + lr*g: another stored velocity, and with an
  lr that changes between steps another param too), Sutskever's sign convention,
  dampening (1 - momentum) * grad, param moved with the old velocity, momentum ignored,
  the wrong sign, a first step that does not move param, grad written in place, writes
  outside the parameter's view of a flat buffer, a value returned.
* adam_step: no bias correction, bias correction with t + 1 (t taken as 0-based) or
  t - 1 (a division by zero at t = 1), eps inside the sqrt, the sqrt of v instead of
  v_hat, only v corrected, betas swapped, grad**2 in m, grad (not squared) in v, the
  (1 - beta) factors left out, bias-corrected moments stored back into m and v, no sqrt,
  no eps, eps outside the parentheses, the paper's "efficient" form (eps not added to
  sqrt(v_hat)), m and v initialised with the first gradient, default betas or eps used
  instead of the arguments, m, v or param rebound, grad written in place, the wrong sign,
  a value returned.
* cross_entropy: exp without subtracting the max (overflow at logits of 1e4, reported
  as "overflow: subtract the row max before exp"), the max of the whole batch instead of
  each row's (rows of very different scale underflow to log(0)), log of a softmax that
  underflowed, with or without a tiny eps added (or clipped), keepdims forgotten (a
  broadcast error), the wrong axis, a
  log-sum-exp over the whole batch, a sum instead of a mean, the targets ignored (class 0,
  the predicted class, the mean over all classes), log_p[:, targets], targets treated as
  one-hot rows or as weights, the sign flipped, log10 instead of ln, an array returned
  instead of a float, logits written in place.
"""
from __future__ import annotations

import math
import re
import warnings
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, learner_frame, expect_new_array, read_only, run_cases

__all__ = ["adam_step", "conv_output_shape", "cross_entropy", "im2col", "linear_backward", "sgd_momentum_step"]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _is_read_only_error(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) and "read-only" in str(exc)


def _first_wrong(want: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str:
    """'differs at index (i, j): expected a, got b (k of n elements wrong)' for arrays of one shape."""
    with np.errstate(all="ignore"):
        bad = ~np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    value_w, value_g = want[index].item(), got[index].item()
    return (f"differs at index {index if index else '()'}: expected {value_w!r}, got {value_g!r} "
            f"({int(bad.sum())} of {bad.size} elements wrong)")


def _close(want: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> bool:
    if want.shape != got.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                equal_nan=True))


def _dtype_hint(want_dtype, got_dtype, what: str) -> str:
    if want_dtype == np.float32:
        return (f"{what} has dtype {got_dtype}, but the inputs are float32 and the result must keep their "
                "dtype. Something made a float64 array: np.zeros/np.ones/np.empty without dtype= (they default "
                "to float64), .astype(float), np.float64(...), or a float64 constant array. Use dtype=x.dtype.")
    return (f"{what} has dtype {got_dtype}, but the inputs are {want_dtype}: keep the inputs' dtype "
            "(no conversion to a smaller type).")


# ============================================================================ 1. linear_backward

def _linear_diagnosis(name: str, got: np.ndarray, g: np.ndarray, x: np.ndarray, w: np.ndarray) -> str:
    """The mistake whose formula gives `got` (the right shape, wrong values), or ''."""
    g64, x64, w64 = g.astype(np.float64), x.astype(np.float64), w.astype(np.float64)
    n = len(x)
    if name == "grad_x":
        formulas = [
            (lambda: g64 @ w64.T, "grad_x = grad_out @ w.T uses w the wrong way round (it only fits here because w "
                                  "is square): y = x @ w.T, so grad_x = grad_out @ w, shape (N, in) like x."),
            (lambda: g64 @ w64 / n, "grad_x was divided by N: any 1/N of a mean loss is already in grad_out; "
                                    "grad_x = grad_out @ w."),
        ]
    elif name == "grad_w":
        formulas = [
            (lambda: (x64.T @ g64), "grad_w is the transpose of the right answer: x.T @ grad_out is (in, out); "
                                    "grad_w = grad_out.T @ x has w's layout (out, in)."),
            (lambda: g64.T @ x64 / n, "grad_w was divided by N (a mean instead of a sum over the batch): any 1/N "
                                      "of a mean loss is already in grad_out; grad_w = grad_out.T @ x."),
            (lambda: np.outer(g64[0], x64[0]), "only the first sample counted: grad_w sums the contributions of "
                                               "EVERY row, grad_out.T @ x."),
        ]
    else:
        formulas = [
            (lambda: g64.mean(axis=0), "grad_b is the MEAN of grad_out over the batch; it is the sum: b is added to "
                                       "every row, so each row's gradient adds up (any 1/N of a mean loss is "
                                       "already in grad_out). Use grad_out.sum(axis=0)."),
            (lambda: g64.sum(axis=1), "grad_b was summed over axis 1 (each row's outputs); sum over the batch, "
                                      "axis 0: grad_out.sum(axis=0)."),
            (lambda: g64[0], "grad_b is the first row of grad_out only: sum over the whole batch, "
                             "grad_out.sum(axis=0)."),
        ]
    for formula, message in formulas:
        try:
            with np.errstate(all="ignore"):
                value = formula()
        except (ValueError, IndexError):
            continue
        if value is not None and _close(np.asarray(value), got, 1e-4, 1e-6):
            return message
    return ""


def _linear_shape_hint(name: str, got_shape: tuple, n: int, fin: int, fout: int) -> str:
    squeezed = (" N = 1 here: did np.squeeze (or [0]) drop the batch dimension? A batch of one sample is still "
                "a batch: grad_x has x's shape (1, in).") if n == 1 else ""
    if name == "grad_x":
        if got_shape == (fin,) or (n == 1 and len(got_shape) < 2):
            return "grad_x lost its batch dimension." + squeezed
        if got_shape == (fin, n) and fin != n:
            return "grad_x is transposed: it has x's shape (N, in); grad_x = grad_out @ w."
        return f"grad_x has x's shape (N, in) = {(n, fin)}: grad_out (N, out) @ w (out, in)." + squeezed
    if name == "grad_w":
        if got_shape == (fin, fout):
            return (f"grad_w has shape {got_shape}; it should be {(fout, fin)} like w: did you compute x.T @ grad_out "
                    "instead of grad_out.T @ x?")
        return f"grad_w has w's shape (out, in) = {(fout, fin)}: grad_out.T (out, N) @ x (N, in)." + squeezed
    if got_shape == (n, fout):
        return ("grad_b was not summed over the batch: b is added to every row of x @ w.T, so its gradient is the "
                "sum of grad_out over axis 0, grad_out.sum(axis=0), of shape (out,) like b.")
    if got_shape == (1, fout):
        return "grad_b has shape (1, out): keepdims=True keeps the summed axis; b has shape (out,)."
    if got_shape == (n,):
        return ("grad_b was summed over axis 1 (each row's outputs); sum over the batch, axis 0, to get b's "
                "shape (out,).")
    if got_shape == ():
        return ("grad_b is a single number: you summed over everything; sum over the batch only, "
                "grad_out.sum(axis=0), one entry per output feature." + squeezed)
    return f"grad_b has b's shape (out,) = {(fout,)}: grad_out.sum(axis=0)."


def _linear_case(description: str, n: int, fin: int, fout: int, dtype, seed: int, strided: bool = False) -> Case:
    def run(fn):
        rng = _rng(seed)
        x = rng.standard_normal((n, fin)).astype(dtype)
        w = rng.standard_normal((fout, fin)).astype(dtype)
        g = rng.standard_normal((n, fout)).astype(dtype)
        want = {"grad_x": (g.astype(np.float64) @ w).astype(dtype),
                "grad_w": (g.astype(np.float64).T @ x).astype(dtype),
                "grad_b": g.astype(np.float64).sum(axis=0).astype(dtype)}
        if strided:
            # Writable, non-contiguous views (every other column of bigger arrays); checked unchanged after.
            views = []
            for a in (g, x, w):
                big = np.zeros((a.shape[0], 2 * a.shape[1]), dtype)
                big[:, ::2] = a
                views.append(big[:, ::2])
            args = views
        else:
            args = list(read_only(g, x, w))
        try:
            result = fn(*args)
        except ValueError as exc:
            if _is_read_only_error(exc):
                raise
            raise CaseFailed(f"raised ValueError: {exc}{learner_frame(exc)}. Hint: the shapes do not fit: grad_out "
                             f"is (N, out) = {g.shape}, w is (out, in) = {w.shape}, x is (N, in) = {x.shape}; "
                             "grad_x = grad_out @ w is (N, in), grad_w = grad_out.T @ x is (out, in), "
                             "grad_b = grad_out.sum(axis=0) is (out,).") from None
        if result is None:
            raise CaseFailed("the function returned None; expected (grad_x, grad_w, grad_b) (did you forget "
                             "`return`?).")
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
            raise CaseFailed(f"expected a tuple (grad_x, grad_w, grad_b), got {type(result).__name__}{length}.")
        got = dict(zip(("grad_x", "grad_w", "grad_b"), result))
        for name in want:
            if got[name] is None:
                raise CaseFailed(f"{name} is None; expected an array.")
            arr = np.asarray(got[name])
            if arr.shape != want[name].shape:
                raise CaseFailed(f"{name} has shape {arr.shape}, expected {want[name].shape} (x {x.shape}, "
                                 f"w {w.shape}, grad_out {g.shape}). Hint: "
                                 + _linear_shape_hint(name, arr.shape, n, fin, fout))
        for name in want:
            arr = np.asarray(got[name])
            if arr.dtype != want[name].dtype:
                raise CaseFailed(_dtype_hint(want[name].dtype, arr.dtype, name))
        rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
        for name in want:
            arr = np.asarray(got[name])
            scaled = atol * max(1.0, float(np.abs(want[name]).max(initial=0)))
            if not _close(want[name], arr, rtol, scaled):
                hint = _linear_diagnosis(name, arr, g, x, w)
                raise CaseFailed(f"{name} {_first_wrong(want[name], arr, rtol, scaled)}."
                                 + (f" Hint: {hint}" if hint else ""))
        for name in want:
            try:
                expect_new_array(got[name], *args, what=name)
            except CaseFailed as failure:
                extra = (" With N = 1, a sum that starts from grad_out[0] and adds the other rows returns that "
                         "row itself: use grad_out.sum(axis=0)." if n == 1 and name == "grad_b" else "")
                raise CaseFailed(f"{failure}{extra}") from None
        if strided:
            for before, after, label in zip((g, x, w), args, ("grad_out", "x", "w")):
                if not np.array_equal(before, after):
                    raise CaseFailed(f"your function changed its input {label} in place; leave the inputs "
                                     "unchanged and return new arrays.")
    return Case(description, run)


def linear_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `linear_backward(grad_out, x, w) -> (grad_x, grad_w, grad_b)` for
    y = x @ w.T + b, with x (N, in), w (out, in) as `fastgrad.nn.Linear` and PyTorch store
    it, grad_out (N, out). Expected: grad_x = grad_out @ w, grad_w = grad_out.T @ x,
    grad_b = grad_out.sum(axis=0): new arrays in the inputs' dtype, inputs unchanged."""
    cases = [
        _linear_case("N=4, in=5, out=3, float64", 4, 5, 3, np.float64, 0),
        _linear_case("square: N = in = out = 3 (a transposed answer has the right shape here)", 3, 3, 3,
                     np.float64, 1),
        _linear_case("a single sample: N=1, in=6, out=4", 1, 6, 4, np.float64, 2),
        _linear_case("float32 inputs: N=8, in=7, out=2 (the gradients stay float32)", 8, 7, 2, np.float32, 3),
        _linear_case("one output feature: N=5, in=3, out=1", 5, 3, 1, np.float64, 4),
        _linear_case("non-contiguous inputs (strided views, writable: they must stay unchanged), N=6, in=4, out=5",
                     6, 4, 5, np.float64, 5, strided=True),
        _linear_case("a training-sized batch: N=64, in=32, out=10, float32", 64, 32, 10, np.float32, 6),
    ]
    return run_cases("linear_backward", fn, cases, show=show)


# ============================================================================ 2. im2col

def _reference_im2col(x: np.ndarray, r: int, s: int, stride: int, padding: int) -> np.ndarray:
    from fastgrad.kernels.conv import im2col as library_im2col
    return library_im2col(x, r, s, stride, padding)


def _warm_up_reference() -> None:
    """Import and compile the library's im2col for float32 and float64 before any case
    runs, so that a slow first compile (Numba, on a cold cache) is not charged to the
    learner's time limit."""
    for dtype in (np.float32, np.float64):
        _reference_im2col(np.ones((1, 1, 2, 2), dtype), 1, 1, 1, 0)


def _out_size(h: int, r: int, stride: int, padding: int) -> int:
    return (h + 2 * padding - r) // stride + 1


def _im2col_rows_hint(got_rows: int, shape, r: int, s: int, stride: int, padding: int) -> str:
    n, _, h, w = shape
    oh, ow = _out_size(h, r, stride, padding), _out_size(w, s, stride, padding)
    options = [
        (n * _out_size(h, r, 1, padding) * _out_size(w, s, 1, padding),
         f"the stride was ignored: with stride={stride} the windows move {stride} pixels at a time, so "
         "OH = (H + 2*padding - R) // stride + 1."),
        (n * _out_size(h, r, stride, 0) * _out_size(w, s, stride, 0),
         f"the padding was ignored: padding={padding} adds {padding} zero rows and columns on EVERY side, so the "
         "padded image is (H + 2*padding) x (W + 2*padding)."),
        (n * ((h + padding - r) // stride + 1) * ((w + padding - s) // stride + 1),
         "the image was padded on one side only: padding goes on both sides (top and bottom, left and right), "
         "np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))."),
        (n * ((h + 2 * padding - r) // stride) * ((w + 2 * padding - s) // stride),
         "OH = (H + 2*padding - R) // stride + 1: you left out the +1 (the first window, at position 0, "
         "counts too)."),
        (n * (-(-(h + 2 * padding - r) // stride) + 1) * (-(-(w + 2 * padding - s) // stride) + 1),
         "OH was rounded up: a window must fit entirely inside the padded image, so round down with // "
         "(the last pixels that no full window reaches are simply not used)."),
        (n * _out_size(h, s, stride, padding) * _out_size(w, r, stride, padding),
         "R and S were swapped: R is the kernel's height (it goes with H), S its width (with W)."),
    ]
    for rows, message in options:
        if rows == got_rows and rows != n * oh * ow:
            return message
    return f"there is one row per output pixel per image: N*OH*OW = {n}*{oh}*{ow} = {n * oh * ow}."


def _im2col_value_hint(want: np.ndarray, got: np.ndarray, x: np.ndarray, r: int, s: int, stride: int,
                       padding: int) -> str:
    n, c, h, w = x.shape
    oh, ow = _out_size(h, r, stride, padding), _out_size(w, s, stride, padding)
    rows = want.shape[0]
    by_patch = want.reshape(rows, c, r, s)
    by_pixel = want.reshape(n, oh, ow, c * r * s)

    def unstrided():
        full = _reference_im2col(x, r, s, 1, padding)
        oh1, ow1 = _out_size(h, r, 1, padding), _out_size(w, s, 1, padding)
        return full.reshape(n, oh1, ow1, -1)[:, :oh, :ow].reshape(rows, -1)

    formulas = [
        (lambda: by_patch.transpose(0, 2, 3, 1).reshape(rows, -1),
         "the columns are in (r, s, c) order; the weight is (K, C, R, S), so w.reshape(K, -1) runs c slowest, then "
         "r, then s: build each row in (c, r, s) order (channel outermost), e.g. patch.reshape(-1) of a "
         "(C, R, S) patch."),
        (lambda: by_patch.transpose(0, 1, 3, 2).reshape(rows, -1),
         "r and s are swapped in the column order: within a channel, the kernel row r is outer and the column s "
         "inner, as in w[k, c, r, s]."),
        (lambda: by_patch.transpose(0, 3, 2, 1).reshape(rows, -1),
         "the columns are in (s, r, c) order; they must follow the weight's (c, r, s) layout."),
        (lambda: by_pixel.transpose(1, 2, 0, 3).reshape(rows, -1),
         "the rows are in (i, j, n) order (images interleaved); rows go image by image: row (n*OH + i)*OW + j."),
        (lambda: by_pixel.transpose(0, 2, 1, 3).reshape(rows, -1),
         "the rows are in (n, j, i) order; within an image they run along each output row first (j fastest): "
         "row (n*OH + i)*OW + j."),
        (unstrided,
         f"the window of output pixel (i, j) must start at (i*stride, j*stride) in the padded image, not at (i, j): "
         f"with stride={stride}, index rows i*stride + r and columns j*stride + s."),
    ]
    for formula, message in formulas:
        try:
            value = formula()
        except (ValueError, IndexError):
            continue
        if value is not None and value.shape == got.shape and not np.array_equal(value, want) \
                and _close(value, got, 1e-6, 0.0):
            return message
    if padding:
        border = want == 0
        if np.array_equal(got[~border], want[~border]) and not np.array_equal(got[border], want[border]):
            return "the padded border must hold zeros (np.pad's default mode='constant' with 0)."
    return ""


def _describe_position(row: int, col: int, shape, r: int, s: int, stride: int, padding: int) -> str:
    n_, c_, h, w = shape
    oh, ow = _out_size(h, r, stride, padding), _out_size(w, s, stride, padding)
    n, rest = divmod(row, oh * ow)
    i, j = divmod(rest, ow)
    c, rest = divmod(col, r * s)
    dr, ds = divmod(rest, s)
    return (f"row {row} is image n={n}, output pixel (i={i}, j={j}); column {col} is (c={c}, r={dr}, s={ds}), "
            f"so it holds the padded input at [{n}, {c}, {i * stride + dr}, {j * stride + ds}]")


def _im2col_case(description: str, shape, r: int, s: int, stride: int = 1, padding: int = 0,
                 dtype=np.float64, seed: int = 0, defaults: bool = False) -> Case:
    def run(fn):
        rng = _rng(seed)
        size = int(np.prod(shape))
        # distinct, non-zero values: every misplaced element shows, and none looks like padding
        x = (rng.permutation(size) + 1).astype(dtype).reshape(shape)
        want = _reference_im2col(x, r, s, stride, padding)
        x_in = read_only(x)
        try:
            got = fn(x_in, r, s) if defaults else fn(x_in, r, s, stride=stride, padding=padding)
        except TypeError as exc:
            if "float" in str(exc) and ("integer" in str(exc) or "int" in str(exc)):
                raise CaseFailed(f"raised TypeError: {exc}{learner_frame(exc)}. Hint: a size came out as a float: "
                                 "`/` is true division in Python 3 (7 / 2 == 3.5); compute "
                                 "OH = (H + 2*padding - R) // stride + 1 with integer division //.") from None
            raise
        except (IndexError, ValueError) as exc:
            if _is_read_only_error(exc):
                raise
            n_, c_, h_, w_ = shape
            oh_, ow_ = _out_size(h_, r, stride, padding), _out_size(w_, s, stride, padding)
            sizes = (f"every window must fit entirely, so OH = (H + 2*padding - R) // stride + 1 = {oh_} and "
                     f"OW = {ow_}, rounded down (not up)")
            if isinstance(exc, IndexError):
                hint = (f"a window ran past the edge of the padded image ({h_ + 2 * padding}x{w_ + 2 * padding}): "
                        f"{sizes}; window (i, j) starts at (i*stride, j*stride) of the padded image.")
            else:
                hint = (f"arrays of different shapes met. {sizes[0].upper() + sizes[1:]}, so each kernel offset's "
                        f"strided slice of the padded image has shape (N, C, OH, OW) = {(n_, c_, oh_, ow_)}; "
                        "check OH and OW, the slice bounds, and the order of the axes where you copy it.")
            raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: {hint}") from None
        if got is None:
            raise CaseFailed("the function returned None; expected the (N*OH*OW, C*R*S) array of patches (did you "
                             "forget `return`?).")
        got = np.asarray(got)
        n, c, h, w = shape
        oh, ow = _out_size(h, r, stride, padding), _out_size(w, s, stride, padding)
        if got.shape != want.shape:
            head = f"the result has shape {got.shape}, expected {want.shape} = (N*OH*OW, C*R*S) with OH={oh}, OW={ow}."
            if got.shape == want.T.shape:
                hint = ("it is transposed: one ROW per output pixel (N*OH*OW rows), one column per patch entry "
                        "(C*R*S columns).")
            elif got.size == want.size and got.ndim != 2:
                hint = (f"reshape the patches to 2-D: .reshape(N*OH*OW, C*R*S) = "
                        f".reshape({want.shape[0]}, {want.shape[1]}).")
            elif got.ndim == 2 and got.shape[1] == want.shape[1]:
                hint = _im2col_rows_hint(got.shape[0], shape, r, s, stride, padding)
            elif got.ndim == 2 and got.shape[1] == r * s and c > 1:
                hint = "each row holds the patch of EVERY channel: C*R*S columns, not R*S."
            elif got.ndim == 2 and got.shape[0] == want.shape[0]:
                hint = f"each row holds one patch of C*R*S = {c}*{r}*{s} = {want.shape[1]} values."
            elif got.ndim == 2:
                hint = (_im2col_rows_hint(got.shape[0], shape, r, s, stride, padding)
                        + f" And each row holds C*R*S = {want.shape[1]} values.")
            else:
                hint = "return a 2-D array of shape (N*OH*OW, C*R*S)."
            raise CaseFailed(f"{head} Hint: {hint}")
        if got.dtype != want.dtype:
            raise CaseFailed(_dtype_hint(want.dtype, got.dtype, "the result")
                             .replace("Use dtype=x.dtype.", "Use dtype=x.dtype (np.pad keeps it)."))
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)
            row, col = (int(v) for v in bad[0])
            hint = _im2col_value_hint(want, got, x, r, s, stride, padding)
            raise CaseFailed(f"element [{row}, {col}] is {got[row, col].item()!r}, expected {want[row, col].item()!r} "
                             f"({len(bad)} of {want.size} elements wrong; "
                             f"{_describe_position(row, col, shape, r, s, stride, padding)})."
                             + (f" Hint: {hint}" if hint else ""))
        if np.shares_memory(got, x_in):
            raise CaseFailed("the result shares memory with x (a view such as a reshape of x): return a new array, "
                             "so that writing into the patches cannot change the image.")
    return Case(description, run)


def im2col(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `im2col(x, r, s, stride=1, padding=0) -> cols`: x (N, C, H, W) to the patches
    (N*OH*OW, C*R*S) in the order of `fastgrad.kernels.conv.im2col` (row (n*OH + i)*OW + j,
    columns in the weight's (c, r, s) order, zero padding on every side), x's dtype kept and
    x unchanged."""
    cases = [
        _im2col_case("one 4x4 image, one channel, a 3x3 kernel (defaults: stride 1, padding 0)", (1, 1, 4, 4), 3, 3,
                     defaults=True, seed=0),
        _im2col_case("two channels: C=2, 5x5, 3x3 kernel", (1, 2, 5, 5), 3, 3, seed=1),
        _im2col_case("two images: N=2, C=1, 4x5, 2x2 kernel", (2, 1, 4, 5), 2, 2, seed=2),
        _im2col_case("non-square input and kernel: a 5x7 image, a 2x3 kernel", (1, 1, 5, 7), 2, 3, seed=3),
        _im2col_case("stride 2: a 7x7 image, 3x3 kernel", (1, 1, 7, 7), 3, 3, stride=2, seed=4),
        _im2col_case("padding 1: a 4x4 image, 3x3 kernel (output as large as the input)", (1, 1, 4, 4), 3, 3,
                     padding=1, seed=5),
        _im2col_case("a stride that does not divide evenly: 6x8 image, 3x3 kernel, stride 2", (1, 1, 6, 8), 3, 3,
                     stride=2, seed=6),
        _im2col_case("everything at once: N=2, C=3, 7x6 image, 3x2 kernel, stride 2, padding 1, float32",
                     (2, 3, 7, 6), 3, 2, stride=2, padding=1, dtype=np.float32, seed=7),
        _im2col_case("a kernel as large as the padded input: 3x3 image, 5x5 kernel, padding 1 (one patch)",
                     (2, 2, 3, 3), 5, 5, padding=1, seed=8),
    ]
    _warm_up_reference()
    return run_cases("im2col", fn, cases, show=show)


# ============================================================================ 3. conv_output_shape

def _reference_shape(x_shape, w_shape, stride: int, padding: int):
    from fastgrad.kernels.conv import conv2d_output_shape
    return conv2d_output_shape(x_shape, w_shape, stride, padding)


def _shape_value_hint(got: tuple, x_shape, w_shape, stride: int, padding: int) -> str:
    n, c, h, w = x_shape
    k, _, r, s = w_shape
    p = padding
    want = _reference_shape(x_shape, w_shape, stride, padding)

    def sizes(f):
        return (f(h, r), f(w, s))
    options = [
        (sizes(lambda a, b: (a + p - b) // stride + 1),
         "padding counted once: it is added on both sides, so the padded height is H + 2*padding."),
        (sizes(lambda a, b: (a - b) // stride + 1),
         "the padding was ignored: the padded height is H + 2*padding."),
        (sizes(lambda a, b: (a + 2 * p - b) // stride),
         "OH = (H + 2*padding - R) // stride + 1: the +1 is missing (the window at position 0 counts)."),
        (sizes(lambda a, b: -(-(a + 2 * p - b) // stride) + 1),
         "rounded up: a window must fit entirely, so round down with //."),
        (sizes(lambda a, b: (a + 2 * p - b) + 1),
         "the stride was ignored: OH = (H + 2*padding - R) // stride + 1."),
        (sizes(lambda a, b: (a + 2 * p - b + 1) // stride),
         "the +1 comes after the division: (H + 2*padding - R) // stride + 1, not (H + 2*padding - R + 1) // stride."),
        (sizes(lambda a, b: (a + 2 * p) // stride),
         "the kernel size is missing: OH = (H + 2*padding - R) // stride + 1."),
        (sizes(lambda a, b: a // stride),
         "OH depends on the kernel and the padding too: (H + 2*padding - R) // stride + 1."),
    ]
    if got[:2] == want[:2]:
        found = [message for value, message in options if tuple(got[2:]) == value and value != tuple(want[2:])]
        if found:
            return " Or: ".join(found)
        if tuple(got[2:]) == (want[3], want[2]) and want[2] != want[3]:
            return "OH and OW are swapped: OH comes from H and R (dimension 2), OW from W and S (dimension 3)."
    if got[1] == c and c != k:
        return "the second entry is the number of output channels K = w_shape[0], not the input's C."
    if got[0] == k and got[1] == n and k != n:
        return "N and K are swapped: the result is (N, K, OH, OW), N from x_shape[0] and K from w_shape[0]."
    return ""


def _contains_shape(message: str, shape) -> bool:
    compact = re.sub(r"[\s()\[\]]", "", message)
    return ",".join(map(str, shape)) in compact or "x".join(map(str, shape)) in compact


def _shape_case(description: str, x_shape, w_shape, stride: int = 1, padding: int = 0, defaults: bool = False) -> Case:
    def run(fn):
        want = _reference_shape(x_shape, w_shape, stride, padding)
        try:
            got = fn(x_shape, w_shape) if defaults else fn(x_shape, w_shape, stride=stride, padding=padding)
        except ValueError as exc:
            hint = ("compare the kernel with the PADDED input, H + 2*padding by W + 2*padding." if padding else
                    "raise only when the channels differ or the kernel is larger than the padded input.")
            raise CaseFailed(f"raised ValueError({exc}){learner_frame(exc)}, but these shapes fit (the answer is "
                             f"{want}). Hint: {hint}") from None
        if got is None:
            raise CaseFailed("the function returned None; expected a tuple (N, K, OH, OW) (did you forget `return`?).")
        if isinstance(got, np.ndarray) or not isinstance(got, (tuple, list)) or len(got) != 4:
            raise CaseFailed(f"expected a tuple of 4 ints (N, K, OH, OW), got {got!r}.")
        for name, value, right in zip(("N", "K", "OH", "OW"), got, want):
            if isinstance(value, (float, np.floating)):
                raise CaseFailed(f"{name} = {value!r} is a float, expected the int {right}. "
                                 "Hint: `/` is true division in Python 3 (it always gives a float, and 7 / 2 == 3.5): "
                                 "use integer division, (H + 2*padding - R) // stride + 1.")
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise CaseFailed(f"{name} = {value!r} ({type(value).__name__}); expected an int.")
        got = tuple(int(v) for v in got)
        if got != want:
            hint = _shape_value_hint(got, x_shape, w_shape, stride, padding)
            raise CaseFailed(f"for input {x_shape}, weight {w_shape}, stride={stride}, padding={padding}: expected "
                             f"{want}, got {got}." + (f" Hint: {hint}" if hint else ""))
    return Case(description, run)


def _shape_error_case(description: str, x_shape, w_shape, stride: int = 1, padding: int = 0, *, problem: str) -> Case:
    def run(fn):
        try:
            got = fn(x_shape, w_shape, stride=stride, padding=padding)
        except ValueError as exc:
            message = str(exc)
            if not (_contains_shape(message, x_shape) and _contains_shape(message, w_shape)):
                raise CaseFailed(f"raised ValueError({message!r}), but its message should name both shapes, so the "
                                 "reader sees what did not fit: e.g. "
                                 f"f\"... input {{x_shape}} and weight {{w_shape}} ...\" "
                                 f"giving {x_shape} and {w_shape}.") from None
            return
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CaseFailed(f"raised {type(exc).__name__}({exc}){learner_frame(exc)}; expected a ValueError. Hint: "
                             "`raise ValueError(f\"...\")`: callers catch ValueError for bad arguments, and an "
                             "`assert` disappears under `python -O`.") from None
        hint = ""
        if problem == "channels":
            hint = (f"the input has {x_shape[1]} channels but the weight expects {w_shape[1]} (dimension 1 of "
                    "both): the convolution cannot be computed, so raise ValueError naming both shapes.")
        elif problem == "kernel":
            hint = (f"the {w_shape[2]}x{w_shape[3]} kernel does not fit in the padded input "
                    f"{x_shape[2] + 2 * padding}x{x_shape[3] + 2 * padding}: no window position exists (OH or OW would "
                    "be 0 or negative), so raise ValueError naming both shapes. Check BOTH height and width.")
        raise CaseFailed(f"expected a ValueError for input {x_shape}, weight {w_shape}, stride={stride}, "
                         f"padding={padding}, but the function returned {got!r}. Hint: {hint}")
    return Case(description, run)


def conv_output_shape(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `conv_output_shape(x_shape, w_shape, stride=1, padding=0) -> (N, K, OH, OW)`,
    ints, as `fastgrad.kernels.conv.conv2d_output_shape` computes them, with a ValueError
    naming both shapes when the channels differ or the kernel is larger than the padded
    input."""
    cases = [
        _shape_case("one 8x8 image, 4 filters of 3x3 (defaults)", (1, 1, 8, 8), (4, 1, 3, 3), defaults=True),
        _shape_case("padding 2 keeps 8x8 with a 5x5 kernel", (2, 3, 8, 8), (16, 3, 5, 5), padding=2),
        _shape_case("stride 2: 7x7 with 3x3", (1, 1, 7, 7), (1, 1, 3, 3), stride=2),
        _shape_case("a stride that does not divide evenly: 11x11, 2x2, stride 4", (1, 1, 11, 11), (2, 1, 2, 2),
                    stride=4),
        _shape_case("a stride that does not divide evenly: 8x8, 3x3, stride 2", (1, 1, 8, 8), (2, 1, 3, 3), stride=2),
        _shape_case("a stride that does not divide evenly: 6x6, 3x3, stride 2", (1, 1, 6, 6), (2, 1, 3, 3), stride=2),
        _shape_case("non-square: 6x9 input, 3x2 kernel, stride 2, padding 1", (4, 2, 6, 9), (5, 2, 3, 2), stride=2,
                    padding=1),
        _shape_case("non-square, stride 3, padding 2: 10x7 input, 5x3 kernel", (3, 4, 10, 7), (6, 4, 5, 3), stride=3,
                    padding=2),
        _shape_case("the kernel as large as the input: 3x3 with 3x3 (one output pixel)", (1, 1, 3, 3), (2, 1, 3, 3)),
        _shape_case("a 1x1 kernel mixes channels only", (1, 8, 5, 5), (4, 8, 1, 1)),
        _shape_case("a kernel that fits only thanks to the padding: 2x2 with 3x3, padding 1", (1, 1, 2, 2),
                    (1, 1, 3, 3), padding=1),
        _shape_error_case("channel mismatch: input with 3 channels, weight for 2", (2, 3, 8, 8), (4, 2, 3, 3),
                          problem="channels"),
        _shape_error_case("a kernel larger than the input: 2x2 with 3x3, no padding", (1, 1, 2, 2), (1, 1, 3, 3),
                          problem="kernel"),
        _shape_error_case("a kernel wider than the input: 8x2 with 3x3", (1, 1, 8, 2), (1, 1, 3, 3),
                          problem="kernel"),
        _shape_error_case("a kernel taller than the padded input: 3x9 with 6x3, padding 1", (1, 2, 3, 9),
                          (4, 2, 6, 3), padding=1, problem="kernel"),
    ]
    _reference_shape((1, 1, 1, 1), (1, 1, 1, 1), 1, 0)      # the import, outside the cases' time limit
    return run_cases("conv_output_shape", fn, cases, show=show)


# ============================================================================ optimizers: shared step runner

def _tolerances(dtype) -> tuple[float, float]:
    return (2e-5, 1e-6) if np.dtype(dtype) == np.float32 else (1e-9, 1e-13)


def _call_step(fn, args, kwargs):
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    except ValueError as exc:
        if _is_read_only_error(exc):
            raise CaseFailed(f"your function wrote into grad{learner_frame(exc)}, which this case passes read-only: "
                             "update only the state you are given (param and the optimizer's buffers) and leave "
                             "grad unchanged; the caller may still need it (logging, clipping, "
                             "accumulation).") from None
        raise


def _step_distance(a: dict, b: dict, before: dict, want: dict, names) -> float:
    """How far apart the states `a` and `b` (both reached from `before`) are, as the largest
    difference of their changes from `before`, relative to the size of the correct change
    `want - before` of each array; non-finite values count as equal when they match."""
    worst = 0.0
    for name in names:
        with np.errstate(all="ignore"):
            da = a[name].astype(np.float64) - before[name]
            db = b[name].astype(np.float64) - before[name]
            dw = np.abs(want[name].astype(np.float64) - before[name])
            scale = float(dw[np.isfinite(dw)].max(initial=0.0)) or 1e-300
            diff = np.abs(da - db)
            both = ~np.isfinite(da) & ~np.isfinite(db)
            same = both & ((np.isnan(da) & np.isnan(db)) | (da == db))
            diff = np.where(same, 0.0, np.where(np.isfinite(diff), diff, np.inf))
        worst = max(worst, float(diff.max(initial=0.0)) / scale)
    return worst


def _matching_variants(variants: list, before: dict, step: dict, got: dict, want: dict, names) -> str:
    """The hints of the variants whose one-step result is (much) closer to what the learner
    produced than to the right answer; several when they coincide on this step."""
    found = []
    for variant, message in variants:
        try:
            with np.errstate(all="ignore"):
                candidate = variant(before, step)
        except (ValueError, ZeroDivisionError):
            continue
        if candidate is None:
            continue
        apart = _step_distance(candidate, want, before, want, names)
        near = _step_distance(candidate, got, before, want, names)
        if apart > 1e-12 and math.isfinite(near) and near <= min(1e-3, 0.01 * apart):
            found.append(message)
    return " Or: ".join(found)


def _run_trajectory(fn, state: dict, steps: list, reference: Callable, variants: list, order: tuple,
                    rebind_hints: dict, buffers: dict | None = None) -> None:
    """Call fn once per step (a dict of arguments), comparing every state array with
    `reference(before, step)` after each call. On a mismatch the hint is a rebinding hint
    for each array that did not change at all, else the hints of the variants whose
    one-step result matches what the learner produced from the same state."""
    rtol, atol0 = _tolerances(state["param"].dtype)

    def tolerance(name: str, want: dict) -> float:
        scale = max(1.0 if name == "param" else 0.0, float(np.abs(want[name]).max(initial=0.0)))
        return atol0 * scale if name == "param" else rtol * scale + 1e-30
    for number, step in enumerate(steps, 1):
        before = {name: a.copy() for name, a in state.items()}
        returned = _call_step(fn, step["args"](state), step.get("kwargs", {}))
        want = reference(before, step)
        got = {name: state[name].copy() for name in state}
        where = f"after step {number} of {len(steps)} ({step['label']})"
        for name in order:
            atol = tolerance(name, want)
            if _close(want[name], got[name], rtol, atol):
                continue
            hint = ""
            unchanged = [k for k in order if np.array_equal(got[k], before[k])
                         and not _close(want[k], before[k], rtol, tolerance(k, want))]
            if unchanged:
                hint = " ".join(rebind_hints[k] for k in unchanged)
            if not hint:
                hint = _matching_variants(variants, before, step, got, want, order)
            if not hint and not np.all(np.isfinite(got[name])):
                hint = f"{name} became inf or nan: a division by zero?"
            raise CaseFailed(f"{where}: {name} {_first_wrong(want[name], got[name], rtol, atol)}."
                             + (f" Hint: {hint}" if hint else ""))
        if buffers:
            for label, (buffer, copy, inside) in buffers.items():
                outside = np.ones(buffer.shape, bool)
                outside[inside] = False
                if not np.array_equal(buffer[outside], copy[outside]):
                    raise CaseFailed(f"{where}: your function wrote outside {label}'s view, into other parameters "
                                     "of the same flat buffer.")
        if returned is not None:
            raise CaseFailed(f"{where}: the update is right, but the function returned a value of type "
                             f"{type(returned).__name__}; an "
                             "in-place step returns None (like list.sort()), so nobody mistakes the return value for "
                             "the new parameter. Remove the `return`.")


# ============================================================================ 4. sgd_momentum_step

def _sgd(before: dict, g: np.ndarray, lr: float, m: float, *, lr_inside=False, sutskever=False, dampening=False,
         old_velocity=False, no_momentum=False, sign=1.0) -> dict:
    p = before["param"].astype(np.float64)
    v0 = before["velocity"].astype(np.float64)
    g = g.astype(np.float64)
    if lr_inside:
        v = m * v0 + lr * g
        return {"param": p - v, "velocity": v}
    if sutskever:
        v = m * v0 - lr * g
        return {"param": p + v, "velocity": v}
    v = m * v0 + ((1 - m) * g if dampening else g)
    if no_momentum:
        v = g.copy()
    return {"param": p - sign * lr * (v0 if old_velocity else v), "velocity": v}


_SGD_REBIND = {
    "param": ("param did not change: `param = param - lr * velocity` builds a new array and only rebinds the local "
              "name `param` inside your function (an update of a copy is lost the same way). Update the caller's "
              "array in place: param -= lr * velocity (or param[...] = ...). If this is the first step: PyTorch's "
              "first step already moves param, by lr * grad (update velocity first, then move param with the NEW "
              "velocity)."),
    "velocity": ("velocity did not change: `velocity = momentum * velocity + grad` builds a new array and only "
                 "rebinds the local name, so the next step starts from the old velocity. Update it in place: "
                 "velocity *= momentum; velocity += grad (or velocity[...] = momentum * velocity + grad)."),
}


def _sgd_variants(momentum: float):
    def make(**flags):
        return lambda before, step: _sgd(before, step["grad"], step["lr"], momentum, **flags)
    return [
        (make(lr_inside=True), "lr is inside the velocity (v = momentum*v + lr*grad; param -= v). PyTorch keeps lr "
                               "outside: v = momentum*v + grad, param -= lr*v. While lr is constant the two move "
                               "param alike (the stored velocity differs by a factor lr); with a learning-rate "
                               "schedule (lr changing between steps) they move param differently too."),
        (make(sutskever=True), "that is the v = momentum*v - lr*grad; param += v convention (lr inside, velocity of "
                               "the opposite sign); PyTorch's is v = momentum*v + grad, param -= lr*v."),
        (make(dampening=True), "(1 - momentum) * grad is dampening = momentum (an exponential moving average); "
                               "PyTorch's default dampening is 0: v = momentum*v + grad."),
        (make(old_velocity=True), "param moved with the OLD velocity: update velocity first, then param -= lr * "
                                  "velocity with the new one."),
        (make(no_momentum=True), "momentum is ignored (velocity = grad): v = momentum*v + grad keeps a running sum "
                                 "of past gradients."),
        (make(sign=-1.0), "param moved uphill: subtract, param -= lr * velocity (the gradient points towards "
                          "larger loss)."),
    ]


def _sgd_case(description: str, shape, dtype, lrs, momentum: float, seed: int, v0: str = "zeros",
              flat: bool = False) -> Case:
    def run(fn):
        rng = _rng(seed)
        size = int(np.prod(shape))
        buffers = None
        if flat:
            # param and velocity are views into bigger flat buffers, as fastgrad.optim stores them
            p_buf = rng.standard_normal(size + 7).astype(dtype)
            v_buf = np.zeros(size + 7, dtype) if v0 == "zeros" else rng.standard_normal(size + 7).astype(dtype)
            inside = slice(3, 3 + size)
            state = {"param": p_buf[inside].reshape(shape), "velocity": v_buf[inside].reshape(shape)}
            buffers = {"param": (p_buf, p_buf.copy(), inside), "velocity": (v_buf, v_buf.copy(), inside)}
        else:
            param = rng.standard_normal(shape).astype(dtype)
            velocity = np.zeros(shape, dtype) if v0 == "zeros" else (0.5 * rng.standard_normal(shape)).astype(dtype)
            state = {"param": param, "velocity": velocity}
        steps = []
        for k, lr in enumerate(lrs):
            grad = rng.standard_normal(shape).astype(dtype)
            steps.append({"grad": grad, "lr": lr, "label": f"lr={lr:g}, momentum={momentum:g}",
                          "args": (lambda st, g=read_only(grad), lr=lr: (st["param"], g, st["velocity"], lr,
                                                                           momentum))})

        def reference(before, step):
            return _sgd(before, step["grad"], step["lr"], momentum)
        _run_trajectory(fn, state, steps, reference, _sgd_variants(momentum), ("param", "velocity"), _SGD_REBIND,
                        buffers)
    return Case(description, run)


def sgd_momentum_step(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `sgd_momentum_step(param, grad, velocity, lr, momentum)`: PyTorch's SGD with
    momentum (dampening 0), velocity = momentum*velocity + grad, then param -= lr*velocity,
    both IN PLACE, grad unchanged, returning None. Multi-step trajectories (with lr changing
    between steps) are compared with the reference after every step."""
    cases = [
        _sgd_case("one step, 1-D param, lr=0.1, momentum=0.9, a velocity from earlier steps", (5,), np.float64,
                  [0.1], 0.9, 0, v0="random"),
        _sgd_case("the first step: velocity starts at zero", (5,), np.float64, [0.1], 0.9, 8),
        _sgd_case("five steps, constant lr=0.1, momentum=0.9, a 2-D param", (3, 4), np.float64, [0.1] * 5, 0.9, 1),
        _sgd_case("a learning-rate schedule: lr changes between steps (0.1, 0.1, 0.05, 0.2, 0.01)", (6,), np.float64,
                  [0.1, 0.1, 0.05, 0.2, 0.01], 0.9, 2),
        _sgd_case("momentum=0 (plain SGD: velocity is the gradient)", (4,), np.float64, [0.05] * 3, 0.0, 3),
        _sgd_case("resuming training with momentum=0.8: a 2-D param, a non-zero velocity, three steps", (2, 3),
                  np.float64, [0.02] * 3, 0.8, 4, v0="random"),
        _sgd_case("float32 param and velocity (they stay float32), four steps", (7,), np.float32,
                  [0.1, 0.05, 0.05, 0.1], 0.9, 5),
        _sgd_case("param and velocity are views into a flat buffer (as fastgrad.optim stores them)", (2, 5),
                  np.float64, [0.1, 0.3, 0.1], 0.9, 6, flat=True),
        _sgd_case("a single-element parameter (a bias of size 1)", (1,), np.float64, [0.5, 0.1, 0.2], 0.5, 7),
    ]
    return run_cases("sgd_momentum_step", fn, cases, show=show)


# ============================================================================ 5. adam_step

def _adam(before: dict, g: np.ndarray, t: int, lr: float, b1: float, b2: float, eps: float, *,
          bias=True, t_shift=0, eps_in_sqrt=False, sqrt_of_v=False, only_v=False, swap=None, g2_in_m=False,
          g_in_v=False, no_one_minus=False, store_hat=False, no_sqrt=False, no_eps=False, eps_outside=False,
          first_step_init=False, paper_eps=False, sign=1.0) -> dict:
    p = before["param"].astype(np.float64)
    m0 = before["m"].astype(np.float64)
    v0 = before["v"].astype(np.float64)
    g = g.astype(np.float64)
    if swap:
        b1, b2 = b2, b1
    gm = g * g if g2_in_m else g
    gv = g if g_in_v else g * g
    if first_step_init and t == 1:
        m, v = gm.copy(), gv.copy()
    elif no_one_minus:
        m, v = b1 * m0 + gm, b2 * v0 + gv
    else:
        m, v = b1 * m0 + (1 - b1) * gm, b2 * v0 + (1 - b2) * gv
    if swap == "moments":
        b1, b2 = b2, b1       # the correction uses the right betas; only the moments had them swapped
    tt = t + t_shift
    bc1 = 1 - b1 ** tt if bias and not only_v else 1.0
    bc2 = 1 - b2 ** tt if bias else 1.0
    m_hat, v_hat = m / bc1, v / bc2
    root = np.sqrt(v if sqrt_of_v else v_hat) if not no_sqrt else v_hat
    if paper_eps:
        step = math.sqrt(bc2) / bc1 * m / (np.sqrt(v) + eps)
    elif eps_in_sqrt:
        step = m_hat / np.sqrt(v_hat + eps)
    elif no_eps:
        step = m_hat / root
    elif eps_outside:
        return {"param": p - sign * (lr * m_hat / root + eps), "m": m, "v": v}
    else:
        step = m_hat / (root + eps)
    new = {"param": p - sign * lr * step, "m": m, "v": v}
    if store_hat:
        new["m"], new["v"] = m_hat, v_hat
    return new


_ADAM_REBIND = {
    "param": ("param did not change: `param = param - ...` builds a new array and only rebinds the local name (an "
              "update of a copy is lost the same way); update the caller's array in place: param -= ..."),
    "m": ("m did not change: `m = beta1 * m + ...` only rebinds the local name; update in place, m *= beta1; "
          "m += (1 - beta1) * grad (or m[...] = ...)."),
    "v": ("v did not change: `v = beta2 * v + ...` only rebinds the local name; update in place, v *= beta2; "
          "v += (1 - beta2) * grad * grad (or v[...] = ...)."),
}


def _adam_variants(b1: float, b2: float, eps: float):
    def make(**flags):
        return lambda before, st: _adam(before, st["grad"], st["t"], st["lr"], b1, b2, eps, **flags)

    def with_defaults(before, st):
        if (b1, b2, eps) == (0.9, 0.999, 1e-8):
            return None
        return _adam(before, st["grad"], st["t"], st["lr"], 0.9, 0.999, 1e-8)

    def default_eps(before, st):
        if eps == 1e-8:
            return None
        return _adam(before, st["grad"], st["t"], st["lr"], b1, b2, 1e-8)
    return [
        (make(bias=False), "no bias correction: m and v start at 0, so early on they are too small by factors "
                           "(1 - beta1**t) and (1 - beta2**t); divide: m_hat = m / (1 - beta1**t), "
                           "v_hat = v / (1 - beta2**t), then param -= lr * m_hat / (sqrt(v_hat) + eps)."),
        (make(t_shift=1), "your bias correction uses t + 1: t is already the 1-based step count (the first call "
                          "gets t=1), so use beta1**t and beta2**t as given."),
        (make(t_shift=-1), "your bias correction uses t - 1: t is already the 1-based step count (the first call "
                           "gets t=1, where 1 - beta**0 = 0 divides by zero); use beta1**t and beta2**t."),
        (make(eps_in_sqrt=True), "eps is inside the square root: PyTorch adds it after, sqrt(v_hat) + eps. Where "
                                 "the gradient is small (v_hat not far above eps), sqrt(v_hat + eps) is a visibly "
                                 "different step."),
        (make(paper_eps=True), "that is the Adam paper's 'efficient' form, lr_t = lr * sqrt(1 - beta2**t) / "
                               "(1 - beta1**t) and param -= lr_t * m / (sqrt(v) + eps): its eps is in effect "
                               "eps * sqrt(1 - beta2**t), which shows where the gradient is small. PyTorch adds eps "
                               "to sqrt(v_hat): param -= lr * m_hat / (sqrt(v_hat) + eps)."),
        (make(sqrt_of_v=True), "you took the square root of v, not of the bias-corrected v_hat = v / "
                               "(1 - beta2**t): param -= lr * m_hat / (sqrt(v_hat) + eps)."),
        (make(only_v=True), "only v is bias-corrected: m_hat = m / (1 - beta1**t) too."),
        (make(swap="moments"), "beta1 and beta2 are swapped in the moments: m (the mean of grad) decays with beta1 "
                               "(0.9 by default), v (the mean of grad**2) with beta2 (0.999)."),
        (make(swap="all"), "beta1 and beta2 are swapped: m (the mean of grad) decays with beta1 (0.9 by default) "
                           "and is corrected by 1 - beta1**t; v (the mean of grad**2) uses beta2 (0.999)."),
        (make(g2_in_m=True), "grad**2 went into m: m averages grad itself (m = beta1*m + (1 - beta1)*grad); grad**2 "
                             "belongs in v."),
        (make(g_in_v=True), "v averages grad**2, not grad: v = beta2*v + (1 - beta2) * grad * grad."),
        (make(no_one_minus=True), "the (1 - beta) factors are missing: m = beta1*m + (1 - beta1)*grad and "
                                  "v = beta2*v + (1 - beta2)*grad**2."),
        (make(store_hat=True), "you stored the bias-corrected m_hat and v_hat back into m and v: keep m and v "
                               "uncorrected (the running averages) and compute m_hat, v_hat as new temporaries "
                               "(m_hat = m / (1 - beta1**t), not m /= ...)."),
        (make(no_sqrt=True), "the square root is missing: param -= lr * m_hat / (sqrt(v_hat) + eps)."),
        (make(no_eps=True), "eps is missing: m_hat / (sqrt(v_hat) + eps); where the gradient is 0, v_hat is 0 "
                            "and the division is 0/0 without it."),
        (make(eps_outside=True), "eps is outside the fraction: parentheses, lr * m_hat / (sqrt(v_hat) + eps)."),
        (make(first_step_init=True), "at t=1 you set m = grad and v = grad**2: m and v start at 0 and follow the "
                                     "same update every step; the bias correction is what fixes their start."),
        (with_defaults, "you used the default betas/eps instead of the arguments beta1, beta2, eps this case "
                        "passes."),
        (default_eps, "you used eps = 1e-8 instead of the eps argument this case passes."),
        (make(sign=-1.0), "param moved uphill: subtract the step, param -= lr * m_hat / (sqrt(v_hat) + eps)."),
    ]


def _adam_case(description: str, shape, dtype, n_steps: int, seed: int, *, lr: float = 1e-2, scale: float = 1.0,
               betas=None, eps=None, t0: int = 1, resume: bool = False, zeros: bool = False,
               flat: bool = False) -> Case:
    b1, b2 = betas if betas is not None else (0.9, 0.999)
    e = 1e-8 if eps is None else eps

    def run(fn):
        rng = _rng(seed)
        size = int(np.prod(shape))
        buffers = None

        def moments(k):
            if not resume:
                return np.zeros(k, dtype), np.zeros(k, dtype)
            return ((0.1 * scale * rng.standard_normal(k)).astype(dtype),
                    ((0.1 * scale) ** 2 * rng.uniform(0.2, 1.0, k)).astype(dtype))
        if flat:
            p_buf = rng.standard_normal(size + 5).astype(dtype)
            m_buf, v_buf = moments(size + 5)
            inside = slice(2, 2 + size)
            state = {"param": p_buf[inside].reshape(shape), "m": m_buf[inside].reshape(shape),
                     "v": v_buf[inside].reshape(shape)}
            buffers = {name: (buf, buf.copy(), inside) for name, buf in (("param", p_buf), ("m", m_buf), ("v", v_buf))}
        else:
            m0, v0 = moments(size)
            state = {"param": rng.standard_normal(shape).astype(dtype), "m": m0.reshape(shape), "v": v0.reshape(shape)}
        steps = []
        for k in range(n_steps):
            t = t0 + k
            grad = (scale * rng.standard_normal(shape)).astype(dtype)
            if zeros and k == 0:
                grad.reshape(-1)[::2] = 0.0
            kwargs = {} if betas is None and eps is None else {"beta1": b1, "beta2": b2, "eps": e}
            steps.append({"grad": grad, "t": t, "lr": lr, "kwargs": kwargs, "label": f"t={t}",
                          "args": (lambda st, g=read_only(grad), t=t: (st["param"], g, st["m"], st["v"], t, lr))})

        def reference(before, step):
            return _adam(before, step["grad"], step["t"], step["lr"], b1, b2, e)
        _run_trajectory(fn, state, steps, reference, _adam_variants(b1, b2, e), ("param", "m", "v"), _ADAM_REBIND,
                        buffers)
    return Case(description, run)


def adam_step(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `adam_step(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8)`:
    PyTorch's Adam, m = beta1*m + (1-beta1)*grad, v = beta2*v + (1-beta2)*grad**2,
    m_hat = m/(1-beta1**t), v_hat = v/(1-beta2**t), param -= lr*m_hat/(sqrt(v_hat)+eps),
    with t the 1-based step count; param, m and v updated IN PLACE, grad unchanged,
    returning None. Multi-step trajectories are compared after every step."""
    cases = [
        _adam_case("the first step, t=1, from zero moments", (5,), np.float64, 1, 0),
        _adam_case("ten steps, t = 1..10, gradients of size ~1, a 2-D param", (3, 4), np.float64, 10, 1),
        _adam_case("small gradients (~1e-4), ten steps: here eps matters", (6,), np.float64, 10, 2, scale=1e-4),
        _adam_case("other hyper-parameters: beta1=0.8, beta2=0.99, eps=1e-6 (passed by keyword)", (5,), np.float64, 6,
                   3, betas=(0.8, 0.99), eps=1e-6, scale=1e-3),
        _adam_case("resuming at t=6 with non-zero m and v", (2, 3), np.float64, 4, 4, t0=6, resume=True),
        _adam_case("a gradient with exact zeros at t=1 (v_hat = 0 there: eps keeps the step finite)", (6,),
                   np.float64, 3, 5, zeros=True),
        _adam_case("float32 param, m and v (they stay float32), six steps", (7,), np.float32, 6, 6),
        _adam_case("param, m and v are views into flat buffers (as fastgrad.optim stores them)", (2, 4), np.float64,
                   3, 7, flat=True),
        _adam_case("long run: t = 1..40, lr=1e-3", (4,), np.float64, 40, 8, lr=1e-3),
    ]
    return run_cases("adam_step", fn, cases, show=show)


# ============================================================================ 6. cross_entropy

def _log_softmax(x: np.ndarray, axis=1) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _reference_ce(logits: np.ndarray, targets: np.ndarray) -> float:
    lp = _log_softmax(logits.astype(np.float64))
    return float(-lp[np.arange(len(lp)), targets].mean())


def _ce_variants(logits: np.ndarray, targets: np.ndarray) -> list:
    x = logits.astype(np.float64)
    n = len(x)
    t = np.asarray(targets)
    rows = np.arange(n)
    lp = _log_softmax(x)
    z_rows = x - x.max(axis=1, keepdims=True)
    out = [
        (lambda: -lp[rows, t].sum(), "that is the SUM over the batch; the loss is the mean over the N samples "
                                     "(so it does not grow with the batch size): .mean(), not .sum()."),
        (lambda: lp[rows, t].mean(), "the sign is flipped: the loss is -log p(target), positive (log p <= 0)."),
        (lambda: -_log_softmax(x, axis=0)[rows, t].mean(),
         "the softmax was normalised over the batch, axis 0: normalise each row over its classes, axis=1 (with "
         "keepdims=True)."),
        (lambda: -(x - x.max() - np.log(np.exp(x - x.max()).sum()))[rows, t].mean(),
         "the log-sum-exp was taken over the whole batch (no axis): take it per row, axis=1, keepdims=True."),
        (lambda: -(z_rows - np.log(np.exp(z_rows).sum()))[rows, t].mean(),
         "the log-sum-exp was taken over the whole batch (no axis): take it per row, axis=1, keepdims=True."),
        (lambda: -lp.mean(), "that is the mean over ALL classes of every row: the loss picks each row's target "
                             "class, log_p[np.arange(N), targets]."),
        (lambda: -lp[:, t].mean(), "log_p[:, targets] is an N x N matrix (every row at every target); pick one "
                                   "entry per row: log_p[np.arange(N), targets]."),
        (lambda: -lp[:, 0].mean(), "the targets were ignored (class 0 for every row): pick each row's target "
                                   "class, log_p[np.arange(N), targets]."),
        (lambda: -lp.max(axis=1).mean(), "that is the loss of the most likely class (argmax), not of the target: "
                                         "log_p[np.arange(N), targets]."),
        (lambda: -(lp * t[:, None]).sum(axis=1).mean(),
         "the targets are class indices (ints), not one-hot rows or weights: pick log_p[np.arange(N), targets] "
         "(or build a one-hot matrix first, np.eye(C)[targets])."),
        (lambda: -lp[rows, t].mean() / np.log(10), "that is log10: the loss uses the natural log, np.log."),
    ]
    return out


def _eps_capped(value: float) -> bool:
    """`value` is -log(eps) for an eps of 10**-k or a dtype's eps or tiny: a loss capped by
    log(p + eps) or np.clip(p, eps, 1)."""
    k = value / math.log(10)
    if 3 <= k <= 400 and abs(k - round(k)) < 1e-3:
        return True
    specials = [getattr(np.finfo(t), kind) for t in (np.float32, np.float64) for kind in ("eps", "tiny")]
    return any(math.isclose(value, -math.log(float(e)), rel_tol=1e-4) for e in specials)


def _ce_case(description: str, logits: np.ndarray, targets: np.ndarray, *, underflow_hint: str = "") -> Case:
    def run(fn):
        want = _reference_ce(logits, targets)
        x_in, t_in = read_only(logits, targets)
        n = len(logits)
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"), warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                got = fn(x_in, t_in)
        except (FloatingPointError, OverflowError, RuntimeWarning) as exc:
            text = str(exc)
            where = learner_frame(exc)
            if "overflow" in text or isinstance(exc, OverflowError):
                raise CaseFailed(f"{type(exc).__name__}: {text}{where}. overflow: subtract the row max before exp. "
                                 f"The logits here reach {np.abs(logits).max():g} and exp(89) is already inf in "
                                 "float32 (exp(710) in float64); softmax(x) = softmax(x - max(x)) for each row, and "
                                 "after subtracting the row max every exponent is <= 0, so exp <= 1.") from None
            if "divide" in text:
                raise CaseFailed(f"{type(exc).__name__}: {text}{where}: log(0). "
                                 + (underflow_hint or "A probability underflowed to 0: compute the log-softmax "
                                    "directly, z - log(sum(exp(z))) with z = x - row max, instead of log(softmax).")) \
                    from None
            raise CaseFailed(f"{type(exc).__name__}: {text}{where}: an inf - inf or 0 * inf somewhere. "
                             + (underflow_hint or "Subtract each row's max before exp and compute the log-softmax "
                                "as z - log(sum(exp(z))).")) from None
        except ValueError as exc:
            if _is_read_only_error(exc):
                raise
            text = str(exc)
            if "broadcast" in text:
                raise CaseFailed(f"raised ValueError: {text}{learner_frame(exc)}. Hint: an (N, C) array met an (N,) "
                                 "one, which NumPy lines up with the LAST axis (the classes). Keep the reduced axis "
                                 "when you subtract the row max or divide by the row sum (keepdims=True, or "
                                 "[:, None]); and the targets are class indices, picked with "
                                 "log_p[np.arange(N), targets], not one-hot rows to multiply with.") from None
            raise
        except IndexError as exc:
            raise CaseFailed(f"raised IndexError: {exc}{learner_frame(exc)}. Hint: targets is 1-D, (N,) class "
                             "indices (not one-hot rows); pick log_p[np.arange(N), targets].") from None
        if got is None:
            raise CaseFailed("the function returned None; expected the mean loss, a float (did you forget `return`?).")
        if isinstance(got, np.ndarray):
            per_sample = -_log_softmax(logits.astype(np.float64))[np.arange(n), targets]
            if got.shape == (n,) and n > 1 and _close(per_sample, got, 1e-4, 1e-5):
                raise CaseFailed(f"returned an array of shape {got.shape}, the loss of each sample; expected one "
                                 "float, their mean over the batch: float(losses.mean()).")
            raise CaseFailed(f"returned an array of shape {got.shape}; expected one float: wrap the result in "
                             "float(...).")
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (float, int, np.floating, np.integer)):
            raise CaseFailed(f"returned a {type(got).__name__} ({got!r}); expected the mean loss as a float.")
        value = float(got)
        # a correct float32 answer can be off by a few units in the last place of the largest logit
        rtol, atol = (1e-5, 1e-5) if logits.dtype == np.float32 else (1e-9, 1e-12)
        atol = max(atol, 8 * float(np.finfo(logits.dtype).eps) * float(np.abs(logits).max(initial=0.0)))
        if math.isclose(value, want, rel_tol=rtol, abs_tol=atol):
            return
        if not math.isfinite(value):
            hint = underflow_hint or ("overflow: subtract the row max before exp (exp of a large logit is inf, and "
                                      "inf / inf is nan).")
            raise CaseFailed(f"expected {want:.10g}, got {value!r}. Hint: {hint}")
        hint = ""
        for formula, message in _ce_variants(logits, targets):
            try:
                with np.errstate(all="ignore"):
                    candidate = float(formula())
            except (ValueError, IndexError):
                continue
            if math.isclose(value, candidate, rel_tol=1e-5, abs_tol=1e-7) and \
                    not math.isclose(candidate, want, rel_tol=1e-5, abs_tol=1e-7):
                hint = message
                break
        if not hint and value < want and _eps_capped(value):
            hint = (f"the loss is capped at -log(eps) = {value:.4g}: log(softmax + eps) (or np.clip(p, eps, 1)) "
                    f"hides the real loss {want:.6g} when the target's probability underflows. Compute the "
                    "log-softmax directly: log_p = z - log(sum(exp(z))), with z = x - each row's max; no eps needed.")
        raise CaseFailed(f"expected {want:.10g}, got {value:.10g}." + (f" Hint: {hint}" if hint else ""))
    return Case(description, run)


def cross_entropy(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `cross_entropy(logits, targets) -> float`: the mean over the batch of
    -log softmax(logits)[n, targets[n]] for logits (N, C) and integer targets (N,), computed
    stably (logits up to 1e4 in float32 and float64 must not overflow; every case runs with
    NumPy's overflow, divide and invalid errors raised), logits unchanged."""
    rng = _rng(0)
    small = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    batch = rng.standard_normal((4, 5)) * 2
    square = rng.standard_normal((4, 4)) * 3
    single = np.array([[0.3, -1.2, 2.2, 0.0]])
    # every logit within 60 of its row max and every row max within 60 of the batch max: only a naive exp fails
    large = np.array([[1e4, 9999.0, 9990.0], [9990.0, 1e4, 9950.0], [9950.0, 9960.0, 9970.0]])
    mixed = np.array([[1e4, 1e4 - 1, 1e4 - 2, 1e4 - 3], [0.0, 1.0, 2.0, 0.5], [-3.0, 4.0, 0.25, 1.0]])
    far_below = np.array([[1e4, 0.0, -1e4], [500.0, -500.0, 0.0], [2e3, 1e3, 0.0]])
    big_batch = rng.standard_normal((64, 10)) * 4
    global_max = ("the max of the whole batch (logits.max()) was subtracted, not each row's max: a row whose logits "
                  "are all far below the batch's largest underflows to exp(...) = 0 everywhere, and "
                  "log(0) = -inf. Use logits.max(axis=1, keepdims=True).")
    log_of_softmax = ("the target's probability underflowed to 0 (it is about exp(-2e4) here) and log(0) = -inf: "
                      "don't take log(softmax). Compute the log-softmax directly, log_p = z - log(sum(exp(z))) with "
                      "z = x - each row's max; no eps needed (an eps would cap the loss at -log(eps)).")
    cases = [
        _ce_case("two samples, three classes", small, np.array([0, 1])),
        _ce_case("a batch of 4 with 5 classes, various targets", batch, np.array([3, 0, 4, 1])),
        _ce_case("square logits, N = C = 4 (rows and columns have the same length: a wrong axis still runs)",
                 square, np.array([1, 3, 0, 2])),
        _ce_case("one sample", single, np.array([2])),
        _ce_case("float32 logits", batch.astype(np.float32), np.array([3, 0, 4, 1])),
        _ce_case("large logits up to 1e4 (a naive exp overflows)", large, np.array([0, 1, 2])),
        _ce_case("large logits up to 1e4 in float32 (exp overflows above 88 there)", large.astype(np.float32),
                 np.array([1, 1, 0])),
        _ce_case("rows of very different scale: one near 1e4, others near 0 (the row max, not the batch max)", mixed,
                 np.array([0, 2, 1]), underflow_hint=global_max),
        _ce_case("a target far below the row max: the loss is ~1e4, its probability underflows", far_below,
                 np.array([2, 1, 2]), underflow_hint=log_of_softmax),
        _ce_case("one class only (the loss is 0)", np.array([[3.0], [-2.0]]), np.array([0, 0])),
        _ce_case("a training batch: N=64, C=10, int32 targets", big_batch, rng.integers(0, 10, 64).astype(np.int32)),
    ]
    return run_cases("cross_entropy", fn, cases, show=show)
