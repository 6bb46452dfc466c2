"""Movement ops: reshape, permute, broadcast_to, getitem (basic slicing), concatenate.

They move or copy values without arithmetic, so each backward moves the gradient
back: reshape it back, permute by the inverse permutation, sum a broadcast away,
scatter a slice into zeros, split a concatenation. Forward results are NumPy views
where NumPy gives views (cheap); ops never write into their inputs.
"""
from __future__ import annotations

import numpy as np

from ..shapes import broadcast_shapes, check_permutation, normalize_axes
from ._base import Op, pick, randn, register, sum_to_shape


# -------------------------------------------------------------------- reshape
def _reshape_shape(shape, new_shape):
    try:
        return np.broadcast_to(np.empty((), np.int8), tuple(shape)).reshape(new_shape).shape
    except ValueError:
        size = int(np.prod(shape, dtype=np.int64))
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(shape)} "
                         f"({size} elements) into shape {tuple(new_shape)}") from None


def _reshape_forward(a, new_shape):
    return a.reshape(new_shape)


def _reshape_backward(g, inputs, out, new_shape):
    return (g.reshape(inputs[0].shape),)


_RESHAPE_CASES = [((3, 4), (4, 3)), ((2, 3, 4), (6, -1)), ((6,), (2, 1, 3))]


def _sample_reshape(rng, dtype, case=None):
    shape, new_shape = pick(rng, case, _RESHAPE_CASES)
    return [randn(rng, shape, dtype)], {"new_shape": new_shape}


register(Op("reshape", "movement", _reshape_forward, _reshape_backward, _reshape_shape,
            _sample_reshape, len(_RESHAPE_CASES), doc="same values, new shape (one -1 allowed)",
            reference=lambda a, new_shape: np.reshape(a, new_shape), method="reshape"))


# -------------------------------------------------------------------- permute
def _permute_shape(shape, axes):
    try:
        axes = check_permutation(axes, len(shape), "permute")
    except ValueError as exc:
        raise ValueError(f"{exc} (a tensor of shape {tuple(shape)})") from None
    return tuple(shape[a] for a in axes)


def _permute_forward(a, axes):
    return np.transpose(a, axes)


def _permute_backward(g, inputs, out, axes):
    inverse = np.argsort(check_permutation(axes, g.ndim))
    return (np.transpose(g, inverse),)


_PERMUTE_CASES = [((3, 4), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 2, 1))]


def _sample_permute(rng, dtype, case=None):
    shape, axes = pick(rng, case, _PERMUTE_CASES)
    return [randn(rng, shape, dtype)], {"axes": axes}


register(Op("permute", "movement", _permute_forward, _permute_backward, _permute_shape,
            _sample_permute, len(_PERMUTE_CASES),
            doc="reorder axes: output axis i is input axis axes[i] (np.transpose)",
            reference=np.transpose, method="permute"))


# --------------------------------------------------------------- broadcast_to
def _broadcast_to_shape(shape, new_shape):
    out = broadcast_shapes(shape, new_shape, name="broadcast_to")
    if out != tuple(new_shape):
        raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(shape)} to {tuple(new_shape)}")
    return out


def _broadcast_to_forward(a, new_shape):
    return np.broadcast_to(a, new_shape)


def _broadcast_to_backward(g, inputs, out, new_shape):
    return (sum_to_shape(g, inputs[0].shape),)


_BROADCAST_CASES = [((4,), (3, 4)), ((3, 1), (3, 5)), ((1, 3, 1), (2, 3, 4)), ((), (2, 3))]


def _sample_broadcast_to(rng, dtype, case=None):
    shape, new_shape = pick(rng, case, _BROADCAST_CASES)
    return [randn(rng, shape, dtype)], {"new_shape": new_shape}


register(Op("broadcast_to", "movement", _broadcast_to_forward, _broadcast_to_backward,
            _broadcast_to_shape, _sample_broadcast_to, len(_BROADCAST_CASES),
            doc="copy along new or size-1 dimensions (a read-only view)",
            reference=lambda a, new_shape: np.broadcast_to(a, new_shape), method="broadcast_to"))


# -------------------------------------------------------------------- getitem
def basic_index(index) -> tuple:
    """`index` as a tuple, checked to be *basic* indexing: ints, slices, None, Ellipsis.

    Basic indexing picks each element at most once, so the backward can scatter the
    gradient with a plain assignment. Arrays and lists (advanced indexing) are refused.
    """
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))) \
                or isinstance(item, bool):
            raise TypeError(f"getitem supports basic indexing only (ints, slices, None, ...); "
                            f"got {type(item).__name__} {item!r}")
    return items


def _getitem_shape(shape, index):
    view = np.broadcast_to(np.empty((), np.int8), tuple(shape))   # no memory: all strides 0
    try:
        return view[basic_index(index)].shape
    except IndexError as exc:
        raise IndexError(f"getitem: index {index!r} does not fit shape {tuple(shape)}: {exc}") from None


def _getitem_forward(a, index):
    return a[basic_index(index)]


def _getitem_backward(g, inputs, out, index):
    a = inputs[0]
    grad = np.zeros(a.shape, dtype=g.dtype)
    grad[basic_index(index)] = g
    return (grad,)


_GETITEM_CASES = [((5, 4), (1,)), ((5, 4), (slice(1, None, 2), slice(None, 3))),
                  ((5, 4), (Ellipsis, -1)), ((3, 4), (None, slice(None, None, -1), 2)),
                  ((2, 3, 4), (0, Ellipsis, slice(1, 3))), ((3, 4), (1, 2))]


def _sample_getitem(rng, dtype, case=None):
    shape, index = pick(rng, case, _GETITEM_CASES)
    return [randn(rng, shape, dtype)], {"index": index}


register(Op("getitem", "movement", _getitem_forward, _getitem_backward, _getitem_shape,
            _sample_getitem, len(_GETITEM_CASES),
            doc="a[index], basic indexing: ints, slices with steps, None, ...",
            reference=lambda a, index: a[index], method="__getitem__"))


# ---------------------------------------------------------------- concatenate
def _concatenate_shape(*shapes, axis=0):
    if not shapes:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = len(shapes[0])
    if ndim == 0:
        raise ValueError("concatenate: cannot concatenate 0-d tensors")
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"concatenate: axis must be an int, got {axis!r}")
    (ax,) = normalize_axes(axis, ndim, "concatenate")
    for s in shapes:
        if len(s) != ndim or any(n != m for i, (n, m) in enumerate(zip(s, shapes[0])) if i != ax):
            listed = ", ".join(str(tuple(t)) for t in shapes)
            raise ValueError(f"concatenate: shapes {listed} must match except along axis {axis}")
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    return tuple(out)


def _concatenate_forward(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def _concatenate_backward(g, inputs, out, axis=0):
    ends = np.cumsum([a.shape[axis] for a in inputs])[:-1]
    return tuple(np.split(g, ends, axis=axis))


_CONCATENATE_CASES = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1),
                      ([(2, 3, 4), (2, 3, 4)], -1), ([(3,)], 0)]


def _sample_concatenate(rng, dtype, case=None):
    shapes, axis = pick(rng, case, _CONCATENATE_CASES)
    return [randn(rng, s, dtype) for s in shapes], {"axis": axis}


register(Op("concatenate", "movement", _concatenate_forward, _concatenate_backward,
            _concatenate_shape, _sample_concatenate, len(_CONCATENATE_CASES),
            doc="join any number of tensors along axis (all other dimensions equal)",
            reference=lambda *arrays, axis=0: np.concatenate(arrays, axis=axis), method="concatenate"))
