"""`BufferPool`: scratch arrays keyed by (shape, dtype), reused from one training step to
the next instead of being allocated afresh.

    pool = BufferPool()

    def layer(x, w):
        h = pool.get((x.shape[0], w.shape[1]), np.float32)
        np.matmul(x, w, out=h)
        return float(h.sum())

    with pool.step():                      # buffers handed out in the block go back to
        loss = layer(x, w)                 # the pool at its end, unless still referenced
    dw = pool.get((144, 128)); ...; pool.release(dw)   # or one at a time

When it helps, measured (`python -m fastgrad.bench scratch`, one thread, 2-core EPYC VM,
load 0.1-0.6): NumPy's allocator is already a cache. A fresh `np.empty` below glibc's
mmap threshold costs well under a microsecond and returns pages that are already mapped,
so buffers reused with `out=` gained nothing in matmul backward at the report's sizes
(MLP 144-128-64-6, batch 64: reuse 0.96x of fresh arrays), nor in a whole NumPy training
step of that MLP (1.02x). The pool's own book-keeping (Python dictionaries, ~0.5-2 µs a
buffer) made it slower than fresh arrays there (0.90-0.91x of `out=` buffers allocated
once). It pays where a fresh allocation costs more than that:
  * many large arrays alive at once, which malloc gets from the OS and gives back each
    step, so each first write page-faults: a small GPT step (d_model 128, 4 layers, 8 x
    64 tokens) allocates ~80 MB in 222 graph arrays; fresh 34.8 ms vs pooled 11.5 ms of a
    183 ms step (the pool could remove ~13%); a single 64 MB buffer written once: 1.6x;
  * `np.zeros` in place of `np.empty` (zero-filling is an extra write): 1.6-2.1x on
    writing a buffer, but only 1.07x in matmul backward, where the products dominate;
  * an allocator that maps fresh pages for every allocation (a page allocator):
    2.6x on batched matmul backward, 3.0-18.5x per layer on a compiled per-sample loop:
    the only baseline here that gives the report's 9.7-17.7x.
It does not pay for small and medium arrays (LeNet's 6 MB of graph arrays: 0.4% of its
step; the DQN MLP: the pool is slower) or for compute-bound products (a 36 MB
matmul result: 1.09x).

Safety: a buffer is handed to one holder at a time. `get` never returns an array that is
out (handed out and not released). `release` refuses an array that this pool did not
hand out, one already released (a double release) and one still referenced elsewhere
(a view of it, or a second name): reusing such an array would alias live data. At the
end of `step()`, a buffer still referenced outside the pool (kept as an activation, a
gradient, a view) is not recycled: the holder keeps it, and may `release` it later.
One pool per thread: it has no lock.
"""
from __future__ import annotations

import operator
import sys
import weakref
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = ["BufferPool", "PoolStats", "ACTIVE", "pool_step"]


@dataclass
class PoolStats:
    """Counters: `hits` (gets served from the pool), `misses` (gets that allocated),
    `out` (buffers handed out now), `free` (buffers waiting in the pool), `free_bytes`,
    `escaped` (buffers a step() left to a holder that still referenced them)."""

    hits: int
    misses: int
    out: int
    free: int
    free_bytes: int
    escaped: int


def _key(shape, dtype) -> tuple[tuple[int, ...], np.dtype]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"BufferPool.get: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"BufferPool.get: negative dimension in shape {shape}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"BufferPool.get: not a dtype: {dtype!r}") from None
    if dtype.hasobject:
        raise TypeError(f"BufferPool.get: object dtype {dtype} cannot be pooled (its contents are references)")
    return shape, dtype


def _refs(a) -> int:
    return sys.getrefcount(a)


def _probe(a) -> int:
    return _refs(a)        # the same call depth as release() -> _refs()


def _baseline_refs() -> int:
    """References `_refs` sees, from release(), for an array held by exactly one caller name
    plus the pool's dict: calibrated once, so the check does not depend on how the
    interpreter counts references."""
    held = {0: np.empty(1)}
    a = held[0]
    return _probe(a)


_ONE_HOLDER = _baseline_refs()  # the pool's entry + the caller's one name (+ call frames)


