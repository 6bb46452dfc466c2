"""Elementwise kernels (chapter 02): binary and unary ops, a fused multiply-add, and
the reductions a broadcast needs on its way back.

    add(a, b, out=None)  sub  mul  div          NumPy broadcasting, float32/float64
    neg(a, out=None)  exp  log  tanh  sigmoid  relu
    fma(a, b, c, out=None)                      a*b + c in one pass
    sum(a, axis=None, keepdims=False)  max(...)  sum_to_shape(a, shape)

Why it is fast. Every call picks one of three loops:

1. contiguous fast path: all operands C-contiguous with the same shape. The arrays
   are viewed as 1-D and one flat loop runs; Numba/LLVM turns it into packed SIMD
   instructions (16 float32 or 8 float64 per AVX-512 instruction).
2. strided/broadcasting path: anything else (transposes, step slices, a row vector
   added to a matrix). Inputs are broadcast with `np.broadcast_to` (stride 0 along a
   broadcast axis, no copy) and walked with their own strides.
3. threaded: either path above `PARALLEL_THRESHOLD` output elements runs the same loop
   compiled with `parallel=True`, which splits its `prange` across cores. Below it,
   waking the threads costs more than it saves; chapter 02's notebook measures where
   the crossover is on your machine.

Each loop is written once, with `prange`, and compiled twice (`_serial_and_parallel`):
without `parallel=True` a `prange` is a plain `range`, and the serial build has the same
machine code as a loop written with `range` (the same packed SIMD instructions; measured
when the two copies were merged).

One kernel serves all the ops of its kind: the op is an integer code tested
*outside* the hot loop, so each branch holds a simple loop that vectorises on its
own (a test inside the loop would stop vectorisation).
"""
from __future__ import annotations

import builtins
import math
import types
from typing import Callable, NamedTuple

import numba
import numpy as np
from numba import prange

from ..shapes import FLOAT_DTYPES, as_shape, broadcast_shapes, normalize_axes

__all__ = ["PARALLEL_THRESHOLD", "add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "sigmoid",
           "relu", "fma", "sum", "max", "sum_to_shape"]

#: Output size (elements) from which the threaded kernels are used. Below it, one core
#: finishes before the threads have been woken and joined. notebooks/02_simd.ipynb
#: measures the crossover; on the 2-core AVX-512 machine this was written on, a + b
#: crossed over between 6e4 and 1e5 elements in float32 (2e4-3e4 in float64, the
#: same ~250-400 KB of data). Set it to what you measure on yours.
PARALLEL_THRESHOLD = 100_000

# Op codes, shared by the Python wrappers and the kernels.
ADD, SUB, MUL, DIV = 0, 1, 2, 3
NEG, EXP, LOG, TANH, SIGMOID, RELU = 0, 1, 2, 3, 4, 5


# --------------------------------------------------------------------------- kernels
# error_model="numpy" everywhere: x / 0 gives inf (IEEE, as in NumPy) instead of
# Python's ZeroDivisionError, whose per-element check would stop vectorisation.

class Kernels(NamedTuple):
    """One loop body compiled twice: on one thread, and threaded over its `prange`."""

    serial: Callable
    parallel: Callable


def _serial_and_parallel(**options):
    """Decorator: compile a loop body written with `prange` both ways, as a `Kernels` pair.

    The threaded build compiles a copy of the function under another name: Numba's
    on-disk cache is keyed by the function's name and bytecode but not by its compile
    options (numba issue #6845), so two builds of one function would share one cache
    entry, and the "parallel" one would load the serial machine code.
    """
    def compile_twice(body):
        twin = types.FunctionType(body.__code__, body.__globals__, body.__name__ + "_parallel",
                                  body.__defaults__, body.__closure__)
        twin.__qualname__ = body.__qualname__ + "_parallel"
        return Kernels(numba.njit(cache=True, error_model="numpy", **options)(body),
                       numba.njit(cache=True, error_model="numpy", parallel=True, **options)(twin))
    return compile_twice


