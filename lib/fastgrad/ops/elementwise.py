"""Elementwise ops: add, sub, mul, div, neg, pow, exp, log, tanh, sigmoid, relu, gelu, where.

Binary ops broadcast like NumPy. Their backward computes the gradient at the
broadcast (output) shape and then sums it back to each input's shape with
`sum_to_shape`: an input that was copied along a dimension receives the sum of the
gradients of all its copies. This is the "broadcast add backward" of chapter 04.
"""
from __future__ import annotations

import math

import numpy as np

from ..shapes import broadcast_shapes
from ..switches import SWITCHES
from . import _kernels as K
from ._base import Op, away_from_zero, pick, positive, randn, register, sum_to_shape


# ------------------------------------------------------------------ shape rules
def _same_shape(shape):
    """Shape rule of a unary elementwise op: the output has the input's shape."""
    return tuple(shape)


def _binary_shape(name):
    def rule(a_shape, b_shape):
        return broadcast_shapes(a_shape, b_shape, name=name)
    return rule


# --------------------------------------------------------------------- samplers
_BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3, 4), ()), ((1,), (2, 3))]


def _sample_binary(rng, dtype, case=None):
    """Two normal arrays of broadcast-compatible shapes (equal, trailing, both sides, scalar)."""
    a_shape, b_shape = pick(rng, case, _BINARY_SHAPES)
    return [randn(rng, a_shape, dtype), randn(rng, b_shape, dtype)], {}


def _sample_div(rng, dtype, case=None):
    """Numerator normal; denominator with |b| >= 0.5, so 1/b and 1/b^2 stay moderate."""
    a_shape, b_shape = pick(rng, case, _BINARY_SHAPES)
    return [randn(rng, a_shape, dtype), away_from_zero(rng, b_shape, dtype, low=0.5)], {}


_UNARY_SHAPES = [(3, 4), (5,), (2, 3, 2), ()]


def _sample_unary(rng, dtype, case=None):
    return [randn(rng, pick(rng, case, _UNARY_SHAPES), dtype)], {}


def _sample_positive(rng, dtype, case=None):
    return [positive(rng, pick(rng, case, _UNARY_SHAPES), dtype)], {}


def _sample_kink(rng, dtype, case=None):
    """Values with |x| >= 0.2: a finite-difference step never crosses relu's kink at 0."""
    return [away_from_zero(rng, pick(rng, case, _UNARY_SHAPES), dtype)], {}


# ----------------------------------------------------------------- binary ops
SMALL = 4096     # elements: below this, calling a Numba kernel costs more than the work


def _small_to_numpy(numpy_fn, kernel):
    """The forward of a binary arithmetic op: NumPy's ufunc for small arrays (a Numba
    dispatcher call costs about 1-5 µs of argument checks and type matching, NumPy's about
    0.5-1 µs; the results are the same IEEE operations, bit for bit), chapter 02's kernel
    for the rest. Per-op overhead is most of a small model's step (chapter 09)."""
    def forward(a, b):
        if a.size < SMALL and b.size < SMALL and SWITCHES.lean_dispatch:
            out = numpy_fn(a, b)
            return out if type(out) is np.ndarray else np.asarray(out)   # 0-d: an array, not a scalar
        return kernel(a, b)
    forward.__name__ = kernel.__name__
    return forward


def _add_backward(g, inputs, out):
    a, b = inputs
    return sum_to_shape(g, a.shape), sum_to_shape(g, b.shape)


def _sub_backward(g, inputs, out):
    a, b = inputs
    return sum_to_shape(g, a.shape), sum_to_shape(K.neg(g), b.shape)


def _mul_backward(g, inputs, out, needs=(True, True)):
    a, b = inputs                        # needs: skip a constant factor's gradient (x * 0.5)
    return (sum_to_shape(K.mul(g, b), a.shape) if needs[0] else None,
            sum_to_shape(K.mul(g, a), b.shape) if needs[1] else None)


def _div_backward(g, inputs, out, needs=(True, True)):
    # out = a / b:  d/da = 1/b,  d/db = -a/b^2 = -out/b
    a, b = inputs
    ga = K.div(g, b)
    gb = K.neg(K.mul(ga, out)) if needs[1] else None         # -(g/b) * (a/b)
    return (sum_to_shape(ga, a.shape) if needs[0] else None,
            sum_to_shape(gb, b.shape) if needs[1] else None)


register(Op("add", "elementwise", _small_to_numpy(np.add, K.add), _add_backward,
            _binary_shape("add"), _sample_binary, len(_BINARY_SHAPES), doc="a + b (broadcasting)",
            reference=np.add, method="__add__", scalar=lambda x, lit: f"({x[0]} + {x[1]})"))
