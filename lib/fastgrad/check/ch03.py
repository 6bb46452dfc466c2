"""Checkers for chapter 03 (matmul, caches and memory): loop reordering, a tiled matmul
with edge handling, and packing a tile of B.

What is checked.

* Values. The learner's matmuls write into an `out` array that the checker fills with
  garbage (7.0) first, so forgetting to zero it shows. Sizes 1, 7, 33 and 65 with
  tiles of 16 leave partial tiles at the edges; non-square shapes catch swapped m/n/k;
  several distinct shapes (none equal to the notebook's `m, k, n`) catch a kernel that
  reads a notebook global instead of its arguments' .shape (the hint names the global);
  a transposed view catches code that assumes contiguous input; every element is
  compared, so one wrong element among many fails.
* The `out` contract: `out` itself must be written and returned — not None, not a new
  array (`out = np.zeros(...)` only rebinds a name), not a copy; a and b unchanged.
* Structure, measured on a small problem by running the function's Python code (the
  `py_func` of a Numba kernel) on arrays that record every element read and written:
  `matmul_ikj` must read b along its rows in the inner loop with i outermost (the
  i, p, j order; the i, j, p order walks down b's columns); `matmul_tiled` must give a
  different access order for tile=3 and for a tile larger than the matrix (otherwise it
  ignores `tile`), must visit each tile x tile x tile block in one go (so a kernel that
  tiles only some loops fails) and must walk b's rows inside a block. A function the
  recorder cannot follow (one that calls another compiled function, say) is not
  failed: its verdict says that the structure was not checked.
* Memory safety: a Numba function is re-compiled with bounds checking for these cases,
  so an index past the edge is reported as an IndexError instead of silently reading
  (or corrupting) memory.
* Time: every case has a time limit. The first (recorded) run executes Python code,
  so an endless loop is stopped there before it is compiled. A loop that only never
  ends in compiled code cannot be interrupted in-process: the kernel's interrupt or
  restart button is the only way out.

Not checked: speed. When every case passes, the learner's GFLOP/s (or GB/s) is printed
next to the library's kernel, as information only.
"""
from __future__ import annotations

from typing import Callable

import numba
import numpy as np

from ._base import (Case, CaseFailed, CheckResult, bounds_checked, expect_close,
                    expect_returned_out, precompile, python_function, quick_time, run_cases,
                    with_globals_hint)

__all__ = ["matmul_ikj", "matmul_tiled", "pack_tile"]

GARBAGE = 7.0            # what `out` holds before the learner's function runs
FIRST_RUN_LIMIT = None   # seconds for the recorded Python-level run; None = the default TIME_LIMIT
READ_SHAPES = "Read the sizes from the arguments: m, k = a.shape and n = b.shape[1]."


def _rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _tolerance(dtype, k: int) -> dict:
    """Sums of k products in a different order than the float64 reference."""
    eps = np.finfo(dtype).eps
    return {"rtol": 16 * eps * max(k, 1) ** 0.5, "atol": 16 * eps * max(k, 1)}


# ------------------------------------------------------------------------------- recorder

