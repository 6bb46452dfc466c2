"""Chapter 03 checkers: the reference passes, a stub is "not implemented yet", and
plausible wrong answers fail with a useful message."""
import numba
import numpy as np
import pytest

from fastgrad.check import ch03


# ------------------------------------------------------------------ reference answers
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


def pack_ok(b, k0, j0, buf):
    kc, nc = buf.shape
    for p in range(kc):
        for j in range(nc):
            inside = k0 + p < b.shape[0] and j0 + j < b.shape[1]
            buf[p, j] = b[k0 + p, j0 + j] if inside else 0.0
    return buf


pack_ok_numba = numba.njit(pack_ok)


# ------------------------------------------------------------------ stubs
def ikj_stub(a, b, out):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


@numba.njit
def tiled_stub(a, b, out, tile):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def pack_stub(b, k0, j0, buf):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ plausible wrong answers
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


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("checker,fn", [(ch03.matmul_ikj, ikj_ok), (ch03.matmul_tiled, tiled_ok),
                                        (ch03.pack_tile, pack_ok), (ch03.pack_tile, pack_ok_numba)])
def test_reference_passes_with_speed_info(checker, fn, capsys):
    result = checker(fn)
    assert result.status == "pass", result.message
    assert result.info and ("GFLOP/s" in result.info[0] or "GB/s" in result.info[0])
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("checker,fn", [(ch03.matmul_ikj, ikj_stub), (ch03.matmul_tiled, tiled_stub),
                                        (ch03.pack_tile, pack_stub)])
def test_stub_is_todo(checker, fn):
    result = checker(fn, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_not_zeroed_output_is_caught_with_hint():
    result = ch03.matmul_ikj(ikj_not_zeroed, show=False)
    assert result.status == "fail"
    assert "set out to zero" in result.message


def test_swapped_dimensions_fail_on_non_square():
    result = ch03.matmul_ikj(ikj_swapped_dims, show=False)
    assert result.status == "fail"
    assert "non-square" in result.message and "set out to zero" not in result.message


def test_dropped_tile_edge_is_caught():
    result = ch03.matmul_tiled(tiled_edge_dropped, show=False)
    assert result.status == "fail"
    assert "never written" in result.message or "differs" in result.message
    assert "1x1" in result.message or "7x7" in result.message  # the first size that is not a multiple of 16


def test_overrun_is_an_index_error_not_a_crash():
    result = ch03.matmul_tiled(tiled_overruns, show=False)
    assert result.status == "fail"
    assert "IndexError" in result.message and "min(" in result.message


def test_pack_without_zero_padding_is_caught():
    result = ch03.pack_tile(pack_no_zero_padding, show=False)
    assert result.status == "fail"
    assert "edge" in result.message and "set to 0" in result.message


def test_pack_returning_a_new_array_is_caught():
    result = ch03.pack_tile(pack_new_array, show=False)
    assert result.status == "fail"
    assert "reuse one buffer" in result.message


def test_pack_transposed_is_caught():
    assert ch03.pack_tile(pack_transposed, show=False).status == "fail"


def test_not_a_function():
    assert ch03.matmul_ikj(None, show=False).status == "fail"


def test_info_can_be_skipped():
    assert ch03.matmul_ikj(ikj_ok, show=False, info=False).info == []
