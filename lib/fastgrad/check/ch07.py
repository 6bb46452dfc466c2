"""Checkers for chapter 07 (attention and the KV cache): the causal mask, a stable softmax
over a row with masked entries, one query attending over a preallocated cache, RoPE at a
position offset, appending to the cache in place, and a greedy generation loop.

The checkers carry their own NumPy references (float64 arithmetic, results rounded to the
input's dtype), so they do not depend on the library's attention code. Conventions, the
library's: arrays (n_head, T, head_dim) per sequence; RoPE in the "rotate half" layout
(feature i pairs with i + head_dim/2, angle p * base**(-2i/head_dim) at absolute position
p, out = [x1*cos - x2*sin, x1*sin + x2*cos]); scores scaled by 1/sqrt(head_dim); a query at
absolute position p sees the keys at positions 0..p. When an answer is wrong, the checker
recomputes the usual wrong formulas on the same input and names the one the learner wrote.
Inputs that must not change are passed read-only. The mistakes they catch and name:

* causal_mask: a strict < (no query sees itself), the mask inverted (True for the entries to
  hide), the upper triangle (np.triu, or the mask transposed), rows and columns transposed,
  the offset ignored, the offset applied to the keys (np.tril(k=-offset)), t_k - t_q used as
  the offset (wrong when the keys reach past the last query: a preallocated cache), one key
  too many, no masking at all, an int or float array instead of bool, a list.
* masked_softmax: a naive exp (overflow at scores of 1e4, named "subtract each row's max"),
  the row max taken over the masked entries too or over the whole array (every allowed
  entry underflows: 0/0), masking after the softmax (rows no longer sum to 1), a finite
  fill such as -1e4 that leaks probability when the scores are themselves about -2.5e4,
  scores * mask with a -inf fill (0 * inf = nan), the mask inverted, the softmax over the
  wrong axis or over everything, keepdims forgotten, boolean indexing that cannot take a
  mask broadcast over the heads, masked entries left as garbage (np.empty), scores written
  in place, float64 results for float32 scores.
* attend_one: all max_len rows used (the unwritten rows: random garbage, or NaN), one row
  too many or too few (length + 1, length - 1), keys[:length] (the heads axis), no
  1/sqrt(head_dim) scale, 1/head_dim, a multiplication by sqrt(head_dim), the softmax over
  the heads, unnormalised weights, keys used as values, a weighted sum that broadcasts to
  (n_head, n_head, head_dim), the probabilities returned, an unstable exp (overflow for
  scores of ~1e3), inputs written in place, a dtype change.
* rope_at: the offset ignored (every new token at position 0: the bug of a cached path that
  "simplifies" RoPE), every row at the offset, the positions shifted by the number of new
  tokens (the offset jumping by the prompt length) or by one, the offset counted twice, the
  rotation applied twice (keys rotated again in the cache), the sin sign flipped (the
  inverse rotation), no rotation, interleaved pairs (2i, 2i+1) instead of rotate-half, the
  angle exponent -i/head_dim or -4i/head_dim instead of -2i/head_dim, base 10000 used instead of the base
  argument, a function that keeps a position counter between calls, x modified in place,
  x itself returned (at position 0, where the rotation is the identity), a dtype change.
* cache_append: the new rows written at row 0 (or anywhere but length..length+t-1), the
  old length or t_new returned, keys[length:...] (the heads axis), the arrays rebound
  (np.concatenate: the caller's arrays unchanged), only the keys (or only the values)
  written, keys and values swapped, keys rotated again (the cache must store exactly the
  rotated keys it is given), rows outside the new ones changed, no ValueError on overflow
  past max_len (NumPy's broadcast error, an assert, or a silently truncated write), a
  message that does not name the sizes, a partial write before raising, an exact fit
  refused (>= instead of >), k_new written in place, a tuple or a float returned.
* greedy_generate: the prompt included in the result, n - 1 or n + 1 tokens, step_fn
  called more often than n times, only the last token fed to step_fn (the toy model
  depends on the whole prefix), the generated tokens not appended, a token that is not
  the argmax (sampling, argmin), ties resolved to the last index (np.argsort) instead of
  np.argmax's first, an argmax over a wrong axis or of a single number, the caller's prompt
  list appended to, list methods on an array prompt, step_fn called with an int, floats
  (the max logit) or a 2-D array returned.
"""
from __future__ import annotations

import math
import re
import traceback
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, read_only, run_cases

__all__ = ["attend_one", "cache_append", "causal_mask", "greedy_generate", "masked_softmax", "rope_at"]


