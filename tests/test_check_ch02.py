"""Chapter 02 checkers as graders: reference answers and answers written another way
pass, a stub is "not implemented yet", and each plausible wrong answer (one class of
mistake each, as learners really make them) fails with a message naming the mistake."""
import numba
import numpy as np
import pytest

from fastgrad.check import ch02


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


@numba.njit
def numba_stub(x, out):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


def notebook_function(source, **notebook_globals):
    """Define a function as a notebook cell does: in a namespace holding other cells' globals."""
    namespace = {"np": np, "numba": numba, "njit": numba.njit, **notebook_globals}
    exec(source, namespace)
    return [v for k, v in namespace.items() if k not in notebook_globals and k not in ("np", "numba", "njit")
            and callable(v) and not k.startswith("__")][-1]


# ============================================================== exercise 1: fused multiply-add
@numba.njit(fastmath={"contract"})
def fma_ref(a, b, c, out):
    for i in range(out.shape[0]):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit(parallel=True)
def fma_prange(a, b, c, out):
    for i in numba.prange(len(out)):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit
def fma_array_expression(a, b, c, out):
    out[:] = a * b + c
    return out


def fma_numpy_two_passes(a, b, c, out):
    np.multiply(a, b, out=out)
    return np.add(out, c, out=out)


def fma_library(a, b, c, out):
    from fastgrad.kernels import elementwise as E
    return E.fma(a, b, c, out=out)


@numba.njit
def fma_stops_early(a, b, c, out):
    for i in range(out.shape[0] - 1):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit
def fma_skips_first(a, b, c, out):
    for i in range(1, out.shape[0]):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit
def fma_unrolled_no_remainder(a, b, c, out):
    for i in range(0, out.shape[0] - 3, 4):
        out[i] = a[i] * b[i] + c[i]
        out[i + 1] = a[i + 1] * b[i + 1] + c[i + 1]
        out[i + 2] = a[i + 2] * b[i + 2] + c[i + 2]
        out[i + 3] = a[i + 3] * b[i + 3] + c[i + 3]
    return out


@numba.njit
def fma_wrong_remainder(a, b, c, out):
    n = out.shape[0]
    for i in range(0, n - n % 4):
        out[i] = a[i] * b[i] + c[i]
    for i in range(n - n % 4, n):      # one wrong element among many
        out[i] = a[i] * b[i] - c[i]
    return out


def fma_forgets_c(a, b, c, out):
    np.multiply(a, b, out=out)
    return out


def fma_returns_new(a, b, c, out):
    return a * b + c                      # never writes out


@numba.njit
def fma_rebinds_out(a, b, c, out):
    out = a * b + c                       # a new array; the caller's out is untouched
    return out


@numba.njit
def fma_forgets_return(a, b, c, out):
    for i in range(out.shape[0]):
        out[i] = a[i] * b[i] + c[i]


def fma_returns_float64(a, b, c, out):
    np.multiply(a, b, out=out)
    out += c
    return out.astype(np.float64)


def fma_returns_input(a, b, c, out):
    np.multiply(a, b, out=out)
    out += c
    return a                              # a typo


def fma_mutates_input(a, b, c, out):
    a *= b                                # "saves a temporary"
    a += c
    out[:] = a
    return out


def fma_accumulates_into_c(a, b, c, out):
    c += a * b
    out[:] = c
    return out


@numba.njit
def fma_float32_arithmetic(a, b, c, out):
    for i in range(out.shape[0]):
        out[i] = np.float32(a[i]) * np.float32(b[i]) + np.float32(c[i])
    return out


@numba.njit
def fma_overrun(a, b, c, out):
    for i in range(out.shape[0] + 1):
        out[i] = a[i] * b[i] + c[i]
    return out


@numba.njit
def fma_endless(a, b, c, out):
    i = 0
    while i < out.shape[0]:
        out[i] = a[i] * b[i] + c[i]       # forgot i += 1: in compiled code this would hang the kernel
    return out


FMA_GLOBAL_N = """
@njit
def fused_multiply_add(a, b, c, out):
    for i in range(n):                    # n is the notebook's timing size, not this array's
        out[i] = a[i] * b[i] + c[i]
    return out
"""

