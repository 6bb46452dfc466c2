"""Watch a CUDA kernel run on Numba's simulator (chapter 11): every global-memory load and
store, every shared-memory access and every barrier, thread by thread.

    trace = run_traced(kernel, grid, block, a=a, b=b, out=out)
    trace.arrays["out"]                 # the result, copied back to the host
    trace.loads("a")                    # Counter: element index -> global loads
    trace.writers("out")                # element index -> [(blockIdx, threadIdx), ...]
    trace.sectors_per_request("a")      # 32-byte sectors per warp load: 4 coalesced, 32 strided
    trace.bank_conflicts("sa")          # worst number of words one shared-memory bank serves at once
    trace.problems                      # races, uninitialised shared reads, out-of-bounds, barriers

A GPU runs 32 threads of a warp in lockstep; the simulator runs every thread as a Python
thread, so it cannot time anything, but it can count: which thread touched which address,
how many times, and between which barriers. That is enough to check the structure of a
kernel, not only its values. It also finds bugs a GPU would hide or turn into garbage:

* an index outside an array (negative ones too: NumPy would wrap them, a GPU reads
  whatever lies there) raises IndexError naming the thread, the array and the index;
* a shared-memory read of an element that no thread of this block has written;
* a data race: thread T reads (or overwrites) a shared element that another thread
  wrote (or read) with no `cuda.syncthreads()` between the two;
* a divergent barrier: threads of one block passing different numbers of barriers (a
  `syncthreads()` inside a branch), which hangs or corrupts a real GPU.

A warp's request is the set of accesses its threads make as the n-th access of that
kind to that array (threads of a warp run the same instruction stream, so their n-th
loads of `a` are one instruction). The memory system serves it in 32-byte sectors;
shared memory has 32 banks of 4-byte words, and a request that needs several different
words of one bank is served once per word (a bank conflict).

Only for the simulator (`NUMBA_ENABLE_CUDASIM=1`); the patches are active only inside
`run_traced`. Threads left running when a launch fails or is interrupted (a time limit)
are stopped, so an endless loop in a kernel does not keep running in the background.
"""
from __future__ import annotations

import ctypes
import linecache
import sys
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from .cuda import WARP, simulated

SECTOR_BYTES = 32
BANKS = 32
BANK_BYTES = 4
MAX_PROBLEMS = 20                     # kept of each kind


@dataclass(frozen=True)
class Access:
    """One memory access by one thread."""

    kind: str           # "load" or "store"
    array: str          # argument name (global) or variable name (shared)
    index: tuple        # element index
    offset: int         # element offset from the start of the array (C order)
    block: tuple        # blockIdx (x, y, z)
    thread: tuple       # threadIdx (x, y, z)
    warp: int           # warp of the thread in its block (linear thread id // 32)
    step: int           # this thread's n-th access of this kind to this array
    epoch: int          # barriers (cuda.syncthreads) this thread had passed


@dataclass(frozen=True)
class Problem:
    """Something that is wrong on a real GPU: kind is "out of bounds", "uninitialised",
    "race" or "divergent barrier"."""

    kind: str
    message: str