register(Op("sub", "elementwise", _small_to_numpy(np.subtract, K.sub), _sub_backward,
            _binary_shape("sub"), _sample_binary, len(_BINARY_SHAPES), doc="a - b (broadcasting)",
            reference=np.subtract, method="__sub__", scalar=lambda x, lit: f"({x[0]} - {x[1]})"))
register(Op("mul", "elementwise", _small_to_numpy(np.multiply, K.mul), _mul_backward,
            _binary_shape("mul"), _sample_binary, len(_BINARY_SHAPES), doc="a * b (broadcasting)",
            reference=np.multiply, method="__mul__", scalar=lambda x, lit: f"({x[0]} * {x[1]})",
            partial_backward=True))
register(Op("div", "elementwise", _small_to_numpy(np.divide, K.div), _div_backward,
            _binary_shape("div"), _sample_div, len(_BINARY_SHAPES), doc="a / b (broadcasting)",
            reference=np.divide, method="__truediv__", scalar=lambda x, lit: f"({x[0]} / {x[1]})",
            partial_backward=True))


# ------------------------------------------------------------------ unary ops
def _neg_backward(g, inputs, out):
    return (K.neg(g),)


def _exp_backward(g, inputs, out):
    return (K.mul(g, out),)                      # d exp(x) = exp(x): reuse the output


def _log_backward(g, inputs, out):
    return (K.div(g, inputs[0]),)


def _tanh_backward(g, inputs, out):
    return (K.mul(g, 1 - out * out),)            # 1 - tanh^2, from the saved output


def _sigmoid_backward(g, inputs, out):
    return (K.mul(g, out * (1 - out)),)          # s (1 - s), from the saved output


def _relu_backward(g, inputs, out):
    return (K.mul(g, (out > 0).astype(g.dtype)),)  # 1 where x > 0 (0 at the kink)


register(Op("neg", "elementwise", lambda a: K.neg(a), _neg_backward, _same_shape,
            _sample_unary, len(_UNARY_SHAPES), doc="-a", reference=np.negative, method="__neg__",
            scalar=lambda x, lit: f"(-{x[0]})"))
register(Op("exp", "elementwise", lambda a: K.exp(a), _exp_backward, _same_shape,
            _sample_unary, len(_UNARY_SHAPES), doc="e**a", reference=np.exp, method="exp",
            scalar=lambda x, lit: f"fast_exp({x[0]})"))
register(Op("log", "elementwise", lambda a: K.log(a), _log_backward, _same_shape,
            _sample_positive, len(_UNARY_SHAPES), doc="natural log (inputs > 0)",
            reference=np.log, method="log", scalar=lambda x, lit: f"np.log({x[0]})"))
register(Op("tanh", "elementwise", lambda a: K.tanh(a), _tanh_backward, _same_shape,
            _sample_unary, len(_UNARY_SHAPES), doc="tanh(a)", reference=np.tanh, method="tanh",
            scalar=lambda x, lit: f"np.tanh({x[0]})"))
register(Op("sigmoid", "elementwise", lambda a: K.sigmoid(a), _sigmoid_backward, _same_shape,
            _sample_unary, len(_UNARY_SHAPES), doc="1 / (1 + e**-a)",
            reference=lambda a: 1 / (1 + np.exp(-a)), method="sigmoid",
            scalar=lambda x, lit: f"({lit(1)} / ({lit(1)} + fast_exp(-{x[0]})))"))
register(Op("relu", "elementwise", lambda a: K.relu(a), _relu_backward, _same_shape,
            _sample_kink, len(_UNARY_SHAPES), doc="max(a, 0); gradient 0 at a == 0",
            reference=lambda a: np.maximum(a, 0), method="relu",
            scalar=lambda x, lit: f"({x[0]} if not ({x[0]} < {lit(0)}) else {lit(0)})"))


# ------------------------------------------------------------ pow (scalar exponent)
def _power(a, exponent):
    """a ** exponent as a new array, by cheaper ufuncs for the exponents that have them.

    np.power takes a general (exp/log) path for most exponents: on float32 with negative
    bases, a**3 measured about 50x (1,000 elements) to 280x (100,000) slower than
    a*a*a here, and sqrt, reciprocal, copy and squaring faster than their np.power
    forms (1.3-7x; interleaved medians, float32 and float64, 1,000 and 100,000 elements,
    on a loaded 2-core machine). Exponent 0 stays np.power
    (np.ones_like was not faster on small arrays). Exponents 0.5 and -0.5, 2 and -2 are
    the ones the backward of 0.5 and -1 needs. Results agree with np.power to a few ulps.
    """
    p = float(exponent)
    if p == 1.0:
        return a.copy()
    if p == 2.0:
        return a * a
    if p == 3.0:
        return a * a * a
    if p == 4.0:
        sq = a * a                     # a 0-d input gives a NumPy scalar: no out= then
        return np.multiply(sq, sq, out=sq) if isinstance(sq, np.ndarray) else sq * sq
    if p == 0.5:
        return np.sqrt(a)
    if p == -0.5:
        r = np.sqrt(a)
        return np.reciprocal(r, out=r) if isinstance(r, np.ndarray) else np.reciprocal(r)
    if p == -1.0:
        return np.reciprocal(a)
    if p == -2.0:
        sq = a * a
        return np.reciprocal(sq, out=sq) if isinstance(sq, np.ndarray) else np.reciprocal(sq)
    return np.power(a, a.dtype.type(exponent))