FMA_RIGHT = [fma_ref, fma_prange, fma_array_expression, fma_numpy_two_passes, fma_library]
FMA_WRONG = [
    (fma_stops_early, ["never written", "range(out.shape[0])"]),
    (fma_skips_first, ["out[0] was never written"]),
    (fma_unrolled_no_remainder, ["never written"]),
    (fma_wrong_remainder, ["differs at index", "1 of"]),
    (fma_forgets_c, ["without + c"]),
    (fma_returns_new, ["returned a new array", "the results into the `out` you were given"]),
    (fma_rebinds_out, ["returned a new array", "rebinds"]),
    (fma_forgets_return, ["returned None", "return out"]),
    (fma_returns_float64, ["return `out` itself", "float64"]),
    (fma_returns_input, ["return `out` itself"]),
    (fma_mutates_input, ["changed its input a"]),
    (fma_accumulates_into_c, ["changed its input c"]),
    (fma_float32_arithmetic, ["float32 precision"]),
    (fma_overrun, ["IndexError", "past the end"]),
    (notebook_function(FMA_GLOBAL_N, n=2_000_000), ["global", "`n`", ".shape"]),
]


# ============================================================== exercise 2: add a row
@numba.njit
def add_row_ref(m, row):
    out = np.empty_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[j]
    return out


def add_row_numpy(m, row):
    return m + row


def add_row_newaxis(m, row):
    return np.add(m, row[np.newaxis, :])


@numba.njit
def add_row_copy_then_add(m, row):
    out = m.copy()
    for i in range(out.shape[0]):
        out[i] += row
    return out


def add_row_library(m, row):
    from fastgrad.kernels import elementwise as E
    return E.add(m, row)


@numba.njit
def add_row_float64(m, row):
    out = np.empty(m.shape)               # float64 whatever m's dtype
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[j]
    return out


@numba.njit
def add_row_float32(m, row):
    out = np.empty(m.shape, np.float32)   # float32 whatever m's dtype
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[j]
    return out


def add_row_float64_on_views(m, row):
    if not m.flags.c_contiguous:          # dtype wrong on one path only
        m = np.ascontiguousarray(m, dtype=np.float64)
    return m + row


@numba.njit
def add_row_wrong_axis(m, row):
    out = np.empty_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i, j] = m[i, j] + row[i]
    return out


def add_row_column_vector(m, row):
    return m + row[:, None]


def add_row_in_place(m, row):
    m += row
    return m


def add_row_in_place_on_views(m, row):
    out = m.copy() if m.flags.c_contiguous else m
    out += row
    return out


def add_row_flat(m, row):
    # Treats m's memory as C-ordered: wrong for transposed or sliced views.
    flat = np.lib.stride_tricks.as_strided(m, shape=(m.size,), strides=(m.itemsize,))
    return (flat.reshape(m.shape[0], m.shape[1]) + row).copy()


def add_row_empty_shortcut(m, row):
    if m.size == 0:
        return m                          # a view of the input returned
    return m + row


def add_row_broadcast_shortcut(m, row):
    if m.shape[0] == 1:
        return np.broadcast_to(m[0] + row, m.shape)   # read-only
    return m + row


def add_row_list(m, row):
    return [m[i] + row for i in range(m.shape[0])]


@numba.njit
def add_row_swapped_extents(m, row):
    out = np.empty_like(m)
    for i in range(m.shape[1]):
        for j in range(m.shape[0]):
            out[i, j] = m[i, j] + row[j]
    return out


@numba.njit
def add_row_misses_last_column(m, row):
    out = np.zeros_like(m)
    for i in range(m.shape[0]):
        for j in range(m.shape[1] - 1):
            out[i, j] = m[i, j] + row[j]
    return out


def add_row_endless(m, row):
    out = np.empty_like(m)
    i = 0
    while i < m.shape[0]:
        out[i] = m[i] + row               # forgot i += 1
    return out


