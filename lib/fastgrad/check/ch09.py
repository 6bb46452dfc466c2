"""Checkers for chapter 09 (fast training): a profiler's self times from a trace of nested
events, a buffer pool keyed by (shape, dtype), the fused backward of linear + ReLU, and
needed-gradients pruning of a graph.

The checkers are self-contained: `needed_inputs` runs on the tiny graph defined here,
`Node(op, inputs, name=None)`, with identity equality and hashing; leaves have op "input".
They do not use `fastgrad.profile`, `fastgrad.buffers` or `fastgrad.autograd`. The mistakes
they catch and name:

* self_times: inclusive time (end - start summed) instead of self time; every nested event
  subtracted from all enclosing events instead of its direct parent only (a grandchild
  subtracted twice with three levels); events taken in the given order when two start at the
  same instant (the trace is sorted by start only: the child may come first, so the outer
  event must be found by its later end); an event that starts exactly when the open one ends
  taken as its child (`end < start` instead of `end <= start`); zero-length events dropped
  (calls missing, or a name missing); wrong call counts; names missing or invented; a result
  that is not {name: (seconds, calls)}; a quadratic algorithm (a backward scan for the parent,
  or a scan for the children of each event: time limit on about 200 000 events in
  20 000 top-level steps); the input list sorted or changed in place. Times are compared with a
  tolerance that allows any summation order of floats.
* pool (the `Pool` class): two gets of one shape without a release that return the same
  buffer or views of one memory (np.shares_memory); a release that does not make the buffer
  reusable (a get after it allocates anew, or returns a copy or a view); free lists keyed by
  size or nbytes (a (2, 3) buffer served for (3, 2) or (6,), a float32 one for float64 or
  int32), or by the raw arguments (5, (5,) and [5], or np.float32 and "float32", not the same
  key; a list shape unhashable); wrong shape, dtype, a non-contiguous or read-only array;
  release accepting an array the pool did not hand out, a view of a pool buffer (a slice,
  a reshape, `a[...]`, `a.T` of a square buffer), or a buffer released already (a double
  release: two later gets alias); `a in list_of_arrays` (an elementwise comparison: ValueError
  on a legal release); the wrong exception type for a refused release; a get that does not
  take a free buffer when one of that key is there (checked on a random sequence of 3000
  gets and releases over 40 keys, every live pair checked for shared memory).
* linear_relu_backward: the mask taken from g (g > 0), from y >= 0 (always true: no mask),
  or from z >= 0 (relu'(0) = 0: cases with pre-activations exactly 0, from integer-valued
  data); b ignored in the pre-activation; the mask forgotten on dx, dw or db; dw transposed
  ((in, out), or its values transposed on a square w); db summed over the wrong axis, not
  summed, or kept 2-D; a float64 result on float32 inputs; an input changed in place (all
  inputs are read-only); a result that is a view of an input, not a NumPy array, or not a
  tuple of three; non-contiguous inputs (x a transposed view, w a strided slice, g in Fortran
  order); N = 1 and out = 1. Checked against a float64 reference and, once, against central
  differences of sum(g * y).
* needed_inputs: no pruning (every node below the loss present, with all-False tuples for
  pruned ones), all-True tuples, leaves in the result, a missing node, a tuple of the wrong
  length (one entry per distinct input: x * x needs (True, True)) or with the second use of a
  node marked False, not a dict or not tuples of bools, an exponential walk (inputs read
  counted on a 14-deep diamond chain, time limit on a 40-deep one), a recursive walk
  (RecursionError on a 5000-deep chain), and the graph changed (attributes written onto
  nodes).
"""
from __future__ import annotations

import random
import traceback
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, expect_new_array, run_cases
from .ch08 import _reachable as _topo   # every node once, inputs first (iterative)

__all__ = ["Node", "self_times", "pool", "linear_relu_backward", "needed_inputs"]


def learner_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at line {last.lineno} in {last.name}: `{(last.line or '').strip()}`)"


# ============================================================================ 1. self_times

def _ordered(events, ties_by_end=True):
    return sorted(events, key=lambda e: (e[1], -e[2])) if ties_by_end else list(events)


def _ref_self_times(events, *, ties_by_end=True, strict=False, all_ancestors=False, inclusive=False,
                    drop_zero=False) -> dict:
    """The answer (all flags off) and the wrong answers the hints recognise (one flag on)."""
    time, calls, open_ = {}, {}, []
    for name, start, end in _ordered(events, ties_by_end):
        if drop_zero and end == start:
            continue
        while open_ and (open_[-1][1] < start if strict else open_[-1][1] <= start):
            open_.pop()
        d = end - start
        time[name] = time.get(name, 0.0) + d
        calls[name] = calls.get(name, 0) + 1
        if not inclusive:
            for parent, _ in (open_ if all_ancestors else open_[-1:]):
                time[parent] -= d
        open_.append((name, end))
    return {n: (time[n], calls[n]) for n in time}


WRONG_SELF_TIMES = [
    (dict(inclusive=True), "this is the inclusive time of each op (end - start summed over its calls); the self "
     "time subtracts the time of the events directly nested inside each event."),
    (dict(all_ancestors=True), "you subtracted each event from every event that encloses it, not only from its "
     "direct parent: with three levels a grandchild is subtracted twice (its parent's duration already "
     "contains it). Subtract a duration from the innermost open event only (the top of the stack)."),
    (dict(ties_by_end=False), "events that start at the same instant come in any order (the trace is sorted by "
     "start only): the one that ends LATER encloses the other. Sort a copy by (start, -end) first, e.g. "
     "sorted(events, key=lambda e: (e[1], -e[2]))."),
    (dict(strict=True), "an event that starts exactly when the open event ends is its sibling, not its child: "
     "close the open events whose end <= the new start (not < ), or back-to-back events nest."),
]