# Contiguous 1-D kernels: one flat loop per op. No fastmath: elementwise ops do not
# reassociate anything, so the plain loop already vectorises bit-exactly.

@_serial_and_parallel()
def _binary_flat(op, a, b, out):
    n = out.shape[0]
    if op == ADD:
        for i in prange(n):
            out[i] = a[i] + b[i]
    elif op == SUB:
        for i in prange(n):
            out[i] = a[i] - b[i]
    elif op == MUL:
        for i in prange(n):
            out[i] = a[i] * b[i]
    else:
        for i in prange(n):
            out[i] = a[i] / b[i]


@numba.njit(cache=True, error_model="numpy", inline="always")
def _binary_scalar(op, x, y):
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    return x / y


# Strided kernels: arrays have ndim >= 2; the threads split axis 0, then every index of
# the middle axes is visited and the last axis is the inner loop.

@_serial_and_parallel()
def _binary_strided(op, a, b, out):
    for i in prange(out.shape[0]):
        ai, bi, oi = a[i], b[i], out[i]
        for idx in np.ndindex(oi.shape[:-1]):
            ra, rb, ro = ai[idx], bi[idx], oi[idx]
            for j in range(ro.shape[0]):
                ro[j] = _binary_scalar(op, ra[j], rb[j])


@numba.njit(cache=True, error_model="numpy", inline="always")
def _unary_scalar(op, x):
    if op == NEG:
        return -x
    if op == EXP:
        return np.exp(x)
    if op == LOG:
        return np.log(x)
    if op == TANH:
        return np.tanh(x)
    if op == SIGMOID:
        # exp(-x) overflows to inf for x < -88 (float32): 1 / inf = 0, the right limit.
        return 1 / (1 + np.exp(-x))
    return 0.0 if x < 0 else x        # RELU; NaN stays NaN, as with np.maximum(x, 0)


@_serial_and_parallel()
def _unary_flat(op, a, out):
    n = out.shape[0]
    if op == NEG:
        for i in prange(n):
            out[i] = -a[i]
    elif op == RELU:
        for i in prange(n):
            if a[i] < 0:
                out[i] = 0
            else:
                out[i] = a[i]
    else:  # transcendental functions: vectorised only when Numba finds Intel's SVML
        for i in prange(n):
            out[i] = _unary_scalar(op, a[i])


@_serial_and_parallel()
def _unary_strided(op, a, out):
    for i in prange(out.shape[0]):
        ai, oi = a[i], out[i]
        for idx in np.ndindex(oi.shape[:-1]):
            ra, ro = ai[idx], oi[idx]
            for j in range(ro.shape[0]):
                ro[j] = _unary_scalar(op, ra[j])


# fma: fastmath "contract" lets LLVM emit one fused multiply-add instruction (one
# rounding instead of two). That changes the last bit of some results, towards the
# exact value; nothing is reordered, so it is harmless.

@_serial_and_parallel(fastmath={"contract"})
def _fma_flat(a, b, c, out):
    for i in prange(out.shape[0]):
        out[i] = a[i] * b[i] + c[i]


@_serial_and_parallel(fastmath={"contract"})
def _fma_strided(a, b, c, out):
    for i in prange(out.shape[0]):
        ai, bi, ci, oi = a[i], b[i], c[i], out[i]
        for idx in np.ndindex(oi.shape[:-1]):
            ra, rb, rc, ro = ai[idx], bi[idx], ci[idx], oi[idx]
            for j in range(ro.shape[0]):
                ro[j] = ra[j] * rb[j] + rc[j]


# Reductions work on a 3-D view (outer, reduced, inner) of the input, on one thread.
# Sums use fastmath "reassoc": the compiler may keep several partial sums (one per
# SIMD lane) and add them at the end. That changes the rounding order only, which is
# harmless for a sum (NumPy's pairwise summation uses yet another order).