ADD_ROW_RIGHT = [add_row_ref, add_row_numpy, add_row_newaxis, add_row_copy_then_add, add_row_library]
ADD_ROW_WRONG = [
    (add_row_float64, ["float64", "empty_like"]),
    (add_row_float32, ["dtype float32, expected float64"]),
    (add_row_float64_on_views, ["float64", "transposed"]),
    (add_row_wrong_axis, ["every row"]),
    (add_row_column_vector, ["every row"]),
    (add_row_in_place, ["changed its input m"]),
    (add_row_in_place_on_views, ["changed its input m", "transposed"]),
    (add_row_flat, ["transposed"]),
    (add_row_empty_shortcut, ["shares memory"]),
    (add_row_broadcast_shortcut, ["read-only"]),
    (add_row_list, ["list", "NumPy array"]),
    (add_row_swapped_extents, ["IndexError", "m.shape"]),
    (add_row_misses_last_column, ["last column"]),
]


# ============================================================== exercise 3a: add_rows(x, out)
@numba.njit
def add_rows_ref(x, out):
    out[:] = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[i, j]


@numba.njit
def add_rows_whole_rows(x, out):
    out[:] = 0
    for i in range(x.shape[0]):
        out += x[i]
    return out


def add_rows_numpy(x, out):
    np.sum(x, axis=0, out=out)


@numba.njit
def add_rows_not_zeroed(x, out):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[i, j]


@numba.njit
def add_rows_assigns(x, out):
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] = x[i, j]


@numba.njit
def add_rows_zeroes_in_loop(x, out):
    for i in range(x.shape[0]):
        out[:] = 0
        for j in range(x.shape[1]):
            out[j] += x[i, j]


@numba.njit
def add_rows_rebinds(x, out):
    out = np.zeros(x.shape[1], x.dtype)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[i, j]
    return out


def add_rows_returns(x, out):
    return x.sum(axis=0)


@numba.njit
def add_rows_misses_last_row(x, out):
    out[:] = 0
    for i in range(x.shape[0] - 1):
        for j in range(x.shape[1]):
            out[j] += x[i, j]


@numba.njit
def add_rows_first_row_copied(x, out):
    out[:] = x[0]                          # fails for a matrix with no rows
    for i in range(1, x.shape[0]):
        out += x[i]


@numba.njit
def add_rows_wrong_axis(x, out):
    out[:] = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i] += x[i, j]


@numba.njit
def add_rows_into_input(x, out):
    for i in range(1, x.shape[0]):
        x[0] += x[i]                       # accumulates into the input's first row
    out[:] = x[0]


@numba.njit
def add_rows_float32_accumulator(x, out):
    acc = np.zeros(x.shape[1], np.float32)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            acc[j] += x[i, j]
    out[:] = acc


@numba.njit
def add_rows_endless(x, out):
    out[:] = 0
    i = 0
    while i < x.shape[0]:
        out += x[i]                        # forgot i += 1


ADD_ROWS_RIGHT = [add_rows_ref, add_rows_whole_rows, add_rows_numpy]
ADD_ROWS_WRONG = [
    (add_rows_not_zeroed, ["set it to zero", "out[:] = 0"]),
    (add_rows_assigns, ["last row", "+="]),
    (add_rows_zeroes_in_loop, ["last row", "once, before the loop"]),
    (add_rows_rebinds, ["out still holds", "rebinds"]),
    (add_rows_returns, ["out still holds"]),
    (add_rows_misses_last_row, ["all rows but the last", "range(x.shape[0])"]),
    (add_rows_first_row_copied, ["no rows", "zeros"]),
    (add_rows_wrong_axis, ["axis 0"]),
    (add_rows_into_input, ["changed its input x"]),
    (add_rows_float32_accumulator, ["float32 precision"]),
]