def _tolerance(events) -> float:
    big = max((abs(t) for e in events for t in e[1:]), default=1.0)
    return 16 * np.finfo(float).eps * max(big, 1.0) * max(len(events), 1)


def _same_times(a: dict, b: dict, tol: float) -> bool:
    return a.keys() == b.keys() and all(a[k][1] == b[k][1] and abs(a[k][0] - b[k][0]) <= tol + 1e-9 * abs(b[k][0])
                                        for k in a)


def _normalise_times(got) -> dict:
    if got is None:
        raise CaseFailed("the function returned None; expected a dict {name: (self time, calls)} (did you forget "
                         "`return`?).")
    if not isinstance(got, dict):
        raise CaseFailed(f"returned a {type(got).__name__}; expected a dict {{name: (self time, calls)}}.")
    out = {}
    for name, value in got.items():
        try:
            seconds, calls = value
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise CaseFailed(f"the value for {name!r} is {value!r}; expected a pair (self time in seconds, number "
                             "of calls).") from None
        if isinstance(calls, (bool, np.bool_)) or not isinstance(calls, (int, np.integer)):
            raise CaseFailed(f"the number of calls of {name!r} is {calls!r} ({type(calls).__name__}); expected "
                             "an int, the count of its events.")
        out[name] = (seconds, int(calls))
    return out


def _self_times_case(description: str, build: Callable[[], list], time_limit: float | None = None) -> Case:
    def run(fn):
        events = build()
        given = list(events)
        got = fn(given)
        if given != events:
            raise CaseFailed("your function changed the list `events` it was given (sorted it in place, or "
                             "removed items); sort a copy: sorted(events, key=...) returns a new list.")
        got = _normalise_times(got)
        want = _ref_self_times(events)
        tol = _tolerance(events)
        if _same_times(got, want, tol):
            return
        for flags, hint in WRONG_SELF_TIMES:
            if _same_times(got, _ref_self_times(events, **flags), tol):
                raise CaseFailed(f"wrong self times, e.g. {_first_difference(got, want, tol)}. Hint: {hint}")
        missing = [n for n in want if n not in got]
        zero_only = {n for n in want if all(e[1] == e[2] for e in events if e[0] == n)}
        if missing:
            hint = (" Hint: that name's events all last 0 s: a zero-length event is a call too." if missing[0]
                    in zero_only else " Hint: every op name of the trace is a key.")
            raise CaseFailed(f"the name {missing[0]!r} is missing ({len(missing)} name(s) missing).{hint}")
        extra = [n for n in got if n not in want]
        if extra:
            raise CaseFailed(f"the result has the name {extra[0]!r}, which is not an op of the trace.")
        for name in want:
            if got[name][1] != want[name][1]:
                nonzero = sum(1 for e in events if e[0] == name and e[1] != e[2])
                hint = (" Hint: that is the number of its events that last longer than 0 s: a zero-length event "
                        "is a call too." if got[name][1] == nonzero else
                        " Hint: count every event of that name once, nested ones included.")
                raise CaseFailed(f"{name!r} has {want[name][1]} calls, got {got[name][1]}.{hint}")
        hint = ""
        if any(t < -tol for t, _ in got.values()):
            hint = (" Hint: a negative self time: an event was taken as nested in an event it encloses, or its "
                    "time was subtracted twice.")
        elif max((abs(e[1]) for e in events), default=0.0) > 1000:
            clock = max(abs(e[1]) for e in events)
            hint = (f" Hint: the clock reads about {clock:.0f} s here, as time.perf_counter() may: a float32 has a "
                    f"resolution of {np.spacing(np.float32(clock)) * 1e3:.1g} ms there, so keep the times as Python floats (float64) and subtract "
                    "start from end per event.")
        raise CaseFailed(f"wrong self times, e.g. {_first_difference(got, want, tol)}.{hint}")
    return Case(description, run, time_limit)


def _first_difference(got: dict, want: dict, tol: float) -> str:
    for name in want:
        if name not in got:
            return f"{name!r} is missing"
        if got[name][1] != want[name][1]:
            return f"{name!r}: expected {want[name][1]} calls, got {got[name][1]}"
        if abs(got[name][0] - want[name][0]) > tol + 1e-9 * abs(want[name][0]):
            return f"{name!r}: expected a self time of {want[name][0]:.9g} s, got {got[name][0]:.9g} s"
    return "the names differ"


def _t_two_levels():
    return [("step", 0.0, 10.0), ("matmul", 1.0, 4.0), ("add", 4.0, 5.0), ("relu", 6.0, 6.5)]


def _t_three_levels():
    return [("step", 0.0, 10.0), ("linear", 1.0, 6.0), ("matmul", 1.5, 4.0), ("add", 4.0, 5.0),
            ("linear", 6.0, 9.0), ("matmul", 6.5, 8.0), ("add", 8.0, 8.5)]


def _t_recursion():
    return [("f", 0.0, 8.0), ("f", 1.0, 5.0), ("f", 2.0, 3.0), ("g", 3.5, 4.5), ("f", 6.0, 7.0)]