@dataclass
class Trace:
    """What one traced launch did. `arrays` holds every array argument after the kernel."""

    grid: tuple
    block: tuple
    arrays: dict
    global_accesses: list = field(default_factory=list)
    shared_accesses: list = field(default_factory=list)
    barriers: dict = field(default_factory=dict)        # (blockIdx, threadIdx) -> barriers passed
    problems: list = field(default_factory=list)
    itemsizes: dict = field(default_factory=dict)        # (array name, shared?) -> bytes per element

    def _select(self, array, kind, shared=False):
        accesses = self.shared_accesses if shared else self.global_accesses
        return [a for a in accesses if a.array == array and a.kind == kind]

    def loads(self, array: str) -> Counter:
        """Global loads of each element of `array`: index -> count."""
        return Counter(a.index for a in self._select(array, "load"))

    def stores(self, array: str) -> Counter:
        """Global stores to each element of `array`: index -> count."""
        return Counter(a.index for a in self._select(array, "store"))

    def writers(self, array: str) -> dict:
        """index -> list of (blockIdx, threadIdx) that stored to that element, in order."""
        out = defaultdict(list)
        for a in self._select(array, "store"):
            out[a.index].append((a.block, a.thread))
        return dict(out)

    def per_thread(self, array: str, kind: str = "load", shared: bool = False) -> Counter:
        """(blockIdx, threadIdx) -> number of `kind` accesses to `array`."""
        return Counter((a.block, a.thread) for a in self._select(array, kind, shared))

    def _requests(self, array, kind, shared):
        groups = defaultdict(list)
        for a in self._select(array, kind, shared):
            groups[(a.block, a.warp, a.step)].append(a.offset)
        return groups

    def sectors_per_request(self, array: str, kind: str = "load") -> float:
        """Mean number of distinct 32-byte sectors one warp request to global `array`
        touches: 4 when 32 threads read 32 neighbouring float32 (coalesced), up to 32
        when each thread's address lies in a different sector."""
        size = self.itemsizes[(array, False)]
        groups = self._requests(array, kind, False)
        if not groups:
            return 0.0
        return float(np.mean([len({o * size // SECTOR_BYTES for o in offs}) for offs in groups.values()]))

    def bank_conflicts(self, array: str, kind: str = "load") -> int:
        """The worst bank conflict of shared `array`: the most distinct 4-byte words one
        bank must serve in one warp request (1 means conflict-free; threads that read the
        same word share one broadcast)."""
        size = self.itemsizes[(array, True)]
        worst = 0
        for offs in self._requests(array, kind, True).values():
            words = {o * size // BANK_BYTES for o in offs}
            per_bank = Counter(w % BANKS for w in words)
            worst = max(worst, max(per_bank.values()))
        return worst

    def problem_kinds(self) -> set:
        """The kinds of problem found: a subset of {"out of bounds", "uninitialised", "race",
        "divergent barrier"}."""
        return {p.kind for p in self.problems}

    def _problem(self, kind, message):
        same_kind = [p for p in self.problems if p.kind == kind]
        if len(same_kind) < MAX_PROBLEMS and all(p.message != message for p in same_kind):
            self.problems.append(Problem(kind, message))


def _dim3(d):
    d = (d,) if np.isscalar(d) else tuple(d)
    return tuple(int(x) for x in d) + (1,) * (3 - len(d))


def _who(thread):
    return f"thread {tuple(thread.threadIdx)} of block {tuple(thread.blockIdx)}"


def _plain_index(idx):
    """The index as a tuple of ints, or None for slices and other fancy indexing."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    if all(isinstance(i, (int, np.integer)) for i in idx):
        return tuple(int(i) for i in idx)
    return None


class _Recorder:
    """Records accesses into the trace of one launch (the shared arrays keep their own state)."""

    def __init__(self, trace, names, block_dim):
        self.trace = trace
        self.names = names                  # id(device ndarray) -> argument name
        self.block_dim = block_dim
        self.sim_thread = None              # the simulator's thread class, set by run_traced

    def current(self):
        t = threading.current_thread()
        return t if isinstance(t, self.sim_thread) else None

    def _step(self, thread, key):
        steps = thread.__dict__.setdefault("_fg_steps", Counter())
        n = steps[key]
        steps[key] += 1
        return n

    def _warp(self, thread):
        x, y, z = thread.threadIdx
        bx, by, _ = self.block_dim
        return (x + bx * (y + by * z)) // WARP

    def check_bounds(self, thread, kind, name, idx, shape):
        """Raise IndexError (and note the problem) for an index outside `shape`; a shorter
        index (a row of a 2-D array) is checked on the axes it gives."""
        if len(idx) > len(shape) or any(i < 0 or i >= s for i, s in zip(idx, shape)):
            message = (f"{_who(thread)} tried to {kind} {name}[{', '.join(map(str, idx))}], outside its shape "
                       f"{tuple(shape)}" + (" (a negative index: NumPy would wrap it, a GPU reads whatever lies "
                                           "before the array)" if any(i < 0 for i in idx) else ""))
            self.trace._problem("out of bounds", message)
            raise IndexError(message)

    def record(self, thread, kind, name, idx, shape, itemsize, shared):
        offset, size = 0, 1
        for i, s in zip(reversed(idx), reversed(shape)):
            offset += i * size
            size *= s
        access = Access(kind, name, idx, offset,
                        tuple(thread.blockIdx), tuple(thread.threadIdx), self._warp(thread),
                        self._step(thread, (kind, name, shared)), thread.__dict__.get("_fg_barriers", 0))
        (self.trace.shared_accesses if shared else self.trace.global_accesses).append(access)
        self.trace.itemsizes.setdefault((name, shared), itemsize)


class SharedArray(np.ndarray):
    """A simulator shared array that reports races and uninitialised reads to the recorder.

    Each element remembers its last write (block, thread, barrier epoch, whether it replaced
    a value of an earlier epoch, whether it was atomic) and the threads that read it in the
    current epoch. Accesses made by `cuda.atomic.*` (the simulator runs them under a lock)
    do not race with each other. A row taken as a view (`tile[i]`) is not traced."""

    def _tracked(self, idx):
        rec = self.__dict__.get("_fg_recorder")
        plain = _plain_index(idx)
        thread = rec.current() if rec is not None else None
        return (rec, plain, thread) if thread is not None and plain is not None else (None, None, None)

    def _where(self, plain):
        return f"shared {self._fg_name}[{', '.join(map(str, plain))}]"

    def __getitem__(self, idx):
        rec, plain, thread = self._tracked(idx)
        if rec is None:
            return super().__getitem__(idx)
        rec.check_bounds(thread, "load", f"shared {self._fg_name}", plain, self.shape)
        if len(plain) < self.ndim:
            return super().__getitem__(idx)
        atomic = sys._getframe(1).f_code.co_filename.endswith("kernelapi.py")
        block, me, epoch = tuple(thread.blockIdx), tuple(thread.threadIdx), thread.__dict__.get("_fg_barriers", 0)
        written = self._fg_written.get(plain)
        if written is None or written[0] != block:
            rec.trace._problem("uninitialised", f"{_who(thread)} read {self._where(plain)} before any thread of "
                               "its block wrote it (on a GPU: whatever an earlier block left there)")
        elif written[1] != me and written[2] == epoch and not (atomic and written[4]):
            if written[3]:
                rec.trace._problem("race", f"{_who(thread)} read {self._where(plain)} after thread {written[1]} had "
                                   "overwritten its earlier value, with no cuda.syncthreads() between (a race: the "
                                   "read may get either value)")
            else:
                rec.trace._problem("race", f"{_who(thread)} read {self._where(plain)}, which thread {written[1]} "
                                   "wrote, with no cuda.syncthreads() between the write and the read (a race: on "
                                   "a GPU the read may come first)")
        if not atomic:
            readers = self._fg_readers.get(plain)
            if readers is None or readers[0] != (block, epoch):
                self._fg_readers[plain] = ((block, epoch), {me})
            else:
                readers[1].add(me)
        rec.record(thread, "load", self._fg_name, plain, self.shape, self.itemsize, True)
        return super().__getitem__(idx)

    def __setitem__(self, idx, value):
        rec, plain, thread = self._tracked(idx)
        if rec is None:
            return super().__setitem__(idx, value)
        rec.check_bounds(thread, "store", f"shared {self._fg_name}", plain, self.shape)
        if len(plain) < self.ndim:
            return super().__setitem__(idx, value)
        atomic = sys._getframe(1).f_code.co_filename.endswith("kernelapi.py")
        block, me, epoch = tuple(thread.blockIdx), tuple(thread.threadIdx), thread.__dict__.get("_fg_barriers", 0)
        readers = self._fg_readers.get(plain)
        if readers is not None and readers[0] == (block, epoch) and readers[1] - {me}:
            other = sorted(readers[1] - {me})[0]
            rec.trace._problem("race", f"{_who(thread)} overwrote {self._where(plain)}, which thread {other} read, "
                               "with no cuda.syncthreads() between the read and the write (a race: on a GPU the "
                               "write may come first)")
        written = self._fg_written.get(plain)
        same_epoch = written is not None and written[0] == block and written[2] == epoch
        if same_epoch and written[1] != me and not (atomic and written[4]):
            rec.trace._problem("race", f"{_who(thread)} and thread {written[1]} both wrote {self._where(plain)} "
                               "with no cuda.syncthreads() between")
        overwrites = written is not None and written[0] == block and written[2] < epoch
        self._fg_written[plain] = (block, me, epoch, overwrites, atomic)
        self._fg_readers.pop(plain, None)
        rec.record(thread, "store", self._fg_name, plain, self.shape, self.itemsize, True)
        return super().__setitem__(idx, value)


def _shared_name(frame, count):
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    target = line.split("=")[0].strip() if "=" in line.split("(")[0] else ""
    return target if target.isidentifier() else f"shared{count}"


class _Stopped(Exception):
    """Raised inside a simulator thread to stop it; an Exception, so the simulator's thread
    wrapper catches it quietly."""


def _stop(threads) -> None:
    """Stop simulator threads still alive: wake those waiting at a barrier (their abort
    flag makes them raise) and raise _Stopped in those still running Python code."""
    for t in threads:
        if t.is_alive():
            t.abort = True
            t.syncthreads_blocked = False
            t.syncthreads_event.set()
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(_Stopped))


def run_traced(kernel, grid, block, **args) -> Trace:
    """Launch `kernel[grid, block]` on the simulator with `args` (keyword arguments in the
    kernel's parameter order: NumPy arrays are copied to the device, other values passed
    as they are) and record what every thread did. Returns a `Trace`; an exception inside
    the kernel propagates, and `trace_of(exc)` gives the trace recorded up to it."""
    if not simulated():
        raise RuntimeError("run_traced needs Numba's CUDA simulator: set NUMBA_ENABLE_CUDASIM=1 before numba is "
                           "first imported")
    from numba import cuda
    from numba.core import types
    from numba.cuda.simulator import kernel as sim_kernel
    from numba.cuda.simulator import kernelapi
    from numba.cuda.simulator.cudadrv import devicearray as sim_array
    from numba.np import numpy_support

    grid3, block3 = _dim3(grid), _dim3(block)
    device = {}
    names = {}
    for name, value in args.items():
        if isinstance(value, np.ndarray):
            device[name] = cuda.to_device(np.ascontiguousarray(value))
            names[id(device[name]._ary)] = name
        else:
            device[name] = value
    trace = Trace(grid3, block3, {})
    rec = _Recorder(trace, names, block3)
    rec.sim_thread = sim_kernel.BlockThread

    inner = sim_array.FakeWithinKernelCUDAArray
    original = (inner.__getitem__, inner.__setitem__, kernelapi.FakeCUDAShared.array,
                sim_kernel.BlockThread.syncthreads, sim_kernel.BlockThread.__init__)
    started = []

    def traced(kind, original_access):
        def access(self, idx, *value):
            item = self.__dict__["_item"]
            name = names.get(id(item._ary))
            thread = rec.current()
            plain = _plain_index(idx)
            if name is None or thread is None or plain is None:
                return original_access(self, idx, *value)
            rec.check_bounds(thread, kind, name, plain, item._ary.shape)
            if len(plain) == item._ary.ndim:          # a row taken as a view is not traced
                rec.record(thread, kind, name, plain, item._ary.shape, item._ary.itemsize, False)
            return original_access(self, idx, *value)
        return access

    def shared_array(self, shape, dtype):
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        if shape == 0:
            return original[2](self, shape, dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)      # as the simulator keys its allocations
        res = self._allocations.get(caller)
        if res is None:
            res = np.zeros(shape, dtype).view(SharedArray)
            res.__dict__.update(_fg_recorder=rec, _fg_name=_shared_name(frame, len(self._allocations)),
                                _fg_written={}, _fg_readers={})
            res = self._allocations.setdefault(caller, res)     # atomic: the block's threads share one array
        return res

    def syncthreads(self):
        self.__dict__["_fg_barriers"] = self.__dict__.get("_fg_barriers", 0) + 1
        trace.barriers[(tuple(self.blockIdx), tuple(self.threadIdx))] = self.__dict__["_fg_barriers"]
        return original[3](self)

    def thread_init(self, *a, **k):
        original[4](self, *a, **k)
        started.append(self)

    inner.__getitem__, inner.__setitem__ = traced("load", original[0]), traced("store", original[1])
    kernelapi.FakeCUDAShared.array = shared_array
    sim_kernel.BlockThread.syncthreads = syncthreads
    sim_kernel.BlockThread.__init__ = thread_init
    try:
        kernel[grid, block](*device.values())
    except BaseException as error:
        _stop(started)
        error.trace = trace
        raise
    finally:
        (inner.__getitem__, inner.__setitem__, kernelapi.FakeCUDAShared.array,
         sim_kernel.BlockThread.syncthreads, sim_kernel.BlockThread.__init__) = original
        trace.arrays = {n: d.copy_to_host() for n, d in device.items() if hasattr(d, "copy_to_host")}
    _check_barriers(trace)
    return trace


def trace_of(error: BaseException) -> Trace | None:
    """The partial trace of a launch that raised `error`, or None."""
    return getattr(error, "trace", None)


def _check_barriers(trace: Trace) -> None:
    """Every thread of a block must pass the same number of barriers."""
    if not trace.barriers:
        return
    for block in np.ndindex(*trace.grid[::-1]):
        block = block[::-1]
        counts = {}
        for thread in np.ndindex(*trace.block[::-1]):
            thread = thread[::-1]
            counts[thread] = trace.barriers.get((block, thread), 0)
        if len(set(counts.values())) > 1:
            lo = min(counts, key=counts.get)
            hi = max(counts, key=counts.get)
            trace._problem("divergent barrier", f"in block {block}, thread {hi} passed {counts[hi]} "
                           f"cuda.syncthreads() barriers but thread {lo} only {counts[lo]}: a barrier inside a "
                           "branch or loop that not every thread of the block runs (on a GPU this hangs or "
                           "corrupts the result; every thread of a block must reach every barrier)")
            return