def learner_frame(exc: BaseException) -> str:
    """The learner's line where `exc` was raised: the last traceback frame outside NumPy and
    this checker (an error raised inside np.argmax points at the learner's call of it)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/numpy/" not in f.filename.replace("\\", "/") and f.filename != __file__]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at line {last.lineno} in {last.name}: `{(last.line or '').strip()}`)"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _is_read_only_error(exc: BaseException) -> bool:
    return isinstance(exc, ValueError) and "read-only" in str(exc)


def _close(want: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> bool:
    if want.shape != got.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol,
                                equal_nan=True))


def _first_wrong(want: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str:
    """'differs at index (i, j): expected a, got b (k of n elements wrong)' for arrays of one shape."""
    with np.errstate(all="ignore"):
        bad = ~np.isclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol,
                          equal_nan=True)
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    return (f"differs at index {index if index else '()'}: expected {want[index].item()!r}, got "
            f"{got[index].item()!r} ({int(bad.sum())} of {bad.size} elements wrong)")


def _dtype_hint(want_dtype, got_dtype, what: str = "the result") -> str:
    if np.dtype(want_dtype) == np.float32:
        return (f"{what} has dtype {got_dtype}, but the input is float32 and the result must keep its dtype. "
                "Something made a float64 array: np.zeros/np.ones/np.empty without dtype= (they default to "
                "float64), .astype(float), a NumPy float64 scalar such as np.float64(-1e9) or np.sqrt(d) of an "
                "int, or a float64 table (of cos and sin, say) used as is: cast it with .astype(x.dtype).")
    return (f"{what} has dtype {got_dtype}, but the input is {np.dtype(want_dtype)}: keep the input's dtype "
            "(no conversion to a smaller type).")


def _returned_array(got, what: str, want_shape) -> np.ndarray:
    if got is None:
        raise CaseFailed(f"the function returned None; expected {what} of shape {want_shape} (did you forget "
                         "`return`?).")
    if not isinstance(got, np.ndarray):
        raise CaseFailed(f"returned a {type(got).__name__}; expected {what}, a NumPy array of shape {want_shape}.")
    return got


class _FloatErrors:
    """Record NumPy's floating-point errors (overflow, invalid value, divide by zero) in a
    block without raising or printing them, so that a wrong answer's NaN can be traced to
    its cause while a right answer that overflows harmlessly (in a branch np.where
    discards) still passes."""

    def __init__(self):
        self.kinds: set[str] = set()

    def __enter__(self):
        self._state = np.errstate(all="call", call=lambda kind, flag: self.kinds.add(kind))
        self._state.__enter__()
        return self

    def __exit__(self, *exc):
        return self._state.__exit__(*exc)


# ============================================================================ 1. causal_mask

def _ref_mask(tq: int, tk: int, offset: int) -> np.ndarray:
    return np.arange(tk)[None, :] <= offset + np.arange(tq)[:, None]


def _mask_variants(tq: int, tk: int, offset: int) -> list:
    i = np.arange(tq)[:, None]
    j = np.arange(tk)[None, :]
    upper = ("True on and above the diagonal: the upper triangle (np.triu, or the right mask transposed) lets "
             "each query see its FUTURE and not its past. Rows are queries, columns keys, and query i (at position "
             "offset + i) sees the keys j <= offset + i: np.tril(np.ones((t_q, t_k), dtype=bool), k=offset).")
    return [
        (j < offset + i, "a query never sees its own key: use <=, not <. Key j is visible when j <= offset + i, "
                         "the diagonal included (with <, the first query sees nothing at all: a row of -inf "
                         "becomes NaN after the softmax)."),
        (j > offset + i, "the mask is inverted: True marks the future keys, the entries to HIDE (as many "
                         "libraries' masks do). This exercise's mask is True where attending is ALLOWED: "
                         "key j <= offset + i."),
        (j >= offset + i, upper),
        (j >= i, upper),
        (j <= i, "the offset was ignored: query i is at absolute position offset + i (offset positions are "
                 "already in the cache), so it sees the keys j <= offset + i."),
        (j + offset <= i, "the offset was applied to the keys (j + offset <= i, or np.tril(k=-offset)): the offset "
                          "is the absolute position of the first QUERY; the keys start at position 0. Query i sees "
                          "the keys j <= offset + i."),
        (j <= (tk - tq) + i, "you used t_k - t_q as the offset (the queries aligned with the last keys): use the "
                             "offset argument. The keys may reach past the last query (here the mask covers a "
                             "preallocated cache whose last rows are not written yet), so t_k - t_q is not the "
                             "queries' position."),
        (j <= offset + i + 1, "one key too many: query i sees the keys j <= offset + i; key offset + i + 1 is the "
                              "next token, which it must not see."),
        (np.ones((tq, tk), bool), "every entry is True: nothing is masked. Query i sees only the keys "
                                  "j <= offset + i."),
    ]


def _mask_case(description: str, tq: int, tk: int, offset: int, defaults: bool = False) -> Case:
    def run(fn):
        want = _ref_mask(tq, tk, offset)
        got = fn(tq, tk) if defaults else fn(tq, tk, offset=offset)
        if isinstance(got, (list, tuple)):
            raise CaseFailed(f"returned a {type(got).__name__}; expected a NumPy bool array of shape {(tq, tk)}: "
                             "np.array(...) of it, or build it with NumPy from the start.")
        got = _returned_array(got, "the mask", want.shape)
        if got.shape != want.shape:
            hint = ""
            if got.shape == (tk, tq):
                hint = " Hint: it is transposed: one row per query (t_q rows), one column per key (t_k columns)."
            elif got.shape in ((max(tq, tk), max(tq, tk)), (tk, tk)):
                hint = " Hint: one row per query: t_q rows, not t_k (the queries are the new tokens only)."
            raise CaseFailed(f"the mask has shape {got.shape}, expected (t_q, t_k) = {want.shape}.{hint}")
        if got.dtype == bool or got.dtype.kind in "iuf":
            values = got.astype(bool) if got.dtype != bool else got
        else:
            raise CaseFailed(f"the mask has dtype {got.dtype}; expected bool.")
        if not np.array_equal(values, want):
            # A wrong mask can fit several mistakes (in a decoding step, "inverted" and "offset applied to the
            # keys" both hide every key): name each.
            found = []
            for candidate, message in _mask_variants(tq, tk, offset):
                if np.array_equal(values, candidate) and message not in found:
                    found.append(message)
            hint = " Or: ".join(found)
            row, col = (int(v) for v in np.argwhere(values != want)[0])
            seen = "sees" if want[row, col] else "must not see"
            raise CaseFailed(f"for t_q={tq}, t_k={tk}, offset={offset}: entry [{row}, {col}] is "
                             f"{bool(values[row, col])}, expected {bool(want[row, col])} (query {row}, at absolute "
                             f"position {offset + row}, {seen} key {col}; {int((values != want).sum())} of "
                             f"{want.size} entries wrong)." + (f" Hint: {hint}" if hint else ""))
        if got.dtype != bool:
            raise CaseFailed(f"the right pattern, but dtype {got.dtype}; expected a bool array. A mask of numbers "
                             "does not work as a mask: scores[mask] with 0s and 1s picks rows 0 and 1 (integer "
                             "indexing), and ~mask of an int array is -1 and -2. A comparison gives bool directly "
                             "(np.arange(t_k) <= ...), or np.tril(np.ones((t_q, t_k), dtype=bool), k=offset).")
    return Case(description, run)


def causal_mask(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `causal_mask(t_q, t_k, offset=0) -> mask`: a bool array (t_q, t_k), True where
    query i (at absolute position offset + i) may attend to key j, that is j <= offset + i."""
    cases = [
        _mask_case("4 queries, 4 keys, no offset (the default offset=0)", 4, 4, 0, defaults=True),
        _mask_case("one query and one key", 1, 1, 0),
        _mask_case("a chunk of 6 queries after 2 cached positions: t_q=6, t_k=8, offset=2", 6, 8, 2),
        _mask_case("a decoding step: 1 query at position 5, 6 keys", 1, 6, 5),
        _mask_case("a chunk of 3 queries after 4 cached positions: t_q=3, t_k=7, offset=4", 3, 7, 4),
        _mask_case("2 queries at positions 3 and 4 against a preallocated cache of 10 rows (rows 5..9 unwritten)",
                   2, 10, 3),
        _mask_case("3 queries from position 0 against a preallocated cache of 8 rows", 3, 8, 0),
        _mask_case("a long prompt: 64 x 64", 64, 64, 0),
        _mask_case("the last position of a 16-row cache: 1 query at position 15", 1, 16, 15),
    ]
    return run_cases("causal_mask", fn, cases, show=show)


# ============================================================================ 2. masked_softmax