def _t_ties():
    # sorted by start only: at 0.0 and 2.0 the inner event comes before the outer one
    return [("matmul", 0.0, 1.0), ("linear", 0.0, 1.5), ("step", 0.0, 4.0), ("add", 1.0, 1.5),
            ("exp", 2.0, 2.25), ("softmax", 2.0, 3.0), ("div", 2.5, 3.0)]


def _t_zero_length():
    return [("step", 0.0, 2.0), ("view", 0.0, 0.0), ("matmul", 0.0, 1.0), ("view", 0.5, 0.5),
            ("reshape", 1.0, 1.0), ("add", 1.0, 2.0), ("view", 2.0, 2.0), ("noop", 3.0, 3.0)]


def _t_back_to_back():
    return [("forward", 0.0, 1.0), ("backward", 1.0, 3.0), ("matmul", 1.0, 2.0), ("sum", 2.0, 3.0),
            ("step", 3.0, 3.5)]


NAMES = ["step", "linear", "matmul", "add", "relu", "conv", "sum", "exp", "view"]


def _random_trace(seed: int, tops: int, depth: int, width: int, *, offset: float = 0.0,
                  tick: float = 1e-6) -> list:
    """Random properly nested events on an integer clock (so ties are exact), converted to
    seconds, then sorted by start only with ties in random order. A child never has exactly
    its parent's interval unless both last 0 ticks."""
    rnd = random.Random(seed)
    raw = []

    def fill(lo, hi, level):
        if level == depth or hi - lo < 2:
            return
        cuts = sorted(rnd.randint(lo, hi) for _ in range(2 * rnd.randint(0, width)))
        for a, b in zip(cuts[::2], cuts[1::2]):
            if (a, b) == (lo, hi):
                continue
            raw.append((rnd.choice(NAMES), a, b))
            fill(a, b, level + 1)

    t = 0
    for _ in range(tops):
        length = rnd.randint(0, 400) if rnd.random() < 0.9 else 0
        raw.append(("step", t, t + length))
        fill(t, t + length, 1)
        t += length + (rnd.randint(0, 30) if rnd.random() < 0.7 else 0)
    rnd.shuffle(raw)
    raw.sort(key=lambda e: e[1])                  # by start only: ties in random order
    return [(name, offset + a * tick, offset + b * tick) for name, a, b in raw]


