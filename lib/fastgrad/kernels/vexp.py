"""A vectorisable exp for Numba loops: `fast_exp(x)`, float32 and float64 (chapter 08).

    from fastgrad.kernels.vexp import fast_exp     # then call fast_exp(x) inside njit code
    exp_array(x, out)                               # example kernel: out[i] = fast_exp(x[i])
    vectorised(dispatcher) -> bool                  # does its LLVM IR hold float vectors?

Why. The pip llvmlite has no SVML, so `np.exp` in an njit loop is a call to the scalar
libm `exp` per element, and a loop holding a call does not vectorise: a fused softmax
kernel is then slower than NumPy, whose exp is vectorised. `fast_exp` is written as
plain arithmetic, branch-free (selects only) and small enough for LLVM to inline, so a
loop that calls it vectorises like `a + b` does -- without `fastmath`.

How (Cody-Waite range reduction + polynomial, as Cephes `expf`):
  n = round(x * log2(e))                  an integer, |r| <= ln2/2 below
  r = x - n*ln2_hi - n*ln2_lo             ln2_hi has trailing zero bits: n*ln2_hi is exact
  exp(r) = 1 + r + r^2 * P(r)             float32: Cephes' degree-5 P (degree 7 in all),
                                          float64: Taylor to r^13
  exp(x) = exp(r) * 2^(n1) * 2^(n - n1)   n1 = n >> 1; each factor 2^k is built from bits
                                          (k + bias shifted into the exponent field): two
                                          factors so that n = 128 (float32) / 1024 (float64)
                                          just below overflow need no special case.
The rounding of n uses the "magic number" trick (t = y + 1.5*2^23 rounds y to an integer
held in t's low mantissa bits), so no float->int conversion is needed.

Range and accuracy (measured, see tools/check_vexp.log and tests/test_vexp.py):
  float32: exhaustive sweep of every float32 in [LO32, HI32] = [-87.33654, 88.72283],
           against float64 exp rounded to float32: at most 1 ulp.
  float64: random samples over [LO64, HI64] = [-708.396..., 709.782...] against
           long-double exp rounded to float64: at most 1 ulp.
  x > HI -> inf, +inf -> inf, NaN -> NaN, -inf -> 0.
  x < LO -> 0.0: there exp(x) < the smallest normal float and NumPy returns a subnormal;
           flushing it to 0 costs an absolute error below FLT_MIN = 1.18e-38 (float32)
           or DBL_MIN = 2.23e-308 (float64), i.e. no relative accuracy in that range.

fastmath: `fast_exp` is compiled on its own with fastmath off (its body must not be
reassociated: that would undo the Cody-Waite split and the magic-number rounding);
LLVM inlines it into the caller keeping those flags, so a caller compiled with
`fastmath=True` still gets the same, accurate results.
"""
from __future__ import annotations

import math
import re

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = ["fast_exp", "exp_array", "vectorised", "LO32", "HI32", "LO64", "HI64", "MAX_ULP32", "MAX_ULP64"]

#: Accepted range: the largest x whose exp is finite and the smallest whose exp is a
#: normal float (found by bisection against float64 / long-double exp).
HI32, LO32 = np.float32(88.72283), np.float32(-87.33654)
HI64, LO64 = np.float64(709.782712893384), np.float64(-708.3964185322641)

#: Max error over the accepted range, in ulps (measured; the tests assert it).
MAX_ULP32, MAX_ULP64 = 1, 1


@intrinsic
def _float_from_bits(typingctx, bits):
    """Reinterpret an int32 as float32, an int64 as float64 (C's memcpy / a union)."""
    if bits == types.int32:
        result = types.float32
    elif bits == types.int64:
        result = types.float64
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))
    return result(bits), codegen


@intrinsic
def _bits_of_float(typingctx, x):
    """Reinterpret a float32 as int32, a float64 as int64."""
    if x == types.float32:
        result = types.int32
    elif x == types.float64:
        result = types.int64
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(signature.return_type.bitwidth))
    return result(x), codegen


def fast_exp(x):
    """exp(x) for a float32 or float64 scalar, vectorisable inside Numba loops.

    In njit code the float32 version computes in float32 only (no promotion) and the
    float64 version in float64. Accuracy: <= MAX_ULP32 (float32) / MAX_ULP64 (float64)
    ulps on [LO, HI]; x > HI -> inf, x < LO -> 0.0 (NumPy gives a subnormal there; the
    absolute error is below the smallest normal float), NaN -> NaN, -inf -> 0.
    Called from plain Python it is `np.exp(x)`.
    """
    return np.exp(x)


# float32 constants: np.float32 globals are frozen as float32 constants (no promotion).
_LOG2E32, _MAGIC32 = np.float32(1.44269504088896341), np.float32(12582912.0)   # 1.5 * 2^23
_MAGIC32_BITS = np.int32(np.float32(12582912.0).view(np.int32))
_LN2_HI32, _LN2_LO32 = np.float32(0.693359375), np.float32(-2.12194440e-4)      # Cephes C1, C2
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)
_ONE32, _ZERO32, _INF32 = np.float32(1.0), np.float32(0.0), np.float32(np.inf)
_BIAS32, _BIAS64 = np.int32(127), np.int64(1023)


