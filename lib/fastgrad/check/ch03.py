"""Checkers for chapter 03 (matmul, caches and memory): loop reordering, a tiled matmul
with edge handling, and packing a tile of B.

The learner's matmuls write into an `out` array that the checker fills with garbage
first, so forgetting to zero it shows. Sizes 1, 7, 33 and 65 with tiles of 16 leave
partial tiles at the edges; non-square shapes catch swapped m/n/k; a transposed view
catches code that assumes contiguous input. A Numba function is re-compiled with
bounds checking for the correctness cases, so an index past the edge is reported as
an IndexError instead of silently reading (or corrupting) memory. When every case
passes, the learner's GFLOP/s is printed next to the library's reference, as
information only.
"""
from __future__ import annotations

from typing import Callable

import numba
import numpy as np

from ._base import Case, CaseFailed, CheckResult, expect_close, quick_time, run_cases

__all__ = ["matmul_ikj", "matmul_tiled", "pack_tile"]

GARBAGE = 7.0  # what `out` holds before the learner's function runs


def _rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _checked(fn: Callable) -> Callable:
    """A Numba function re-compiled with bounds checks (same Python code); others unchanged."""
    from numba.core.registry import CPUDispatcher

    if isinstance(fn, CPUDispatcher):
        return numba.njit(boundscheck=True)(fn.py_func)
    return fn


def _tolerance(dtype, k: int) -> dict:
    """Sums of k products in a different order than the float64 reference."""
    eps = np.finfo(dtype).eps
    return {"rtol": 16 * eps * max(k, 1) ** 0.5, "atol": 16 * eps * max(k, 1)}


def _matmul_case(description, m, k, n, dtype, call, *, transpose_b=False, seed=0) -> Case:
    def run(fn):
        a = _rand((m, k), dtype, seed)
        b = _rand((n, k), dtype, seed + 1).T if transpose_b else _rand((k, n), dtype, seed + 1)
        out = np.full((m, n), GARBAGE, dtype)
        expected = (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype)
        try:
            got = call(fn, a, b, out)
        except IndexError as exc:
            raise CaseFailed(f"IndexError ({exc}): an index ran past the edge of a, b or out. Clip each tile's "
                             "loops at the matrix edge, e.g. range(i0, min(i0 + tile, m)).") from None
        if got is not None and got is not out:
            expect_close(expected, got, what="returned array", **_tolerance(dtype, k))
        try:
            expect_close(expected, out, what="out", **_tolerance(dtype, k))
        except CaseFailed as failure:
            hint = ""
            wrong = ~np.isclose(out, expected, **_tolerance(dtype, k))
            offset = (out - expected)[wrong]
            if offset.size and np.allclose(offset, GARBAGE, rtol=0, atol=1e-3 * (1 + abs(GARBAGE))):
                hint = (f" Hint: out started filled with {GARBAGE} and some entries are off by exactly that much:"
                        " set out to zero before accumulating into it.")
            elif np.any(out[wrong] == GARBAGE):
                hint = " Hint: some entries of out were never written; check the loops reach the last rows/columns."
            raise CaseFailed(f"{failure}{hint}") from None
    return Case(description, run)


_SIZES = [("1x1 @ 1x1", 1, 1, 1), ("7x7 @ 7x7", 7, 7, 7), ("33x33 @ 33x33", 33, 33, 33),
          ("65x65 @ 65x65", 65, 65, 65), ("non-square 5x33 @ 33x65", 5, 33, 65),
          ("non-square 65x7 @ 7x33", 65, 7, 33), ("k = 0: 3x0 @ 0x4 (the answer is all zeros)", 3, 0, 4)]