def self_times(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `self_times(events) -> {name: (self seconds, calls)}` on traces of properly nested
    (name, start, end) events sorted by start (ties in any order), in O(n log n)."""
    cases = [
        _self_times_case("step contains matmul, add and relu", _t_two_levels),
        _self_times_case("three levels: step > linear > matmul, add", _t_three_levels),
        _self_times_case("the same op nested in itself (recursion)", _t_recursion),
        _self_times_case("events that start at the same instant as their parent, listed before it", _t_ties),
        _self_times_case("zero-length events, also at a parent's start and end", _t_zero_length),
        _self_times_case("back-to-back events: one starts exactly when the previous ends", _t_back_to_back),
        _self_times_case("an empty trace", lambda: []),
        _self_times_case("a random trace of 4 levels, times near 12345.6 s as perf_counter gives",
                         lambda: _random_trace(1, 30, 4, 4, offset=12345.678)),
        _self_times_case("about 200 000 events in 20 000 top-level steps (a quadratic algorithm takes hours)",
                         lambda: _random_trace(2, 20_000, 4, 4, offset=500.0), time_limit=10.0),
    ]
    return run_cases("self_times", fn, cases, show=show)


# ============================================================================ 2. pool

def _describe_array(a) -> str:
    return f"a {a.dtype} {a.shape} array" if isinstance(a, np.ndarray) else f"a {type(a).__name__}"


def _expect_buffer(a, shape, dtype, what="get") -> np.ndarray:
    dtype = np.dtype(dtype)
    if a is None:
        raise CaseFailed(f"{what} returned None; expected an array (did you forget `return`?).")
    if not isinstance(a, np.ndarray):
        raise CaseFailed(f"{what} returned {_describe_array(a)}; expected a NumPy array.")
    if a.shape != shape or a.dtype != dtype:
        raise CaseFailed(f"{what} returned {_describe_array(a)}; expected exactly shape {shape}, dtype {dtype}.")
    if not a.flags.c_contiguous:
        raise CaseFailed(f"{what} returned a {dtype} {shape} array that is not C-contiguous (a transposed or "
                         "strided view?); a buffer is used with out=, which needs C order.")
    if not a.flags.writeable:
        raise CaseFailed(f"{what} returned a read-only array; a buffer is written into.")
    return a


def _get(p, shape, dtype, want_shape=None):
    want_shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    try:
        a = p.get(shape, dtype)
    except TypeError as exc:
        if "unhashable" in str(exc):
            raise CaseFailed(f"get({shape!r}, {np.dtype(dtype).name}) raised TypeError: {exc}{learner_frame(exc)}. "
                             "A list cannot be a dict key: normalise the shape first, tuple(shape) (and (n,) for "
                             "an int n).") from None
        raise
    return _expect_buffer(a, want_shape, dtype, f"get({shape!r}, {np.dtype(dtype).name})")


def _release(p, a, what="a buffer that get returned"):
    try:
        p.release(a)
    except NotImplementedError:
        raise
    except Exception as exc:
        hint = ""
        if "truth value" in str(exc):
            hint = (" Hint: `a in some_list` compares arrays with ==, elementwise; look the buffer up by identity, "
                    "e.g. a dict {id(a): a} of the handed-out arrays and `self.out.get(id(a)) is a`.")
        raise CaseFailed(f"release of {what} raised {type(exc).__name__}: {exc}{learner_frame(exc)}.{hint}") from None


def _expect_refused(p, a, what: str, consequence: str):
    try:
        p.release(a)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CaseFailed(f"release of {what} raised {type(exc).__name__}: {exc}{learner_frame(exc)}; raise a "
                         "ValueError (a wrong value passed in).") from None
    raise CaseFailed(f"release accepted {what}; it must raise ValueError: {consequence}")


def _expect_distinct(a, b, what):
    if a is b or np.shares_memory(a, b):
        same = "the same array" if a is b else "two arrays that share memory"
        raise CaseFailed(f"{what} returned {same}: a buffer handed out is in use until it is released, and get "
                         "must never hand out its memory again (two layers would write into the same memory, an "
                         "aliasing bug).")


def _pool_case(description, body, time_limit=None) -> Case:
    def run(cls):
        p = cls()
        body(p)
    return Case(description, run, time_limit)


def _p_shapes(p):
    live = []
    for shape, dtype in [((2, 3), np.float32), ((4,), np.float64), ((2, 3, 4), np.int32), ((), np.float64),
                         ((1, 7), np.float32)]:
        a = _get(p, shape, dtype)
        for b in live:
            _expect_distinct(a, b, "two gets without a release")
        live.append(a)


def _p_two_gets(p):
    a = _get(p, (3, 4), np.float64)
    b = _get(p, (3, 4), np.float64)
    _expect_distinct(a, b, "two gets of (3, 4) float64 without a release")


def _expect_reused(got, released, what):
    if got is released:
        return
    if np.shares_memory(got, released):
        raise CaseFailed(f"{what} returned a view of the released buffer, not the buffer itself: return the very "
                         "array that was released.")
    raise CaseFailed(f"{what} returned a new array, not the released buffer: the pool does not reuse. release must "
                     "put the array into the free list of its (shape, dtype), and get must take a free one of "
                     "that key before it allocates.")


def _p_reuse(p):
    a = _get(p, (3, 4), np.float64)
    _release(p, a)
    b = _get(p, (3, 4), np.float64)
    _expect_reused(b, a, "get((3, 4), float64) after releasing a (3, 4) float64 buffer")
    c = _get(p, (3, 4), np.float64)
    _expect_distinct(b, c, "a second get, with the only free buffer already taken,")


def _p_spellings(p):
    a = _get(p, 5, np.float32)
    _release(p, a)
    for shape, dtype in [((5,), "float32"), ([5], np.dtype("float32")), ((np.int64(5),), np.float32)]:
        b = _get(p, shape, dtype)
        if b is not a:
            raise CaseFailed(f"get({shape!r}, {dtype!r}) after releasing the buffer from get(5, np.float32) "
                             "returned another array: 5, (5,) and [5] are the same shape and np.float32, "
                             "\"float32\" and np.dtype(\"float32\") the same dtype. Normalise the key: "
                             "(tuple(shape) or (n,) for an int n, np.dtype(dtype)).")
        _release(p, b)


def _p_keyed(p):
    a = _get(p, (2, 3), np.float32)
    _release(p, a)
    for shape, dtype in [((3, 2), np.float32), ((6,), np.float32), ((2, 3), np.float64), ((2, 3), np.int32),
                         ((3,), np.float64), ((1, 6), np.float32)]:
        b = _get(p, shape, dtype)
        if np.shares_memory(a, b):
            raise CaseFailed(f"get({shape}, {np.dtype(dtype).name}) was served with the memory of the released "
                             "(2, 3) float32 buffer: keep one free list per (shape, dtype), not per size or "
                             "number of bytes.")
    b = _get(p, (2, 3), np.float32)
    _expect_reused(b, a, "get((2, 3), float32), after gets of other shapes and dtypes,")


def _p_foreign(p):
    a = _get(p, (2, 3), np.float32)
    foreign = np.empty((2, 3), np.float32)
    _expect_refused(p, foreign, "an array the pool did not hand out (np.empty((2, 3), np.float32))",
                    "the pool would later hand it out while its owner still uses it. Keep the handed-out arrays "
                    "(a dict {id(a): a}) and refuse any other.")
    b = _get(p, (2, 3), np.float32)
    if b is foreign:
        raise CaseFailed("after refusing the foreign array, get handed it out: refuse before adding it to a free "
                         "list.")
    _expect_distinct(a, b, "two gets without a release")


def _p_views(p):
    a = _get(p, (4, 4), np.float64)
    for what, view in [("a[:2]", a[:2]), ("a.reshape(16)", a.reshape(16)), ("a[...]", a[...]),
                       ("a.T", a.T), ("a.view()", a.view())]:
        _expect_refused(p, view, f"`{what}`, a view of a buffer from get",
                        "a view shares the buffer's memory but is not the buffer, so after it the pool could "
                        "hand the memory out while the buffer is in use. Compare by identity (`is`), not by shape, "
                        "dtype or np.shares_memory.")
    _release(p, a)
    b = _get(p, (4, 4), np.float64)
    _expect_reused(b, a, "get((4, 4), float64), after refusing views and releasing the buffer,")


def _p_double(p):
    a = _get(p, (8,), np.float32)
    _release(p, a)
    _expect_refused(p, a, "a buffer released already (a double release)",
                    "it would then be in the free list twice, and two later gets would return the same buffer "
                    "to two holders. Remove it from the handed-out arrays on release and refuse it when it is "
                    "not there.")
    b = _get(p, (8,), np.float32)
    c = _get(p, (8,), np.float32)
    _expect_distinct(b, c, "two gets after a refused double release")
    _release(p, b)
    _release(p, c)


def _p_random(p):
    rnd = random.Random(9)
    keys = [(tuple(rnd.randint(1, 5) for _ in range(rnd.randint(1, 3))), rnd.choice(["float32", "float64",
                                                                                        "int32"]))
            for _ in range(40)]
    live, free = [], {}
    for step in range(3000):
        if live and rnd.random() < 0.5:
            a = live.pop(rnd.randrange(len(live)))
            _release(p, a)
            free.setdefault((a.shape, a.dtype), []).append(a)
            continue
        shape, dtype = rnd.choice(keys)
        a = _get(p, shape, dtype)
        spare = free.get((shape, np.dtype(dtype)), [])
        if spare:
            if not any(a is s for s in spare):
                raise CaseFailed(f"get({shape}, {dtype}) at step {step} of a random sequence allocated a new array "
                                 f"although {len(spare)} released buffer(s) of that shape and dtype were free: take "
                                 "a free one when there is one.")
            spare[:] = [s for s in spare if s is not a]
        for b in live:
            if b is a or np.shares_memory(a, b):
                raise CaseFailed(f"get({shape}, {dtype}) at step {step} of a random sequence returned memory that "
                                 f"is still handed out ({_describe_array(b)} not released): two holders alias.")
        live.append(a)


def pool(cls: Callable, *, show: bool = True) -> CheckResult:
    """Check a buffer pool class: `Pool()`, `get(shape, dtype)` (an array of exactly that shape
    and dtype that nobody else holds, a released one of that key if there is one) and
    `release(a)` (ValueError for an array not handed out: a foreign array, a view, a double
    release)."""
    cases = [
        _pool_case("get returns C-contiguous arrays of exactly the shape and dtype", _p_shapes),
        _pool_case("two gets of one shape without a release", _p_two_gets),
        _pool_case("get, release, get: the released buffer is reused", _p_reuse),
        _pool_case("shapes 5, (5,), [5] and dtypes np.float32, 'float32' are one key", _p_spellings),
        _pool_case("keyed by (shape, dtype): (3, 2), (6,), float64, int32 after releasing (2, 3) float32",
                   _p_keyed),
        _pool_case("release of an array the pool did not hand out", _p_foreign),
        _pool_case("release of views of a pool buffer", _p_views),
        _pool_case("a double release", _p_double),
        _pool_case("3000 random gets and releases over 40 shapes and dtypes", _p_random),
    ]
    if not isinstance(cls, type):
        result = CheckResult("Pool", "fail", f"expected the class Pool itself (check.ch09.pool(Pool)), got "
                             f"{type(cls).__name__ if not callable(cls) else repr(cls)}.")
        if show:
            print(result)
        return result
    return run_cases("Pool", cls, cases, show=show)


# ============================================================================ 3. linear_relu_backward

def _ref_linear_relu(g, x, w, b, *, mask="z>0", use_b=True):
    """float64 reference (and the wrong masks the hints recognise): gz, dx, dw, db."""
    g, x, w, b = (np.asarray(a, np.float64) for a in (g, x, w, b))
    z = x @ w.T + (b if use_b else 0.0)
    m = {"z>0": z > 0, "z>=0": z >= 0, "g>0": g > 0, "none": np.ones_like(z, bool)}[mask]
    gz = np.where(m, g, 0.0)
    return gz, gz @ w, gz.T @ x, gz.sum(axis=0)


def _dyadic(rng, shape, scale, lim):
    """Small multiples of 1/scale: products and sums are exact in float32, so the
    pre-activation (and whether it is exactly 0) does not depend on the summation order."""
    return rng.integers(-lim, lim + 1, shape) / scale


def _lr_data(n, fan_in, out, dtype, seed, kind="random"):
    rng = np.random.default_rng(seed)
    while True:
        if kind == "ties":
            x, w, b = _dyadic(rng, (n, fan_in), 4, 4), _dyadic(rng, (out, fan_in), 4, 4), _dyadic(rng, out, 4, 4)
        else:
            x, w, b = rng.standard_normal((n, fan_in)), rng.standard_normal((out, fan_in)), rng.standard_normal(out)
        x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
        z = x.astype(np.float64) @ w.astype(np.float64).T + b
        if kind == "ties" and (z == 0).any() and (z > 0).any():
            break
        if kind != "ties" and np.abs(z).min() > 1e-2 and (z > 0).any() and (z < 0).any():
            break
    g = rng.standard_normal((n, out)).astype(dtype)
    return g, x, w, b


def _central_differences(g, x, w, b, h=1e-6):
    def loss(x, w, b):
        return float(np.sum(g * np.maximum(x @ w.T + b, 0.0)))
    grads = []
    for k, a in enumerate((x, w, b)):
        d = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            args = [x.copy(), w.copy(), b.copy()]
            args[k][i] += h
            up = loss(*args)
            args[k][i] -= 2 * h
            d[i] = (up - loss(*args)) / (2 * h)
        grads.append(d)
    return grads


def _close(got, want, dtype):
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    return got.shape == want.shape and np.allclose(got, want, rtol=rtol, atol=rtol * max(1.0, np.abs(want).max(
        initial=0.0)))


def _lr_check_one(name, got, want, inputs, variants, dtype, shapes):
    expect_new_array(got, *inputs, what=name)
    n, fan_in, out = shapes
    if got.shape != want.shape:
        hint = ""
        if name == "dw" and got.shape == (fan_in, out):
            hint = " Hint: that is dw transposed: dw has w's shape (out, in), dw = gz.T @ x."
        elif name == "db" and got.shape == (n, out):
            hint = " Hint: db is not summed: b is added to every row, so db sums gz over the batch axis 0."
        elif name == "db" and got.shape == (n,):
            hint = " Hint: db is summed over the wrong axis: sum gz over the batch, axis 0, to get one per output."
        elif name == "db" and got.shape == (1, out):
            hint = " Hint: db has b's shape (out,): sum without keepdims."
        raise CaseFailed(f"{name} has shape {got.shape}, expected {want.shape} (the shape of {name[1:]}).{hint}")
    if got.dtype != dtype:
        raise CaseFailed(f"{name} has dtype {got.dtype} on {np.dtype(dtype).name} inputs: something promoted the "
                         "computation (a float64 mask such as (z > 0).astype(float), np.float64 constants, or an "
                         "input cast). Keep everything in the inputs' dtype, e.g. g * (z > 0) or np.where(z > 0, g, "
                         "0).")
    if _close(got, want, dtype):
        return
    for label, hint in variants:
        if _close(got, label, dtype):
            raise CaseFailed(f"{name} is wrong. Hint: {hint}")
    bad = np.argwhere(~np.isclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6))
    index = tuple(int(i) for i in bad[0]) if len(bad) else ()
    raise CaseFailed(f"{name} differs at index {index}: expected {want[index]!r}, got {got[index]!r}.")


def _lr_case(description, n, fan_in, out, dtype, seed, *, kind="random", layout=None, numeric=False) -> Case:
    def run(fn):
        g, x, w, b = _lr_data(n, fan_in, out, dtype, seed, kind)
        if layout == "strided":
            xt = np.ascontiguousarray(x.T)                 # x is passed as the transposed view xt.T
            wide = np.zeros((out, 2 * fan_in), dtype)      # w is passed as the strided slice wide[:, ::2]
            wide[:, ::2] = w
            bases = [np.asfortranarray(g), xt, wide, b.copy()]
        else:
            bases = [g.copy(), x.copy(), w.copy(), b.copy()]
        for a in bases:
            a.setflags(write=False)
        arrays = bases if layout != "strided" else [bases[0], bases[1].T, bases[2][:, ::2], bases[3]]
        gi, xi, wi, bi = arrays
        got = fn(gi, xi, wi, bi)
        if got is None:
            raise CaseFailed("the function returned None; expected (dx, dw, db) (did you forget `return`?).")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CaseFailed(f"returned {type(got).__name__}"
                             f"{f' of length {len(got)}' if isinstance(got, (tuple, list)) else ''}; expected a "
                             "tuple (dx, dw, db).")
        gz, dx, dw, db = _ref_linear_relu(g, x, w, b)
        wrong = {k: _ref_linear_relu(g, x, w, b, **kw) for k, kw in
                 [("g>0", dict(mask="g>0")), ("none", dict(mask="none")), ("z>=0", dict(mask="z>=0")),
                  ("no b", dict(use_b=False))]}
        common = [
            ("g>0", "the mask comes from the pre-activation z = x @ w.T + b, not from g: relu passes the gradient "
             "where its INPUT was positive."),
            ("z>=0", "relu'(0) = 0 (as in PyTorch): where the pre-activation is exactly 0 the gradient is 0, so "
             "the mask is z > 0, not z >= 0."),
            ("none", "no mask was applied: relu passes the gradient only where z = x @ w.T + b > 0 (a mask from "
             "y >= 0 is always true)."),
            ("no b", "the mask must come from x @ w.T + b: b was left out of the pre-activation."),
        ]
        shapes = (n, fan_in, out)
        no_mask = all(isinstance(got[k], np.ndarray) and _close(got[k], wrong["none"][k + 1], dtype)
                      for k in range(3))
        for k, (name, want) in enumerate([("dx", dx), ("dw", dw), ("db", db)]):
            variants = [(wrong[key][k + 1], hint) for key, hint in common if key != "none" or no_mask]
            variants.append((wrong["none"][k + 1], f"the mask is missing on {name}: every gradient goes through "
                             "relu, so use the masked gradient gz = g * (z > 0) for dx, dw and db alike."))
            if name == "dw":
                if out == fan_in:
                    variants.append((dw.T, "that is dw transposed: dw has w's layout (out, in), dw = gz.T @ x."))
            if name == "db" and n == out:
                variants.append((gz.sum(axis=1), "db is summed over the wrong axis: sum gz over the batch, axis 0."))
            _lr_check_one(name, got[k], want, arrays, variants, dtype, shapes)
        if numeric:
            nx, nw, nb = _central_differences(g.astype(np.float64), x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
            for name, mine, num in [("dx", got[0], nx), ("dw", got[1], nw), ("db", got[2], nb)]:
                if not np.allclose(mine, num, rtol=1e-6, atol=1e-6):
                    raise CaseFailed(f"{name} does not match central differences of sum(g * y).")
    return Case(description, run)


def linear_relu_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `linear_relu_backward(g, x, w, b) -> (dx, dw, db)` for y = relu(x @ w.T + b):
    values against a float64 reference (and central differences once), relu'(0) = 0, result
    dtypes equal to the inputs', inputs read-only and possibly non-contiguous."""
    f32, f64 = np.float32, np.float64
    cases = [
        _lr_case("float64, 4 x 3 -> 2, against central differences", 4, 3, 2, f64, 1, numeric=True),
        _lr_case("float64, 6 x 5 -> 4, integer-valued data: some pre-activations exactly 0", 6, 5, 4, f64, 2,
                 kind="ties"),
        _lr_case("float32, 7 x 13 -> 5, some pre-activations exactly 0", 7, 13, 5, f32, 3, kind="ties"),
        _lr_case("float32, 9 x 6 -> 6 (square w)", 9, 6, 6, f32, 4),
        _lr_case("float64, 5 x 5 -> 5 (every dimension equal)", 5, 5, 5, f64, 5),
        _lr_case("N = 1, float32, 1 x 8 -> 3", 1, 8, 3, f32, 6),
        _lr_case("out = 1, float64, 10 x 4 -> 1", 10, 4, 1, f64, 7),
        _lr_case("non-contiguous inputs: x a transposed view, w a strided slice, g in Fortran order, float32",
                 11, 7, 3, f32, 8, layout="strided"),
        _lr_case("float32, 65 x 127 -> 33, integer-valued data", 65, 127, 33, f32, 9, kind="ties"),
    ]
    return run_cases("linear_relu_backward", fn, cases, show=show)


# ============================================================================ 4. needed_inputs

class Node:
    """A node of a small graph: `op` (a string; "input" for a leaf), `inputs` (a tuple of
    Nodes) and, for a leaf, its `name`. Nodes compare and hash by identity."""

    def __init__(self, op: str, inputs=(), name: str | None = None):
        self.op = op
        self._inputs = tuple(inputs)
        self.name = name
        self._reads = 0

    @property
    def inputs(self) -> tuple:
        self._reads += 1           # the checker counts how often a walk looks at a node
        return self._inputs

    def __repr__(self) -> str:
        return f"<input {self.name}>" if self.op == "input" else f"<{self.op}>"


def _leaf(name):
    return Node("input", name=name)


def _ref_needed(loss: Node, requires_grad) -> tuple[dict, dict]:
    order = _topo(loss)
    needs = {}
    for n in order:
        needs[n] = n in requires_grad if n.op == "input" else any(needs[i] for i in n._inputs)
    result = {n: tuple(needs[i] for i in n._inputs) for n in order if n.op != "input" and needs[n]}
    return result, needs


def _state(nodes):
    return [(n.op, tuple(map(id, n._inputs)), n.name, sorted(k for k in vars(n) if k != "_reads")) for n in nodes]


def _needed_case(description, build, *, max_reads=None, time_limit=None) -> Case:
    def run(fn):
        loss, required, names = build()
        nodes = _topo(loss)
        before = _state(nodes)
        given = set(required)
        try:
            got = fn(loss, given)
        except RecursionError as exc:
            raise CaseFailed(f"RecursionError{learner_frame(exc)}: a recursive walk goes one Python frame deeper "
                             "per node, and Python stops at about 1000 frames. Walk the graph with an explicit "
                             "stack, e.g. a topological order first, then one pass over it.") from None
        if _state(nodes) != before:
            raise CaseFailed("your function changed the graph (wrote an attribute onto a node): keep your own data "
                             "in dicts keyed by node, not on the nodes.")
        if given != set(required):
            raise CaseFailed("your function changed the set `requires_grad` it was given; leave it as it is.")
        if max_reads is not None:
            reads = sum(n._reads for n in nodes)
            if reads > max_reads:
                raise CaseFailed(f"the graph has {len(nodes)} nodes, but your walk read nodes' inputs {reads} "
                                 "times: it visits a shared node once per PATH to it, and a chain of k diamonds "
                                 "has 2**k paths (exponential time). Compute each node's answer once and store it "
                                 "in a dict.")
        _compare_needed(got, loss, required, names)
    return Case(description, run, time_limit)


def _compare_needed(got, loss, required, names):
    if got is None:
        raise CaseFailed("the function returned None; expected a dict {node: tuple of bools} (did you forget "
                         "`return`?).")
    if not isinstance(got, dict):
        raise CaseFailed(f"returned a {type(got).__name__}; expected a dict {{node: tuple of bools}}.")
    want, needs = _ref_needed(loss, required)

    def nm(n):
        return names.get(n, repr(n))
    for n in got:
        if not isinstance(n, Node):
            raise CaseFailed(f"the key {n!r} is not a Node; the keys are the nodes themselves.")
        if n.op == "input":
            raise CaseFailed(f"the leaf {nm(n)} is a key: a leaf has no backward to run (its gradient is the "
                             "result, accumulated from its users); only non-leaf nodes are keys.")
    for n, value in got.items():
        if n not in needs:
            raise CaseFailed(f"the node {nm(n)} is not in the graph of the loss.")
        if n not in want:
            everything = all(m in got for m in needs if m.op != "input")
            hint = (" Hint: every node below the loss is in your result: nothing was pruned." if everything else "")
            raise CaseFailed(f"{nm(n)} is in the result, but no leaf of requires_grad is below it (its tuple would "
                             f"be all False): its backward need not run, so leave it out.{hint}")
    for n, w in want.items():
        if n not in got:
            which = [nm(i) for i, need in zip(n._inputs, w) if need]
            raise CaseFailed(f"{nm(n)} is missing: its backward must run, because its input {which[0]} "
                             "is a leaf of requires_grad or depends on one.")
        value = got[n]
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, (bool, np.bool_)) for v in value):
            raise CaseFailed(f"the value for {nm(n)} is {value!r}; expected a tuple of bools, one per input.")
        value = tuple(bool(v) for v in value)
        if len(value) != len(w):
            hint = ""
            if len(value) == len(set(n._inputs)):
                hint = (" Hint: the node uses one input twice (x * x): one entry per input, in order, not per "
                        "distinct input.")
            raise CaseFailed(f"the tuple for {nm(n)} has {len(value)} entries, but it has {len(w)} inputs.{hint}")
        for k, (v, ok) in enumerate(zip(value, w)):
            if v == ok:
                continue
            inp = n._inputs[k]
            if v:
                hint = (" Hint: the tuples are all True: mark only the inputs that lead to a required leaf."
                        if all(all(t) for t in got.values() if isinstance(t, (tuple, list))) else "")
                raise CaseFailed(f"input {k} of {nm(n)} ({nm(inp)}) is True, but no leaf of requires_grad is "
                                 f"reachable from it: its gradient need not be computed.{hint}")
            hint = ""
            if inp in n._inputs[:k]:
                hint = (f" Hint: {nm(inp)} is also input {n._inputs.index(inp)} of the same node: each use gets "
                        "its own entry, both True.")
            raise CaseFailed(f"input {k} of {nm(n)} ({nm(inp)}) is False, but a leaf of requires_grad is "
                             f"{'that input' if inp.op == 'input' else 'below it'}.{hint}")


