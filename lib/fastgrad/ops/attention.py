"""Attention ops (chapter 07): RMS normalisation, rotary position embeddings and the
scaled causal softmax of attention scores.

Each is one `register(Op(...))` like the ops before it, so it is reachable from
`Tensor` (the methods are generated from the table: `x.rms_norm(w, eps=1e-5)`,
`q.rope(offset=0)`, `scores.causal_softmax(offset=0, scale=0.125)`), gradient-checked
by `check_all_ops()` and compared with a NumPy reference by the tests.

    rms_norm(x, weight; eps)        x / sqrt(mean(x**2) + eps) * weight over the last axis
                                    (no centring, no bias: the norm of LLaMA-style models)
    rope(x; offset, base)           rotate pairs of features of x (..., T, head_dim) by an
                                    angle proportional to the position offset + t; backward
                                    is the inverse rotation
    causal_softmax(s; offset, scale)  softmax over the last axis of scale * s (..., Tq, Tk)
                                    where query i (at absolute position offset + i) sees
                                    only keys j <= offset + i; masked entries are exactly 0

RoPE pairs feature i with feature i + head_dim/2 (the "rotate half" layout of GPT-NeoX
and Hugging Face's LLaMA, not the interleaved pairs (2i, 2i+1) of the RoFormer paper:
the two are the same rotation up to a fixed permutation of the features). Pair i turns
by the angle p * base**(-2i/head_dim) at position p, so the dot product of a rotated
query at position m and a rotated key at position n depends on m - n only.

causal_softmax runs one compiled pass per row (Numba): the max over the visible keys,
exp, sum, normalise, the masked tail written as zeros without being read, so a causal
score matrix costs about half the exps of a dense softmax. Its fastmath flags allow
reassociation (vectorised sums) but keep IEEE inf/nan semantics.

The `offset` attributes are what incremental decoding needs: with a KV cache holding
`offset` earlier positions, the new queries and keys are rotated at their *absolute*
positions (rope(x, offset=offset)) and the scores of the new queries against all
offset + Tq keys are masked with causal_softmax(s, offset=offset).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._base import Op, pick, randn, register


# --------------------------------------------------------------------- rms_norm
def _rms_norm_shape(x_shape, w_shape, eps=1e-5):
    x_shape = tuple(x_shape)
    if not x_shape or tuple(w_shape) != x_shape[-1:]:
        raise ValueError(f"rms_norm: input {x_shape} needs a weight of shape {x_shape[-1:]} "
                         f"(its last axis), got weight {tuple(w_shape)}")
    return x_shape


def _rstd(x, eps):
    """1 / sqrt(mean(x**2) + eps) over the last axis, kept as size 1."""
    return 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + x.dtype.type(eps))


def _rms_norm_forward(x, weight, eps=1e-5):
    return (x * _rstd(x, eps)) * weight


def _rms_norm_backward(g, inputs, out, eps=1e-5):
    """With xhat = x * rstd and h = g * weight (D = last axis):
    dx = rstd * (h - xhat * mean(h * xhat)); dweight = sum over the other axes of g * xhat."""
    x, weight = inputs
    rstd = _rstd(x, eps)
    xhat = x * rstd
    h = g * weight
    dx = rstd * (h - xhat * np.mean(h * xhat, axis=-1, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(axis=lead)


def _rms_norm_reference(x, weight, eps=1e-5):
    return x / np.sqrt((x ** 2).mean(axis=-1, keepdims=True) + eps) * weight


_RMS_CASES = [((3, 5), 1e-5), ((2, 3, 4), 1e-5), ((6,), 1e-3), ((4, 1, 3), 1e-5)]


def _sample_rms_norm(rng, dtype, case=None):
    shape, eps = pick(rng, case, _RMS_CASES)
    d = shape[-1]
    return [randn(rng, shape, dtype), (1 + 0.5 * rng.standard_normal(d)).astype(dtype)], {"eps": eps}


register(Op("rms_norm", "composite", _rms_norm_forward, _rms_norm_backward, _rms_norm_shape,
            _sample_rms_norm, len(_RMS_CASES),
            doc="x / sqrt(mean(x**2) + eps) * weight over the last axis",
            reference=_rms_norm_reference, method="rms_norm"))


# ------------------------------------------------------------------------- rope
def _rope_shape(shape, offset=0, base=10000.0):
    shape = tuple(shape)
    if len(shape) < 2 or shape[-1] % 2:
        raise ValueError(f"rope: input {shape} must be (..., T, head_dim) with an even head_dim "
                         "(features are rotated in pairs)")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"rope: offset must be a non-negative int (the absolute position of the "
                         f"first row), got {offset!r} for input {shape}")
    if not base > 1:
        raise ValueError(f"rope: base must be > 1, got {base!r}")
    return shape


_TABLES: dict = {}      # (head_dim, base, dtype) -> (cos, sin), each (positions, head_dim // 2)


def rope_tables(offset: int, length: int, head_dim: int, base: float = 10000.0, dtype=np.float64):
    """cos and sin of the RoPE angles for positions offset .. offset + length - 1, each of
    shape (length, head_dim // 2): angle[p, i] = p * base**(-2i / head_dim).

    Computed in float64 and rounded once to `dtype`; kept per (head_dim, base, dtype)
    for positions 0 .. P - 1 (P a power of two, grown when a larger position is asked
    for), so a decoding step at any position is a slice, not a new table."""
    dtype = np.dtype(dtype)
    key = (int(head_dim), float(base), dtype.str)
    need = int(offset) + int(length)
    table = _TABLES.get(key)
    if table is None or table[0].shape[0] < need:
        size = max(256, 1 << max(need - 1, 1).bit_length())
        inv_freq = float(base) ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
        angles = np.arange(size, dtype=np.float64)[:, None] * inv_freq[None, :]
        table = (np.cos(angles).astype(dtype), np.sin(angles).astype(dtype))
        _TABLES[key] = table
    cos, sin = table
    return cos[offset:need], sin[offset:need]


def _rotate(x, cos, sin):
    """Pairs (x[..., i], x[..., i + h]) turned by the angles whose cos and sin are given."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    out = np.empty(x.shape, dtype=x.dtype)
    out[..., :h] = x1 * cos - x2 * sin
    out[..., h:] = x2 * cos + x1 * sin
    return out


def _rope_forward(x, offset=0, base=10000.0):
    cos, sin = rope_tables(offset, x.shape[-2], x.shape[-1], base, x.dtype)
    return _rotate(x, cos, sin)


def _rope_backward(g, inputs, out, offset=0, base=10000.0):
    """A rotation is orthogonal: its transpose is the rotation by minus the angle."""
    cos, sin = rope_tables(offset, g.shape[-2], g.shape[-1], base, g.dtype)
    return (_rotate(g, cos, -sin),)


def _rope_reference(x, offset=0, base=10000.0):
    """Each pair as the complex number x[i] + 1j * x[i + h], multiplied by exp(1j * angle)."""
    t, d = x.shape[-2:]
    h = d // 2
    positions = offset + np.arange(t)
    angles = positions[:, None] * base ** (-2.0 * np.arange(h) / d)[None, :]
    z = (x[..., :h] + 1j * x[..., h:]) * np.exp(1j * angles)
    return np.concatenate([z.real, z.imag], axis=-1)


# (shape, offset, base): one head, batch x heads, a large offset, a small base, head_dim 2
_ROPE_CASES = [((3, 4), 0, 10000.0), ((2, 5, 6), 7, 10000.0), ((2, 2, 3, 8), 0, 100.0),
               ((1, 4), 100, 10000.0), ((4, 2), 3, 10000.0)]


def _sample_rope(rng, dtype, case=None):
    shape, offset, base = pick(rng, case, _ROPE_CASES)
    return [randn(rng, shape, dtype)], {"offset": offset, "base": base}


register(Op("rope", "composite", _rope_forward, _rope_backward, _rope_shape, _sample_rope,
            len(_ROPE_CASES),
            doc="rotary position embedding of x (..., T, head_dim) at positions offset .. offset+T-1",
            reference=_rope_reference, method="rope"))


# --------------------------------------------------------------- causal_softmax
def _causal_softmax_shape(shape, offset=0, scale=1.0):
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"causal_softmax: scores {shape} must be (..., Tq, Tk): one row of key "
                         "scores per query")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"causal_softmax: offset must be a non-negative int (the absolute position "
                         f"of the first query), got {offset!r} for scores {shape}")
    return shape


