"""Chapter 07 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet", and plausible wrong answers, including the bugs real
KV-cache implementations shipped (RoPE at position 0 for every new token, the offset
jumping by the prompt length, keys rotated twice in the cache), get a fail whose message
names the real mistake (the expected words). The checkers' own NumPy references are
compared with the library's ops and with torch where that is installed."""
import math

import numpy as np
import pytest

from fastgrad.check import ch07


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers (as in solutions/07)

def causal_mask(t_q, t_k, offset=0):
    query_pos = offset + np.arange(t_q)[:, None]
    key_pos = np.arange(t_k)[None, :]
    return key_pos <= query_pos


def masked_softmax(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    e = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attend_one(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = (k @ q[:, :, None])[:, :, 0] / math.sqrt(q.shape[-1])
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return (p[:, None, :] @ v)[:, 0]


def rope_at(x, offset, base=10000.0):
    n_head, t, d = x.shape
    half = d // 2
    positions = offset + np.arange(t)
    freqs = base ** (-2 * np.arange(half) / d)
    angles = positions[:, None] * freqs[None, :]
    cos, sin = np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def cache_append(keys, values, length, k_new, v_new):
    t_new = k_new.shape[1]
    max_len = keys.shape[1]
    if length + t_new > max_len:
        raise ValueError(f"KV cache overflow: {length} + {t_new} = {length + t_new} rows exceed max_len {max_len}")
    keys[:, length:length + t_new] = k_new
    values[:, length:length + t_new] = v_new
    return length + t_new


def greedy_generate(step_fn, prompt_ids, n):
    ids = list(prompt_ids)
    new = []
    for _ in range(n):
        token = int(np.argmax(step_fn(ids)))
        new.append(token)
        ids.append(token)
    return new


REFERENCES = {"causal_mask": causal_mask, "masked_softmax": masked_softmax, "attend_one": attend_one,
              "rope_at": rope_at, "cache_append": cache_append, "greedy_generate": greedy_generate}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch07, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch07, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_checker_prints_its_verdict(capsys):
    ch07.causal_mask(causal_mask)
    assert "causal_mask: all" in capsys.readouterr().out


def test_every_checker_is_exported():
    assert sorted(ch07.__all__) == sorted(REFERENCES)


# ------------------------------------------------------------------ 1. causal_mask, wrong answers

def _ij(t_q, t_k):
    return np.arange(t_q)[:, None], np.arange(t_k)[None, :]


def _mask_strict(t_q, t_k, offset=0):
    i, j = _ij(t_q, t_k)
    return j < offset + i


def _mask_future(t_q, t_k, offset=0):
    i, j = _ij(t_q, t_k)
    return j > offset + i                  # True for the entries to hide (the library's internal convention)


def _mask_one_too_many(t_q, t_k, offset=0):
    i, j = _ij(t_q, t_k)
    return j <= offset + i + 1


MASK_WRONG = [
    ("strict <", _mask_strict, ["never sees its own key", "<="]),
    ("inverted (future keys True)", _mask_future, ["inverted", "ALLOWED"]),
    ("~mask", lambda t_q, t_k, offset=0: ~causal_mask(t_q, t_k, offset), ["inverted"]),
    ("upper triangle", lambda t_q, t_k, offset=0: np.triu(np.ones((t_q, t_k), bool), k=offset), ["upper triangle"]),
    ("transposed", lambda t_q, t_k, offset=0: causal_mask(t_q, t_k, offset).T, ["upper triangle", "transposed"]),
    ("roles swapped", lambda t_q, t_k, offset=0: causal_mask(t_k, t_q, offset), ["transposed"]),
    ("offset ignored", lambda t_q, t_k, offset=0: np.tril(np.ones((t_q, t_k), bool)), ["offset was ignored"]),
    ("offset applied to keys", lambda t_q, t_k, offset=0: np.tril(np.ones((t_q, t_k), bool), k=-offset),
     ["applied to the keys", "first QUERY"]),
    ("t_k - t_q as the offset", lambda t_q, t_k, offset=0: np.tril(np.ones((t_q, t_k), bool), k=t_k - t_q),
     ["t_k - t_q", "preallocated"]),
    ("one key too many", _mask_one_too_many, ["one key too many"]),
    ("nothing masked", lambda t_q, t_k, offset=0: np.ones((t_q, t_k), bool), ["nothing is masked"]),
    ("square t_k x t_k", lambda t_q, t_k, offset=0: np.tril(np.ones((t_k, t_k), bool)), ["t_q rows"]),
    ("int array", lambda t_q, t_k, offset=0: np.tril(np.ones((t_q, t_k), int), k=offset), ["dtype int64", "bool"]),
    ("float array", lambda t_q, t_k, offset=0: np.tril(np.ones((t_q, t_k)), k=offset),
     ["dtype float64", "integer indexing"]),
    ("a list", lambda t_q, t_k, offset=0: causal_mask(t_q, t_k, offset).tolist(), ["returned a list"]),
    ("no default offset", lambda t_q, t_k, offset: causal_mask(t_q, t_k, offset), ["TypeError", "offset"]),
    ("forgot return", lambda t_q, t_k, offset=0: None, ["returned None"]),
]


# ------------------------------------------------------------------ 2. masked_softmax, wrong answers

def _sm_naive(scores, mask):
    e = np.where(mask, np.exp(scores), 0.0)             # no max subtracted: exp(1e4) = inf
    return (e / e.sum(axis=-1, keepdims=True)).astype(scores.dtype)


def _sm_inf_times_mask(scores, mask):
    filled = scores * mask + (~mask) * -np.inf           # 0 * -inf = nan on every allowed entry... and masked ones
    e = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sm_after(scores, mask):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True) * mask      # masked after the softmax: rows do not sum to 1


def _sm_after_renormalised(scores, mask):
    p = _sm_after(scores, mask)
    return p / p.sum(axis=-1, keepdims=True)             # right, unless the masked scores dominate (0/0)


def _sm_max_unmasked(scores, mask):
    e = np.where(mask, np.exp(scores - scores.max(axis=-1, keepdims=True)), 0.0).astype(scores.dtype)
    return e / e.sum(axis=-1, keepdims=True)


def _sm_global_max(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    e = np.exp(filled - filled.max())
    return e / e.sum(axis=-1, keepdims=True)


def _sm_fill(value):
    def fn(scores, mask):
        filled = np.where(mask, scores, value)
        e = np.exp(filled - filled.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return fn


def _sm_axis(axis):
    def fn(scores, mask):
        filled = np.where(mask, scores, -np.inf)
        e = np.exp(filled - filled.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    return fn


def _sm_no_keepdims(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    e = np.exp(filled - filled.max(axis=-1))
    return e / e.sum(axis=-1)


def _sm_everything(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    e = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return e / e.sum()


def _sm_everything_global(scores, mask):
    filled = np.where(mask, scores, -np.inf)
    e = np.exp(filled - filled.max())
    return e / e.sum()


def _sm_bool_index(scores, mask):
    filled = scores.copy()
    filled[~mask] = -np.inf                            # needs a mask of the scores' exact shape
    return masked_softmax(filled, np.ones(filled.shape, bool))


def _sm_in_place(scores, mask):
    scores[~np.broadcast_to(mask, scores.shape)] = -np.inf
    return masked_softmax(scores, mask)


def _sm_empty(scores, mask):
    out = np.empty_like(scores)                          # masked entries keep whatever was in memory
    full = np.broadcast_to(mask, scores.shape)
    p = masked_softmax(scores, mask)
    out[full] = p[full]
    out[~full] = 1e-3
    return out


def _sm_float64_fill(scores, mask):
    filled = np.where(mask, scores, np.float64(-1e9))    # a NumPy float64 scalar promotes float32 to float64
    e = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sm_float64(scores, mask):
    return masked_softmax(scores.astype(np.float64), mask)


SOFTMAX_WRONG = [
    ("naive exp", _sm_naive, ["overflow", "each row's max"]),
    ("scores * mask with -inf", _sm_inf_times_mask, ["0 * inf", "np.where"]),
    ("masked after the softmax", _sm_after, ["AFTER the softmax", "sum to 1"]),
    ("masked after, renormalised", _sm_after_renormalised, ["includes the masked entries", "0/0"]),
    ("max over the unmasked row", _sm_max_unmasked, ["includes the masked entries"]),
    ("max of the whole array", _sm_global_max, ["max of the whole array"]),
    ("fill -1e4", _sm_fill(-1e4), ["finite fill value", "-np.inf"]),
    ("fill 0", _sm_fill(0.0), ["-np.inf"]),
    ("mask inverted", lambda s, m: masked_softmax(s, ~m), ["inverted"]),
    ("softmax over axis -2", _sm_axis(-2), ["wrong axis", "axis=-1"]),
    ("softmax over axis 0 (2-D: the queries)", _sm_axis(0), ["wrong axis", "axis=-1"]),
    ("softmax over axis 1 (right for 2-D only)", _sm_axis(1), ["wrong axis", "axis -2"]),
    ("softmax over the heads (axis 0 of 3-D scores)",
     lambda s, m: _sm_axis(0 if s.ndim > 2 else -1)(s, m), ["axis 0", "heads"]),
    ("no keepdims", _sm_no_keepdims, ["keepdims"]),
    ("normalised over everything", _sm_everything, ["whole array"]),
    ("softmax of the whole array", _sm_everything_global, ["whole array"]),
    ("boolean indexing", _sm_bool_index, ["IndexError", "np.where(mask, scores, -np.inf) broadcasts"]),
    ("scores written in place", _sm_in_place, ["wrote into one of its inputs"]),
    ("garbage in masked entries", _sm_empty, ["exactly 0"]),
    ("np.float64 fill", _sm_float64_fill, ["dtype float64", "np.float64(-1e9)"]),
    ("float64 result", _sm_float64, ["dtype float64", "float32"]),
    ("a list", lambda s, m: masked_softmax(s, m).tolist(), ["returned a list"]),
    ("forgot return", lambda s, m: None, ["returned None"]),
]


# ------------------------------------------------------------------ 3. attend_one, wrong answers

def _attend(q, k, v, scale=None, axis=-1, stable=True):
    d = q.shape[-1]
    scores = np.einsum("hd,htd->ht", q, k) * (1 / math.sqrt(d) if scale is None else scale)
    shift = scores.max(axis=axis, keepdims=True) if stable else 0
    e = np.exp(scores - shift)
    p = e / e.sum(axis=axis, keepdims=True)
    return np.einsum("ht,htd->hd", p, v)


def _att_rows(rows):
    def fn(q, keys, values, length):
        n = rows(length, keys.shape[1])
        return _attend(q, keys[:, :n], values[:, :n])
    return fn


def _att_masked_all_rows(q, keys, values, length):
    """Every max_len row, the unwritten ones masked out: right values from garbage, but NaN reaches the output."""
    scores = np.einsum("hd,htd->ht", q, keys) / math.sqrt(q.shape[-1])
    scores = np.where(np.arange(keys.shape[1]) < length, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return np.einsum("ht,htd->hd", e / e.sum(axis=-1, keepdims=True), values)


def _att_heads_sliced(q, keys, values, length):
    return _attend(q, keys[:length], values[:length])     # slices the heads axis


def _att_T(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = (q[:, None, :] @ k.T)[:, 0] / math.sqrt(q.shape[-1])     # .T reverses all three axes
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return np.einsum("ht,htd->hd", e / e.sum(axis=-1, keepdims=True), v)


def _att_broadcast_sum(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = np.einsum("hd,htd->ht", q, k) / math.sqrt(q.shape[-1])
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v                 # (H, L) @ (H, L, D) -> (H, H, D)


def _att_weights(q, keys, values, length):
    k = keys[:, :length]
    scores = np.einsum("hd,htd->ht", q, k) / math.sqrt(q.shape[-1])
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _att_keepdim(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = q[:, None, :] @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])      # (H, 1, L)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v                              # (H, 1, D)


def _att_unnormalised(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = np.einsum("hd,htd->ht", q, k) / math.sqrt(q.shape[-1])
    return np.einsum("ht,htd->hd", np.exp(scores), v)


def _att_np_sqrt(q, keys, values, length):
    k, v = keys[:, :length], values[:, :length]
    scores = np.einsum("hd,htd->ht", q, k) / np.sqrt(q.shape[-1])    # np.sqrt(int) is a float64 scalar
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return np.einsum("ht,htd->hd", e / e.sum(axis=-1, keepdims=True), v)


def _att_in_place(q, keys, values, length):
    q /= math.sqrt(q.shape[-1])
    return attend_one(q * math.sqrt(q.shape[-1]), keys, values, length)


ATTEND_WRONG = [
    ("all max_len rows", lambda q, k, v, n: _attend(q, k, v), ["every one of the max_len", "keys[:, :length]"]),
    ("length + 1 rows", _att_rows(lambda n, m: n + 1), ["one row too many"]),
    ("length - 1 rows", _att_rows(lambda n, m: max(n - 1, 1)), ["last cached row was left out"]),
    ("masked over all rows (NaN garbage)", _att_masked_all_rows, ["hold NaN", "0 * NaN"]),
    ("keys[:length] (the heads axis)", _att_heads_sliced, ["HEADS"]),
    ("no scale", lambda q, k, v, n: _attend(q, k[:, :n], v[:, :n], scale=1.0), ["not scaled", "sqrt(head_dim)"]),
    ("scaled by 1/d", lambda q, k, v, n: _attend(q, k[:, :n], v[:, :n], scale=1 / q.shape[-1]),
     ["divided by head_dim", "1/sqrt(head_dim)"]),
    ("multiplied by sqrt(d)", lambda q, k, v, n: _attend(q, k[:, :n], v[:, :n], scale=math.sqrt(q.shape[-1])),
     ["multiplied by sqrt(head_dim)"]),
    ("softmax over the heads", lambda q, k, v, n: _attend(q, k[:, :n], v[:, :n], axis=0), ["over the heads"]),
    ("unnormalised weights", _att_unnormalised, ["not normalised"]),
    ("keys as values", lambda q, k, v, n: _attend(q, k[:, :n], k[:, :n]), ["VALUES"]),
    ("naive exp", lambda q, k, v, n: _attend(q, k[:, :n], v[:, :n], stable=False), ["overflow", "max score"]),
    (".T of a 3-D array", _att_T, ["reverses all three axes"]),
    ("weights @ values broadcast", _att_broadcast_sum, ["broadcasts to (n_head, n_head, head_dim)", "einsum"]),
    ("the weights returned", _att_weights, ["attention weights' shape"]),
    ("a middle axis of 1 kept", _att_keepdim, ["drop the middle axis"]),
    ("np.sqrt of a float64", _att_np_sqrt, ["dtype float64", "float32"]),
    ("q written in place", _att_in_place, ["wrote into one of its inputs"]),
    ("forgot return", lambda q, k, v, n: None, ["returned None"]),
]


# ------------------------------------------------------------------ 4. rope_at, wrong answers

def _rope_general(x, positions, base=10000.0, exponent=2.0, interleaved=False, sign=1.0):
    n_head, t, d = x.shape
    half = d // 2
    angles = np.asarray(positions, np.float64)[:, None] * base ** (-exponent * np.arange(half) / d)[None, :]
    cos, sin = np.cos(angles).astype(x.dtype), (sign * np.sin(angles)).astype(x.dtype)
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x1 * cos - x2 * sin
        out[..., 1::2] = x1 * sin + x2 * cos
        return out
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def _rope_positions(rule):
    return lambda x, offset, base=10000.0: _rope_general(x, rule(offset, x.shape[1]), base)


class _RopeCounter:
    """A rope that tracks the position itself (ignoring the offset): right only when called in sequence."""

    def __init__(self):
        self.position = 0

    def __call__(self, x, offset, base=10000.0):
        t = x.shape[1]
        out = _rope_general(x, self.position + np.arange(t), base)
        self.position += t
        return out


def _rope_in_place(x, offset, base=10000.0):
    x[...] = rope_at(x, offset, base)
    return x


def _rope_float64_tables(x, offset, base=10000.0):
    n_head, t, d = x.shape
    angles = (offset + np.arange(t))[:, None] * base ** (-2 * np.arange(d // 2) / d)
    cos, sin = np.cos(angles), np.sin(angles)                      # float64 tables, not cast
    x1, x2 = x[..., :d // 2], x[..., d // 2:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


ROPE_WRONG = [
    ("position 0 for every new token (offset ignored)", _rope_positions(lambda o, t: np.arange(t)),
     ["offset was ignored"]),
    ("no rotation at all", lambda x, offset, base=10000.0: x.copy(), ["unrotated"]),
    ("every row at the offset", _rope_positions(lambda o, t: np.full(t, o)), ["row t", "offset + t"]),
    ("offset jumping by the prompt length", _rope_positions(lambda o, t: o + t + np.arange(t)),
     ["prompt length", "BEFORE this chunk"]),
    ("off by one", _rope_positions(lambda o, t: o + 1 + np.arange(t)), ["shifted by 1"]),
    ("offset counted twice", _rope_positions(lambda o, t: 2 * o + np.arange(t)), ["twice"]),
    ("rotation applied twice", lambda x, offset, base=10000.0: rope_at(rope_at(x, offset, base), offset, base),
     ["applied twice", "rotated again"]),
    ("sin sign flipped", lambda x, o, base=10000.0: _rope_general(x, o + np.arange(x.shape[1]), base, sign=-1.0),
     ["sin sign is flipped", "inverse rotation"]),
    ("interleaved pairs", lambda x, o, base=10000.0: _rope_general(x, o + np.arange(x.shape[1]), base,
                                                                  interleaved=True),
     ["interleaved pairs (2i, 2i+1)", "rotate-half"]),
    ("exponent -i/d", lambda x, o, base=10000.0: _rope_general(x, o + np.arange(x.shape[1]), base, exponent=1.0),
     ["-i/head_dim", "-2i/head_dim"]),
    ("exponent -2*(2i)/d", lambda x, o, base=10000.0: _rope_general(x, o + np.arange(x.shape[1]), base, exponent=4.0),
     ["-4i/head_dim"]),
    ("base 10000 hard-coded", lambda x, offset, base=10000.0: rope_at(x, offset), ["base 10000 instead"]),
    ("a position counter kept between calls", _RopeCounter(), ["shifted by", "no position kept between calls"]),
    ("x rotated in place", _rope_in_place, ["wrote into x", "rotating in place twice"]),
    ("float64 tables", _rope_float64_tables, ["dtype float64", "cos and sin"]),
    ("a float32 result for float64 x", lambda x, offset, base=10000.0: rope_at(x.astype(np.float32), offset, base),
     ["dtype float32", "no conversion to a smaller type"]),
    ("x returned at position 0", lambda x, offset, base=10000.0: x if offset == 0 and x.shape[1] == 1 else
     rope_at(x, offset, base), ["shares memory with x"]),
    ("no rotation at offset 0", lambda x, offset, base=10000.0: x.copy() if offset == 0 else rope_at(x, offset, base),
     ["unrotated"]),
    ("forgot return", lambda x, offset, base=10000.0: None, ["returned None"]),
]


# ------------------------------------------------------------------ 5. cache_append, wrong answers

def _ca_checked(write):
    """cache_append with the overflow check, writing with `write(keys, values, length, k_new, v_new)`."""
    def fn(keys, values, length, k_new, v_new):
        t = k_new.shape[1]
        if length + t > keys.shape[1]:
            raise ValueError(f"cache full: {length} + {t} > max_len {keys.shape[1]}")
        return write(keys, values, length, k_new, v_new)
    return fn


def _ca_row0(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    keys[:, :t] = k_new
    values[:, :t] = v_new
    return length + t


def _ca_off_by_one(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    keys[:, length + 1:length + 1 + t] = k_new
    values[:, length + 1:length + 1 + t] = v_new
    return length + t


def _ca_old_length(keys, values, length, k_new, v_new):
    cache_append(keys, values, length, k_new, v_new)
    return length


def _ca_t_new(keys, values, length, k_new, v_new):
    return cache_append(keys, values, length, k_new, v_new) - length


def _ca_concatenate(keys, values, length, k_new, v_new):
    keys = np.concatenate([keys[:, :length], k_new], axis=1)       # a new array; the caller's is unchanged
    values = np.concatenate([values[:, :length], v_new], axis=1)
    return keys.shape[1]


def _ca_heads_axis(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    keys[length:length + t] = k_new                      # slices the heads, axis 0
    values[length:length + t] = v_new
    return length + t


def _ca_keys_only(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    keys[:, length:length + t] = k_new
    return length + t


def _ca_values_only(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    values[:, length:length + t] = v_new
    return length + t


def _ca_swapped(keys, values, length, k_new, v_new):
    return cache_append(keys, values, length, v_new, k_new)


def _ca_rotate_again(keys, values, length, k_new, v_new):
    """Rotates the (already rotated) keys at their positions before storing them: keys rotated twice."""
    return cache_append(keys, values, length, rope_at(k_new, length), v_new)


def _ca_clear_rest(keys, values, length, k_new, v_new):
    keys[:, length:] = 0.0                               # "tidy": zeroes the unwritten rows too
    values[:, length:] = 0.0
    return cache_append(keys, values, length, k_new, v_new)


def _ca_no_check(keys, values, length, k_new, v_new):
    t = k_new.shape[1]
    keys[:, length:length + t] = k_new                   # NumPy's broadcast error near the end
    values[:, length:length + t] = v_new
    return length + t


def _ca_truncate(keys, values, length, k_new, v_new):
    room = min(k_new.shape[1], keys.shape[1] - length)   # writes what fits, silently drops the rest
    keys[:, length:length + room] = k_new[:, :room]
    values[:, length:length + room] = v_new[:, :room]
    return min(length + k_new.shape[1], keys.shape[1])


def _ca_assert(keys, values, length, k_new, v_new):
    assert length + k_new.shape[1] <= keys.shape[1], "cache full"
    return cache_append(keys, values, length, k_new, v_new)


def _ca_bare_message(keys, values, length, k_new, v_new):
    if length + k_new.shape[1] > keys.shape[1]:
        raise ValueError("the KV cache is full")
    return cache_append(keys, values, length, k_new, v_new)


def _ca_write_then_raise(keys, values, length, k_new, v_new):
    room = min(k_new.shape[1], keys.shape[1] - length)
    keys[:, length:length + room] = k_new[:, :room]
    values[:, length:length + room] = v_new[:, :room]
    if length + k_new.shape[1] > keys.shape[1]:
        raise ValueError(f"{length} + {k_new.shape[1]} rows exceed max_len {keys.shape[1]}")
    return length + k_new.shape[1]


def _ca_tuple(keys, values, length, k_new, v_new):
    return keys, values, cache_append(keys, values, length, k_new, v_new)


def _ca_float(keys, values, length, k_new, v_new):
    return float(cache_append(keys, values, length, k_new, v_new))


def _ca_overflow_too_early(keys, values, length, k_new, v_new):
    if length + k_new.shape[1] >= keys.shape[1]:         # >=: a cache filled exactly is refused
        raise ValueError(f"{length} + {k_new.shape[1]} rows: max_len {keys.shape[1]}")
    return cache_append(keys, values, length, k_new, v_new)


def _ca_mutates_new(keys, values, length, k_new, v_new):
    k_new *= 1.0
    return cache_append(keys, values, length, k_new, v_new)


CACHE_WRONG = [
    ("overwrites row 0", _ca_checked(_ca_row0), ["rows 0..", "after the 4 cached rows"]),
    ("one row too far", _ca_checked(_ca_off_by_one), ["written at rows 1..4", "= 0..3"]),
    ("returns the old length", _ca_old_length, ["old length"]),
    ("returns t_new", _ca_t_new, ["that is t_new"]),
    ("np.concatenate (rebinding)", _ca_checked(_ca_concatenate), ["did not change", "np.concatenate"]),
    ("rows of the heads axis", _ca_checked(_ca_heads_axis), ["positions are axis 1", "slices the heads"]),
    ("keys only", _ca_checked(_ca_keys_only), ["only the keys were written"]),
    ("values only", _ca_checked(_ca_values_only), ["only the values were written"]),
    ("keys and values swapped", _ca_swapped, ["keys went into values"]),
    ("keys rotated again", _ca_checked(_ca_rotate_again), ["ALREADY rotated", "twice"]),
    ("unwritten rows cleared", _ca_checked(_ca_clear_rest), ["outside the new rows"]),
    ("no overflow check", _ca_no_check, ["broadcast error", "BEFORE writing"]),
    ("silently truncated", _ca_truncate, ["do not fit", "silently truncated"]),
    ("assert", _ca_assert, ["AssertionError", "expected a ValueError"]),
    ("message without sizes", _ca_bare_message, ["name both sizes"]),
    ("writes, then raises", _ca_write_then_raise, ["wrote into the cache first"]),
    ("a tuple returned", _ca_tuple, ["return only the new length"]),
    ("a float returned", _ca_float, ["expected the new length as an int"]),
    ("an exact fit refused", _ca_overflow_too_early, ["fit in max_len"]),
    ("k_new written in place", _ca_mutates_new, ["wrote into k_new or v_new"]),
    ("forgot return", lambda k, v, n, kn, vn: (cache_append(k, v, n, kn, vn), None)[1], ["returned None"]),
]


# ------------------------------------------------------------------ 6. greedy_generate, wrong answers

def _gg_with_prompt(step_fn, prompt_ids, n):
    return list(prompt_ids) + greedy_generate(step_fn, prompt_ids, n)


def _gg_count(extra):
    def fn(step_fn, prompt_ids, n):
        ids, new = list(prompt_ids), []
        for _ in range(n + extra):
            token = int(np.argmax(step_fn(ids)))
            new.append(token)
            ids.append(token)
        return new
    return fn


def _gg_last_token(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for i in range(n):
        token = int(np.argmax(step_fn(ids if i == 0 else ids[-1:])))      # "the cache has the rest"
        new.append(token)
        ids.append(token)
    return new


def _gg_not_appended(step_fn, prompt_ids, n):
    ids = list(prompt_ids)
    return [int(np.argmax(step_fn(ids))) for _ in range(n)]


def _gg_sampling(step_fn, prompt_ids, n):
    rng = np.random.default_rng(0)
    ids, new = list(prompt_ids), []
    for _ in range(n):
        logits = step_fn(ids).astype(np.float64)
        p = np.exp(logits - logits.max())
        token = int(rng.choice(len(p), p=p / p.sum()))
        new.append(token)
        ids.append(token)
    return new


def _gg_argsort(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        token = int(np.argsort(step_fn(ids), kind="stable")[-1])           # the LAST index among ties
        new.append(token)
        ids.append(token)
    return new


def _gg_argmin(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        token = int(np.argmin(step_fn(ids)))
        new.append(token)
        ids.append(token)
    return new


def _gg_last_row(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        token = int(np.argmax(step_fn(ids)[-1]))                           # as if step_fn returned (T, vocab)
        new.append(token)
        ids.append(token)
    return new


def _gg_axis1(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        token = int(np.argmax(step_fn(ids), axis=1))
        new.append(token)
        ids.append(token)
    return new


def _gg_mutates_prompt(step_fn, prompt_ids, n):
    ids, new = prompt_ids, []                                              # the caller's list itself
    for _ in range(n):
        token = int(np.argmax(step_fn(ids)))
        new.append(token)
        ids.append(token)
    return new


def _gg_list_method(step_fn, prompt_ids, n):
    ids, new = prompt_ids.copy(), []                                       # an array's copy has no .append
    for _ in range(n):
        token = int(np.argmax(step_fn(ids)))
        new.append(token)
        ids.append(token)
    return new


def _gg_int_call(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        token = int(np.argmax(step_fn(ids[-1])))
        new.append(token)
        ids.append(token)
    return new


def _gg_probabilities(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    for _ in range(n):
        logits = step_fn(ids)
        new.append(float(logits.max()))                                    # the value, not the index
        ids.append(int(np.argmax(logits)))
    return new


def _gg_extra_call(step_fn, prompt_ids, n):
    ids, new = list(prompt_ids), []
    logits = step_fn(ids)
    for _ in range(n):
        token = int(np.argmax(logits))
        new.append(token)
        ids.append(token)
        logits = step_fn(ids)                                              # one call too many at the end
    return new


GREEDY_WRONG = [
    ("the prompt included", _gg_with_prompt, ["starts with the prompt", "NEW tokens"]),
    ("n + 1 tokens", _gg_count(1), ["one token too many"]),
    ("n - 1 tokens", _gg_count(-1), ["one token too few"]),
    ("only the last token fed", _gg_last_token, ["only the last token", "WHOLE sequence"]),
    ("tokens not appended", _gg_not_appended, ["the prompt only", "append"]),
    ("sampling", _gg_sampling, ["largest logit", "no sampling"]),
    ("ties to the last index", _gg_argsort, ["FIRST index", "np.argsort"]),
    ("argmin", _gg_argmin, ["SMALLEST logit"]),
    ("argmax of one number", _gg_last_row, ["every token is 0", "(vocab,)"]),
    ("argmax over axis 1", _gg_axis1, ["1-D", "np.argmax(logits)", "in _gg_axis1"]),
    ("the caller's prompt appended to", _gg_mutates_prompt, ["changed the caller's prompt_ids", "list(prompt_ids)"]),
    ("list methods on an array", _gg_list_method, ["AttributeError", "ids = list(prompt_ids)"]),
    ("step_fn called with an int", _gg_int_call, ["single int", "whole sequence"]),
    ("the max logit returned", _gg_probabilities, ["INDEX of the largest"]),
    ("an extra step_fn call", _gg_extra_call, ["called", "once per generated token"]),
    ("a 2-D array returned", lambda f, p, n: np.array([greedy_generate(f, p, n)]), ["shape (1,"]),
    ("forgot return", lambda f, p, n: None, ["returned None"]),
]


WRONG = ([(ch07.causal_mask, fn, words, f"mask: {name}") for name, fn, words in MASK_WRONG]
         + [(ch07.masked_softmax, fn, words, f"softmax: {name}") for name, fn, words in SOFTMAX_WRONG]
         + [(ch07.attend_one, fn, words, f"attend: {name}") for name, fn, words in ATTEND_WRONG]
         + [(ch07.rope_at, fn, words, f"rope: {name}") for name, fn, words in ROPE_WRONG]
         + [(ch07.cache_append, fn, words, f"cache: {name}") for name, fn, words in CACHE_WRONG]
         + [(ch07.greedy_generate, fn, words, f"greedy: {name}") for name, fn, words in GREEDY_WRONG])


@pytest.mark.parametrize("checker, fn, words", [w[:3] for w in WRONG], ids=[w[3] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, fn, words):
    result = checker(fn, show=False)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _mask_tril(t_q, t_k, offset=0):
    return np.tril(np.ones((t_q, t_k), dtype=bool), k=offset)


def _mask_tall_slice(t_q, t_k, offset=0):
    return np.tril(np.ones((offset + t_q, t_k), dtype=bool))[offset:]


def _mask_loops(t_q, t_k, offset=0):
    mask = np.zeros((t_q, t_k), dtype=bool)
    for i in range(t_q):
        for j in range(min(t_k, offset + i + 1)):
            mask[i, j] = True
    return mask


def _sm_fill_1e9(scores, mask):
    filled = np.where(mask, scores, -1e9)
    e = np.exp(filled - filled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sm_where_max(scores, mask):
    m = np.max(scores, axis=-1, keepdims=True, where=mask, initial=-np.inf)
    e = np.where(mask, np.exp(scores - m), 0)          # overflows harmlessly in the discarded masked branch
    return (e / e.sum(axis=-1, keepdims=True)).astype(scores.dtype)


def _sm_rows(scores, mask):
    full = np.broadcast_to(mask, scores.shape)
    out = np.zeros_like(scores)
    for index in np.ndindex(scores.shape[:-1]):
        row, keep = scores[index], full[index]
        e = np.exp(row[keep] - row[keep].max())
        out[index][keep] = e / e.sum()
    return out


def _att_heads_loop(q, keys, values, length):
    out = np.empty_like(q)
    for h in range(q.shape[0]):
        s = keys[h, :length] @ q[h] / math.sqrt(q.shape[1])
        w = np.exp(s - s.max())
        out[h] = (w / w.sum()) @ values[h, :length]
    return out


def _att_float64(q, keys, values, length):
    return attend_one(q.astype(np.float64), keys[:, :length].astype(np.float64),
                      values[:, :length].astype(np.float64), length).astype(q.dtype)


def _rope_complex(x, offset, base=10000.0):
    d = x.shape[-1]
    h = d // 2
    angles = (offset + np.arange(x.shape[1]))[:, None] * base ** (-np.arange(0, d, 2) / d)
    z = (x[..., :h] + 1j * x[..., h:]) * np.exp(1j * angles)
    return np.concatenate([z.real, z.imag], axis=-1).astype(x.dtype)


def _rope_tables(x, offset, base=10000.0):
    n_head, t, d = x.shape
    inv_freq = 1.0 / base ** (np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.outer(np.arange(offset + t), inv_freq)[offset:]          # the whole table, then its rows
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1).astype(x.dtype)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1).astype(x.dtype)
    rotated_half = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], axis=-1)   # Hugging Face's rotate_half
    return x * cos + rotated_half * sin


def _rope_float32(x, offset, base=10000.0):
    """Every step in x's dtype, float32 angles included (good to about 1e-5 at position 300)."""
    n_head, t, d = x.shape
    positions = np.arange(offset, offset + t, dtype=x.dtype)
    inv_freq = x.dtype.type(base) ** (-np.arange(0, d, 2, dtype=x.dtype) / x.dtype.type(d))
    angles = positions[:, None] * inv_freq[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    x1, x2 = x[..., :d // 2], x[..., d // 2:]
    out = np.empty_like(x)
    out[..., :d // 2] = x1 * cos - x2 * sin
    out[..., d // 2:] = x1 * sin + x2 * cos
    return out


def _ca_copyto(keys, values, length, k_new, v_new):
    t_new, max_len = k_new.shape[1], keys.shape[1]
    if length + t_new > max_len:
        raise ValueError(f"cannot append {t_new} rows to a cache holding {length} of max_len={max_len}")
    np.copyto(keys[:, length:length + t_new], k_new)
    np.copyto(values[:, length:length + t_new], v_new)
    return length + t_new


def _gg_array(step_fn, prompt_ids, n):
    ids = np.asarray(prompt_ids)
    for _ in range(n):
        logits = step_fn(ids)
        p = np.exp(logits - logits.max())
        ids = np.append(ids, np.argmax(p / p.sum()))                     # argmax of the softmax: the same token
    return ids[len(prompt_ids):]


def _gg_tuple(step_fn, prompt_ids, n):
    ids = tuple(int(i) for i in prompt_ids)
    for _ in range(n):
        ids = ids + (int(np.argmax(step_fn(ids))),)
    return ids[len(prompt_ids):]


RIGHT = [
    (ch07.causal_mask, _mask_tril, "mask: np.tril(k=offset)"),
    (ch07.causal_mask, _mask_tall_slice, "mask: rows of a taller tril"),
    (ch07.causal_mask, _mask_loops, "mask: loops"),
    (ch07.causal_mask, lambda t_q, t_k, offset=0: np.tri(t_q, t_k, k=offset, dtype=bool), "mask: np.tri"),
    (ch07.causal_mask, lambda t_q, t_k, offset=0: ~np.triu(np.ones((t_q, t_k), bool), k=offset + 1), "mask: ~triu"),
    (ch07.masked_softmax, _sm_fill_1e9, "softmax: a fill of -1e9"),
    (ch07.masked_softmax, _sm_where_max, "softmax: max(where=mask)"),
    (ch07.masked_softmax, _sm_rows, "softmax: row by row"),
    (ch07.attend_one, _att_heads_loop, "attend: a loop over heads"),
    (ch07.attend_one, _att_float64, "attend: float64 inside, cast back"),
    (ch07.rope_at, _rope_complex, "rope: complex multiplication"),
    (ch07.rope_at, _rope_tables, "rope: Hugging Face's rotate_half with a position table"),
    (ch07.rope_at, _rope_float32, "rope: float32 arithmetic throughout"),
    (ch07.cache_append, _ca_copyto, "cache: np.copyto, another message"),
    (ch07.greedy_generate, _gg_array, "greedy: a NumPy array, argmax of the softmax"),
    (ch07.greedy_generate, _gg_tuple, "greedy: tuples"),
]


@pytest.mark.parametrize("checker, fn", [r[:2] for r in RIGHT], ids=[r[2] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, fn):
    result = checker(fn, show=False)
    assert result.status == "pass", result.message


# ------------------------------------------------------------------ the checkers' own pieces

def test_rope_reference_depends_on_relative_position_only():
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((1, 1, 16)), rng.standard_normal((1, 1, 16))
    scores = [float((ch07._rope(q, [m]) * ch07._rope(k, [n])).sum()) for m, n in ((3, 1), (10, 8), (102, 100))]
    assert max(scores) - min(scores) < 1e-12
    assert abs(float((ch07._rope(q, [5]) * ch07._rope(k, [1])).sum()) - scores[0]) > 1e-3


def test_toy_model_depends_on_the_whole_prefix_and_has_ties():
    model = ch07._ToyModel(13, 0, ties=True)
    assert not np.array_equal(model.logits([1, 2, 3]), model.logits([3]))
    assert not np.array_equal(model.logits([1, 2, 3]), model.logits([2, 1, 3, 0]))
    assert all((row == row.max()).sum() == 2 for row in model.table)


def test_endless_loop_is_stopped_by_the_case_time_limit(monkeypatch):
    import fastgrad.check._base as base
    monkeypatch.setattr(base, "TIME_LIMIT", 0.3)

    def endless(step_fn, prompt_ids, n):
        ids, new = list(prompt_ids), []
        while len(new) < n:                          # the token is appended to ids but never to new
            ids.append(int(np.argmax(step_fn(ids))))
        return new
    result = ch07.greedy_generate(endless, show=False)
    assert result.status == "fail" and "did not finish within 0.3 s" in result.message


# ------------------------------------------------------------------ references against the library and torch

def test_rope_reference_matches_the_library_op():
    fg = pytest.importorskip("fastgrad")
    x = np.random.default_rng(1).standard_normal((2, 5, 8))
    got = fg.Tensor(x).rope(offset=7).data
    np.testing.assert_allclose(got, ch07._rope(x, 7 + np.arange(5)), rtol=1e-12, atol=1e-12)


def test_masked_softmax_reference_matches_the_library_causal_softmax():
    fg = pytest.importorskip("fastgrad")
    s = np.random.default_rng(2).standard_normal((2, 3, 7))
    got = fg.Tensor(s).causal_softmax(offset=4, scale=1.0).data
    np.testing.assert_allclose(got, ch07._softmax_ref(s, ch07._ref_mask(3, 7, 4)), rtol=1e-12, atol=1e-15)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_attend_reference_matches_torch_sdpa(torch):
    rng = np.random.default_rng(3)
    q, keys, values = rng.standard_normal((4, 16)), rng.standard_normal((4, 10, 16)), rng.standard_normal((4, 10, 16))
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q[:, None]), torch.tensor(keys[:, :7]), torch.tensor(values[:, :7]))[:, 0].numpy()
    np.testing.assert_allclose(ch07._attend_ref(q, keys, values, 7), want, rtol=1e-10, atol=1e-12)


def test_masked_softmax_reference_matches_torch(torch):
    rng = np.random.default_rng(4)
    s = rng.standard_normal((2, 5, 5)) * 3
    mask = ch07._ref_mask(5, 5, 0)
    want = torch.softmax(torch.tensor(s).masked_fill(~torch.tensor(mask), float("-inf")), dim=-1).numpy()
    np.testing.assert_allclose(ch07._softmax_ref(s, mask), want, rtol=1e-12, atol=1e-15)