# ============================================================== exercise 3b: sum_axis
def sum_axis_ref(x, axis, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


def sum_axis_with_add_rows(x, axis, keepdims=False):   # the solution's structure
    axis = axis % 2
    rows = x if axis == 0 else x.T
    out = np.empty(rows.shape[1], x.dtype)
    add_rows_ref(rows, out)
    if keepdims:
        out = out.reshape((1, -1) if axis == 0 else (-1, 1))
    return out


def sum_axis_reduce(x, axis, keepdims=False):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


def sum_axis_loops(x, axis, keepdims=False):
    axis = axis % x.ndim
    rows = np.moveaxis(x, axis, 0)
    out = np.zeros(rows.shape[1], x.dtype)
    for r in rows:
        out += r
    return np.expand_dims(out, axis) if keepdims else out


def sum_axis_library(x, axis, keepdims=False):
    from fastgrad.kernels import elementwise as E
    return E.sum(x, axis, keepdims)


def sum_wrong_axis(x, axis, keepdims=False):
    return x.sum(axis=1 - axis % 2, keepdims=keepdims)


def sum_negative_axis_unhandled(x, axis, keepdims=False):
    rows = x if axis == 0 else x.T            # axis=-2 treated like 1
    out = rows.sum(axis=0)
    if keepdims:
        out = out.reshape((1, -1) if axis == 0 else (-1, 1))
    return out


def sum_no_keepdims(x, axis, keepdims=False):
    return x.sum(axis=axis)


def sum_keepdims_always_row(x, axis, keepdims=False):
    out = x.sum(axis=axis)
    return out.reshape(1, -1) if keepdims else out


def sum_float64(x, axis, keepdims=False):
    return x.astype(np.float64).sum(axis=axis, keepdims=keepdims)


def sum_float64_on_keepdims(x, axis, keepdims=False):
    out = x.sum(axis=axis)
    return np.expand_dims(out, axis).astype(float) if keepdims else out


def sum_float32_precision(x, axis, keepdims=False):
    return x.astype(np.float32).sum(axis=axis, keepdims=keepdims).astype(x.dtype)


def sum_view_shortcut(x, axis, keepdims=False):
    if x.shape[axis] == 1:                # nothing to add: but this returns a view of x
        return x if keepdims else x.reshape(-1)
    return x.sum(axis=axis, keepdims=keepdims)


def sum_in_place(x, axis, keepdims=False):
    rows = np.moveaxis(x, axis, 0)
    for i in range(1, rows.shape[0]):
        rows[i] += rows[i - 1]            # a running sum written over the input
    out = rows[-1].copy() if rows.shape[0] else np.zeros(rows.shape[1], x.dtype)
    return np.expand_dims(out, axis) if keepdims else out


def sum_nansum(x, axis, keepdims=False):
    return np.nansum(x, axis=axis, keepdims=keepdims)


def sum_python_list(x, axis, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims).tolist()


def sum_axis_unzeroed_add_rows(x, axis, keepdims=False):   # np.empty + an add_rows that never zeroes
    axis = axis % 2
    rows = x if axis == 0 else x.T
    out = np.empty(rows.shape[1], x.dtype)
    add_rows_not_zeroed(rows, out)
    if keepdims:
        out = out.reshape((1, -1) if axis == 0 else (-1, 1))
    return out


SUM_RIGHT = [sum_axis_ref, sum_axis_with_add_rows, sum_axis_reduce, sum_axis_loops, sum_axis_library]
SUM_WRONG = [
    (sum_wrong_axis, ["other axis"]),
    (sum_negative_axis_unhandled, ["axis=-2"]),
    (sum_no_keepdims, ["keepdims"]),
    (sum_keepdims_always_row, ["keepdims", "(n, 1)"]),
    (sum_float64, ["float64"]),
    (sum_float64_on_keepdims, ["float64", "keepdims=True"]),
    (sum_float32_precision, ["float32 precision"]),
    (sum_view_shortcut, ["shares memory"]),
    (sum_in_place, ["changed its input x"]),
    (sum_nansum, ["NaN"]),
    (sum_python_list, ["list", "NumPy array"]),
    (sum_axis_unzeroed_add_rows, ["zero", "np.empty"]),
]


# ============================================================== exercise 4: threshold
def threshold_ref(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel), reverse=True):
        if p >= s:
            break
        threshold = int(n)
    return threshold