_MASKS: dict = {}


def causal_mask(tq: int, tk: int, offset: int = 0) -> np.ndarray:
    """Boolean (tq, tk), True where key j is in the FUTURE of query i (j > offset + i):
    the entries attention must not see. Cached (read-only) per (tq, tk, offset)."""
    key = (int(tq), int(tk), int(offset))
    mask = _MASKS.get(key)
    if mask is None:
        if len(_MASKS) > 512:
            _MASKS.clear()
        mask = np.arange(tk)[None, :] > offset + np.arange(tq)[:, None]
        mask.setflags(write=False)
        _MASKS[key] = mask
    return mask


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _causal_softmax_rows(s, p, offset, scale):
    """p[b, i] = softmax(scale * s[b, i, :offset + i + 1]) and 0 beyond, row by row:
    the max of the visible entries, exp, sum, normalise; the masked tail is never read."""
    nb, tq, tk = s.shape
    for b in range(nb):
        for i in range(tq):
            visible = min(tk, offset + i + 1)
            m = s[b, i, 0] * scale
            for j in range(1, visible):
                m = max(m, s[b, i, j] * scale)
            total = scale * 0            # zero of the arrays' dtype: float32 stays float32
            for j in range(visible):
                e = math.exp(s[b, i, j] * scale - m)
                p[b, i, j] = e
                total += e
            inv = 1.0 / total
            for j in range(visible):
                p[b, i, j] *= inv
            for j in range(visible, tk):
                p[b, i, j] = 0.0


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _causal_softmax_grad_rows(g, p, ds, offset, scale):
    """ds[b, i, j] = scale * p (g - sum_j g p) over the visible entries, 0 beyond."""
    nb, tq, tk = g.shape
    for b in range(nb):
        for i in range(tq):
            visible = min(tk, offset + i + 1)
            dot = scale * 0
            for j in range(visible):
                dot += g[b, i, j] * p[b, i, j]
            for j in range(visible):
                ds[b, i, j] = scale * p[b, i, j] * (g[b, i, j] - dot)
            for j in range(visible, tk):
                ds[b, i, j] = 0.0


