"""Numba kernels: the hot loops of fastgrad.

Import the module you need explicitly (importing this package compiles nothing):

    from fastgrad.kernels import elementwise   # chapter 02: add, mul, exp, fma, sum, max, ...
    from fastgrad.kernels import matmul        # chapter 03: matrix multiplication
    from fastgrad.kernels import conv          # chapter 06: conv2d direct, im2col, 3x3-specialised
    from fastgrad.kernels import pool          # chapter 06: max/avg pooling forward and backward
    from fastgrad.kernels import optim         # chapter 06: fused SGD/Adam steps on flat buffers
    from fastgrad.kernels import vexp          # chapter 08: a vectorisable exp (range reduction + polynomial)
    from fastgrad.kernels import cuda          # chapter 11: numba.cuda kernels (GPU, or NUMBA_ENABLE_CUDASIM=1)

Each kernel module keeps a plain NumPy-like API (arrays in, arrays out, `out=` to
write into a buffer you own) and hides the access-pattern dispatch: a contiguous
fast path that the compiler vectorises, a strided/broadcasting path, and a threaded
path for arrays large enough to pay for waking the threads.
"""
