"""Switches for chapter 09's speed-ups, so each one can be turned off and measured.

    >>> import fastgrad as fg
    >>> with fg.switches(needed_grads=False):     # backward computes every input's gradient
    ...     loss.backward()

`SWITCHES` holds the current values; `switches(**changes)` sets some of them for a block
(and restores them after it, also on an error); `fastgrad.ladder` turns them on one at a
time. The module is callable (`fg.switches(...)` is `fastgrad.switches.switches(...)`), as
`fg.lazy` is. Every speed-up computes the same numbers as the plain path (the tests check it):

    lean_dispatch  `apply` skips converting inputs that are already Tensors of one dtype,
                   and add/sub/mul/div on small arrays (< 4096 elements) call NumPy's
                   ufunc instead of a Numba dispatch (the same IEEE results). Default on.
    needed_grads   backward rules that accept `needs=` (`Op.partial_backward`) skip the
                   gradients of inputs that do not require grad (the data gradient of a
                   first layer, `x @ W` with x the data). Default on.
    inplace_grads  a gradient that reaches a tensor a second time is added into an array
                   backward owns, instead of allocating the sum; a leaf's `.grad` takes a
                   fresh gradient without copying it. Default on.
    free_graph     backward drops each node's links to its inputs once its rule has run,
                   so intermediates nobody else holds are freed during backward instead of
                   when the next step's forward replaces the graph (PyTorch's default,
                   `retain_graph=False`). Off by default: chapter 04 calls backward twice on
                   one graph. A second backward through a freed graph is a RuntimeError.
    buffer_pool    matmul results (forward and backward) come from `buffers.ACTIVE`, the
                   pool of the enclosing `buffers.pool_step()`, instead of `np.empty`.
                   Off by default: measured no faster for small models (chapter 09).
"""
from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass, fields
from typing import Iterator


@dataclass
class Switches:
    """The current value of every switch (see the module docstring)."""

    lean_dispatch: bool = True
    needed_grads: bool = True
    inplace_grads: bool = True
    free_graph: bool = False
    buffer_pool: bool = False


SWITCHES = Switches()
NAMES = tuple(f.name for f in fields(Switches))


@contextlib.contextmanager
def switches(**changes: bool) -> Iterator[Switches]:
    """Set some switches for the block: `with switches(needed_grads=False): ...`.

    An unknown name is a TypeError listing the switches; values must be bools."""
    for name, value in changes.items():
        if name not in NAMES:
            raise TypeError(f"switches(): no switch named {name!r}; the switches are {', '.join(NAMES)}")
        if not isinstance(value, bool):
            raise TypeError(f"switches(): {name} must be True or False, got {value!r}")
    before = {name: getattr(SWITCHES, name) for name in changes}
    for name, value in changes.items():
        setattr(SWITCHES, name, value)
    try:
        yield SWITCHES
    finally:
        for name, value in before.items():
            setattr(SWITCHES, name, value)


class _CallableModule(types.ModuleType):
    """`fg.switches(**changes)` calls `switches`; the module's names stay reachable."""

    def __call__(self, **changes: bool):
        return switches(**changes)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["SWITCHES", "Switches", "switches", "NAMES"]