@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _sum_last(x, out):
    """out[i] = sum_k x[i, k]: a contiguous row each, reduced in SIMD partial sums."""
    for i in range(x.shape[0]):
        acc = 0.0                      # float64 accumulator, also for float32 input
        for k in range(x.shape[1]):
            acc += x[i, k]
        out[i] = acc


@numba.njit(cache=True, error_model="numpy")
def _sum_middle(x, out):
    """out[i, j] = sum_k x[i, k, j]: adds whole rows, so the inner loop is vectorised."""
    for i in range(x.shape[0]):
        for j in range(x.shape[2]):
            out[i, j] = 0
        for k in range(x.shape[1]):
            for j in range(x.shape[2]):
                out[i, j] += x[i, k, j]


@numba.njit(cache=True, error_model="numpy")
def _max_last(x, out):
    for i in range(x.shape[0]):
        m = x[i, 0]
        for k in range(1, x.shape[1]):
            v = x[i, k]
            if v > m or np.isnan(v):   # NaN wins, as in np.max
                m = v
        out[i] = m


@numba.njit(cache=True, error_model="numpy")
def _max_middle(x, out):
    for i in range(x.shape[0]):
        for j in range(x.shape[2]):
            out[i, j] = x[i, 0, j]
        for k in range(1, x.shape[1]):
            for j in range(x.shape[2]):
                v = x[i, k, j]
                if v > out[i, j] or np.isnan(v):
                    out[i, j] = v


# --------------------------------------------------------------------------- checks
def _is_scalar(x) -> bool:
    return isinstance(x, (int, float, np.generic)) or (isinstance(x, np.ndarray) and x.ndim == 0)


def _operands(name: str, *xs) -> list[np.ndarray]:
    """Arrays of one float dtype: scalars and 0-d arrays take the dtype of the others."""
    first = xs[0]
    if (type(first) is np.ndarray and first.dtype in FLOAT_DTYPES
            and all(type(x) is np.ndarray and x.dtype == first.dtype for x in xs)):
        return list(xs)                      # the common case, checked in a few hundred ns
    for x in xs:
        if not (isinstance(x, (np.ndarray, np.generic, int, float)) and not isinstance(x, bool)):
            raise TypeError(f"{name}: expected NumPy arrays or scalars, got {type(x).__name__}")
    arrays = [x for x in xs if isinstance(x, np.ndarray) and x.ndim > 0]
    pool = arrays or [x for x in xs if isinstance(x, (np.ndarray, np.generic))]
    dtypes = list(dict.fromkeys(np.dtype(x.dtype) for x in pool)) or [np.dtype(np.float64)]
    if len(dtypes) > 1:
        raise TypeError(f"{name}: dtypes differ: {' and '.join(map(str, dtypes))} "
                        f"(convert one with .astype() first)")
    dtype = dtypes[0]
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: fastgrad kernels support float32 and float64, got {dtype}")
    return [np.asarray(x, dtype=dtype) if _is_scalar(x) else x for x in xs]


def _output(name: str, out, shape, dtype) -> np.ndarray:
    """Check a caller's `out`: an ndarray of the result's shape and dtype, writeable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: out must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name}: out has shape {out.shape}, but the result has shape {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name}: out has dtype {out.dtype}, but the result has dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")
    return out


def _unaliased(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """A copy of input `x` if it overlaps `out` in any way other than being `out` itself
    (e.g. out=a[1:] with a=a[:-1]): writing out would change inputs not yet read."""
    if x is out or not np.may_share_memory(x, out):
        return x
    same = (x.shape == out.shape and x.strides == out.strides
            and x.__array_interface__["data"][0] == out.__array_interface__["data"][0])
    return x if same else x.copy()


def _flat(x: np.ndarray) -> np.ndarray:
    """A C-contiguous array as 1-D (a view)."""
    return x if x.ndim == 1 else x.reshape(-1)


def _strided_views(out: np.ndarray, *xs) -> list[np.ndarray]:
    """Inputs broadcast to out's shape (stride 0, no copy), everything at least 2-D."""
    views = [x if x.shape == out.shape else np.broadcast_to(x, out.shape) for x in xs] + [out]
    extra = (None,) * builtins.max(0, 2 - out.ndim)   # leading length-1 axes, always a view
    return [v[extra] for v in views]


