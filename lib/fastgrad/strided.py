"""The teaching model of an ndarray: a flat buffer plus shape, strides and offset.

Every NumPy array is a 1-D block of memory and three small tuples of numbers:

    shape    how many elements along each axis, e.g. (2, 3)
    strides  how far to jump in the buffer to move one step along each axis
    offset   where element (0, 0, ...) lives in the buffer

and element ``index`` lives at ``offset + sum(index[k] * strides[k])``. Here strides
count ELEMENTS; NumPy's ``a.strides`` count BYTES, so ``a.strides[k] // a.itemsize``
is our ``strides[k]``. Transposes, slices (even with negative steps), broadcasts and
most reshapes only change the tuples: they are O(ndim) "views" that copy no data,
which is why they are fast and why writing through a view changes the original.

The pure functions (`contiguous_strides`, `offset_of`, `broadcast_shapes`,
`permute_strides`, `slice_view`, `reshape_strides`, `broadcast_strides`) do the
arithmetic on tuples; `StridedArray` puts them together over a NumPy buffer.
`broadcast_shapes` and `check_permutation` are the library's one rule for each
(`fastgrad.shapes`, which the kernels and ops use too), re-exported here because
chapter 01 teaches them with the strided model.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .shapes import Shape, broadcast_shapes, check_permutation
from .shapes import as_shape as _as_shape

__all__ = [
    "StridedArray", "broadcast_shapes", "broadcast_strides", "check_permutation", "contiguous_strides",
    "is_contiguous", "offset_of", "permute_strides", "reshape_strides", "slice_view",
]


# ---------------------------------------------------------------------------------------
# Arithmetic on shapes and strides (all in elements)
# ---------------------------------------------------------------------------------------

def contiguous_strides(shape: Sequence[int]) -> Shape:
    """Row-major (C order) strides, in elements, for a fresh array of `shape`.

    The last axis has stride 1 and each axis's stride is the product of the sizes of
    the axes after it: (2, 3, 4) -> (12, 4, 1); () -> (). With a zero-size axis the
    array holds no elements, so any strides would do; we keep the plain product rule.
    """
    shape = _as_shape(shape)
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def offset_of(index: Sequence[int], strides: Sequence[int], offset: int = 0) -> int:
    """Position in the flat buffer of the element at `index`: offset + sum(i_k * s_k).

    Only arithmetic: bounds are checked by `StridedArray`, which knows the shape.
    """
    index, strides = tuple(index), tuple(strides)
    if len(index) != len(strides):
        raise ValueError(f"index {index} has {len(index)} entries but the array has {len(strides)} axes")
    return int(offset) + sum(int(i) * int(s) for i, s in zip(index, strides))


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """True when the elements sit back to back in row-major order (NumPy's C_CONTIGUOUS).

    Axes of size 1 can have any stride (you never step along them) and an array
    with no elements is always contiguous, as in NumPy.
    """
    shape, strides = tuple(shape), tuple(strides)
    if 0 in shape:
        return True
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def broadcast_strides(shape: Sequence[int], strides: Sequence[int], new_shape: Sequence[int]) -> Shape:
    """Strides that show an array of `shape` as `new_shape` without copying.

    New leading axes and axes stretched from size 1 get stride 0: every step along
    them lands on the same element. Raises ValueError if `shape` cannot broadcast
    to `new_shape`.
    """
    shape, strides, new_shape = _as_shape(shape), tuple(strides), _as_shape(new_shape, "new shape")
    if len(new_shape) < len(shape):
        raise ValueError(f"cannot broadcast shape {shape} to {new_shape}: the target has fewer axes")
    lead = len(new_shape) - len(shape)
    out = [0] * lead
    for axis, (n, s, target) in enumerate(zip(shape, strides, new_shape[lead:])):
        if n == target:
            out.append(s)
        elif n == 1:
            out.append(0)
        else:
            raise ValueError(f"cannot broadcast shape {shape} to {new_shape}: axis {axis} has size {n}, "
                             f"target {target} (a size must match or be 1)")
    return tuple(out)


def permute_strides(shape: Sequence[int], strides: Sequence[int], axes: Sequence[int]) -> tuple[Shape, Shape]:
    """Shape and strides after reordering the axes: axis k of the result is axis axes[k].

    No data moves: a transpose just shuffles the two tuples. (2, 3) strides (3, 1)
    transposed is (3, 2) strides (1, 3), which is no longer contiguous.
    """
    shape, strides = tuple(shape), tuple(strides)
    axes = check_permutation(axes, len(shape))
    return tuple(shape[a] for a in axes), tuple(strides[a] for a in axes)


def slice_view(shape: Sequence[int], strides: Sequence[int], offset: int, key) -> tuple[Shape, Shape, int]:
    """Shape, strides and offset of ``a[key]``, NumPy's basic indexing, without copying.

    `key` is an int, a slice, ``...`` or a tuple of them (missing trailing axes are
    taken whole). A slice ``start:stop:step`` keeps the axis with stride * step and
    moves the offset to `start`; a negative step walks backwards with a negative
    stride. An int picks one position and drops the axis. Like NumPy, an empty slice
    starts at 0 with step 1 (no element is ever read through it).
    """
    shape, strides = tuple(shape), tuple(strides)
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        fill = len(shape) - (len(key) - 1)
        key = key[:at] + (slice(None),) * max(fill, 0) + key[at + 1:]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: {len(key)} given for an array with {len(shape)} axes")
    key = key + (slice(None),) * (len(shape) - len(key))
    new_shape, new_strides, offset = [], [], int(offset)
    for axis, (k, n, s) in enumerate(zip(key, shape, strides)):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            length = len(range(start, stop, step))
            if length == 0:
                start, step = 0, 1
            offset += start * s
            new_shape.append(length)
            new_strides.append(s * step)
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for axis {axis} with size {n}")
            offset += (i % n) * s
        else:
            raise TypeError(f"only ints, slices and '...' are valid indices, got {k!r}")
    return tuple(new_shape), tuple(new_strides), offset


def reshape_strides(shape: Sequence[int], strides: Sequence[int], new_shape: Sequence[int]) -> Shape | None:
    """Strides that show the same elements (in row-major order) as `new_shape`, or None.

    This is NumPy's rule (``_attempt_nocopy_reshape``): ignore axes of size 1, then
    match groups of old axes to groups of new axes with equal products; each group
    of old axes must be contiguous among itself (stride[k] == size[k+1] * stride[k+1])
    so it can be re-split freely. A transposed matrix cannot be flattened without a
    copy; a sliced one like ``a[:, ::2]`` can still be split along its rows.
    None means "needs a copy". Sizes must already agree.
    """
    shape, strides, new_shape = tuple(shape), tuple(strides), tuple(new_shape)
    if math.prod(shape) != math.prod(new_shape):
        raise ValueError(f"cannot reshape size {math.prod(shape)} {shape} into {new_shape}")
    if math.prod(shape) == 0 or is_contiguous(shape, strides):
        return contiguous_strides(new_shape)
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    out = [0] * len(new_shape)
    oi = ni = 0
    while ni < len(new_shape) and oi < len(old):
        nj, oj = ni + 1, oi + 1
        np_, op = new_shape[ni], old[oi][0]
        while np_ != op:                       # grow the smaller group until products match
            if np_ < op:
                np_ *= new_shape[nj]
                nj += 1
            else:
                op *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):            # old group must be internally contiguous
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                return None
        out[nj - 1] = old[oj - 1][1]           # re-split: innermost keeps the old inner stride
        for k in range(nj - 1, ni, -1):
            out[k - 1] = out[k] * new_shape[k]
        ni, oi = nj, oj
    last = out[ni - 1] if ni > 0 else 1
    for k in range(ni, len(new_shape)):        # trailing size-1 axes
        out[k] = last
    return tuple(out)


def _resolve_shape(new_shape, size: int) -> Shape:
    if isinstance(new_shape, (int, np.integer)):
        new_shape = (new_shape,)
    new_shape = tuple(int(n) for n in new_shape)
    if new_shape.count(-1) > 1:
        raise ValueError(f"can only use -1 for one axis in {new_shape}")
    if any(n < -1 for n in new_shape):
        raise ValueError(f"negative size in new shape {new_shape}")
    if -1 in new_shape:
        known = math.prod(n for n in new_shape if n != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of size {size} into {new_shape}")
        new_shape = tuple(size // known if n == -1 else n for n in new_shape)
    if math.prod(new_shape) != size:
        raise ValueError(f"cannot reshape an array of size {size} into shape {new_shape}")
    return new_shape


# ---------------------------------------------------------------------------------------
# The array
# ---------------------------------------------------------------------------------------

class StridedArray:
    """An n-dimensional view of a flat 1-D NumPy `buffer`: shape, strides (elements), offset.

    Views (`transpose`, `permute`, slicing with ``a[...]``, `broadcast_to`, `reshape`
    when possible) share the buffer and copy nothing. `copied` says whether THIS array
    was produced by copying data (True only for a reshape that could not be a view).

    >>> a = StridedArray.arange((2, 3))
    >>> a.T.strides
    (1, 3)
    >>> a[:, ::-1].to_numpy()
    array([[2, 1, 0],
           [5, 4, 3]])
    """

    def __init__(self, buffer: np.ndarray, shape: Sequence[int], strides: Sequence[int] | None = None,
                 offset: int = 0, *, copied: bool = False):
        if not isinstance(buffer, np.ndarray) or buffer.ndim != 1:
            raise ValueError(f"buffer must be a 1-D NumPy array, got "
                             f"{getattr(buffer, 'shape', type(buffer).__name__)}")
        shape = _as_shape(shape)
        strides = contiguous_strides(shape) if strides is None else tuple(int(s) for s in strides)
        if len(strides) != len(shape):
            raise ValueError(f"strides {strides} has {len(strides)} entries but shape {shape} has {len(shape)} axes")
        offset = int(offset)
        if math.prod(shape) > 0:
            lowest = offset + sum(s * (n - 1) for n, s in zip(shape, strides) if s < 0)
            highest = offset + sum(s * (n - 1) for n, s in zip(shape, strides) if s > 0)
            if lowest < 0 or highest >= buffer.shape[0]:
                raise ValueError(f"shape {shape}, strides {strides} and offset {offset} reach buffer positions "
                                 f"{lowest}..{highest}, outside a buffer of {buffer.shape[0]} elements")
        self.buffer, self.shape, self.strides, self.offset = buffer, shape, strides, offset
        self.copied = copied

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_numpy(cls, array) -> "StridedArray":
        """A StridedArray holding a row-major COPY of `array` (its own fresh buffer)."""
        array = np.asarray(array)
        return cls(np.ascontiguousarray(array).reshape(-1).copy(), array.shape)

    @classmethod
    def arange(cls, shape: Sequence[int], dtype=np.int64) -> "StridedArray":
        """Elements 0, 1, 2, ... in row-major order: each element's value is its buffer position."""
        shape = _as_shape(shape)
        return cls(np.arange(math.prod(shape), dtype=dtype), shape)

    # -- basic properties -----------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements (the product of the shape; 1 for a 0-d array)."""
        return math.prod(self.shape)

    @property
    def dtype(self) -> np.dtype:
        """The buffer's dtype: a run-time value, as in NumPy."""
        return self.buffer.dtype

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.buffer.itemsize

    @property
    def byte_strides(self) -> Shape:
        """Strides in bytes, as NumPy reports them in ``ndarray.strides``."""
        return tuple(s * self.itemsize for s in self.strides)

    @property
    def is_contiguous(self) -> bool:
        """True when the elements sit back to back in row-major order from `offset`."""
        return is_contiguous(self.shape, self.strides)

    def shares_buffer(self, other: "StridedArray") -> bool:
        """True when both arrays are views of the same buffer (writes to one show in the other)."""
        return self.buffer is other.buffer

    def __repr__(self) -> str:
        return (f"StridedArray(shape={self.shape}, strides={self.strides}, offset={self.offset}, "
                f"dtype={self.dtype}{', copied' if self.copied else ''})")

    # -- elements -------------------------------------------------------------------------
    def _position(self, index: Sequence[int]) -> int:
        index = (index,) if isinstance(index, (int, np.integer)) else tuple(index)
        if len(index) != self.ndim:
            raise IndexError(f"index {index} has {len(index)} entries; this array has {self.ndim} axes "
                             f"(shape {self.shape})")
        normal = []
        for axis, (i, n) in enumerate(zip(index, self.shape)):
            i = int(i)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for axis {axis} with size {n}")
            normal.append(i % n)
        return offset_of(normal, self.strides, self.offset)

    def get(self, index: Sequence[int]):
        """The element at `index` (one int per axis; negative ints count from the end)."""
        return self.buffer[self._position(index)]

    def set(self, index: Sequence[int], value) -> None:
        """Write `value` at `index`. Every view of the same buffer sees the change."""
        self.buffer[self._position(index)] = value

    def element_offsets(self) -> np.ndarray:
        """An int array of `shape` holding each element's position in the buffer.

        Built by broadcasting one ``arange(n) * stride`` per axis and adding them up:
        this is the formula offset + sum(i_k * s_k) for every index at once.
        """
        positions = np.full(self.shape, self.offset, dtype=np.int64)
        for axis, (n, s) in enumerate(zip(self.shape, self.strides)):
            along = np.arange(n, dtype=np.int64) * s
            positions = positions + along.reshape((n,) + (1,) * (self.ndim - axis - 1))
        return positions

    def to_numpy(self) -> np.ndarray:
        """Materialise: a new, contiguous NumPy array with the elements this view shows."""
        return np.asarray(self.buffer[self.element_offsets()])   # asarray: a 0-d result stays an array

    def numpy_view(self) -> np.ndarray:
        """A NumPy array that shares this buffer with the same layout (byte strides), no copy."""
        return np.lib.stride_tricks.as_strided(self.buffer[self.offset:] if self.size else self.buffer[:0],
                                               self.shape, self.byte_strides, writeable=True)

    # -- views ----------------------------------------------------------------------------
    def _view(self, shape, strides, offset) -> "StridedArray":
        return StridedArray(self.buffer, shape, strides, offset)

    def permute(self, *axes) -> "StridedArray":
        """View with the axes reordered: axis k of the result is axis axes[k] of this one."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        shape, strides = permute_strides(self.shape, self.strides, axes)
        return self._view(shape, strides, self.offset)

    def transpose(self, *axes) -> "StridedArray":
        """`permute`; with no axes, reverse them (a matrix transpose for 2-D)."""
        return self.permute(*axes) if axes else self.permute(tuple(reversed(range(self.ndim))))

    @property
    def T(self) -> "StridedArray":
        """The transpose (all axes reversed), a view."""
        return self.transpose()

    def __getitem__(self, key):
        """Basic indexing. A full tuple of ints gives one element; otherwise a view."""
        as_tuple = key if isinstance(key, tuple) else (key,)
        if len(as_tuple) == self.ndim and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                                              for k in as_tuple):
            return self.get(as_tuple)
        return self._view(*slice_view(self.shape, self.strides, self.offset, key))

    def __setitem__(self, index, value) -> None:
        """``a[i, j] = value``: write one element (a full tuple of ints)."""
        self.set(index, value)

    def broadcast_to(self, shape: Sequence[int]) -> "StridedArray":
        """View stretched to `shape` with stride 0 along new and size-1 axes (no copy).

        Many positions of the result read the same buffer element, so do not write to it.
        """
        shape = _as_shape(shape)
        return self._view(shape, broadcast_strides(self.shape, self.strides, shape), self.offset)

    expand = broadcast_to

    def reshape(self, *shape) -> "StridedArray":
        """Same elements (row-major order) in a new shape: a view when the strides allow
        it (`reshape_strides`), otherwise a contiguous copy with ``copied=True``.
        One axis may be -1 (inferred).
        """
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        shape = _resolve_shape(shape, self.size)
        strides = reshape_strides(self.shape, self.strides, shape)
        if strides is not None:
            return self._view(shape, strides, self.offset)
        return StridedArray(self.to_numpy().reshape(-1), shape, copied=True)

    def contiguous(self) -> "StridedArray":
        """This array if already contiguous, else a contiguous copy (``copied=True``)."""
        if self.is_contiguous:
            return self
        return StridedArray(self.to_numpy().reshape(-1), self.shape, copied=True)