def threshold_numpy(sizes, serial, parallel):
    order = np.argsort(sizes)
    wins = np.asarray(parallel)[order] < np.asarray(serial)[order]
    if not wins[-1]:
        return None
    losses = np.flatnonzero(~wins)
    first = losses[-1] + 1 if losses.size else 0
    return np.asarray(sizes)[order][first]           # an np.int64 is an int size too


def threshold_ascending(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel)):
        if p < s:
            if threshold is None:
                threshold = n
        else:
            threshold = None
    return threshold


def threshold_first_win(sizes, serial, parallel):
    for n, s, p in sorted(zip(sizes, serial, parallel)):
        if p < s:
            return int(n)
    return None


def threshold_unsorted(sizes, serial, parallel):
    threshold = None
    for n, s, p in reversed(list(zip(sizes, serial, parallel))):
        if p >= s:
            break
        threshold = int(n)
    return threshold


def threshold_sorts_sizes_only(sizes, serial, parallel):
    sizes.sort()                               # the timings are no longer paired with their sizes
    threshold = None
    for n, s, p in reversed(list(zip(sizes, serial, parallel))):
        if p >= s:
            break
        threshold = int(n)
    return threshold


def threshold_returns_list(sizes, serial, parallel):
    return [n for n, s, p in zip(sizes, serial, parallel) if p < s]


def threshold_tie_is_win(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel), reverse=True):
        if p > s:
            break
        threshold = int(n)
    return threshold


def threshold_largest_win(sizes, serial, parallel):
    wins = [n for n, s, p in zip(sizes, serial, parallel) if p < s]
    return int(max(wins)) if wins else None


def threshold_after_last_loss(sizes, serial, parallel):
    data = sorted(zip(sizes, serial, parallel))
    losses = [i for i, (n, s, p) in enumerate(data) if p >= s]
    first = losses[-1] + 1 if losses else 0
    return int(data[first][0]) if first < len(data) else int(data[-1][0])   # ignores a loss at the top


def threshold_index(sizes, serial, parallel):
    data = sorted(zip(sizes, serial, parallel))
    index = None
    for i in range(len(data) - 1, -1, -1):
        if data[i][2] >= data[i][1]:
            break
        index = i
    return index                               # an index into sizes, not a size


def threshold_float(sizes, serial, parallel):
    t = threshold_ref(sizes, serial, parallel)
    return None if t is None else float(t)


def threshold_two_in_a_row(sizes, serial, parallel):
    data = sorted(zip(sizes, serial, parallel))
    for i in range(len(data)):
        wins_here = data[i][2] < data[i][1]
        wins_next = i + 1 == len(data) or data[i + 1][2] < data[i + 1][1]
        if wins_here and wins_next:
            return int(data[i][0])
    return None


def threshold_with_margin(sizes, serial, parallel):
    threshold = None
    for n, s, p in sorted(zip(sizes, serial, parallel), reverse=True):
        if p >= 0.9 * s:                       # "clearly faster": not what is asked
            break
        threshold = int(n)
    return threshold


def threshold_inverted(sizes, serial, parallel):
    return threshold_ref(sizes, parallel, serial)


def threshold_endless(sizes, serial, parallel):
    data = sorted(zip(sizes, serial, parallel))
    i = len(data) - 1
    threshold = None
    while i >= 0:
        if data[i][2] >= data[i][1]:
            break
        threshold = int(data[i][0])            # forgot i -= 1
    return threshold


THRESHOLD_RIGHT = [threshold_ref, threshold_numpy, threshold_ascending]
THRESHOLD_WRONG = [
    (threshold_first_win, ["FIRST size"]),
    (threshold_unsorted, ["shuffled"]),
    (threshold_sorts_sizes_only, ["changed its input", "sizes"]),
    (threshold_returns_list, ["expected an int"]),
    (threshold_tie_is_win, ["tie"]),
    (threshold_largest_win, ["LARGEST"]),
    (threshold_after_last_loss, ["None"]),
    (threshold_index, ["index"]),
    (threshold_float, ["expected an int"]),
    (threshold_two_in_a_row, ["every larger size"]),
    (threshold_with_margin, ["narrow"]),
    (threshold_inverted, ["expected"]),
]

