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
    check            exercise checkers, one module per chapter
    bench            benchmark programs: `python -m fastgrad.bench machine|kernels`
"""
__version__ = "0.1.0"