def _quick(a, b, out) -> bool:
    """The common case, tested with the cheapest checks first: two C-contiguous arrays of
    one shape and float dtype, and `out` absent or the same (not partially overlapping).
    For small arrays these checks are most of the time of a call."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and a.dtype == b.dtype
            and a.dtype in FLOAT_DTYPES and a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    if out is None:
        return True
    return (type(out) is np.ndarray and out.shape == a.shape and out.dtype == a.dtype
            and out.flags.c_contiguous and out.flags.writeable
            and (out is a or not np.may_share_memory(a, out))
            and (out is b or not np.may_share_memory(b, out)))


def _pick(kernels: Kernels, size: int):
    return kernels.parallel if size >= PARALLEL_THRESHOLD else kernels.serial


def _general(name: str, flat: Kernels, strided: Kernels, op: tuple, xs, out):
    """Any operands: check them, broadcast, check `out`, then the flat or the strided loop.
    `op` is the op code the kernel takes first, as a 1-tuple (empty for fma)."""
    xs = _operands(name, *xs)
    shape = xs[0].shape
    if any(x.shape != shape for x in xs):
        shape = broadcast_shapes(*(x.shape for x in xs), name=name)
    if out is not None:
        out = _output(name, out, shape, xs[0].dtype)
        xs = [_unaliased(x, out) for x in xs]
    else:
        out = np.empty(shape, xs[0].dtype)
    if out.size == 0:
        return out
    if out.flags.c_contiguous and all(x.shape == shape and x.flags.c_contiguous for x in xs):
        _pick(flat, out.size)(*op, *map(_flat, xs), _flat(out))
    else:
        _pick(strided, out.size)(*op, *_strided_views(out, *xs))
    return out


# --------------------------------------------------------------------------- binary
def _binary(name: str, op: int, a, b, out):
    if _quick(a, b, out):
        if out is None:
            out = np.empty(a.shape, a.dtype)
        _pick(_binary_flat, a.size)(op, _flat(a), _flat(b), _flat(out))
        return out
    return _general(name, _binary_flat, _binary_strided, (op,), (a, b), out)


def add(a, b, out=None):
    """a + b elementwise with NumPy broadcasting (float32 or float64; scalars take the
    array's dtype). Writes into `out` (the broadcast shape and dtype) when given."""
    return _binary("add", ADD, a, b, out)


def sub(a, b, out=None):
    """a - b elementwise with broadcasting; see `add`."""
    return _binary("sub", SUB, a, b, out)


def mul(a, b, out=None):
    """a * b elementwise with broadcasting; see `add`."""
    return _binary("mul", MUL, a, b, out)


def div(a, b, out=None):
    """a / b elementwise with broadcasting (IEEE: x/0 is ±inf, 0/0 is NaN); see `add`."""
    return _binary("div", DIV, a, b, out)


# --------------------------------------------------------------------------- unary
def _unary(name: str, op: int, a, out):
    if _quick(a, a, out):
        if out is None:
            out = np.empty(a.shape, a.dtype)
        _pick(_unary_flat, a.size)(op, _flat(a), _flat(out))
        return out
    return _general(name, _unary_flat, _unary_strided, (op,), (a,), out)


def neg(a, out=None):
    """-a elementwise (float32/float64, any strides); `out` as in `add`."""
    return _unary("neg", NEG, a, out)


def exp(a, out=None):
    """e**a elementwise."""
    return _unary("exp", EXP, a, out)


def log(a, out=None):
    """Natural logarithm elementwise (log 0 = -inf, log of a negative number = NaN)."""
    return _unary("log", LOG, a, out)


def tanh(a, out=None):
    """Hyperbolic tangent elementwise."""
    return _unary("tanh", TANH, a, out)


def sigmoid(a, out=None):
    """1 / (1 + e**-a) elementwise; saturates to 0 and 1 without overflow errors."""
    return _unary("sigmoid", SIGMOID, a, out)


def relu(a, out=None):
    """max(a, 0) elementwise (NaN stays NaN)."""
    return _unary("relu", RELU, a, out)


# --------------------------------------------------------------------------- fused
def fma(a, b, c, out=None):
    """a * b + c in ONE pass with broadcasting: reads a, b, c once and writes once.

    NumPy needs two passes and a temporary (t = a*b; t + c), moving 5 arrays' worth of
    bytes instead of 4 — and for arrays larger than the caches bytes are what cost.
    The multiply and add are contracted into one FMA instruction (rounded once).
    """
    if _quick(a, b, out) and _quick(a, c, out):
        if out is None:
            out = np.empty(a.shape, a.dtype)
        _pick(_fma_flat, a.size)(_flat(a), _flat(b), _flat(c), _flat(out))
        return out
    return _general("fma", _fma_flat, _fma_strided, (), (a, b, c), out)


# --------------------------------------------------------------------------- reductions
def _reduce_axis(x: np.ndarray, ax: int, last_kernel, middle_kernel) -> np.ndarray:
    """Reduce one axis of `x`, keeping it with length 1."""
    outer = math.prod(x.shape[:ax])
    inner = math.prod(x.shape[ax + 1:])
    x3 = x.reshape(outer, x.shape[ax], inner)          # a view when it can be, else a copy
    kept = x.shape[:ax] + (1,) + x.shape[ax + 1:]
    if inner == 1:
        out = np.empty(outer, x.dtype)
        last_kernel(x3[:, :, 0], out)
    else:
        out = np.empty((outer, inner), x.dtype)
        middle_kernel(x3, out)
    return out.reshape(kept)


def _reduce(name: str, a, axis, keepdims, last_kernel, middle_kernel, empty_ok: bool):
    (a,) = _operands(name, a)
    axes = normalize_axes(axis, a.ndim, name=name)
    if not empty_ok and builtins.any(a.shape[ax] == 0 for ax in axes):
        raise ValueError(f"{name}: cannot reduce an empty axis of an array of shape {a.shape} (no identity)")
    result = a
    for ax in reversed(axes):              # one axis at a time, the last first
        result = _reduce_axis(result, ax, last_kernel, middle_kernel)
    if result is a:
        result = a.copy()
    if not keepdims:
        result = result.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
    return result


def sum(a, axis=None, keepdims=False):
    """Sum over `axis` (None = all, int, negative int, or tuple), like np.sum.

    Returns an array of a's dtype (0-d for a full reduction). Summing along the last
    axis keeps SIMD partial sums; along another axis whole rows are added, so both
    loops are vectorised.
    """
    return _reduce("sum", a, axis, keepdims, _sum_last, _sum_middle, empty_ok=True)


def max(a, axis=None, keepdims=False):
    """Maximum over `axis`, like np.max (NaN propagates; an empty axis is an error)."""
    return _reduce("max", a, axis, keepdims, _max_last, _max_middle, empty_ok=False)


def sum_to_shape(a, shape) -> np.ndarray:
    """Sum `a` down to `shape`, undoing a broadcast: the gradient of `x` in `x + y`
    when `x` (of `shape`) was broadcast to `a.shape`.

    Sums the leading axes `shape` lacks and the axes where `shape` has 1 but `a` does
    not. Example: a of shape (4, 3, 5) to (3, 1) sums axis 0 and axis 2.
    """
    (a,) = _operands("sum_to_shape", a)
    shape = as_shape(shape)
    try:
        ok = len(shape) <= a.ndim and broadcast_shapes(shape, a.shape) == a.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"sum_to_shape: shape {shape} does not broadcast to the array's shape {a.shape}")
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1)
    if not axes:
        return a.copy()
    return sum(a, axis=axes, keepdims=True).reshape(shape)