def _n_mlp():
    x, w, b, t = _leaf("x"), _leaf("w"), _leaf("b"), _leaf("target")
    mm = Node("matmul", (x, w))
    z = Node("add", (mm, b))
    y = Node("relu", (z,))
    d = Node("sub", (y, t))
    loss = Node("sum", (Node("mul", (d, d)),))
    names = {x: "x", w: "w", b: "b", t: "target", mm: "x @ w.T", z: "x @ w.T + b", y: "relu", d: "y - target",
             loss._inputs[0]: "(y - target) * (y - target)", loss: "loss"}
    return loss, {w, b}, names


def _n_pruned():
    x, w, mean, t = _leaf("x"), _leaf("w"), _leaf("mean"), _leaf("target")
    xn = Node("sub", (x, mean))
    xs = Node("mul", (xn, xn))
    h = Node("matmul", (xs, w))
    e = Node("exp", (t,))
    loss = Node("sum", (Node("add", (h, e)),))
    names = {x: "x", w: "w", mean: "mean", t: "target", xn: "x - mean", xs: "(x - mean)**2", h: "xs @ w.T",
             e: "exp(target)", loss._inputs[0]: "h + exp(target)", loss: "loss"}
    return loss, {w}, names


def _n_square():
    w = _leaf("w")
    e = Node("exp", (w,))
    sq = Node("mul", (e, e))
    wsq = Node("mul", (w, w))
    loss = Node("add", (sq, wsq))
    return loss, {w}, {w: "w", e: "exp(w)", sq: "exp(w) * exp(w)", wsq: "w * w", loss: "loss"}


