"""`fastgrad.lazy`: lazy graphs, fusion and code generation to Numba (chapter 08).

    >>> import numpy as np, fastgrad as fg
    >>> a, b, c = (fg.lazy(np.ones(4)) for _ in range(3))
    >>> out = a * b + c                     # recorded, not computed
    >>> fg.lazy.kernel_count(out)            # mul and add fused into one kernel
    1
    >>> out.numpy()
    array([2., 2., 2., 2.])

Design of the entry point: `fg.lazy` is this module, and the module is callable:
`fg.lazy(x)` is `fastgrad.lazy.lazy(x)` (its class is a `ModuleType` subclass with a
`__call__`). So `fg.lazy(x)`, `fg.lazy.draw(out)`, `import fastgrad.lazy` and
`from fastgrad.lazy import LazyTensor` all work and name the same object, however the
module was first imported.

Modules: `graph` (LazyTensor, topological order, folding, CSE, dead nodes), `fusion`
(grouping into kernels), `codegen` (source, compile, cache, `STATS`), `schedule`
(schedule, realize, explain), `draw` (matplotlib picture of the graph).
"""
import sys
import types

from .graph import LazyTensor, apply, concatenate, lazy, optimize, topological_order, where
from .schedule import eager_bytes, explain, kernel_count, realize, schedule
from .codegen import STATS, clear_cache, reset_stats
from .draw import draw

__all__ = ["LazyTensor", "lazy", "apply", "where", "concatenate", "topological_order", "optimize",
           "schedule", "kernel_count", "realize", "explain", "eager_bytes", "draw",
           "STATS", "clear_cache", "reset_stats"]


class _CallableModule(types.ModuleType):
    """The module `fastgrad.lazy`, callable: `fg.lazy(x)` makes a lazy leaf."""

    def __call__(self, x, dtype=None) -> LazyTensor:
        return lazy(x, dtype=dtype)


sys.modules[__name__].__class__ = _CallableModule