class _Recorded(np.lib.mixins.NDArrayOperatorsMixin):
    """An array that logs which of its base array's elements are read and written, in
    order: (name, "r" or "w", flat indices). Views (slices, rows, .T) keep logging into
    the same base; NumPy operations on it log a read of every element they see."""

    def __init__(self, array, ids, name, log):
        self._array, self._ids, self._name, self._log = array, ids, name, log

    @classmethod
    def wrap(cls, array, name, log):
        return cls(array, np.arange(array.size).reshape(array.shape), name, log)

    # what a kernel asks of an array
    shape = property(lambda self: self._array.shape)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    dtype = property(lambda self: self._array.dtype)
    T = property(lambda self: _Recorded(self._array.T, self._ids.T, self._name, self._log))

    def __len__(self):
        return len(self._array)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def _note(self, op, ids):
        self._log.append((self._name, op, np.array(ids, dtype=np.int64).ravel()))

    def __getitem__(self, index):
        index = _plain(index)
        value = self._array[index]
        if isinstance(value, np.ndarray):
            return _Recorded(value, self._ids[index], self._name, self._log)
        self._note("r", self._ids[index])
        return value

    def __setitem__(self, index, value):
        index = _plain(index)
        value = _plain(value)
        self._array[index] = value
        self._note("w", self._ids[index])

    def __array__(self, dtype=None, copy=None):
        self._note("r", self._ids)
        return self._array if dtype is None else self._array.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        outs = kwargs.pop("out", None)
        inputs = tuple(_plain(x) for x in inputs)
        if outs is not None:
            kwargs["out"] = tuple(o._array if isinstance(o, _Recorded) else o for o in outs)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        for o in outs or ():
            if isinstance(o, _Recorded):
                o._note("w", o._ids)
        if outs is not None and len(outs) == 1 and isinstance(outs[0], _Recorded):
            return outs[0]
        return result

    def fill(self, value):
        self[...] = value

    def copy(self):
        return np.array(_plain(self))

    def __getattr__(self, name):          # anything else (reshape, sum, ...): not recorded
        return getattr(self._array, name)


def _plain(x):
    """`x` with recorded arrays replaced by plain ones (their elements logged as read)."""
    if isinstance(x, _Recorded):
        x._note("r", x._ids)
        return x._array
    if isinstance(x, tuple):
        return tuple(_plain(v) for v in x)
    return x


def _as_python(fn, depth: int = 0):
    """`fn`'s Python code, with the compiled functions it calls by a global name replaced
    by their Python code too (so the recorder follows a kernel into its helpers)."""
    import types

    from numba.core.registry import CPUDispatcher

    func = python_function(fn)
    code = getattr(func, "__code__", None)
    if code is None or depth > 3:
        return func
    namespace = dict(func.__globals__)
    for name in code.co_names:
        if isinstance(namespace.get(name), CPUDispatcher):
            namespace[name] = _as_python(namespace[name], depth + 1)
    return types.FunctionType(code, namespace, func.__name__, func.__defaults__, func.__closure__)


def _record(fn, a, b, out, *extra):
    """Run `fn`'s Python code on recorded copies; return (log, error or None)."""
    log = []
    args = (_Recorded.wrap(a, "a", log), _Recorded.wrap(b, "b", log), _Recorded.wrap(out, "out", log), *extra)
    try:
        _as_python(fn)(*args)
    except NotImplementedError:
        raise
    except Exception as exc:
        return log, f"{type(exc).__name__}: {exc}"
    return log, None


def _b_reads(log, n):
    """Every element of b read, in order, as (p, j); and whether some single read covered
    a whole block (more than one row and column: NumPy's @ or np.dot on matrices)."""
    cells, block = [], False
    for name, op, ids in log:
        if name == "b" and op == "r":
            rows, cols = np.divmod(ids, n)
            block |= len(set(rows.tolist())) > 1 and len(set(cols.tolist())) > 1
            cells.extend(zip(rows.tolist(), cols.tolist()))
    return cells, block