def _softmax_ref(s: np.ndarray, mask: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable softmax of s over `axis`, masked entries exactly 0 (float64)."""
    s64 = np.asarray(s, np.float64)
    mask = np.broadcast_to(mask, s64.shape)
    filled = np.where(mask, s64, -np.inf)
    with np.errstate(all="ignore"):
        m = filled.max(axis=axis, keepdims=True)
        e = np.where(mask, np.exp(filled - m), 0.0)
        return e / e.sum(axis=axis, keepdims=True)


def _softmax_variants(s: np.ndarray, mask: np.ndarray) -> list:
    s64 = s.astype(np.float64)
    full = np.broadcast_to(mask, s.shape)
    filled = np.where(full, s64, -np.inf)

    def stable(x, axis=-1):
        m = x.max(axis=axis, keepdims=True)
        e = np.exp(x - m)
        return e / e.sum(axis=axis, keepdims=True)

    def max_including_masked():
        e = np.where(full, np.exp(s64 - s64.max(axis=-1, keepdims=True)), 0.0)
        return e / e.sum(axis=-1, keepdims=True)

    def global_max():
        e = np.where(full, np.exp(filled - filled.max()), 0.0)
        return e / e.sum(axis=-1, keepdims=True)

    def no_keepdims():
        if s.shape[-1] != s.shape[-2]:
            return None
        m = filled.max(axis=-1)[..., None, :]
        e = np.where(full, np.exp(filled - m), 0.0)
        return e / e.sum(axis=-1)[..., None, :]

    def everything(row_max=True):
        e = np.where(full, np.exp(filled - (filled.max(axis=-1, keepdims=True) if row_max else filled.max())), 0.0)
        return e / e.sum()
    return [
        (lambda: stable(s64) * full,
         "you masked AFTER the softmax: the masked entries are 0 but the others no longer sum to 1 (they share the "
         "row with the masked ones). Mask the scores first, np.where(mask, scores, -np.inf), then take the softmax."),
        (lambda: _softmax_ref(s, ~full),
         "the mask is inverted: True means the entry is allowed (as causal_mask returns it); np.where(mask, "
         "scores, -np.inf) keeps the allowed ones."),
        (lambda: _softmax_ref(s, full, axis=-2),
         "the softmax went over the wrong axis (the queries, axis -2): normalise each row over its keys, "
         "axis=-1 with keepdims=True."),
        (lambda: _softmax_ref(s, full, axis=0) if s.ndim > 2 else None,
         "the softmax went over axis 0 (the heads): normalise each row over its keys, axis=-1 with keepdims=True."),
        (no_keepdims, "the row max and the row sum lost their axis (keepdims forgotten), so NumPy lined them up "
                      "with the LAST axis: every column j got row j's max. Use keepdims=True (or [..., None])."),
        (everything, "normalised over the whole array: each row is normalised on its own, "
                     ".sum(axis=-1, keepdims=True)."),
        (lambda: everything(row_max=False), "the softmax was taken over the whole array (max and sum without an "
                                            "axis): each row is normalised on its own, axis=-1 with keepdims=True."),
        (max_including_masked,
         "the max you subtracted includes the masked entries: where a masked score is far above the allowed ones "
         "(+1e4 here), every allowed exp(score - max) underflows to 0 and the row is 0/0. Fill first, "
         "filled = np.where(mask, scores, -np.inf), and take the max of the filled row."),
        (global_max,
         "the max of the whole array was subtracted, not each row's: in a row far below the largest score every "
         "exp underflows to 0 and the row is 0/0. Use filled.max(axis=-1, keepdims=True)."),
    ]


def _softmax_fp_hint(kinds: set, s: np.ndarray) -> str:
    if "overflow" in kinds:
        return (f"overflow: the scores reach {np.abs(s).max():g}, and exp(89) is already inf in float32 (exp(710) in "
                "float64), so inf / inf = nan. Subtract each row's max (over its allowed entries) before exp: "
                "softmax(x) = softmax(x - max(x)), and then every exponent is <= 0.")
    if "divide by zero" in kinds or "invalid value" in kinds:
        return ("an invalid value (0/0, 0 * inf or inf - inf) appeared: scores * mask with a -inf fill gives "
                "0 * inf = nan (use np.where(mask, scores, -np.inf)), and a row whose every allowed exp "
                "underflowed to 0 sums to 0 (subtract the max of the ALLOWED entries of each row).")
    return ""


def _softmax_case(description: str, scores: np.ndarray, mask: np.ndarray) -> Case:
    def run(fn):
        want = _softmax_ref(scores, mask).astype(scores.dtype)
        s_in, m_in = read_only(scores, mask)
        full = np.broadcast_to(mask, scores.shape)
        errors = _FloatErrors()
        try:
            with errors:
                got = fn(s_in, m_in)
        except (IndexError, ValueError) as exc:
            if _is_read_only_error(exc):
                raise
            hint = ""
            if mask.shape != scores.shape:
                hint = (f" Hint: the mask here is {mask.shape}, shared by every head of the scores {scores.shape} "
                        "(NumPy broadcasts it): scores[mask] needs a mask of exactly the scores' shape; "
                        "np.where(mask, scores, -np.inf) broadcasts.")
            elif "broadcast" in str(exc):
                hint = (" Hint: an array of shape (..., T) met one of shape (..., T, T_k): keep the reduced axis "
                        "(keepdims=True) when you subtract the row max and divide by the row sum.")
            raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}.{hint}") from None
        except OverflowError as exc:
            raise CaseFailed(f"raised OverflowError: {exc}{learner_frame(exc)}. "
                             + _softmax_fp_hint({"overflow"}, scores)) from None
        got = _returned_array(got, "the probabilities", want.shape)
        if got.shape != want.shape:
            raise CaseFailed(f"the result has shape {got.shape}, expected the scores' shape {want.shape} (one "
                             "probability per score, the masked ones 0).")
        if got.dtype != want.dtype:
            raise CaseFailed(_dtype_hint(want.dtype, got.dtype, "the result"))
        rtol, atol = (1e-5, 1e-6) if scores.dtype == np.float32 else (1e-10, 1e-13)
        if not _close(want, got, rtol, atol):
            hint = ""
            for formula, message in _softmax_variants(scores, mask):
                with np.errstate(all="ignore"):
                    candidate = formula()
                if candidate is not None and candidate.shape == got.shape and not _close(want, candidate, rtol, atol) \
                        and _close(candidate, got, 1e-4, 1e-6):
                    hint = message
                    break
            leaked = np.abs(np.where(full, 0.0, np.nan_to_num(got.astype(np.float64), nan=0.0)))
            if not hint and _close(want[full], got[full], rtol, atol):
                hint = (f"the allowed entries are right, but the masked ones hold up to {leaked.max():.3g}: they must "
                        "be exactly 0 (np.empty leaves whatever was in memory). Fill the masked scores with -np.inf "
                        "before the softmax (exp(-inf) is exactly 0), or set the masked results to 0.")
            if not hint and leaked.max() > 1e-3:
                allowed_min = float(np.where(full, scores, np.inf).min())
                hint = (f"masked entries hold up to {leaked.max():.3g} of the probability"
                        + (f": a finite fill value is not far enough below the scores, which go down to "
                           f"{allowed_min:g} here. Fill with -np.inf (exp(-inf) is exactly 0)." if allowed_min < -1e3
                           else ": they must be exactly 0; fill them with -np.inf before the softmax."))
            if not hint and not np.all(np.isfinite(got)):
                hint = _softmax_fp_hint(errors.kinds, scores)
            raise CaseFailed(f"probabilities {_first_wrong(want, got, rtol, atol)}."
                             + (f" Hint: {hint}" if hint else ""))
        outside = got[~full]
        if outside.size and np.any(outside != 0):
            raise CaseFailed(f"masked entries must be exactly 0; the largest is {np.abs(outside).max()!r}. "
                             "Fill the masked scores with -np.inf (exp(-inf) is exactly 0), or set them to 0 "
                             "(np.empty leaves whatever was in memory).")
    return Case(description, run)


def _causal(t: int, offset: int = 0, tk: int | None = None) -> np.ndarray:
    return _ref_mask(t, t if tk is None else tk, offset)


def masked_softmax(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `masked_softmax(scores, mask) -> probabilities`: the softmax of scores over the
    last axis where mask is True (mask broadcastable to scores, at least one True per row),
    masked entries exactly 0, stable for scores of 1e4 in float32 and float64, the scores'
    dtype kept, scores and mask unchanged."""
    rng = _rng(0)
    small = np.array([[0.5, 2.0, 3.0, 4.0], [1.0, -1.0, 5.0, 0.0], [0.3, 0.2, 0.1, 6.0]])
    square = rng.standard_normal((3, 3)) * 2
    heads = (rng.standard_normal((2, 4, 4)) * 2).astype(np.float32)
    same = rng.standard_normal((2, 3, 5)).astype(np.float32)
    same_mask = _causal(3, 2, 5)[None].repeat(2, axis=0)
    same_mask[1, 0, 1] = False
    large = np.array([[1e4, 9990.0, 9999.0], [9995.0, 1e4, 9950.0], [9990.0, 9980.0, 1e4]])
    masked_high = np.array([[0.0, 1e4, 1e4], [0.5, -0.5, 1e4], [1.0, 2.0, 0.0]])
    scales = np.array([[1e4, 2.0, 3.0], [0.0, 1.0, 9e3], [-1.0, 0.5, 2.0]])
    negative = np.array([[-25000.0, 9.0, 9.0], [-25001.0, -25003.0, 8.0], [-20000.0, -20002.5, -20001.0]])
    big = (rng.standard_normal((4, 16, 16)) * 3).astype(np.float32)
    big_mask = _causal(16) & (rng.random((16, 16)) < 0.7) | np.eye(16, dtype=bool)
    cases = [
        _softmax_case("3 rows of 4 scores, a causal mask at offset 1 (masked scores are the larger ones)", small,
                      _causal(3, 1, 4)),
        _softmax_case("a square causal mask: the first row has one allowed entry, whose probability is 1", square,
                      _causal(3)),
        _softmax_case("2 heads in float32, one (4, 4) causal mask shared by both (broadcast)", heads, _causal(4)),
        _softmax_case("float32 scores (2, 3, 5) and a mask of the same shape", same, same_mask),
        _softmax_case("large scores, about 1e4 (a naive exp overflows)", large, _causal(3)),
        _softmax_case("large scores, about 1e4, in float32 (exp overflows above 88 there)", large.astype(np.float32),
                      np.ones((3, 3), bool)),
        _softmax_case("masked entries with huge scores (1e4) next to allowed ones near 0: the max must come from "
                      "the allowed entries", masked_high, _causal(3)),
        _softmax_case("rows of very different scale, one near 1e4 and one near 0: each row's own max", scales,
                      np.array([[True, True, True], [True, True, False], [True, True, True]])),
        _softmax_case("very negative allowed scores (about -2.5e4): masked entries must still get exactly 0",
                      negative, _causal(3)),
        _softmax_case("4 heads, 16 x 16, float32, an irregular mask", big, big_mask),
    ]
    return run_cases("masked_softmax", fn, cases, show=show)


# ============================================================================ 3. attend_one

def _attend_ref(q, keys, values, length, *, scale=None, axis=-1, normalise=True, use_values=True):
    q64, k64, v64 = (np.asarray(a, np.float64) for a in (q, keys, values))
    d = q64.shape[-1]
    k = k64[:, :length]
    v = (v64 if use_values else k64)[:, :length]
    s = np.einsum("hd,htd->ht", q64, k) * (1 / math.sqrt(d) if scale is None else scale)
    with np.errstate(all="ignore"):
        e = np.exp(s - s.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True) if normalise else np.exp(s)
        return np.einsum("ht,htd->hd", p, v)


def _attend_variants(q, keys, values, length) -> list:
    d = q.shape[-1]
    max_len = keys.shape[1]
    return [
        (lambda: _attend_ref(q, keys, values, max_len),
         f"every one of the max_len={max_len} rows was used: only the first length={length} rows hold cached "
         "positions; the rest are not written yet (garbage). Slice keys[:, :length] and values[:, :length] "
         "(keys[:length] would slice the HEADS, axis 0; positions are axis 1)."),
        (lambda: _attend_ref(q, keys, values, length + 1) if length < max_len else None,
         "one row too many: row `length` is not written yet; the cached positions are rows 0..length-1, "
         "keys[:, :length]."),
        (lambda: _attend_ref(q, keys, values, length - 1) if length > 1 else None,
         "the last cached row was left out: rows 0..length-1 are cached, and row length-1 is the newest token, "
         "which the query must see (it is its own key): keys[:, :length], not [:, :length - 1]."),
        (lambda: _attend_ref(q, keys, values, length, scale=1.0),
         "the scores were not scaled: divide q . k by sqrt(head_dim) before the softmax."),
        (lambda: _attend_ref(q, keys, values, length, scale=1.0 / d),
         "the scores were divided by head_dim; the scale is 1/sqrt(head_dim)."),
        (lambda: _attend_ref(q, keys, values, length, scale=math.sqrt(d)),
         "the scores were multiplied by sqrt(head_dim); divide by it: scores / sqrt(head_dim)."),
        (lambda: _attend_ref(q, keys, values, length, axis=0),
         "the softmax went over the heads (axis 0): each head normalises its own scores over the cached "
         "positions, axis=-1."),
        (lambda: _attend_ref(q, keys, values, length, normalise=False),
         "the weights were not normalised: divide exp(scores - max) by its sum over the positions."),
        (lambda: _attend_ref(q, keys, values, length, use_values=False),
         "the keys were used for the weighted sum: the output is the softmax weights times the VALUES."),
    ]


def _attend_shape_hint(shape, h: int, d: int, length: int) -> str:
    if shape == (h, 1, d):
        return " Hint: drop the middle axis of size 1 ([:, 0], or reshape to (n_head, head_dim))."
    if shape == (d, h) and d != h:
        return " Hint: it is transposed: one row per head."
    if shape == (h, length) and length != d:
        return " Hint: that is the attention weights' shape; the output is weights @ values, one vector per head."
    if shape == (h, h, d):
        return (" Hint: weights (n_head, length) @ values (n_head, length, head_dim) broadcasts to (n_head, n_head, "
                "head_dim): multiply head by head, np.einsum('ht,htd->hd', p, v) or (p[:, None, :] @ v)[:, 0].")
    return ""


def _attend_case(description: str, h: int, d: int, max_len: int, length: int, dtype, seed: int,
                 garbage: str = "random", size: float = 1.0) -> Case:
    def run(fn):
        rng = _rng(seed)
        q = (size * rng.standard_normal((h, d))).astype(dtype)
        keys = (size * rng.standard_normal((h, max_len, d))).astype(dtype)
        values = rng.standard_normal((h, max_len, d)).astype(dtype)
        if garbage == "nan":
            keys[:, length:] = np.nan
            values[:, length:] = np.nan
        else:   # rows never written hold whatever was there: here big random values
            keys[:, length:] = (5 * rng.standard_normal((h, max_len - length, d))).astype(dtype)
            values[:, length:] = (10 + 5 * rng.standard_normal((h, max_len - length, d))).astype(dtype)
        want = _attend_ref(q, keys, values, length).astype(dtype)
        args = read_only(q, keys, values)
        errors = _FloatErrors()
        try:
            with errors:
                got = fn(*args, length)
        except (IndexError, ValueError) as exc:
            if _is_read_only_error(exc):
                raise
            raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: q is (n_head, head_dim) "
                             f"= {q.shape}, keys[:, :length] and values[:, :length] are (n_head, length, head_dim) = "
                             f"{(h, length, d)}; scores per head: np.einsum('hd,htd->ht', q, k), or "
                             "(k @ q[:, :, None])[:, :, 0]. Note that .T of a 3-D array reverses all three axes: "
                             "use k.transpose(0, 2, 1) to swap the last two, and that keys[:length] slices the heads "
                             "(axis 0), not the positions (axis 1).") from None
        except OverflowError as exc:
            raise CaseFailed(f"raised OverflowError: {exc}{learner_frame(exc)}. Hint: subtract each head's max "
                             "score before exp.") from None
        got = _returned_array(got, "the attention output", want.shape)
        if got.shape != want.shape:
            raise CaseFailed(f"the result has shape {got.shape}, expected (n_head, head_dim) = {want.shape}."
                             + _attend_shape_hint(got.shape, h, d, length))
        if got.dtype != want.dtype:
            raise CaseFailed(_dtype_hint(want.dtype, got.dtype))
        rtol, atol = (2e-5, 2e-6) if dtype == np.float32 else (1e-10, 1e-12)
        if dtype == np.float32:     # as far off as the same formula computed in float32 may be (sharp scores)
            atol = max(atol, 10 * float(np.abs(_attend_float32(q, keys, values, length) - want).max()))
        if not _close(want, got, rtol, atol):
            hint = ""
            for formula, message in _attend_variants(q, keys, values, length):
                candidate = formula()
                if candidate is not None and np.all(np.isfinite(candidate)) \
                        and not _close(want, candidate, 1e-3, 1e-4) and _close(candidate, got, 1e-4, 1e-5):
                    hint = message
                    break
            if not hint and not np.all(np.isfinite(got)):
                if "overflow" in errors.kinds:
                    hint = (f"overflow: the scores reach about {np.abs(_scores(q, keys, length)).max():.0f} here, and "
                            "exp of that is inf (inf / inf = nan): subtract each head's max score before exp.")
                elif garbage == "nan":
                    hint = ("the rows from `length` on hold NaN in this case (never written), and your result has "
                            "NaN: they were read. Any use of them shows, even with a weight of 0 (0 * NaN = NaN), "
                            "so slice keys[:, :length] and values[:, :length] before computing anything.")
            raise CaseFailed(f"output {_first_wrong(want, got, rtol, atol)} (length={length} of max_len={max_len})."
                             + (f" Hint: {hint}" if hint else ""))
    return Case(description, run)


