"""The kernels the ops call: chapter 02's elementwise/reduction kernels and chapter 03's
matmul. One import site, so an op file reads `K.add(a, b)`.

All take NumPy arrays of one float dtype (float32 or float64) and broadcast like NumPy;
Python scalars take the array's dtype.
"""
from fastgrad.kernels.elementwise import (  # noqa: F401
    add, sub, mul, div, neg, exp, log, tanh, sigmoid, relu, fma, sum, max, sum_to_shape,
)
from fastgrad.kernels.matmul import matmul  # noqa: F401
from fastgrad.kernels.fused import gelu, gelu_backward  # noqa: F401