def _multiplies(log, n, k):
    """(i, p, j) for each element of b read, i from the latest element of a read."""
    triples, i = [], 0
    for name, op, ids in log:
        if name == "a" and op == "r" and ids.size == 1:
            i = int(ids[0]) // k
        elif name == "b" and op == "r":
            triples.extend((i, int(x) // n, int(x) % n) for x in ids)
    return triples


def _steps(cells):
    """How many consecutive reads of b step along a row, and how many down a column."""
    along = sum(1 for (p, j), (q, l) in zip(cells, cells[1:]) if q == p and l == j + 1)
    down = sum(1 for (p, j), (q, l) in zip(cells, cells[1:]) if l == j and q == p + 1)
    return along, down


def _runs(seq) -> int:
    return sum(1 for x, y in zip([None] + seq, seq) if x != y)


def _not_checked(error):
    return (f"loop structure not checked: the checker could not follow your function as Python code ({error}); "
            "only its results were checked.")


def _structure_case(description, analyse, notes: list) -> Case:
    def run(fn):
        verdict = analyse(fn)
        if verdict is None:
            return
        kind, text = verdict
        if kind == "note":
            notes.append(text)
        else:
            raise CaseFailed(text)
    return Case(description, run)


# ------------------------------------------------------------------------------- matmul cases

def _matmul_case(description, m, k, n, dtype, call, *, index_hint, tile=None, transpose_b=False,
                 seed=0) -> Case:
    def run(fn):
        a = _rand((m, k), dtype, seed)
        b = _rand((n, k), dtype, seed + 1).T if transpose_b else _rand((k, n), dtype, seed + 1)
        a0, b0 = a.copy(), b.copy()
        out = np.full((m, n), GARBAGE, dtype)
        expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype)
        tol = _tolerance(dtype, k)
        try:
            got = call(fn, a, b, out)
        except IndexError as exc:
            raise CaseFailed(f"IndexError ({exc}): an index ran past the edge of a, b or out. {index_hint}") from None
        for name, before, after in (("a", a0, a), ("b", b0, b)):
            if not np.array_equal(before, after):
                raise CaseFailed(f"your function changed its input {name}; write only into out.")
        if m * n and np.all(out == GARBAGE) and isinstance(got, np.ndarray) and not np.shares_memory(got, out):
            raise CaseFailed(f"out was never written (it still holds the {GARBAGE} it came in with): your function "
                             "returned a new array instead. Write the product into the `out` you were given and "
                             "return it; `out = np.zeros(...)` makes a new array and only rebinds the local name "
                             "(zero the given one with out[:, :] = 0).")
        try:
            expect_close(expected, out, what="out", **tol)
        except CaseFailed as failure:
            raise CaseFailed(f"{failure}{_matmul_hint(a, b, out, expected, tol, tile)}") from None
        expect_returned_out(got, out)
    return Case(description, run)


def _matmul_hint(a, b, out, expected, tol, tile=None) -> str:
    m, k = a.shape
    n = b.shape[1]
    wrong = ~np.isclose(out, expected, **tol)
    offset = (out - expected)[wrong]
    if offset.size and np.allclose(offset, GARBAGE, rtol=0, atol=1e-3 * (1 + abs(GARBAGE))):
        return (f" Hint: out started filled with {GARBAGE} and the wrong entries are off by exactly that much: "
                "set out to zero (once, before the loops) and then accumulate into it.")
    if tile and k > tile:
        p_last = (k - 1) // tile * tile
        if np.allclose(out, a[:, p_last:] @ b[p_last:, :], **tol):
            return (f" Hint: out holds only the last block of p (p >= {p_last}): out is zeroed inside the block "
                    "loops, so each p0 block wipes the sums of the blocks before it. Zero out once, before the "
                    "loops.")
    if k and np.allclose(out, np.outer(a[:, -1], b[-1, :]), **tol):
        return (" Hint: out holds only the last term a[i, k-1] * b[k-1, j]: out is set to zero inside the loops, "
                "so every step wipes what came before. Zero it once, before the loops.")
    rows = np.flatnonzero(wrong.any(axis=1))
    cols = np.flatnonzero(wrong.any(axis=0))
    untouched = bool(np.all((out[wrong] == GARBAGE) | (out[wrong] == 0)))   # never written, or only zeroed
    if not wrong[0, 0]:
        r = int(np.argmax(wrong[:, 0])) if wrong[:, 0].any() else m     # leading rows right in column 0
        c = int(np.argmax(wrong[0, :])) if wrong[0, :].any() else n     # leading columns right in row 0
        outside = np.ones_like(wrong)
        outside[:r, :c] = False
        if (r, c) != (m, n) and np.array_equal(wrong, outside):
            block = f"out[:{r}, :{c}]" if r < m and c < n else (f"out[:{r}, :]" if r < m else f"out[:, :{c}]")
            state = "never written" if untouched else "wrong"
            return (f" Hint: only {block} is right and the rest is {state}: your kernel seems to use a fixed "
                    f"size, or loops that stop early. {READ_SHAPES}")
    if untouched:
        partial = (", including a last, partial tile: step by tile with range(0, m, tile) and clip with "
                   "min(i0 + tile, m)" if tile else "")
        return (f" Hint: {int(wrong.sum())} of {wrong.size} entries of out were never written, or only zeroed "
                f"(they hold {GARBAGE} or 0; rows {rows.tolist()[:6]}, columns {cols.tolist()[:6]}): check that "
                f"your loops cover every row and column{partial}.")
    if out.dtype == np.float64:
        err = float(np.max(np.abs(out - expected))) / (float(np.max(np.abs(expected))) + 1e-300)
        if 1e-12 < err < 1e-5:
            return (" Hint: the error is the size of float32 precision: for float64 inputs compute in float64 "
                    "(no np.float32(...) conversions, no float32 accumulator).")
    if len({m, k, n}) > 1:
        return (" Hint: this product is not square: check that each loop runs over its own extent "
                f"(m = a.shape[0] = {m}, k = a.shape[1] = {k}, n = b.shape[1] = {n}).")
    return ""


_SIZES = [("1x1 @ 1x1", 1, 1, 1), ("7x7 @ 7x7", 7, 7, 7), ("33x33 @ 33x33", 33, 33, 33),
          ("65x65 @ 65x65", 65, 65, 65), ("non-square 5x33 @ 33x65", 5, 33, 65),
          ("non-square 65x7 @ 7x33", 65, 7, 33), ("k = 0: 3x0 @ 0x4 (the answer is all zeros)", 3, 0, 4)]


def _gflops_info(fn_call: Callable, ref_call: Callable, n: int, dtype=np.float32) -> list[str]:
    """Learner vs reference GFLOP/s on n x n (smaller n if the learner's code is slow)."""
    a, b = _rand((n, n), dtype, 1), _rand((n, n), dtype, 2)
    out = np.empty((n, n), dtype)
    first = quick_time(fn_call, a, b, out, repeats=1)
    if first > 0.5:  # e.g. plain Python loops: measure a smaller problem instead of waiting
        n = max(8, n // 4)
        a, b, out = a[:n, :n].copy(), b[:n, :n].copy(), out[:n, :n].copy()
    yours = 2 * n**3 / quick_time(fn_call, a, b, out, repeats=3) / 1e9
    ref = 2 * n**3 / quick_time(ref_call, a, b, out, repeats=3) / 1e9
    return [f"speed (information, {n}x{n} float32): yours {yours:.1f} GFLOP/s, "
            f"reference {ref:.1f} GFLOP/s ({yours / ref:.2f}x the reference)"]


def _run_matmul(name, fn, cases, first, structure, speed, show):
    """Record first (a Python-level run, time-limited), then the compiled cases, then the
    structure verdict; notes about what was not checked go to the verdict's info."""
    notes: list[str] = []
    state: dict = {}

    def record(f):
        state["runs"] = first(f)

    cases = ([Case("first run of your Python code on a small problem, recording its memory accesses", record,
                   time_limit=FIRST_RUN_LIMIT)]
             + with_globals_hint(cases, fn, READ_SHAPES)
             + [_structure_case("loop structure (from the recorded run)", lambda f: structure(state["runs"]),
                                notes)])

    def info(_):
        return notes + (speed() if speed else [])
    return run_cases(name, bounds_checked(fn), cases, show=show, info=info)


def _call(*extra):
    def call(f, a, b, out):
        precompile(f, a, b, out, *extra)
        return f(a, b, out, *extra)
    return call


# ------------------------------------------------------------------------------- ikj

IKJ_SHAPE = (4, 5, 6)      # the recorded run: distinct from the notebook's m, k, n = 2, 3, 2


def _ikj_structure(runs):
    log, error = runs
    m, k, n = IKJ_SHAPE
    if error:
        return ("note", _not_checked(error))
    cells, block = _b_reads(log, n)
    if block:
        return ("fail", "your function hands the product to NumPy (@, np.dot or np.matmul on whole matrices); "
                        "the exercise is to write the three loops: for i, for p, for j.")
    if not cells:
        return ("note", "loop structure not checked: the recorded run read no element of b one by one.")
    along, down = _steps(cells)
    if down > along:
        return ("fail", f"the results are right, but your inner loop walks down a column of b (b[p, j] with p "
                        f"changing fastest: {down} steps down a column, {along} along a row, in a {m}x{k} @ {k}x{n} "
                        "product): that is the slow i, j, p order. Put the p loop outside the j loop: "
                        "for i: for p: for j: out[i, j] += a[i, p] * b[p, j].")
    rows = [int(x) // n for name, op, ids in log[next(i for i, e in enumerate(log) if e[0] == "b"):]
            if name == "out" and op == "w" for x in ids]
    back = sum(1 for r, s in zip(rows, rows[1:]) if s < r)
    if back:
        return ("fail", f"the results are right and b is read along its rows, but your loops return to earlier "
                        f"rows of out ({back} times in a {m}x{k} @ {k}x{n} product): the p loop runs outside the "
                        "i loop (p, i, j). The exercise asks for i, p, j: i outermost, so one row of out is "
                        "finished (and stays in cache) before the next.")
    return None


def matmul_ikj(fn: Callable, *, show: bool = True, info: bool = True) -> CheckResult:
    """Check `matmul_ikj(a, b, out)`: (m, k) @ (k, n) written into `out` (which arrives
    holding garbage) with i, p, j loops, returning `out`."""
    from ..kernels import matmul as mm

    hint = "Loop i over range(m), p over range(k) and j over range(n). " + READ_SHAPES
    call = _call()
    cases = [_matmul_case(f"{d}, float64, out pre-filled with {GARBAGE}", m, k, n, np.float64, call, seed=i,
                          index_hint=hint) for i, (d, m, k, n) in enumerate(_SIZES)]
    cases += [_matmul_case("33x65 @ 65x17 float32", 33, 65, 17, np.float32, call, seed=11, index_hint=hint),
              _matmul_case("b is a transposed (non-contiguous) view, float64", 9, 13, 11, np.float64, call,
                           transpose_b=True, seed=12, index_hint=hint)]

    def first(f):
        m, k, n = IKJ_SHAPE
        return _record(f, _rand((m, k), np.float64, 30), _rand((k, n), np.float64, 31), np.full((m, n), GARBAGE))

    speed = (lambda: _gflops_info(fn, lambda a, b, out: mm.matmul_ikj(a, b, out=out), 256)) if info else None
    return _run_matmul("matmul_ikj", fn, cases, first, _ikj_structure, speed, show)


# ------------------------------------------------------------------------------- tiled

TILED_SHAPE, TILE, BIG_TILE = (7, 8, 10), 3, 64   # recorded runs: tile=3, and a tile larger than the matrix


def _tiled_structure(runs):
    (log, error), (log_big, _) = runs
    m, k, n = TILED_SHAPE
    t = TILE
    if error:
        return ("note", _not_checked(error))
    cells, block = _b_reads(log, n)
    if block:
        return ("fail", "your function multiplies whole blocks with NumPy (@, np.dot or np.matmul); the exercise "
                        "is to run the i, p, j loops inside each tile.")
    if not cells:
        return ("note", "loop structure not checked: the recorded run read no element of b one by one.")
    if cells == _b_reads(log_big, n)[0]:
        return ("fail", f"the results are right, but your kernel ignores `tile`: with tile={t} and with "
                        f"tile={BIG_TILE} it reads b in exactly the same order. Step i0, p0 and j0 by the tile you "
                        "are given (range(0, m, tile), ...) and loop inside each block; do not hard-code a size.")
    triples = _multiplies(log, n, k)
    blocks = [(i // t, p // t, j // t) for i, p, j in triples]
    visits, distinct = _runs(blocks), len(set(blocks))
    if visits > distinct:
        untiled = [name for name, d, size in (("p (k)", 1, k), ("j (n)", 2, n))
                   if _runs([tuple(x for e, x in enumerate(blk) if e != d) for blk in blocks])
                   <= len({tuple(x for e, x in enumerate(blk) if e != d) for blk in blocks})
                   and size > t]
        which = (f" The {untiled[0]} loop is not tiled: give it a block loop too ({untiled[0][0]}0 stepping by tile)."
                 if len(untiled) == 1 else "")
        return ("fail", f"the results are right, but your kernel does not work tile by tile: with tile={t} on a "
                        f"{m}x{k} @ {k}x{n} product it enters its {distinct} blocks of {t}x{t}x{t} {visits} times "
                        f"(a tiled kernel finishes one block before the next: {distinct} visits).{which} Loop "
                        "i0, p0, j0 over the blocks and i, p, j inside one block.")
    along, down = _steps(cells)
    if down > along:
        return ("fail", "the results are right and tiled, but inside a block your innermost loop walks down a "
                        "column of b (p changing fastest): run the i, p, j loops inside each block, j innermost.")
    return None


def matmul_tiled(fn: Callable, *, show: bool = True, info: bool = True) -> CheckResult:
    """Check `matmul_tiled(a, b, out, tile)`: cache-blocked matmul into `out`, any sizes,
    any tile >= 1, returning `out`."""
    from ..kernels import matmul as mm

    hint = "Clip each tile's loops at the matrix edge, e.g. range(i0, min(i0 + tile, m))."

    def case(description, m, k, n, dtype, tile, seed, **kw):
        return _matmul_case(description, m, k, n, dtype, _call(tile), seed=seed, index_hint=hint, tile=tile,
                            **kw)

    cases = [case(f"{d}, tile=16, float64, out pre-filled with {GARBAGE}", m, k, n, np.float64, 16, i)
             for i, (d, m, k, n) in enumerate(_SIZES)]
    cases += [case("33x33 @ 33x33 with tile=64 (one partial tile)", 33, 33, 33, np.float64, 64, 20),
              case("65x65 @ 65x65 with tile=1", 65, 65, 65, np.float64, 1, 21),
              case("40x20 @ 20x50 with tile=8, float32", 40, 20, 50, np.float32, 8, 22),
              case("b is a transposed (non-contiguous) view, tile=4", 9, 13, 11, np.float64, 4, 23,
                   transpose_b=True)]

    def first(f):
        m, k, n = TILED_SHAPE
        a, b = _rand((m, k), np.float64, 32), _rand((k, n), np.float64, 33)
        return (_record(f, a, b, np.full((m, n), GARBAGE), TILE), _record(f, a, b, np.full((m, n), GARBAGE), BIG_TILE))

    speed = (lambda: _gflops_info(lambda a, b, out: fn(a, b, out, 64),
                                  lambda a, b, out: mm.matmul_tiled(a, b, out=out, tile=64), 256)) if info else None
    return _run_matmul("matmul_tiled", fn, cases, first, _tiled_structure, speed, show)


# ------------------------------------------------------------------------------- packing

def _reference_pack(b, k0, j0, buf):
    kc, nc = buf.shape
    buf[...] = 0
    tile = b[k0:k0 + kc, j0:j0 + nc]
    buf[:tile.shape[0], :tile.shape[1]] = tile
    return buf


def _pack_case(description, b_shape, k0, j0, kc, nc, dtype, *, transpose=False, seed=0) -> Case:
    def run(fn):
        b = _rand(b_shape[::-1], dtype, seed).T if transpose else _rand(b_shape, dtype, seed)
        before = b.copy()
        buf = np.full((kc, nc), np.nan, dtype)
        expected = _reference_pack(b, k0, j0, np.empty((kc, nc), dtype))
        precompile(fn, b, k0, j0, buf)
        try:
            got = fn(b, k0, j0, buf)
        except IndexError as exc:
            raise CaseFailed(f"IndexError ({exc}): an index ran past the edge of b or buf. Read b[k0 + p, j0 + j] "
                             "only when k0 + p < b.shape[0] and j0 + j < b.shape[1] (strictly less), and loop "
                             "p over range(buf.shape[0]), j over range(buf.shape[1]).") from None
        if not np.array_equal(before, b):
            raise CaseFailed("your function changed b; write only into buf.")
        if got is not None and got is not buf and isinstance(got, np.ndarray) and not np.shares_memory(got, buf):
            raise CaseFailed("return `buf` itself after filling it (the point is to reuse one buffer, "
                             "not to allocate a new array per tile).")
        try:
            expect_close(expected, buf, what="buf", rtol=0, atol=0)
        except CaseFailed as failure:
            hint = ""
            if np.isnan(buf).any():
                r, c = (int(i) for i in np.argwhere(np.isnan(buf))[0])
                hint = (f" Hint: buf[{r}, {c}] was never written (buf starts filled with NaN); positions past the "
                        "edge of b must be set to 0.")
            elif (k0, j0) != (0, 0) and np.array_equal(buf, _reference_pack(b, 0, 0, np.empty_like(buf))):
                hint = " Hint: buf holds the tile at (0, 0): read b[k0 + p, j0 + j], with the tile's offsets."
            elif k0 != j0 and np.array_equal(buf, _reference_pack(b, j0, k0, np.empty_like(buf))):
                hint = " Hint: buf holds the tile at (j0, k0): k0 is the row offset, j0 the column, b[k0 + p, j0 + j]."
            raise CaseFailed(f"{failure}{hint}") from None
        expect_returned_out(got, buf, "buf")
    return Case(description, run)


def pack_tile(fn: Callable, *, show: bool = True, info: bool = True) -> CheckResult:
    """Check `pack_tile(b, k0, j0, buf)`: copy b[k0:k0+kc, j0:j0+nc] into `buf` (kc, nc),
    zero where the tile runs past b's edges, and return `buf`."""
    cases = [
        _pack_case("interior 4x8 tile of a 16x32 matrix", (16, 32), 4, 8, 4, 8, np.float64),
        _pack_case("tile at (0, 0)", (16, 32), 0, 0, 8, 8, np.float64, seed=1),
        _pack_case("bottom edge: rows past the end must be 0", (10, 32), 8, 0, 4, 8, np.float64, seed=2),
        _pack_case("right edge: columns past the end must be 0", (16, 13), 0, 8, 4, 8, np.float64, seed=3),
        _pack_case("bottom-right corner", (33, 65), 32, 64, 16, 16, np.float64, seed=4),
        _pack_case("tile larger than the matrix", (3, 5), 0, 0, 8, 8, np.float32, seed=5),
        _pack_case("1x1 matrix", (1, 1), 0, 0, 4, 4, np.float32, seed=6),
        _pack_case("a 5x3 buffer (not square)", (9, 9), 2, 4, 5, 3, np.float64, seed=8),
        _pack_case("float32, transposed (non-contiguous) b", (20, 30), 16, 24, 8, 8, np.float32,
                   transpose=True, seed=7),
    ]

    def first(f):
        try:
            python_function(f)(_rand((5, 7), np.float64, 9), 3, 4, np.full((4, 4), np.nan))
        except NotImplementedError:
            raise
        except Exception:
            pass    # the compiled cases report errors, with their case
    cases = ([Case("first run of your Python code on a small tile", first, time_limit=FIRST_RUN_LIMIT)]
             + with_globals_hint(cases, fn, "Read the sizes from the arguments: kc, nc = buf.shape, and b.shape."))
    speed = (lambda f: _pack_info(fn)) if info else None
    return run_cases("pack_tile", bounds_checked(fn), cases, show=show, info=speed)


@numba.njit(cache=True)
def _pack_reference(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            inside = k0 + p < b.shape[0] and j0 + j < b.shape[1]
            buf[p, j] = b[k0 + p, j0 + j] if inside else 0
    return buf


def _pack_info(fn) -> list[str]:
    b = _rand((1024, 1024), np.float32, 0)
    buf = np.empty((256, 256), np.float32)
    mb = 2 * buf.nbytes / 1e6  # read the tile, write the buffer
    yours = quick_time(fn, b, 256, 256, buf)
    theirs = quick_time(_pack_reference, b, 256, 256, buf)
    return [f"speed (information, a 256x256 float32 tile): yours {mb / yours / 1e3:.3g} GB/s, "
            f"reference {mb / theirs / 1e3:.3g} GB/s"]