CHECKERS = {"fused_multiply_add": (ch02.fused_multiply_add, FMA_RIGHT, FMA_WRONG),
            "add_row": (ch02.add_row, ADD_ROW_RIGHT, ADD_ROW_WRONG),
            "add_rows": (getattr(ch02, "add_rows", None), ADD_ROWS_RIGHT, ADD_ROWS_WRONG),
            "sum_axis": (ch02.sum_axis, SUM_RIGHT, SUM_WRONG),
            "choose_threshold": (ch02.choose_threshold, THRESHOLD_RIGHT, THRESHOLD_WRONG)}
RIGHT = [(name, fn) for name, (_, right, _) in CHECKERS.items() for fn in right]
WRONG = [(name, fn, words) for name, (_, _, wrong) in CHECKERS.items() for fn, words in wrong]


# ============================================================== tests
@pytest.mark.parametrize("name, fn", RIGHT, ids=[f"{n}-{f.__name__}" for n, f in RIGHT])
def test_right_answers_pass(name, fn):
    result = CHECKERS[name][0](fn, show=False)
    assert result.passed, result.message


@pytest.mark.parametrize("name, fn, words", WRONG, ids=[f"{n}-{f.__name__}" for n, f, _ in WRONG])
def test_wrong_answer_fails_naming_the_mistake(name, fn, words):
    result = CHECKERS[name][0](fn, show=False)
    assert result.status == "fail", f"{fn.__name__} slipped through: {result.message}"
    missing = [w for w in words if w not in result.message]
    assert not missing, f"{fn.__name__}: message lacks {missing}: {result.message}"


@pytest.mark.parametrize("name", CHECKERS)
def test_stub_is_todo(name):
    todo = CHECKERS[name][0](numba_stub if name == "add_rows" else stub, show=False)
    assert todo.status == "todo" and "not implemented yet" in todo.message


@pytest.mark.parametrize("name, fn", [("fused_multiply_add", fma_endless), ("add_row", add_row_endless),
                                      ("add_rows", add_rows_endless), ("choose_threshold", threshold_endless)])
def test_endless_loop_is_stopped(name, fn, monkeypatch):
    """An endless loop in Python code hits the case's time limit; a Numba kernel's loop
    is first run as Python code (its `py_func`), so it is stopped before it is compiled."""
    monkeypatch.setattr(ch02, "FIRST_RUN_LIMIT", 1.0)
    result = CHECKERS[name][0](fn, show=False)
    assert result.status == "fail" and "did not finish within" in result.message, result.message


def test_add_rows_hint_says_who_zeroes_out():
    result = ch02.add_rows(add_rows_not_zeroed, show=False)
    assert "add_rows must set it to zero" in result.message


def test_sum_axis_blames_add_rows_for_unzeroed_memory():
    result = ch02.sum_axis(sum_axis_unzeroed_add_rows, show=False)
    assert "add_rows" in result.message


def test_fma_says_what_it_does_not_check():
    result = ch02.fused_multiply_add(fma_ref, show=False)
    assert result.passed and any("not checked" in line and "one pass" in line for line in result.info)


def test_verdict_is_printed(capsys):
    ch02.choose_threshold(threshold_ref)
    assert "✅ choose_threshold: all" in capsys.readouterr().out
    ch02.add_row(stub)
    assert "⏳ add_row: not implemented yet" in capsys.readouterr().out


def test_checkers_never_crash_on_garbage():
    for checker, _, _ in CHECKERS.values():
        for bad in (lambda *a: None, lambda *a: 1 / 0, lambda *a: "text", 42):
            result = checker(bad, show=False)
            assert result.status == "fail", (checker.__name__, result)


def test_checks_are_fast():
    import time
    for name, fn in [("fused_multiply_add", fma_ref), ("add_row", add_row_ref), ("add_rows", add_rows_ref),
                     ("sum_axis", sum_axis_with_add_rows), ("choose_threshold", threshold_ref)]:
        start = time.perf_counter()
        CHECKERS[name][0](fn, show=False)
        assert time.perf_counter() - start < 5, name
