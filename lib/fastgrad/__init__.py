"""fastgrad: a small, genuinely fast deep-learning library built in the course
*Fast ML from Scratch*, with NumPy and Numba.

Layers (a module imports only from layers below it):
    shapes           one rule per concept: broadcasting, reduction axes, permutations,
                     matmul shapes, the float dtypes
    measure, widgets timing, machine limits, plots; interactive explorers
    strided          the teaching model of an ndarray (chapter 01)
    kernels          Numba kernels: elementwise, reductions, matmul (chapters 02-03)
    ops              each differentiable op once: forward, backward, shape rule,
                     NumPy reference, sampler, Tensor method name
    autograd         Tensor with reverse-mode autodiff (chapter 04)
    gradcheck        central-difference checks of every op (chapter 05)
    functional       free functions over the chapter 06 ops: conv2d, pooling, cross_entropy, ...
    nn, optim        Module and layers; SGD/Adam/AdamW on one flat buffer (chapter 06)
    data, io         bundled digits, split, DataLoader; save/load weights as .npz without pickle
    profile          per-op forward/backward time, bytes and Python/autograd overhead (chapter 09)
    switches         on/off switches for chapter 09's speed-ups (the bottom layer: autograd and
                     the ops read them)
    buffers          a buffer pool keyed by shape and dtype (chapter 09; measured, rarely a win)
    ladder           chapter 09's training steps, one speed-up more per rung (MLP and CNN)
    widgets_training chapter 09's profile bars and switch explorer (over profile and ladder)
    rl               chapter 10: the pocket cube, its exact BFS distances, replay buffers and
                     a dueling double DQN trained on ladder's fast path
    check            exercise checkers, one module per chapter
    bench            benchmark programs: `python -m fastgrad.bench machine|kernels`

The public API, `import fastgrad as fg`:
    fg.Tensor, fg.tensor, fg.no_grad, fg.is_grad_enabled     (from fastgrad.autograd)
    fg.nn, fg.optim, fg.data, fg.functional                  (submodules)
    fg.lazy                                                  (submodule, callable: fg.lazy(x))
    fg.profile                                               (submodule: with fg.profile.profile() as p)
    fg.switches                                              (submodule, callable: with fg.switches(free_graph=True))
    fg.ladder                                                (submodule: chapter 09's training-step ladder)
    fg.rl                                                    (submodule: chapter 10's cube, BFS and DQN)
    fg.save, fg.load                                         (from fastgrad.io)

They are loaded lazily, on first use (a module `__getattr__`, PEP 562): `import
fastgrad` itself imports neither NumPy nor Numba; the cost of loading them is paid
when a program first touches `fg.Tensor`.
"""
__version__ = "0.1.0"

# public name -> the submodule that defines it (imported on first access)
_LAZY = {
    "Tensor": "autograd",
    "tensor": "autograd",
    "no_grad": "autograd",
    "is_grad_enabled": "autograd",
    "save": "io",
    "load": "io",
}

# public submodules, imported on first access like the names above
_SUBMODULES = ("nn", "optim", "data", "functional", "lazy", "profile", "switches", "ladder", "rl")
# fg.lazy and fg.switches are callable: fg.lazy(x), with fg.switches(needed_grads=False): ...

# names of the public API that later chapters build; until then an AttributeError says so
_LATER: dict[str, str] = {}

__all__ = list(_LAZY) + list(_SUBMODULES)


def __getattr__(name: str):
    """Import the submodule behind a public name on first access, then cache it."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value          # later accesses skip this function
        return value
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)   # the import also sets the attribute
    if name in _LATER:
        raise AttributeError(f"module 'fastgrad' has no attribute {name!r} yet: "
                             f"{_LATER[name]}, which is not built yet")
    raise AttributeError(f"module 'fastgrad' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