def _n_none_required():
    loss, _, names = _n_mlp()
    other = _leaf("w of another model")
    return loss, {other}, names


def _n_leaf_loss():
    w = _leaf("w")
    return w, {w}, {w: "w"}


def _n_diamond(depth):
    def build():
        w, c = _leaf("w"), _leaf("c")
        node = w
        for _ in range(depth):
            node = Node("add", (Node("exp", (node,)), Node("mul", (node, c))))
        return Node("sum", (Node("add", (node, Node("neg", (c,)))),)), {w}, {w: "w", c: "c"}
    return build


def _n_chain(length):
    def build():
        w = _leaf("w")
        node = w
        for _ in range(length):
            node = Node("neg", (node,))
        return Node("add", (node, _leaf("x"))), {w}, {w: "w"}
    return build


def _n_random(seed):
    def build():
        rnd = random.Random(seed)
        leaves = [_leaf(f"p{i}") for i in range(8)]
        nodes = list(leaves)
        for _ in range(60):
            k = rnd.choice([1, 2, 2, 3])
            recent = nodes[-12:] if rnd.random() < 0.7 else nodes
            nodes.append(Node(rnd.choice(["add", "mul", "exp", "matmul", "concat"]),
                              tuple(rnd.choice(recent) for _ in range(k))))
        loss = Node("sum", tuple(nodes[-6:]))
        return loss, set(rnd.sample(leaves, 2)), {lf: lf.name for lf in leaves}
    return build