def _exp32(x):
    xc = x if x > LO32 else LO32                 # NaN -> LO32: the arithmetic stays finite
    xc = xc if xc < HI32 else HI32
    t = xc * _LOG2E32 + _MAGIC32                 # round(x * log2 e) lands in t's low bits
    nf = t - _MAGIC32
    n = np.int32(_bits_of_float(t) - _MAGIC32_BITS)
    r = xc - nf * _LN2_HI32
    r = r - nf * _LN2_LO32
    p = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * (r * r)
    p = p + r + _ONE32
    n1 = np.int32(n >> 1)
    s1 = _float_from_bits(np.int32((n1 + _BIAS32) << 23))
    s2 = _float_from_bits(np.int32((n - n1 + _BIAS32) << 23))
    y = p * s1 * s2
    y = _INF32 if x > HI32 else y
    y = _ZERO32 if x < LO32 else y
    return x if x != x else y


_LOG2E64, _MAGIC64 = 1.4426950408889634, 6755399441055744.0                   # 1.5 * 2^52
_MAGIC64_BITS = np.int64(np.float64(6755399441055744.0).view(np.int64))
_LN2_HI64, _LN2_LO64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm
# 1/k! for the Taylor series of exp(r) - 1 - r, r^2 ... r^13
_Q2, _Q3, _Q4, _Q5, _Q6, _Q7, _Q8, _Q9, _Q10, _Q11, _Q12, _Q13 = (
    1.0 / math.factorial(k) for k in range(2, 14))


def _exp64(x):
    xc = x if x > LO64 else LO64
    xc = xc if xc < HI64 else HI64
    t = xc * _LOG2E64 + _MAGIC64
    nf = t - _MAGIC64
    n = _bits_of_float(t) - _MAGIC64_BITS
    r = xc - nf * _LN2_HI64
    r = r - nf * _LN2_LO64
    p = ((((((((((_Q13 * r + _Q12) * r + _Q11) * r + _Q10) * r + _Q9) * r + _Q8) * r + _Q7) * r
                + _Q6) * r + _Q5) * r + _Q4) * r + _Q3) * r + _Q2
    p = p * (r * r) + r + 1.0
    n1 = n >> 1
    s1 = _float_from_bits((n1 + _BIAS64) << 52)
    s2 = _float_from_bits((n - n1 + _BIAS64) << 52)
    y = p * s1 * s2
    y = np.inf if x > HI64 else y
    y = 0.0 if x < LO64 else y
    return x if x != x else y


# Compiled on their own, with fastmath off whatever the caller uses; LLVM inlines them.
@overload(fast_exp, jit_options={"fastmath": False, "error_model": "numpy"})
def _fast_exp_overload(x):
    if x == types.float32:
        return _exp32
    if x == types.float64:
        return _exp64
    raise TypingError(f"fast_exp takes a float32 or float64 scalar, got {x}")


@numba.njit(cache=True, error_model="numpy")
def exp_array(x, out):
    """out[i] = fast_exp(x[i]) for 1-D float32 or float64 arrays of equal length.

    The example kernel: the loop holds no call, so LLVM vectorises it (8 float32 per
    AVX2 instruction), unlike the same loop with `np.exp`.
    """
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])


# Float vector arithmetic: `%v = fmul <8 x float> ...` (also fcmp/select on float vectors).
_FLOAT_VECTOR_OP = re.compile(r"= (?:fadd|fsub|fmul|fdiv|fneg|fcmp|select)\b[^\n]*<\d+ x (?:float|double)>")
# A vector call of a transcendental intrinsic: without SVML the backend splits it into one
# scalar libm call per lane, so a loop of np.exp "vectorises" in the IR but not in fact.
_SCALARISED_CALL = re.compile(r"call [^\n]*@llvm\.(?:exp|exp2|exp10|log|log2|log10|pow|powi|sin|cos|tan|"
                              r"asin|acos|atan|atan2|sinh|cosh|tanh)\.v\d+f(?:32|64)\(")


def vectorised(dispatcher, signature=None) -> bool:
    """True when the LLVM IR of a compiled Numba function does float arithmetic on
    vectors (`fmul <8 x float>`, `fadd <4 x double>`, ...) and calls no vector
    transcendental intrinsic (`@llvm.exp.v8f32`): its loop was vectorised. A portable
    fact (true on AVX2, AVX-512 and NEON alike), unlike the vector width.

    The second condition matters: LLVM does vectorise a loop of `np.exp` into
    `llvm.exp.v8f32`, which, with no SVML, the backend turns into 8 scalar `expf`
    calls; merely finding `<8 x float>` in the IR would call that loop vectorised.

    `signature` (a tuple of Numba types) picks one signature; by default every
    signature compiled so far must hold float vectors. Code loaded from Numba's disk
    cache cannot be inspected, so such a function is compiled again, uncached, from
    its Python source with the same options.
    """
    signatures = [signature] if signature is not None else list(dispatcher.signatures)
    if not signatures:
        raise ValueError(f"{dispatcher!r} has no compiled signatures: call it (or .compile it) first")
    hits = getattr(dispatcher, "stats", None)
    if hits is not None and any(hits.cache_hits.get(sig) for sig in signatures):
        options = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("cache", "nopython")}
        dispatcher = numba.njit(**options)(dispatcher.py_func)
    for sig in signatures:
        dispatcher.compile(sig)
    texts = [dispatcher.inspect_llvm(sig) for sig in signatures]
    return all(_FLOAT_VECTOR_OP.search(t) is not None and _SCALARISED_CALL.search(t) is None for t in texts)