def _gflops_info(fn_call: Callable, ref_call: Callable, n: int, dtype=np.float32) -> list[str]:
    """Learner vs reference GFLOP/s on n x n (smaller n if the learner's code is slow)."""
    sizes = [n]
    a, b = _rand((n, n), dtype, 1), _rand((n, n), dtype, 2)
    out = np.empty((n, n), dtype)
    first = quick_time(fn_call, a, b, out, repeats=1)
    if first > 0.5:  # e.g. plain Python loops: measure a smaller problem instead of waiting
        sizes = [max(8, n // 4)]
        n = sizes[0]
        a, b, out = a[:n, :n].copy(), b[:n, :n].copy(), out[:n, :n].copy()
    yours = 2 * n**3 / quick_time(fn_call, a, b, out, repeats=3) / 1e9
    ref = 2 * n**3 / quick_time(ref_call, a, b, out, repeats=3) / 1e9
    return [f"speed (information, {n}x{n} float32): yours {yours:.1f} GFLOP/s, "
            f"reference {ref:.1f} GFLOP/s ({yours / ref:.2f}x the reference)"]


def matmul_ikj(fn: Callable, *, show: bool = True, info: bool = True) -> CheckResult:
    """Check `matmul_ikj(a, b, out)`: (m, k) @ (k, n) written into `out` with i, k, j loops."""
    from ..kernels.matmul import _ikj_kernel

    def call(f, a, b, out):
        return f(a, b, out)

    cases = [_matmul_case(f"{d}, float64, out pre-filled with {GARBAGE}", m, k, n, np.float64, call, seed=i)
             for i, (d, m, k, n) in enumerate(_SIZES)]
    cases += [_matmul_case("33x65 @ 65x17 float32", 33, 65, 17, np.float32, call, seed=11),
              _matmul_case("b is a transposed (non-contiguous) view, float64", 9, 13, 11, np.float64, call,
                           transpose_b=True, seed=12)]
    checked = _checked(fn)
    speed = (lambda f: _gflops_info(fn, _ikj_kernel, 256)) if info else None
    return run_cases("matmul_ikj", checked, cases, show=show, info=speed)


def matmul_tiled(fn: Callable, *, show: bool = True, info: bool = True) -> CheckResult:
    """Check `matmul_tiled(a, b, out, tile)`: cache-blocked matmul into `out`, any sizes."""
    from ..kernels.matmul import _tiled_kernel

    def call_with(tile):
        return lambda f, a, b, out: f(a, b, out, tile)

    cases = [_matmul_case(f"{d}, tile=16, float64, out pre-filled with {GARBAGE}", m, k, n, np.float64,
                          call_with(16), seed=i) for i, (d, m, k, n) in enumerate(_SIZES)]
    cases += [_matmul_case("33x33 @ 33x33 with tile=64 (one partial tile)", 33, 33, 33, np.float64,
                           call_with(64), seed=20),
              _matmul_case("65x65 @ 65x65 with tile=1", 65, 65, 65, np.float64, call_with(1), seed=21),
              _matmul_case("40x20 @ 20x50 with tile=8, float32", 40, 20, 50, np.float32, call_with(8), seed=22),
              _matmul_case("b is a transposed (non-contiguous) view, tile=4", 9, 13, 11, np.float64,
                           call_with(4), transpose_b=True, seed=23)]
    checked = _checked(fn)
    speed = (lambda f: _gflops_info(lambda a, b, out: fn(a, b, out, 64),
                                    lambda a, b, out: _tiled_kernel(a, b, out, 64), 256)) if info else None
    return run_cases("matmul_tiled", checked, cases, show=show, info=speed)


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
        buf = np.full((kc, nc), np.nan, dtype)
        expected = _reference_pack(b, k0, j0, np.empty((kc, nc), dtype))
        got = fn(b, k0, j0, buf)
        if got is not None and got is not buf:
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
            raise CaseFailed(f"{failure}{hint}") from None
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
        _pack_case("float32, transposed (non-contiguous) b", (20, 30), 16, 24, 8, 8, np.float32,
                   transpose=True, seed=7),
    ]
    checked = _checked(fn)
    speed = (lambda f: _pack_info(fn)) if info else None
    return run_cases("pack_tile", checked, cases, show=show, info=speed)


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