def _pow_forward(a, exponent):
    return _power(a, exponent)


def _pow_backward(g, inputs, out, exponent):
    a = inputs[0]
    p = a.dtype.type(exponent)
    return (K.mul(g, p * _power(a, float(exponent) - 1.0)),)   # d a^p = p a^(p-1)


def _pow_shape(shape, exponent):
    return tuple(shape)


_EXPONENTS = [2.0, 3.0, 0.5, -1.5, 1.0]


def _sample_pow(rng, dtype, case=None):
    """Positive bases, so non-integer and negative exponents are defined and smooth."""
    exponent = pick(rng, case, _EXPONENTS)
    return [positive(rng, pick(rng, case, _UNARY_SHAPES), dtype)], {"exponent": exponent}


def _pow_scalar(x, lit, exponent):
    """The scalar form, with the same small-exponent special cases as `_pow_forward`."""
    a, p = x[0], float(exponent)
    special = {1.0: f"{a}", 2.0: f"({a} * {a})", 3.0: f"({a} * {a} * {a})",
               4.0: f"(({a} * {a}) * ({a} * {a}))", 0.5: f"np.sqrt({a})",
               -0.5: f"({lit(1)} / np.sqrt({a}))", -1.0: f"({lit(1)} / {a})",
               -2.0: f"({lit(1)} / ({a} * {a}))"}
    return special.get(p, f"({a} ** {lit(p)})")


register(Op("pow", "elementwise", _pow_forward, _pow_backward, _pow_shape, _sample_pow, len(_EXPONENTS),
            doc="a ** exponent, exponent a Python number (attr)",
            reference=lambda a, exponent: np.power(a, exponent), method="__pow__", scalar=_pow_scalar))


# --------------------------------------------------------------------- gelu
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def _gelu_forward(a):
    """GELU, tanh approximation (Hendrycks & Gimpel; GPT-2's and PyTorch's approximate="tanh"):
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in one vectorised pass
    (`fastgrad.kernels.fused.gelu`: eight NumPy temporaries and a scalar tanh loop before
    chapter 09, 36% of a GPT training step)."""
    return K.gelu(a)


def _gelu_backward(g, inputs, out):
    return (K.gelu_backward(g, inputs[0]),)


def _gelu_reference(a):
    return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))


register(Op("gelu", "elementwise", _gelu_forward, _gelu_backward, _same_shape,
            _sample_unary, len(_UNARY_SHAPES),
            doc="GELU, tanh approximation (as GPT-2 and torch gelu(approximate='tanh'))",
            reference=_gelu_reference, method="gelu",
            scalar=lambda x, lit: (f"({lit(0.5)} * {x[0]} * ({lit(1)} + np.tanh({lit(_GELU_C)} * "
                                   f"({x[0]} + {lit(_GELU_K)} * {x[0]} * {x[0]} * {x[0]}))))")))


# -------------------------------------------------------------------- where
def _where_forward(cond, a, b):
    return np.where(cond, a, b)


def _where_backward(g, inputs, out):
    cond, a, b = inputs
    zero = g.dtype.type(0)
    return (None,
            sum_to_shape(np.where(cond, g, zero), a.shape),
            sum_to_shape(np.where(cond, zero, g), b.shape))


def _where_shape(cond_shape, a_shape, b_shape):
    return broadcast_shapes(cond_shape, a_shape, b_shape, name="where")


_WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((4,), (3, 4), ())]


def _sample_where(rng, dtype, case=None):
    c_shape, a_shape, b_shape = pick(rng, case, _WHERE_SHAPES)
    cond = rng.random(c_shape) < 0.5
    return [cond, randn(rng, a_shape, dtype), randn(rng, b_shape, dtype)], {}


register(Op("where", "elementwise", _where_forward, _where_backward, _where_shape, _sample_where,
            len(_WHERE_SHAPES),
            nondiff=(0,), doc="a where cond else b (cond boolean, no gradient; broadcasting)",
            reference=np.where, method="where", scalar=lambda x, lit: f"({x[1]} if {x[0]} else {x[2]})"))
