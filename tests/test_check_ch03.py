"""Chapter 03 checkers as graders: reference answers and answers written another way
pass, a stub is "not implemented yet", and each plausible wrong answer (one class of
mistake each) fails with a message naming the mistake."""
import numba
import numpy as np
import pytest

from fastgrad.check import ch03


def notebook_function(source, **notebook_globals):
    """Define a function as a notebook cell does: in a namespace holding other cells' globals."""
    namespace = {"np": np, "numba": numba, "njit": numba.njit, **notebook_globals}
    exec(source, namespace)
    return [v for k, v in namespace.items() if k not in notebook_globals and k not in ("np", "numba", "njit")
            and callable(v) and not k.startswith("__")][-1]


# the globals the exercise notebook holds when its learner writes these functions
NOTEBOOK = {"m": 2, "k": 3, "n": 2, "tile": np.zeros((2, 3)), "a": np.arange(6.0).reshape(2, 3),
            "b": np.arange(6.0).reshape(3, 2)}


# ============================================================== exercise 1: i, p, j
@numba.njit
def ikj_ok(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i in range(m):
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]
    return out


@numba.njit
def ikj_row_expression(a, b, out):
    out[:] = 0.0
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            out[i, :] += a[i, p] * b[p, :]
    return out


def ikj_python(a, b, out):
    m, k = a.shape
    out.fill(0)
    for i in range(m):
        row = out[i]
        for p in range(k):
            row += a[i, p] * b[p]
    return out