def _attend_float32(q, keys, values, length):
    """The reference formula evaluated in float32 arithmetic throughout."""
    k, v = keys[:, :length], values[:, :length]
    with np.errstate(all="ignore"):
        s = np.einsum("hd,htd->ht", q, k) * np.float32(1 / math.sqrt(q.shape[-1]))
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return np.einsum("ht,htd->hd", e / e.sum(axis=-1, keepdims=True), v).astype(np.float64)


def _scores(q, keys, length):
    return np.einsum("hd,htd->ht", q.astype(np.float64), keys[:, :length].astype(np.float64)) / math.sqrt(q.shape[-1])


def attend_one(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `attend_one(q, keys, values, length) -> out`: one query per head, q (n_head,
    head_dim), against the first `length` rows of preallocated keys and values (n_head,
    max_len, head_dim); out[h] = softmax(keys[h, :length] @ q[h] / sqrt(head_dim)) @
    values[h, :length], shape (n_head, head_dim), q's dtype. Rows from `length` on hold
    garbage (random values, or NaN) and must not be read; inputs are read-only."""
    cases = [
        _attend_case("2 heads, head_dim 4, 3 of 6 rows cached (rows 3..5 hold random garbage)", 2, 4, 6, 3,
                     np.float64, 0),
        _attend_case("one cached row (length=1): the output is that row's value", 3, 8, 5, 1, np.float64, 1),
        _attend_case("a full cache: length == max_len", 2, 4, 5, 5, np.float64, 2),
        _attend_case("n_head = head_dim = length = 4 (a square case where a wrong axis still runs)", 4, 4, 8, 4,
                     np.float64, 3),
        _attend_case("float32: 4 heads, head_dim 16, 17 of 32 rows", 4, 16, 32, 17, np.float32, 4),
        _attend_case("the rows from length on hold NaN (never written): they must not be read at all", 2, 8, 10, 6,
                     np.float64, 5, garbage="nan"),
        _attend_case("large scores (q and keys of size ~30): a naive exp overflows", 2, 16, 12, 9, np.float64, 6,
                     size=30.0),
        _attend_case("large scores in float32", 3, 8, 10, 7, np.float32, 7, size=12.0),
        _attend_case("8 heads, head_dim 32, 100 of 128 rows, float32", 8, 32, 128, 100, np.float32, 8),
    ]
    return run_cases("attend_one", fn, cases, show=show)


# ============================================================================ 4. rope_at

def _rope(x: np.ndarray, positions, base: float = 10000.0, *, interleaved: bool = False,
          exponent: float = 2.0) -> np.ndarray:
    """RoPE of x (..., T, d) with row t at positions[t], in float64: rotate-half pairs (i, i + d/2)
    with angle p * base**(-exponent*i/d), or interleaved pairs (2i, 2i+1)."""
    x = np.asarray(x, np.float64)
    d = x.shape[-1]
    h = d // 2
    angles = np.asarray(positions, np.float64)[:, None] * float(base) ** (-exponent * np.arange(h) / d)[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x1 * cos - x2 * sin
        out[..., 1::2] = x1 * sin + x2 * cos
        return out
    x1, x2 = x[..., :h], x[..., h:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def _rope_tolerances(dtype) -> tuple[float, float]:
    # float32: room for angles computed in float32 at positions of a few hundred
    return (1e-4, 1e-4) if np.dtype(dtype) == np.float32 else (1e-9, 1e-11)


def _rope_positions_found(x: np.ndarray, got: np.ndarray, limit: int, base: float, atol: float) -> list:
    """For each row t, the integer position p in [-limit, limit] whose rotation of x[:, t]
    is got[:, t] (the closest within atol), or None."""
    candidates = np.arange(-limit, limit + 1)
    found = []
    for t in range(x.shape[1]):
        row = x[:, t:t + 1]                                          # (H, 1, d)
        rotated = _rope(np.broadcast_to(row, (x.shape[0], len(candidates), x.shape[2])), candidates, base)
        with np.errstate(all="ignore"):
            err = np.abs(rotated - np.asarray(got[:, t:t + 1], np.float64)).max(axis=(0, 2))
        best = int(np.argmin(err)) if np.all(np.isfinite(got[:, t])) else None
        found.append(int(candidates[best]) if best is not None and err[best] <= atol else None)
    return found


def _rope_position_hint(found: list, offset: int, t: int) -> str:
    want = [offset + i for i in range(t)]
    if any(p is None for p in found):
        return ""
    if found == want:
        return ""
    first = next(i for i in range(t) if found[i] != want[i])
    where = (f"row {first} should be rotated at absolute position {want[first]} (offset {offset} + {first}); "
             f"yours is the rotation for position {found[first]}")
    if all(p == 0 for p in found):
        if t == 1:
            return (f"{where}: the offset was ignored, so every new token is treated as the first one (the bug of "
                    "a cached path that 'simplifies' RoPE). Rotate at offset + t, the token's absolute position.")
        return (f"{where}: every row is unrotated (position 0, as if no rotation were applied, or every row "
                "were at the offset 0): rotate row t at position offset + t.")
    if found == list(range(t)):
        return (f"{where}: the offset was ignored (rows at positions 0..T-1). offset = the number of positions "
                "already in the cache; row t is at offset + t.")
    if all(p == offset for p in found):
        return f"{where}: every row was rotated at the offset; row t is at offset + t (np.arange(T) + offset)."
    if found == [2 * p for p in want]:
        return (f"{where}: the angle is doubled: the rotation was applied twice (to an input already rotated, "
                "like keys rotated again when read back from the cache), or the offset was added twice.")
    if found == [-p for p in want]:
        return (f"{where}: the sin sign is flipped, which is the inverse rotation (by -angle): "
                "out = [x1*cos - x2*sin, x1*sin + x2*cos].")
    shift = {f - w for f, w in zip(found, want)}
    if len(shift) == 1:
        s = shift.pop()
        if s == t:
            return (f"{where}: every position is T = {t} (the number of new tokens) too far, as if offset were the "
                    "length AFTER this chunk was appended: on the first call the positions jump by the prompt "
                    "length. offset is the number of positions BEFORE this chunk (the cache length before "
                    "appending).")
        if s == offset:
            return f"{where}: the offset was counted twice."
        return (f"{where}: every position is shifted by {s}. Take the positions from the offset argument, "
                "offset + np.arange(T), and nothing else (no position kept between calls).")
    return where + "."


def _rope_variants(x: np.ndarray, positions: np.ndarray, base: float) -> list:
    return [
        (lambda: _rope(x, positions, base, interleaved=True),
         "those are interleaved pairs (2i, 2i+1), the RoFormer paper's layout; this course (like GPT-NeoX and "
         "LLaMA in Hugging Face) uses rotate-half: feature i pairs with feature i + head_dim/2, "
         "x1 = x[..., :head_dim//2], x2 = x[..., head_dim//2:]."),
        (lambda: _rope(x, positions, base, exponent=1.0),
         "the angle's exponent is -i/head_dim; it is -2i/head_dim (i = 0 .. head_dim/2 - 1, the pair index): "
         "base ** (-2 * i / head_dim), i.e. base ** (-np.arange(0, head_dim, 2) / head_dim)."),
        (lambda: _rope(x, positions, base, exponent=4.0),
         "the angle's exponent is -4i/head_dim (2i applied twice?): it is base ** (-np.arange(0, head_dim, 2) / "
         "head_dim), pair i's frequency base**(-2i/head_dim)."),
        (lambda: _rope(x, positions, 10000.0) if base != 10000.0 else None,
         f"you used base 10000 instead of the base argument (base={base:g} here)."),
        (lambda: _rope(x, positions, base, interleaved=True, exponent=1.0),
         "interleaved pairs (2i, 2i+1) and the exponent -i/head_dim: this course uses rotate-half (feature i pairs "
         "with i + head_dim/2) and the angle p * base**(-2i/head_dim)."),
    ]


def _rope_call(fn, x_in: np.ndarray, offset: int, base: float | None):
    try:
        return fn(x_in, offset) if base is None else fn(x_in, offset, base=base)
    except ValueError as exc:
        if _is_read_only_error(exc):
            raise CaseFailed(f"your function wrote into x{learner_frame(exc)}, which this case passes read-only: "
                             "x must stay unchanged (the caller still holds the unrotated queries and keys, and "
                             "rotating in place twice rotates twice). Build the result in a new array "
                             "(np.empty_like(x), or np.concatenate).") from None
        raise


def _rope_compare(x: np.ndarray, offset: int, base: float, got, want: np.ndarray, label: str) -> None:
    """x: the (read-only) array the learner's function was given."""
    got = _returned_array(got, "the rotated array", want.shape)
    if got.shape != want.shape:
        raise CaseFailed(f"{label}: the result has shape {got.shape}, expected x's shape {want.shape}.")
    if got.dtype != want.dtype:
        raise CaseFailed(f"{label}: " + _dtype_hint(want.dtype, got.dtype))
    rtol, atol0 = _rope_tolerances(want.dtype)
    atol = atol0 * max(1.0, float(np.abs(want).max(initial=0.0)))
    if not _close(want, got, rtol, atol):
        t = x.shape[1]
        positions = offset + np.arange(t)
        hint = ""
        for formula, message in _rope_variants(x, positions, base):
            candidate = formula()
            if candidate is not None and not _close(want, candidate, rtol, atol) and _close(candidate, got, rtol, atol):
                hint = message
                break
        if not hint:
            limit = 2 * (offset + t) + t + 2
            hint = _rope_position_hint(_rope_positions_found(x, got, limit, base, atol), offset, t)
        raise CaseFailed(f"{label}: {_first_wrong(want, got, rtol, atol)}." + (f" Hint: {hint}" if hint else ""))
    if np.shares_memory(got, x):
        raise CaseFailed(f"{label}: the values are right, but the result shares memory with x (x itself, or a "
                         "view of it): return a new array, so that writing to the rotated keys cannot change the "
                         "caller's unrotated ones.")


def _rope_case(description: str, h: int, d: int, offset: int, t: int, dtype, seed: int,
               base: float | None = None) -> Case:
    """Rotate a whole sequence of offset + t rows, then give the learner its last t rows at `offset`."""
    def run(fn):
        rng = _rng(seed)
        b = 10000.0 if base is None else base
        full = rng.standard_normal((h, offset + t, d)).astype(dtype)
        want = _rope(full, np.arange(offset + t), b)[:, offset:].astype(dtype)
        x_in = read_only(full[:, offset:])
        got = _rope_call(fn, x_in, offset, base)
        _rope_compare(x_in, offset, b, got, want, f"positions {offset}..{offset + t - 1}")
    return Case(description, run)


def _rope_sequence_case(description: str, h: int, d: int, chunks: list, dtype, seed: int) -> Case:
    """Several calls, (offset, t) each, all compared with rotating one sequence long enough for every chunk."""
    def run(fn):
        rng = _rng(seed)
        total = max(o + t for o, t in chunks)
        full = rng.standard_normal((h, total, d)).astype(dtype)
        rotated = _rope(full, np.arange(total), 10000.0).astype(dtype)
        for number, (offset, t) in enumerate(chunks, 1):
            x = read_only(full[:, offset:offset + t])
            got = _rope_call(fn, x, offset, None)
            label = (f"call {number} of {len(chunks)} (offset={offset}, {t} row{'s' if t > 1 else ''}, compared with "
                     f"rotating the whole {total}-row sequence)")
            _rope_compare(x, offset, 10000.0, got, rotated[:, offset:offset + t], label)
    return Case(description, run)


def rope_at(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `rope_at(x, offset, base=10000.0) -> rotated`: RoPE of x (n_head, T, head_dim)
    whose rows are at absolute positions offset .. offset + T - 1, rotate-half layout, angle
    p * base**(-2i/head_dim); a new array in x's dtype, x unchanged. Every answer is compared
    with rotating the whole sequence from position 0 and keeping the last T rows."""
    cases = [
        _rope_case("positions 0..4 (offset 0): one head, head_dim 4", 1, 4, 0, 5, np.float64, 0),
        _rope_case("a prompt of 6 tokens at offset 0: 2 heads, head_dim 8", 2, 8, 0, 6, np.float64, 1),
        _rope_case("the first token alone, at position 0 (where the rotation is the identity)", 2, 4, 0, 1,
                   np.float64, 10),
        _rope_case("one new token at position 7 (a decoding step after 7 cached tokens)", 2, 8, 7, 1, np.float64, 2),
        _rope_case("a chunk of 3 tokens at positions 5..7", 3, 6, 5, 3, np.float64, 3),
        _rope_sequence_case("a generation: a prompt of 5 at offset 0, then 4 tokens one at a time at offsets 5..8", 2,
                            8, [(0, 5), (5, 1), (6, 1), (7, 1), (8, 1)], np.float64, 4),
        _rope_case("float32: 4 heads, head_dim 16, one token at position 300", 4, 16, 300, 1, np.float32, 5),
        _rope_case("base=500 passed by keyword: 2 heads, head_dim 8, positions 3..6", 2, 8, 3, 4, np.float64, 6,
                   base=500.0),
        _rope_case("head_dim 2 (a single pair), positions 2..4", 1, 2, 2, 3, np.float64, 7),
        _rope_sequence_case("offsets in any order: 20, then 3, then 11 (the function keeps no state between calls)",
                            2, 4, [(20, 1), (3, 2), (11, 1)], np.float64, 8),
        _rope_case("a late position: one token at position 1000, head_dim 32", 2, 32, 1000, 1, np.float64, 9),
    ]
    return run_cases("rope_at", fn, cases, show=show)


# ============================================================================ 5. cache_append

def _names_number(message: str, number: int) -> bool:
    return re.search(rf"(?<![\d.]){number}(?![\d.])", message) is not None


def _where_rows(arr: np.ndarray, rows: np.ndarray) -> int | None:
    """The first row s with arr[:, s:s + t] equal to rows (n_head, t, head_dim), or None."""
    t = rows.shape[1]
    for s in range(arr.shape[1] - t + 1):
        if np.array_equal(arr[:, s:s + t], rows):
            return s
    return None


def _rotated_by(stored: np.ndarray, given: np.ndarray, limit: int) -> int | None:
    """p0 such that stored == rope(given, p0 + arange(t)), within float32 rounding, or None."""
    if not np.all(np.isfinite(stored)):
        return None
    t = given.shape[1]
    for p0 in range(limit):
        if _close(_rope(given, p0 + np.arange(t)), stored, 1e-4, 1e-4):
            return p0
    return None


def _append_diagnosis(keys, values, k_new, v_new, before_k, before_v, length) -> str:
    t = k_new.shape[1]
    k_same, v_same = np.array_equal(keys, before_k, equal_nan=True), np.array_equal(values, before_v, equal_nan=True)
    if k_same and v_same:
        return ("the caller's arrays did not change: np.concatenate, np.append, np.insert or a copy builds a NEW "
                "array, and rebinding the name `keys` inside your function does not change the caller's. The cache "
                "is preallocated so that nothing is reallocated: write into it, "
                "keys[:, length:length + t_new] = k_new (the same for values).")
    region = slice(length, length + t)
    if _where_rows(keys, v_new) == length and _where_rows(values, k_new) == length:
        return "the keys went into values and the values into keys: keys[...] = k_new, values[...] = v_new."
    if v_same and not k_same:
        return "only the keys were written: values[:, length:length + t_new] = v_new too."
    if k_same and not v_same:
        return "only the values were written: keys[:, length:length + t_new] = k_new too."
    for name, arr, new in (("keys", keys, k_new), ("values", values, v_new)):
        if np.array_equal(arr[:, region], new):
            continue
        s = _where_rows(arr, new)
        if s is not None:
            extra = (" (row 0: the oldest positions were overwritten)" if s == 0 else "")
            return (f"the new {name} were written at rows {s}..{s + t - 1}{extra}; they go after the {length} cached "
                    f"rows, at rows length..length + t_new - 1 = {length}..{length + t - 1}.")
        if name == "keys":
            p0 = _rotated_by(arr[:, region], new, arr.shape[1] + 2 * t + 2)
            if p0 is not None:
                return (f"the stored keys are the ones given, rotated (again) at positions {p0}..{p0 + t - 1}: the "
                        "caller passes keys ALREADY rotated at their absolute positions, and the cache must store "
                        "exactly what it is given. Rotating here rotates every key twice.")
    return ""


def _append_case(description: str, h: int, d: int, max_len: int, steps: list, dtype, seed: int,
                 rotated: bool = False) -> Case:
    """steps = [length before the first call, t_new of call 1, t_new of call 2, ...]; the rows from
    the first length on hold garbage (never written)."""
    def run(fn):
        rng = _rng(seed)
        keys = (50 + rng.standard_normal((h, max_len, d))).astype(dtype)       # garbage in the unwritten rows
        values = (-50 + rng.standard_normal((h, max_len, d))).astype(dtype)
        length, sizes = steps[0], steps[1:]
        keys[:, :length] = rng.standard_normal((h, length, d))
        values[:, :length] = rng.standard_normal((h, length, d))
        for number, t in enumerate(sizes, 1):
            k_raw = rng.standard_normal((h, t, d))
            k_new = (_rope(k_raw, length + np.arange(t)) if rotated else k_raw).astype(dtype)
            v_new = rng.standard_normal((h, t, d)).astype(dtype)
            k_in, v_in = read_only(k_new, v_new)
            before_k, before_v = keys.copy(), values.copy()
            where = (f"call {number} of {len(sizes)}: " if len(sizes) > 1 else "") + \
                f"appending {t} row{'s' if t > 1 else ''} at length={length} (max_len={max_len})"
            try:
                got = fn(keys, values, length, k_in, v_in)
            except ValueError as exc:
                if _is_read_only_error(exc):
                    raise CaseFailed(f"{where}: your function wrote into k_new or v_new{learner_frame(exc)}, which "
                                     "this case passes read-only: copy them into the cache and leave them "
                                     "unchanged.") from None
                hint = (" Hint: the positions are axis 1 of keys and values, (n_head, max_len, head_dim): "
                        "keys[:, length:length + t_new] = k_new; keys[length:length + t_new] slices the heads."
                        if "broadcast" in str(exc) else "")
                raise CaseFailed(f"{where}: raised ValueError: {exc}{learner_frame(exc)}, but "
                                 f"{length} + {t} = {length + t} rows fit in max_len={max_len}.{hint}") from None
            want_k, want_v = before_k.copy(), before_v.copy()
            want_k[:, length:length + t] = k_new
            want_v[:, length:length + t] = v_new
            if not (np.array_equal(keys, want_k) and np.array_equal(values, want_v)):
                hint = _append_diagnosis(keys, values, k_new, v_new, before_k, before_v, length)
                if not hint:
                    outside = np.ones(max_len, bool)
                    outside[length:length + t] = False
                    changed = np.flatnonzero(np.any(keys != before_k, axis=(0, 2)) & outside
                                             | np.any(values != before_v, axis=(0, 2)) & outside)
                    if changed.size:
                        hint = (f"rows {changed.tolist()[:6]} changed, outside the new rows "
                                f"{length}..{length + t - 1}: "
                                "write only keys[:, length:length + t_new] (and values); the other rows hold earlier "
                                "positions, or are not written yet.")
                bad = np.argwhere(keys != want_k)
                what = "keys"
                if not bad.size:
                    bad, what = np.argwhere(values != want_v), "values"
                index = tuple(int(i) for i in bad[0])
                arr, ref = (keys, want_k) if what == "keys" else (values, want_v)
                raise CaseFailed(f"{where}: {what}{list(index)} is {arr[index].item()!r}, expected "
                                 f"{ref[index].item()!r}." + (f" Hint: {hint}" if hint else ""))
            if got is None:
                raise CaseFailed(f"{where}: the rows are right, but the function returned None; return the new "
                                 f"length, length + t_new = {length + t}.")
            if isinstance(got, (tuple, list)):
                raise CaseFailed(f"{where}: the rows are right, but the function returned a {type(got).__name__}; "
                                 "return only the new length (an int): the arrays are updated in place, so the "
                                 "caller already has them.")
            if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
                raise CaseFailed(f"{where}: returned {got!r} ({type(got).__name__}); expected the new length as an "
                                 f"int, {length + t}.")
            if int(got) != length + t:
                hint = ""
                if int(got) == length:
                    hint = " Hint: that is the old length: return length + t_new."
                elif int(got) == t:
                    hint = " Hint: that is t_new, the number of new rows: return length + t_new."
                raise CaseFailed(f"{where}: returned {int(got)}, expected the new length {length + t}.{hint}")
            length += t
    return Case(description, run)


def _overflow_case(description: str, h: int, d: int, max_len: int, length: int, t: int, seed: int) -> Case:
    def run(fn):
        rng = _rng(seed)
        keys = rng.standard_normal((h, max_len, d))
        values = rng.standard_normal((h, max_len, d))
        before_k, before_v = keys.copy(), values.copy()
        k_in, v_in = read_only(rng.standard_normal((h, t, d)), rng.standard_normal((h, t, d)))
        need = length + t
        try:
            got = fn(keys, values, length, k_in, v_in)
        except ValueError as exc:
            message = str(exc)
            if _is_read_only_error(exc):
                raise
            if "broadcast" in message:
                raise CaseFailed(f"raised NumPy's ValueError({message!r}){learner_frame(exc)}: the slice "
                                 f"keys[:, {length}:{need}] holds only {max(0, max_len - length)} rows. Check "
                                 "BEFORE writing and raise a ValueError that says what happened, naming both sizes: "
                                 f"if length + t_new > max_len: raise ValueError(f\"... {{length + t_new}} rows ... "
                                 "max_len {max_len} ...\").") from None
            named = _names_number(message, need) or (_names_number(message, length) and _names_number(message, t))
            if not (_names_number(message, max_len) and named):
                raise CaseFailed(f"raised ValueError({message!r}), but the message should name both sizes, so that "
                                 f"the reader sees what did not fit: the {need} rows needed (length {length} + "
                                 f"t_new {t}) and max_len {max_len}.") from None
            if not (np.array_equal(keys, before_k) and np.array_equal(values, before_v)):
                raise CaseFailed("raised the ValueError, but wrote into the cache first: check the size before "
                                 "writing anything, so a failed append leaves the cache as it was.")
            return
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CaseFailed(f"raised {type(exc).__name__}({exc}){learner_frame(exc)}; expected a ValueError. Hint: "
                             "`raise ValueError(f\"...\")`: callers catch ValueError for bad arguments, and an "
                             "`assert` disappears under `python -O`.") from None
        extra = ""
        if not (np.array_equal(keys, before_k) and np.array_equal(values, before_v)):
            extra = " (it wrote the rows that fit and dropped the rest: a silently truncated append)"
        raise CaseFailed(f"length {length} + t_new {t} = {need} rows do not fit in max_len={max_len}, but the "
                         f"function returned {got!r}{extra}. Hint: check first, and raise a ValueError naming both "
                         "sizes; a KV cache that silently drops tokens makes the model forget its context.")
    return Case(description, run)


def cache_append(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `cache_append(keys, values, length, k_new, v_new) -> new_length`: write k_new,
    v_new (n_head, t_new, head_dim) into the preallocated keys, values (n_head, max_len,
    head_dim) at rows length .. length + t_new - 1, IN PLACE, leaving every other row
    unchanged, and return length + t_new; k_new and v_new (read-only) are stored exactly as
    given (the keys arrive already rotated). A ValueError naming both sizes when
    length + t_new > max_len, with the cache unchanged."""
    cases = [
        _append_case("a prompt of 4 rows into an empty cache (length 0, max_len 10)", 2, 4, 10, [0, 4], np.float64, 0),
        _append_case("one token after 4 cached rows", 2, 4, 10, [4, 1], np.float64, 1),
        _append_case("a generation: a prompt of 3, then 4 tokens one at a time", 3, 8, 12, [0, 3, 1, 1, 1, 1],
                     np.float64, 2),
        _append_case("float32; the keys are given already rotated (RoPE at their positions): store them as given",
                     2, 8, 16, [5, 2, 1], np.float32, 3, rotated=True),
        _append_case("filling the cache exactly: length + t_new == max_len (no error)", 2, 4, 8, [5, 3], np.float64, 4),
        _overflow_case("overflow: 3 rows after 7 with max_len 9", 2, 4, 9, 7, 3, 5),
        _overflow_case("overflow: one more token in a full cache (length == max_len == 6)", 2, 4, 6, 6, 1, 6),
    ]
    return run_cases("cache_append", fn, cases, show=show)


# ============================================================================ 6. greedy_generate

class _ToyModel:
    """A deterministic stand-in for a language model: step_fn(ids_so_far) -> logits (vocab,)
    of the next token. The logits depend on the whole prefix (its length, sum and last
    token), so a loop that feeds only the last token gets other logits. Every call is
    recorded."""

    ROWS = 97

    def __init__(self, vocab: int, seed: int, ties: bool = False):
        rng = _rng(seed)
        self.table = rng.standard_normal((self.ROWS, vocab)).astype(np.float32)
        if ties:    # the largest value twice in every row, at a random earlier and later index
            for row in self.table:
                a, b = sorted(rng.choice(vocab, 2, replace=False))
                row[a] = row[b] = row.max() + 1.0
        self.calls: list[tuple] = []

    def logits(self, ids) -> np.ndarray:
        ids = [int(i) for i in ids]
        row = self.table[(sum(ids) * 31 + len(ids) * 17 + ids[-1] * 7) % self.ROWS].copy()
        row.setflags(write=False)
        return row

    def __call__(self, ids):
        if isinstance(ids, (int, np.integer)):
            raise CaseFailed(f"step_fn was called with the single int {ids!r}: it takes the whole sequence so far, "
                             "a list (or 1-D array) of ids: the prompt followed by every token generated so far.")
        arr = np.asarray(ids)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
            raise CaseFailed(f"step_fn was called with {ids!r} (shape {arr.shape}, dtype {arr.dtype}); it takes the "
                             "sequence so far as a non-empty list or 1-D integer array of ids.")
        self.calls.append(tuple(int(i) for i in arr))
        return self.logits(self.calls[-1])


def _reference_tokens(model: _ToyModel, prompt, n: int) -> list[int]:
    ids = [int(i) for i in prompt]
    out = []
    for _ in range(n):
        token = int(np.argmax(model.logits(ids)))
        out.append(token)
        ids.append(token)
    return out


def _as_tokens(got, n: int) -> list[int]:
    if got is None:
        raise CaseFailed("the function returned None; expected the list of generated ids (did you forget `return`?).")
    if isinstance(got, np.ndarray):
        if got.ndim != 1:
            raise CaseFailed(f"returned an array of shape {got.shape}; expected the {n} generated ids, a list of ints.")
        if got.dtype.kind not in "iu":
            raise CaseFailed(f"returned an array of dtype {got.dtype}; the ids are ints (np.argmax returns one).")
        return [int(v) for v in got]
    if not isinstance(got, (list, tuple)):
        raise CaseFailed(f"returned a {type(got).__name__}; expected the generated ids as a list of ints.")
    for i, v in enumerate(got):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            shape = f" of shape {np.shape(v)}" if isinstance(v, np.ndarray) else ""
            raise CaseFailed(f"element {i} of the result is {v!r} ({type(v).__name__}{shape}); expected an int id. "
                             + ("Hint: logits are floats, the token is the INDEX of the largest one: "
                                "int(np.argmax(logits))." if isinstance(v, (float, np.floating, np.ndarray)) else ""))
    return [int(v) for v in got]


def _greedy_diagnosis(model: _ToyModel, prompt: list, got: list, want: list, n: int) -> str:
    p = list(prompt)
    if len(got) == len(p) + n and got[:len(p)] == p and got[len(p):] == want:
        return ("the result starts with the prompt: return only the n NEW tokens (the caller has the prompt "
                "already).")
    if len(got) == n + 1 and got[:n] == want:
        return "one token too many (n + 1): the loop runs n times, range(n)."
    if n and len(got) == n - 1 and got == want[:n - 1]:
        return "one token too few (n - 1): the loop runs n times, range(n)."
    if got and all(v == 0 for v in got) and any(v != 0 for v in want):
        return ("every token is 0: np.argmax of a single number is 0. step_fn already returns the next token's "
                "logits, shape (vocab,): take np.argmax of that whole array.")
    calls = model.calls
    for k, call in enumerate(calls[:len(got)]):
        expected = tuple(p + got[:k])
        if call != expected:
            if len(call) == 1 and k > 0:
                return (f"call {k + 1} to step_fn got only the last token {list(call)}: step_fn stands for the whole "
                        "model, whose next-token logits depend on the WHOLE sequence so far (this toy model's do: "
                        "on its length and its sum). Pass the prompt followed by every token generated so far.")
            if call == tuple(p):
                return (f"call {k + 1} to step_fn got the prompt only: append each chosen token to the sequence "
                        "before the next call (ids.append(token)).")
            return (f"call {k + 1} to step_fn got {list(call)[:12]}{'...' if len(call) > 12 else ''}; expected the "
                    f"prompt followed by the {k} token(s) generated so far, {list(expected)[:12]}"
                    f"{'...' if len(expected) > 12 else ''}.")
    for k, token in enumerate(got):
        logits = model.logits(p + got[:k])
        best = int(np.argmax(logits))
        if token == best:
            continue
        if not 0 <= token < logits.size:
            return f"token {k} is {token}, not an id in 0..{logits.size - 1}."
        if logits[token] == logits[best]:
            tied = np.flatnonzero(logits == logits[best]).tolist()
            return (f"at step {k} the largest logit {logits[best]:g} appears at ids {tied}: "
                    f"you chose {token}; greedy decoding here uses np.argmax's rule, the FIRST index of the max "
                    f"({best}); np.argsort(logits)[-1], for one, can pick a later one.")
        if token == int(np.argmin(logits)):
            return f"at step {k} you chose {token}, the SMALLEST logit: greedy picks np.argmax(logits)."
        return (f"at step {k} you chose token {token} (logit {logits[token]:g}); the largest logit is "
                f"{logits[best]:g}, at token {best}. Greedy decoding takes the argmax at every step, with no sampling.")
    return ""


def _greedy_case(description: str, vocab: int, prompt, n: int, seed: int, ties: bool = False) -> Case:
    def run(fn):
        model = _ToyModel(vocab, seed, ties)
        want = _reference_tokens(model, prompt, n)
        given = list(prompt) if isinstance(prompt, list) else np.array(prompt, dtype=np.int64)
        if isinstance(given, np.ndarray):
            given.setflags(write=False)
        try:
            got = fn(model, given, n)
        except (IndexError, ValueError) as exc:
            if "axis" in str(exc):
                raise CaseFailed(f"raised {type(exc).__name__}: {exc}{learner_frame(exc)}. Hint: the logits are "
                                 f"1-D, shape (vocab,) = ({vocab},): np.argmax(logits) (axis 0 or -1).") from None
            raise
        except AttributeError as exc:
            if "append" in str(exc) and isinstance(given, np.ndarray):
                raise CaseFailed(f"raised AttributeError: {exc}{learner_frame(exc)}. Hint: prompt_ids may be a list "
                                 "or a NumPy array: start from a list of your own, ids = list(prompt_ids).") from None
            raise
        if isinstance(prompt, list) and given != list(prompt):
            raise CaseFailed("your function changed the caller's prompt_ids list (appending the generated tokens to "
                             "it): start from a copy, ids = list(prompt_ids).")
        tokens = _as_tokens(got, n)
        if tokens != want:
            hint = _greedy_diagnosis(model, list(prompt), tokens, want, n)
            head = (f"for a prompt of {len(prompt)} and n={n}: expected {want[:12]}{'...' if n > 12 else ''}, got "
                    f"{tokens[:12]}{'...' if len(tokens) > 12 else ''} ({len(tokens)} tokens)")
            raise CaseFailed(head + "." + (f" Hint: {hint}" if hint else ""))
        if len(model.calls) > n:
            raise CaseFailed(f"the tokens are right, but step_fn was called {len(model.calls)} times for n={n}: each "
                             "call is one forward pass of the model, the expensive part of generating. Call it once "
                             "per generated token.")
    return Case(description, run)


def greedy_generate(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `greedy_generate(step_fn, prompt_ids, n) -> tokens`: n times, call
    step_fn(prompt + tokens generated so far) and take np.argmax of the logits (vocab,) it
    returns (the first index on ties); return the n new ids (a list of ints; a tuple or a
    1-D integer array of the same ids is accepted), the prompt unchanged. step_fn is a
    deterministic toy model whose logits depend on the whole prefix."""
    cases = [
        _greedy_case("a prompt of 3 tokens (a list), 5 new tokens, vocabulary 11", 11, [4, 1, 7], 5, 0),
        _greedy_case("a single-token prompt, n=1", 11, [2], 1, 1),
        _greedy_case("n=0: nothing to generate (an empty list)", 11, [3, 3], 0, 2),
        _greedy_case("the prompt as a NumPy int64 array, 20 new tokens, vocabulary 30", 30, np.array([5, 9, 0, 12]),
                     20, 3),
        _greedy_case("ties: the largest logit appears twice in every row (np.argmax takes the first)", 13,
                     [1, 2, 3], 12, 4, ties=True),
        _greedy_case("a character vocabulary of 65, a prompt of 10, 200 new tokens", 65, list(range(10, 20)), 200, 5),
    ]
    return run_cases("greedy_generate", fn, cases, show=show)
