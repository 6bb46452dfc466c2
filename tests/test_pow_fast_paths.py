"""The `pow` op's fast paths (repeated multiplication, sqrt, reciprocal) agree with np.power,
forward and backward, on negative bases where the exponent allows them, in 0-d too."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.ops.elementwise import _power

INTEGER = [1, 2, 3, 4, -1, -2]          # defined for negative bases
FRACTIONAL = [0.5, -0.5]                # positive bases only
OTHER = [0, 1.5, -1.5, 5]               # the general np.power path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", INTEGER + FRACTIONAL + OTHER)
def test_power_matches_numpy(p, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5)).astype(dtype)
    if p in FRACTIONAL or p == 1.5 or p == -1.5:
        a = np.abs(a) + 0.1
    got = _power(a, p)
    want = np.power(a.astype(np.float64), p)
    assert got.dtype == dtype and got.shape == a.shape
    assert not np.shares_memory(got, a)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)
    zero_d = _power(np.asarray(a[0, 0]), p)
    np.testing.assert_allclose(zero_d, want[0, 0], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("p", INTEGER + FRACTIONAL)
def test_pow_op_gradient_on_fast_paths(p):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(7)
    if p in FRACTIONAL:
        a = np.abs(a) + 0.1
    x = fg.Tensor(a, requires_grad=True)     # float64 stays float64
    (x ** p).sum().backward()
    np.testing.assert_allclose(x.grad, p * np.power(a, p - 1), rtol=1e-12)
