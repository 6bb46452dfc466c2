"""Shape and dtype rules shared by every layer: one rule per concept.

    FLOAT_DTYPES       the dtypes fastgrad computes in: float32 and float64
    as_shape           a shape argument as a tuple of non-negative ints
    broadcast_shapes   NumPy's broadcasting rule (chapter 01), errors name every shape
    normalize_axes     a reduction's `axis` argument as sorted non-negative ints
    check_permutation  a transpose's `axes` checked to be a permutation of the axes
    matmul_shape       the shape of `a @ b` (NumPy's rules, 1-D operands included)

Pure Python on tuples, no NumPy arrays and no Numba: the bottom of the library, so
`strided`, `kernels` and `ops` all import the same rule from here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

Shape = tuple[int, ...]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _prefix(name: str | None) -> str:
    return f"{name}: " if name else ""


def as_shape(shape, what: str = "shape") -> Shape:
    """`shape` as a tuple of non-negative Python ints (an int n means (n,), as in
    `np.empty(n)`), or a TypeError / ValueError naming it."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(n) for n in shape)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of ints, got {shape!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"{what} {out} has a negative size")
    return out


def _listed(items) -> str:
    """'a and b' for two items, 'a, b and c' for more."""
    items = [str(x) for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def broadcast_shapes(*shapes: Sequence[int], name: str | None = None) -> Shape:
    """The shape NumPy's broadcasting gives for operands of `shapes`.

    Shapes are aligned on the RIGHT (trailing axes); missing leading axes count as
    size 1; along each axis the sizes must be equal or one of them 1.
    (3, 1) and (4,) -> (3, 4); (2, 3) and (4,) -> ValueError naming every shape and
    the axis that clashes (prefixed by the op's name, when `name` is given):

        shapes (2, 3) and (4,) cannot be broadcast: axis -1 has sizes 3 and 4
        (they must be equal, or one of them 1)
    """
    try:                                         # shapes seen before: one dictionary lookup
        return _BROADCAST_SEEN[shapes]           # (a per-op cost of every binary op)
    except (KeyError, TypeError):                # new, or unhashable (a list): the rule below
        pass
    key = shapes
    shapes = tuple(as_shape(s) for s in shapes)
    if not shapes:
        return ()
    first = shapes[0]
    if all(s == first for s in shapes):         # the common case, no work
        return _remember(key, first)
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        sizes = []                               # the sizes other than 1, in the shapes' order
        for s in shapes:
            if len(s) >= -axis and s[axis] != 1 and s[axis] not in sizes:
                sizes.append(s[axis])
        if len(sizes) > 1:
            raise ValueError(f"{_prefix(name)}shapes {_listed(shapes)} cannot be broadcast: axis {axis} "
                             f"has sizes {_listed(sizes)} (they must be equal, or one of them 1)")
        result.append(sizes[0] if sizes else 1)
    return _remember(key, tuple(result))


_BROADCAST_SEEN: dict = {}                       # (shapes) -> broadcast shape, valid results only


def _remember(key, shape: Shape) -> Shape:
    if len(_BROADCAST_SEEN) < 4096 and all(type(k) is tuple for k in key):   # bounded
        _BROADCAST_SEEN[key] = shape
    return shape


def normalize_axes(axis, ndim: int, name: str | None = None) -> Shape:
    """A reduction's `axis` (None, an int or a tuple of ints, negatives allowed) as sorted
    distinct non-negative ints. None means every axis. A 0-d array accepts axis 0 / -1
    (as NumPy does for keepdims arithmetic) and reduces nothing."""
    if axis is None:
        return tuple(range(ndim))
    raw = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in raw:
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            raise TypeError(f"{_prefix(name)}axis must be an int, a tuple of ints or None, got {axis!r}")
        if ndim == 0 and a in (0, -1):
            continue
        if not -ndim <= a < ndim:
            raise ValueError(f"{_prefix(name)}axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{_prefix(name)}repeated axis in {axis!r}")
    return tuple(sorted(out))


def check_permutation(axes: Sequence[int], ndim: int, name: str | None = None) -> Shape:
    """`axes` (negative axes allowed) as non-negative ints, checked to be a permutation of
    range(ndim): each axis listed exactly once, as a transpose needs. ValueError otherwise."""
    axes = tuple(int(a) for a in axes)
    if len(axes) != ndim:
        raise ValueError(f"{_prefix(name)}axes {axes} must list each of the {ndim} axes exactly once")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{_prefix(name)}axis {a} is out of range for an array with {ndim} axes")
        out.append(a % ndim)
    if sorted(out) != list(range(ndim)):
        raise ValueError(f"{_prefix(name)}axes {axes} is not a permutation of {tuple(range(ndim))}")
    return tuple(out)


def matmul_shape(a_shape: Sequence[int], b_shape: Sequence[int], name: str = "matmul") -> Shape:
    """The shape of `a @ b` (NumPy's and PyTorch's rules), or a ValueError naming both shapes.

    The last two axes are the matrices, leading axes broadcast. A 1-D operand is a
    vector: a (k,) becomes (1, k), b (k,) becomes (k, 1), and the added axis is
    dropped from the result, so (k,) @ (k,) is a 0-d scalar.
    """
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError(f"{name}: operands need at least 1 dimension, got shapes {a_shape} and {b_shape}")
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    if a2[-1] != b2[-2]:
        raise ValueError(f"{name}: inner dimensions differ: {a_shape} @ {b_shape} "
                         f"({a2[-1]} != {b2[-2]})")
    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ValueError(f"{name}: batch dimensions of {a_shape} and {b_shape} cannot be "
                         "broadcast together") from None
    shape = batch + (a2[-2], b2[-1])
    if len(a_shape) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b_shape) == 1:
        shape = shape[:-1]
    return shape


__all__ = ["FLOAT_DTYPES", "Shape", "as_shape", "broadcast_shapes", "normalize_axes", "check_permutation",
           "matmul_shape"]