@numba.njit
def ikj_local_row(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        acc = np.zeros(n)
        for p in range(k):
            for j in range(n):
                acc[j] += a[i, p] * b[p, j]
        out[i, :] = acc
    return out


@numba.njit
def ikj_not_zeroed(a, b, out):   # accumulates into whatever out held
    m, k = a.shape
    for i in range(m):
        for p in range(k):
            for j in range(b.shape[1]):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def ikj_swapped_dims(a, b, out):  # loops over the wrong extents: fine when square only
    m, k = a.shape
    out[:, :] = 0
    for i in range(m):
        for p in range(m):
            for j in range(k):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def ijk_order(a, b, out):         # the slow order: p innermost walks down a column of b
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            acc = 0.0
            for p in range(k):
                acc += a[i, p] * b[p, j]
            out[i, j] = acc
    return out


@numba.njit
def jki_order(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for j in range(n):
        for p in range(k):
            for i in range(m):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def kij_order(a, b, out):         # rows of b, but p outermost
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for p in range(k):
        for i in range(m):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


def ikj_uses_numpy(a, b, out):
    out[:] = a @ b
    return out


@numba.njit
def ikj_no_return(a, b, out):
    m, k = a.shape
    out[:, :] = 0
    for i in range(m):
        for p in range(k):
            for j in range(b.shape[1]):
                out[i, j] += a[i, p] * b[p, j]


@numba.njit
def ikj_fresh_array(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), a.dtype)   # rebinds the name: the caller's out is untouched
    for i in range(m):
        for p in range(k):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


def ikj_returns_float64(a, b, out):
    out[:, :] = 0
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            out[i, :] += a[i, p] * b[p, :]
    return out.astype(np.float64)


@numba.njit
def ikj_float32_accumulator(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i in range(m):
        for p in range(k):
            aip = np.float32(a[i, p])
            for j in range(n):
                out[i, j] += np.float32(aip * b[p, j])
    return out


@numba.njit
def ikj_zeroes_in_loop(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for p in range(k):
            out[i, :] = 0                 # wipes the row at every p
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def ikj_skips_first_row(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out[1:, :] = 0
    for i in range(1, m):
        for p in range(k):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def ikj_endless(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    i = 0
    while i < m:                          # forgot i += 1: compiled, this would hang the kernel
        for p in range(k):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


IKJ_GLOBALS = notebook_function("""
@njit
def matmul_ikj(a, b, out):
    out[:, :] = 0
    for i in range(m):                    # the notebook's m, k, n = 2, 3, 2, frozen by Numba
        for p in range(k):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out
""", **NOTEBOOK)

IKJ_GLOBAL_N = notebook_function("""
@njit
def matmul_ikj(a, b, out):
    m, p_size = a.shape
    out[:, :] = 0
    for i in range(m):
        for p in range(p_size):
            for j in range(n):            # forgot n = b.shape[1]: the notebook's n = 2
                out[i, j] += a[i, p] * b[p, j]
    return out
""", **NOTEBOOK)

IKJ_RIGHT = [ikj_ok, ikj_row_expression, ikj_python, ikj_local_row]
IKJ_WRONG = [
    (ikj_not_zeroed, ["set out to zero"]),
    (ikj_swapped_dims, ["non-square", "its own extent"]),
    (ijk_order, ["column of b", "i, j, p"]),
    (jki_order, ["column of b"]),
    (kij_order, ["p, i, j", "i outermost"]),
    (ikj_uses_numpy, ["NumPy", "loops"]),
    (ikj_no_return, ["returned None", "return out"]),
    (ikj_fresh_array, ["returned a new array", "rebinds"]),
    (ikj_returns_float64, ["return `out` itself"]),
    (ikj_float32_accumulator, ["float32 precision"]),
    (ikj_zeroes_in_loop, ["last term", "once, before the loops"]),
    (ikj_skips_first_row, ["never written", "rows [0]"]),
    (IKJ_GLOBALS, ["`m` (= 2)", "`n` (= 2)", "b.shape[1]"]),
    (IKJ_GLOBAL_N, ["`n` (= 2)", "fixed size", "n = b.shape[1]"]),
]


# ============================================================== exercise 2: tiled
@numba.njit
def tiled_ok(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        aip = a[i, p]
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += aip * b[p, j]
    return out


@numba.njit
def tiled_views(a, b, out, tile):     # the solution's form: 0-based views of the block's rows
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                jn = min(tile, n - j0)
                for i in range(i0, min(i0 + tile, m)):
                    out_row = out[i, j0:j0 + jn]
                    for p in range(p0, min(p0 + tile, k)):
                        aip = a[i, p]
                        b_row = b[p, j0:j0 + jn]
                        for j in range(jn):
                            out_row[j] += aip * b_row[j]
    return out


@numba.njit
def tiled_guarded(a, b, out, tile):   # full tiles with an `if` instead of min(), block order j0, p0, i0
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for j0 in range(0, n, tile):
        for p0 in range(0, k, tile):
            for i0 in range(0, m, tile):
                for i in range(i0, i0 + tile):
                    if i < m:
                        for p in range(p0, min(p0 + tile, k)):
                            for j in range(j0, min(j0 + tile, n)):
                                out[i, j] += a[i, p] * b[p, j]
    return out


def tiled_python_slices(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[...] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        out[i, j0:j0 + tile] += a[i, p] * b[p, j0:j0 + tile]
    return out


@numba.njit
def tiled_edge_dropped(a, b, out, tile):  # only whole tiles: the last partial tile is skipped
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m - tile + 1, tile):
        for p0 in range(0, k - tile + 1, tile):
            for j0 in range(0, n - tile + 1, tile):
                for i in range(i0, i0 + tile):
                    for p in range(p0, p0 + tile):
                        for j in range(j0, j0 + tile):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_overruns(a, b, out, tile):  # no min(): reads and writes past the edge
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, i0 + tile):
                    for p in range(p0, p0 + tile):
                        for j in range(j0, j0 + tile):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_ignores_tile(a, b, out, tile):
    return ikj_ok(a, b, out)


@numba.njit
def tiled_ignores_tile_inline(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i in range(m):
        for p in range(k):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_hard_coded(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    t = 16                                 # ignores the argument
    out[:, :] = 0
    for i0 in range(0, m, t):
        for p0 in range(0, k, t):
            for j0 in range(0, n, t):
                for i in range(i0, min(i0 + t, m)):
                    for p in range(p0, min(p0 + t, k)):
                        for j in range(j0, min(j0 + t, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_no_p_blocks(a, b, out, tile):   # tiles i and j only: a block of b is not reused
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for j0 in range(0, n, tile):
            for i in range(i0, min(i0 + tile, m)):
                for p in range(k):
                    for j in range(j0, min(j0 + tile, n)):
                        out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_no_j_blocks(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for i in range(i0, min(i0 + tile, m)):
                for p in range(p0, min(p0 + tile, k)):
                    for j in range(n):
                        out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_ijk_inside(a, b, out, tile):   # blocks right, but p innermost inside a block
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for j in range(j0, min(j0 + tile, n)):
                        for p in range(p0, min(p0 + tile, k)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_zeroes_per_block(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                out[i0:i0 + tile, j0:j0 + tile] = 0   # wipes the previous p0 blocks' sums
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_clip_off_by_one(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m - 1)):
                    for p in range(p0, min(p0 + tile, k)):
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_not_zeroed(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


@numba.njit
def tiled_no_return(a, b, out, tile):
    tiled_ok(a, b, out, tile)


@numba.njit
def tiled_fresh_array(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), a.dtype)
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out


def tiled_numpy_blocks(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    for i0 in range(0, m, tile):
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                out[i0:i0 + tile, j0:j0 + tile] += a[i0:i0 + tile, p0:p0 + tile] @ b[p0:p0 + tile, j0:j0 + tile]
    return out


@numba.njit
def tiled_endless(a, b, out, tile):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0
    i0 = 0
    while i0 < m:                         # forgot i0 += tile
        for i in range(i0, min(i0 + tile, m)):
            for p in range(k):
                for j in range(n):
                    out[i, j] += a[i, p] * b[p, j]
    return out


TILED_GLOBALS = notebook_function("""
@njit
def matmul_tiled(a, b, out, tile):
    out[:, :] = 0
    for i0 in range(0, m, tile):          # the notebook's m, k, n
        for p0 in range(0, k, tile):
            for j0 in range(0, n, tile):
                for i in range(i0, min(i0 + tile, m)):
                    for p in range(p0, min(p0 + tile, k)):
                        for j in range(j0, min(j0 + tile, n)):
                            out[i, j] += a[i, p] * b[p, j]
    return out
""", **NOTEBOOK)

TILED_RIGHT = [tiled_ok, tiled_views, tiled_guarded, tiled_python_slices]
TILED_WRONG = [
    (tiled_edge_dropped, ["1x1", "never written", "partial tile"]),
    (tiled_overruns, ["IndexError", "min("]),
    (tiled_ignores_tile, ["ignores `tile`"]),         # the recorder follows it into ikj_ok
    (tiled_ignores_tile_inline, ["ignores `tile`"]),
    (tiled_hard_coded, ["ignores `tile`", "hard-code"]),
    (tiled_no_p_blocks, ["tile by tile", "p (k) loop is not tiled"]),
    (tiled_no_j_blocks, ["tile by tile", "j (n) loop is not tiled"]),
    (tiled_ijk_inside, ["column of b", "inside a block"]),
    (tiled_zeroes_per_block, ["last block of p", "once, before"]),
    (tiled_clip_off_by_one, ["never written", "min(i0 + tile, m)"]),
    (tiled_not_zeroed, ["set out to zero"]),
    (tiled_no_return, ["returned None"]),
    (tiled_fresh_array, ["returned a new array", "rebinds"]),
    (tiled_numpy_blocks, ["NumPy", "loops"]),
    (TILED_GLOBALS, ["`k` (= 3)", "a.shape"]),
]


# ============================================================== exercise 3: packing
def pack_ok(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            inside = k0 + p < b.shape[0] and j0 + j < b.shape[1]
            buf[p, j] = b[k0 + p, j0 + j] if inside else 0.0
    return buf


pack_ok_numba = numba.njit(pack_ok)


def pack_slices(b, k0, j0, buf):
    buf[...] = 0
    part = b[k0:k0 + buf.shape[0], j0:j0 + buf.shape[1]]
    buf[:part.shape[0], :part.shape[1]] = part
    return buf


@numba.njit
def pack_clipped(b, k0, j0, buf):
    kc, nc = buf.shape
    rows = max(0, min(kc, b.shape[0] - k0))
    cols = max(0, min(nc, b.shape[1] - j0))
    buf[:, :] = 0
    for p in range(rows):
        for j in range(cols):
            buf[p, j] = b[k0 + p, j0 + j]
    return buf


def pack_no_zero_padding(b, k0, j0, buf):
    tile = b[k0:k0 + buf.shape[0], j0:j0 + buf.shape[1]]
    buf[:tile.shape[0], :tile.shape[1]] = tile
    return buf


def pack_new_array(b, k0, j0, buf):
    out = np.zeros_like(buf)
    tile = b[k0:k0 + buf.shape[0], j0:j0 + buf.shape[1]]
    out[:tile.shape[0], :tile.shape[1]] = tile
    return out


def pack_transposed(b, k0, j0, buf):
    kc, nc = buf.shape
    buf[...] = 0
    tile = b[j0:j0 + kc, k0:k0 + nc]
    buf[:tile.shape[0], :tile.shape[1]] = tile
    return buf


@numba.njit
def pack_no_return(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            if k0 + p < b.shape[0] and j0 + j < b.shape[1]:
                buf[p, j] = b[k0 + p, j0 + j]
            else:
                buf[p, j] = 0


@numba.njit
def pack_less_equal(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            if k0 + p <= b.shape[0] and j0 + j <= b.shape[1]:    # off by one
                buf[p, j] = b[k0 + p, j0 + j]
            else:
                buf[p, j] = 0
    return buf


@numba.njit
def pack_swapped_bounds(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            if k0 + p < b.shape[1] and j0 + j < b.shape[0]:
                buf[p, j] = b[k0 + p, j0 + j]
            else:
                buf[p, j] = 0
    return buf


@numba.njit
def pack_rows_only(b, k0, j0, buf):   # pads past the bottom edge only
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            if k0 + p < b.shape[0]:
                buf[p, j] = b[k0 + p, min(j0 + j, b.shape[1] - 1)]
            else:
                buf[p, j] = 0
    return buf


@numba.njit
def pack_no_offset(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            if p < b.shape[0] and j < b.shape[1]:
                buf[p, j] = b[p, j]                       # forgot k0, j0
            else:
                buf[p, j] = 0
    return buf


def pack_into_b(b, k0, j0, buf):
    buf[...] = 0
    part = b[k0:k0 + buf.shape[0], j0:j0 + buf.shape[1]]
    buf[:part.shape[0], :part.shape[1]] = part
    part[...] = 0                                         # "consumes" the tile
    return buf


def pack_endless(b, k0, j0, buf):
    p = 0
    while p < buf.shape[0]:                               # forgot p += 1
        buf[p] = 0
    return buf


PACK_GLOBAL_TILE = notebook_function("""
@njit
def pack_tile(b, k0, j0, buf):
    kc, nc = tile.shape                   # the notebook's demo `tile` (2 x 3), not buf
    for p in range(kc):
        for j in range(nc):
            if k0 + p < b.shape[0] and j0 + j < b.shape[1]:
                buf[p, j] = b[k0 + p, j0 + j]
            else:
                buf[p, j] = 0
    return buf
""", **NOTEBOOK)

PACK_RIGHT = [pack_ok, pack_ok_numba, pack_slices, pack_clipped]
PACK_WRONG = [
    (pack_no_zero_padding, ["edge", "set to 0"]),
    (pack_new_array, ["reuse one buffer"]),
    (pack_transposed, ["k0 is the row offset"]),
    (pack_no_return, ["returned None", "return buf"]),
    (pack_less_equal, ["IndexError", "strictly less"]),
    (pack_swapped_bounds, ["IndexError"]),
    (pack_rows_only, ["right edge"]),
    (pack_no_offset, ["interior", "offsets"]),
    (pack_into_b, ["changed b"]),
    (PACK_GLOBAL_TILE, ["`tile` (= an array of shape (2, 3))", "buf.shape"]),
]

CHECKERS = {"matmul_ikj": (ch03.matmul_ikj, IKJ_RIGHT, IKJ_WRONG),
            "matmul_tiled": (ch03.matmul_tiled, TILED_RIGHT, TILED_WRONG),
            "pack_tile": (ch03.pack_tile, PACK_RIGHT, PACK_WRONG)}
RIGHT = [(name, fn) for name, (_, right, _) in CHECKERS.items() for fn in right]
WRONG = [(name, fn, words) for name, (_, _, wrong) in CHECKERS.items() for fn, words in wrong]


def _id(fn):
    return getattr(fn, "__name__", "fn") + ("_globals" if getattr(fn, "__module__", "") != __name__ else "")


# ============================================================== tests
@pytest.mark.parametrize("name, fn", RIGHT, ids=[f"{n}-{_id(f)}" for n, f in RIGHT])
def test_right_answers_pass(name, fn):
    result = CHECKERS[name][0](fn, show=False, info=False)
    assert result.passed, result.message
    assert not any("not checked" in line for line in result.info), result.info


@pytest.mark.parametrize("name, fn, words", WRONG, ids=[f"{n}-{_id(f)}" for n, f, _ in WRONG])
def test_wrong_answer_fails_naming_the_mistake(name, fn, words):
    result = CHECKERS[name][0](fn, show=False, info=False)
    assert result.status == "fail", f"{_id(fn)} slipped through: {result.message}"
    missing = [w for w in words if w not in result.message]
    assert not missing, f"{_id(fn)}: message lacks {missing}: {result.message}"


@pytest.mark.parametrize("checker,fn", [(ch03.matmul_ikj, ikj_ok), (ch03.matmul_tiled, tiled_ok),
                                        (ch03.pack_tile, pack_ok), (ch03.pack_tile, pack_ok_numba)])
def test_reference_passes_with_speed_info(checker, fn, capsys):
    result = checker(fn)
    assert result.status == "pass", result.message
    assert result.info and ("GFLOP/s" in result.info[-1] or "GB/s" in result.info[-1])
    assert "all" in capsys.readouterr().out


def _stub(*args):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


@pytest.mark.parametrize("checker", [ch03.matmul_ikj, ch03.matmul_tiled, ch03.pack_tile])
@pytest.mark.parametrize("compiled", [False, True])
def test_stub_is_todo(checker, compiled):
    fn = numba.njit(_stub) if compiled else _stub
    result = checker(fn, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


@pytest.mark.parametrize("checker, fn", [(ch03.matmul_ikj, ikj_endless), (ch03.matmul_tiled, tiled_endless),
                                         (ch03.pack_tile, pack_endless)])
def test_endless_loop_is_stopped_before_it_is_compiled(checker, fn, monkeypatch):
    monkeypatch.setattr(ch03, "FIRST_RUN_LIMIT", 1.0)
    result = checker(fn, show=False, info=False)
    assert result.status == "fail"
    assert "case 1/" in result.message and "did not finish within 1 s" in result.message


def test_what_the_recorder_cannot_follow_is_said_not_checked():
    """Correct results through code the recorder cannot follow (here the library's
    wrapper, which insists on real arrays): passes, and says the structure was not checked."""
    from fastgrad.kernels import matmul as mm
    result = ch03.matmul_tiled(lambda a, b, out, tile: mm.matmul_tiled(a, b, out=out, tile=tile), show=False,
                               info=False)
    assert result.passed and any("loop structure not checked" in line for line in result.info), result


def test_fresh_array_hint_does_not_blame_the_loops():
    result = ch03.matmul_ikj(ikj_fresh_array, show=False, info=False)
    assert "last rows" not in result.message and "the product into the `out` you were given" in result.message


def test_notebook_shapes_are_not_among_the_checked_shapes():
    """Several distinct shapes, none the notebook's (2, 3, 2): a kernel with frozen globals fails."""
    shapes = {(m, k, n) for _, m, k, n in ch03._SIZES} | {ch03.IKJ_SHAPE, ch03.TILED_SHAPE}
    assert (2, 3, 2) not in shapes and len(shapes) >= 5


def test_not_a_function():
    assert ch03.matmul_ikj(None, show=False).status == "fail"


def test_info_can_be_skipped():
    assert ch03.matmul_ikj(ikj_ok, show=False, info=False).info == []


def test_checks_are_fast():
    import time
    for checker, fn in [(ch03.matmul_ikj, ikj_ok), (ch03.matmul_tiled, tiled_views), (ch03.pack_tile, pack_ok)]:
        start = time.perf_counter()
        checker(fn, show=False)
        assert time.perf_counter() - start < 8, checker.__name__