class BufferPool:
    """Arrays per (shape, dtype), reused across steps; see the module docstring for when
    this is faster than `np.empty` (measured) and for the aliasing rules."""

    def __init__(self):
        self._free: dict[tuple, list[np.ndarray]] = defaultdict(list)
        self._out: dict[int, tuple] = {}           # id -> (array handed out, its key)
        self._step_ids: list[list[int]] = []       # ids handed out in each open step()
        self._outlived = weakref.WeakValueDictionary()  # id -> buffer a step() let go, held weakly
        self._keys: dict[tuple, tuple] = {}        # (shape, dtype) as passed -> normalised key
        self._hits = self._misses = self._escaped = 0

    def get(self, shape, dtype=np.float32) -> np.ndarray:
        """An uninitialised C-contiguous array of `shape` and `dtype` that nobody else holds
        (from the pool if one is free, else `np.empty`). Inside `step()` it is returned to
        the pool when the step ends."""
        try:
            key = self._keys[shape, dtype]
        except (KeyError, TypeError):              # first time, or an unhashable shape (a list)
            key = _key(shape, dtype)
            if len(self._keys) < 4096:
                try:
                    self._keys[shape, dtype] = key
                except TypeError:
                    pass
        free = self._free.get(key)
        if free:
            a = free.pop()
            self._hits += 1
        else:
            a = np.empty(*key)
            self._misses += 1
        self._out[id(a)] = a, key
        if self._step_ids:
            self._step_ids[-1].append(id(a))
        return a

    def release(self, a: np.ndarray, names: int = 1) -> None:
        """Give `a` back; the next `get` of its shape and dtype may return it.

        `names`: how many names still refer to `a` in the callers (1: the variable passed
        in; 2 when a helper function releases its argument, ...); the caller promises not
        to use them again. Errors: `a` was never handed out by this pool (a foreign array
        or a view), or was released already (ValueError); `a` is referenced more often
        than that, by a view of it or another name (ValueError: reuse would alias it)."""
        if not isinstance(a, np.ndarray):
            raise TypeError(f"BufferPool.release: expected a NumPy array, got {type(a).__name__}")
        entry = self._out.get(id(a))
        if entry is None:
            held = self._outlived.get(id(a))
            outlived, held = held is a, None
            if outlived:                             # it outlived its step(); take it back
                extra = _refs(a) - _ONE_HOLDER + 1 - (names - 1)
                if extra > 0:
                    raise ValueError(f"BufferPool.release: the {a.dtype} {a.shape} buffer is still referenced "
                                     f"{extra} more time(s) (a view of it or another name); reusing it would "
                                     "alias live data")
                del self._outlived[id(a)]
                self._free[a.shape, a.dtype].append(a)
                return
        if entry is None or entry[0] is not a:
            if any(b is a for b in self._free.get((a.shape, a.dtype), ())):
                raise ValueError(f"BufferPool.release: the {a.dtype} {a.shape} buffer was released twice")
            which = "a view of an array" if isinstance(a.base, np.ndarray) else "an array"
            raise ValueError(f"BufferPool.release: {which} {a.dtype} {a.shape} that this pool did not hand out "
                             "(only arrays from get() can be released)")
        extra = _refs(a) - _ONE_HOLDER - (names - 1)
        if extra > 0:
            raise ValueError(f"BufferPool.release: the {a.dtype} {a.shape} buffer is still referenced {extra} "
                             "more time(s) (a view of it or another name); reusing it would alias live data")
        del self._out[id(a)]
        self._free[entry[1]].append(a)

    @contextmanager
    def step(self):
        """Within the block, buffers from `get` are returned to the pool at its end (also
        after an exception), except those released already and those still referenced
        outside the pool: those are counted as `escaped` and never reused unless their
        holder calls `release` later (the pool keeps only a weak reference to them, so
        one that is simply dropped is freed as any array is).

        A name bound in the block still refers to its buffer when the block ends, so run
        the step's code in a function called inside the block (its locals are gone when
        it returns) and keep only what must outlive the step:

            with pool.step():
                loss = float(train_step(pool))   # the graph is dropped: buffers recycled
        """
        self._step_ids.append([])
        try:
            yield self
        finally:
            out, free = self._out, self._free
            for i in self._step_ids.pop():
                entry = out.pop(i, None)
                if entry is None:
                    continue                         # released inside the step
                a = entry[0]
                # references: the entry tuple, `a`, getrefcount's argument
                if sys.getrefcount(a) > 3:
                    self._escaped += 1
                    self._outlived[i] = a
                else:
                    free[entry[1]].append(a)
                del a, entry

    def clear(self) -> None:
        """Drop every free buffer (handed-out ones stay valid and can still be released)."""
        self._free.clear()

    def stats(self) -> PoolStats:
        """The pool's counters (`PoolStats`)."""
        free = [a for lst in self._free.values() for a in lst]
        return PoolStats(self._hits, self._misses, len(self._out), len(free), sum(a.nbytes for a in free),
                         self._escaped)


ACTIVE: BufferPool | None = None     # the pool of the innermost pool_step(), read by the ops


@contextmanager
def pool_step(pool: BufferPool):
    """`pool.step()` that also makes `pool` the one the ops draw from (`ACTIVE`) when the
    switch `buffer_pool` is on (`fastgrad.switches`): matmul and fused-layer results then
    come from it and go back to it when the block ends (chapter 09's buffer-pool rung)."""
    global ACTIVE
    previous, ACTIVE = ACTIVE, pool
    try:
        with pool.step():
            yield pool
    finally:
        ACTIVE = previous