def _as_rows(a):
    """a (..., Tq, Tk) as a C-contiguous (batch, Tq, Tk) array (a view when it already is)."""
    return np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def _causal_softmax_forward(s, offset=0, scale=1.0):
    """Stable: each row's max over its visible entries is subtracted before exp; masked
    entries are exactly 0. One compiled pass per row (`_causal_softmax_rows`)."""
    p = np.empty(s.shape, dtype=s.dtype)
    if s.size:
        _causal_softmax_rows(_as_rows(s), p.reshape((-1,) + s.shape[-2:]), int(offset), s.dtype.type(scale))
    return p


def _causal_softmax_backward(g, inputs, out, offset=0, scale=1.0):
    """d s = scale * p * (g - sum_j g_j p_j) per row: the softmax Jacobian; masked entries
    have p = 0, so they get no gradient."""
    ds = np.empty(out.shape, dtype=out.dtype)
    if out.size:
        _causal_softmax_grad_rows(_as_rows(g.astype(out.dtype, copy=False)), _as_rows(out),
                                  ds.reshape((-1,) + out.shape[-2:]), int(offset), out.dtype.type(scale))
    return (ds,)


def _causal_softmax_reference(s, offset=0, scale=1.0):
    """Row by row: the visible prefix j <= offset + i gets the textbook softmax, the rest 0."""
    tq, tk = s.shape[-2:]
    out = np.zeros_like(s)
    for i in range(tq):
        visible = min(tk, offset + i + 1)
        row = scale * s[..., i, :visible]
        e = np.exp(row - row.max(axis=-1, keepdims=True))
        out[..., i, :visible] = e / e.sum(axis=-1, keepdims=True)
    return out


# (shape, offset, scale): square (training), queries after a cache (offset = Tk - Tq), one
# query over a cache, offset 0 with more keys than queries, batch x heads, a large scale
_CS_CASES = [((4, 4), 0, 1.0), ((2, 5), 3, 0.5), ((1, 6), 5, 1.0), ((3, 5), 0, 1.0),
             ((2, 3, 4, 4), 0, 0.35), ((3, 3), 0, 10.0)]


def _sample_causal_softmax(rng, dtype, case=None):
    shape, offset, scale = pick(rng, case, _CS_CASES)
    return [(2 * rng.standard_normal(shape)).astype(dtype)], {"offset": offset, "scale": scale}


register(Op("causal_softmax", "composite", _causal_softmax_forward, _causal_softmax_backward,
            _causal_softmax_shape, _sample_causal_softmax, len(_CS_CASES),
            doc="softmax over the last axis of scale * scores, query i seeing keys j <= offset + i",
            reference=_causal_softmax_reference, method="causal_softmax"))