def needed_inputs(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `needed_inputs(loss, requires_grad) -> {node: tuple of bools}`: for every non-leaf
    node below `loss` with a leaf of `requires_grad` below it, one bool per input (True when
    that input is such a leaf or depends on one); iterative and linear in the graph's size."""
    cases = [
        _needed_case("relu(x @ w.T + b) - target, squared and summed; requires_grad = {w, b}", _n_mlp),
        _needed_case("a branch on x and a branch on target need no backward; requires_grad = {w}", _n_pruned),
        _needed_case("one node used twice by its user: exp(w) * exp(w) + w * w", _n_square),
        _needed_case("requires_grad holds only a leaf that the loss does not use", _n_none_required),
        _needed_case("the loss is itself a leaf", _n_leaf_loss),
        _needed_case("a random graph of 68 nodes with shared nodes", _n_random(3)),
        _needed_case("a chain of 14 diamonds (16384 paths to w), visits counted", _n_diamond(14),
                     max_reads=8 * (3 * 14 + 5) + 8),
        _needed_case("a chain of 40 diamonds (2**40 paths: a walk that expands a node once per path never ends)",
                     _n_diamond(40), time_limit=3.0),
        _needed_case("a chain of 5000 neg nodes (deeper than Python's recursion limit)", _n_chain(5000),
                     time_limit=5.0),
    ]
    return run_cases("needed_inputs", fn, cases, show=show)
