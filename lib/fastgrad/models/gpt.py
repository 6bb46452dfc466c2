"""A small decoder-only transformer (chapter 07): a character-level GPT trained with
fastgrad itself, the KV cache, and generation with and without it.

    loaded = load_gpt()                                   # the shipped Shakespeare weights
    model, tok = loaded.model, loaded.tokenizer
    out = generate(model, tok.encode("ROMEO:"), 200, temperature=0.8, top_k=20, seed=0)
    print(tok.decode(out.tokens))

The model (`GPT`, configured by `GPTConfig`), built from `fastgrad.nn` modules:

    token embedding (vocab_size, d_model)           no position table: positions enter
    n_layer pre-norm blocks:                        through RoPE inside attention
        x = x + Attention(RMSNorm(x))               causal multi-head self-attention, RoPE
        x = x + MLP(RMSNorm(x))                     d_model -> 4 d_model, GELU, -> d_model
    RMSNorm, head (d_model -> vocab_size)           tied to the embedding or a Linear

Two ways to run it:

- `model(ids)` on Tensors records the graph: training (`tools/train_gpt.py`).
- the *lean* path on NumPy arrays (`model.logits_numpy`, `model.step`): no Tensor, no
  graph, no per-op bookkeeping, the op table's forward functions called directly. This
  is what generation uses, in one of two ways that share ONE sampling loop (`generate`):

  recompute (cache=False)  every new token runs the whole sequence through the model:
                           step t costs O(t) projections and O(t^2) attention
  cached (cache=True)      the keys and values of earlier positions are kept in a
                           `KVCache`; each step projects Q, K, V for the new token only,
                           rotates q and k at the token's ABSOLUTE position, appends k, v
                           to the cache, and attends with one query over the cache:
                           step t costs O(1) projections and O(t) attention

Both compute the same logits up to float32 rounding (tests/test_gpt.py checks 200 tokens
from several prompts) because RoPE is applied at the same absolute positions and the
causal mask with `offset` = positions already cached lets the new query see exactly the
keys the full sequence would let it see.

Weights, vocabulary, config and training log live in one `.npz` (`save_gpt` / `load_gpt`),
read with `allow_pickle=False` by `fastgrad.io.load`.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from .. import io, nn
from ..autograd import Tensor, apply, no_grad
from ..datasets import CharTokenizer
from ..functional import cross_entropy
from ..ops.attention import _causal_softmax_forward, _rms_norm_forward, _rope_forward
from ..ops.elementwise import _gelu_forward

__all__ = ["GPTConfig", "GPT", "RMSNorm", "CausalSelfAttention", "MLP", "Block", "KVCache", "Generation",
           "generate", "sample_next", "get_batch", "evaluate_loss", "save_gpt", "load_gpt", "LoadedGPT",
           "WEIGHTS_PATH"]

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "gpt_shakespeare.npz"


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a `GPT`.

    vocab_size   number of tokens (65 characters for Tiny Shakespeare)
    block_size   the training context length; generation may go further (RoPE has no
                 position table), though the model never saw longer contexts
    n_layer, n_head, d_model   blocks, attention heads, width; d_model % n_head == 0 and
                 the head dimension d_model // n_head must be even (RoPE rotates pairs)
    mlp_ratio    hidden width of the MLP is mlp_ratio * d_model
    tie_weights  True: the head reuses the token embedding (logits = x @ embedding.T)
    rope_base    RoPE's base: pair i turns by base**(-2i/head_dim) radians per position
    norm_eps     RMSNorm's eps
    """

    vocab_size: int = 65
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    mlp_ratio: int = 4
    tie_weights: bool = False
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "mlp_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"GPTConfig: d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if self.head_dim % 2:
            raise ValueError(f"GPTConfig: the head dimension d_model // n_head = {self.head_dim} must be "
                             "even (RoPE rotates pairs of features)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


# ---------------------------------------------------------------------- modules
def _normal(rng, shape, std) -> nn.Parameter:
    return nn.Parameter(rng.normal(0.0, std, shape), dtype=np.float32)


def _linear(d_in, d_out, rng, std) -> nn.Linear:
    """A bias-free Linear with N(0, std) weights (GPT-2's initialisation)."""
    layer = nn.Linear(d_in, d_out, bias=False, seed=rng)
    layer.weight = _normal(rng, (d_out, d_in), std)
    return layer


class RMSNorm(nn.Module):
    """x / sqrt(mean(x**2) + eps) * weight over the last axis (the op `rms_norm`)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(np.ones(dim), dtype=np.float32)

    def forward(self, x: Tensor) -> Tensor:
        return apply("rms_norm", x, self.weight, eps=self.eps)

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """The same on a NumPy array (the lean inference path)."""
        return _rms_norm_forward(x, self.weight.data, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps:g}"


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE: one (d, 3d) projection to Q, K, V for all
    heads at once, rotate q and k, softmax(q k^T / sqrt(head_dim)) with the causal mask,
    weighted sum of v, heads joined, output projection (d, d). No biases."""

    def __init__(self, cfg: GPTConfig, rng):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.qkv = _linear(d, 3 * d, rng, 0.02)
        self.proj = _linear(d, d, rng, 0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(self, x: Tensor, batch: int, length: int) -> Tensor:
        """x (batch * length, d) -> (batch * length, d); every sequence starts at position 0."""
        cfg = self.cfg
        h, hd = cfg.n_head, cfg.head_dim
        qkv = self.qkv(x).reshape(batch, length, 3, h, hd).permute(2, 0, 3, 1, 4)   # (3, B, H, T, hd)
        q = qkv[0].rope(offset=0, base=cfg.rope_base)
        k = qkv[1].rope(offset=0, base=cfg.rope_base)
        att = (q @ k.transpose(-1, -2)).causal_softmax(offset=0, scale=1.0 / math.sqrt(hd))
        y = (att @ qkv[2]).permute(0, 2, 1, 3).reshape(batch * length, cfg.d_model)
        return self.proj(y)

    # lean path: one sequence, NumPy arrays
    def qkv_numpy(self, x: np.ndarray, pos: int):
        """q, k, v (n_head, T, head_dim) of the rows x (T, d) at positions pos .. pos + T - 1,
        q and k rotated at those absolute positions."""
        cfg = self.cfg
        t = x.shape[0]
        qkv = (x @ self.qkv.weight.data.T).reshape(t, 3, cfg.n_head, cfg.head_dim).transpose(1, 2, 0, 3)
        return (_rope_forward(qkv[0], offset=pos, base=cfg.rope_base),
                _rope_forward(qkv[1], offset=pos, base=cfg.rope_base), qkv[2])

    def attend_numpy(self, q: np.ndarray, keys: np.ndarray, values: np.ndarray, pos: int) -> np.ndarray:
        """Queries q (H, T, hd) at positions pos.. against keys/values (H, pos + T, hd):
        (T, d) after the output projection."""
        t = q.shape[1]
        scores = q @ keys.transpose(0, 2, 1)                                  # (H, T, pos + T)
        p = _causal_softmax_forward(scores, offset=pos, scale=1.0 / math.sqrt(self.cfg.head_dim))
        y = (p @ values).transpose(1, 0, 2).reshape(t, self.cfg.d_model)
        return y @ self.proj.weight.data.T


class MLP(nn.Module):
    """d -> mlp_ratio * d, GELU (tanh approximation), -> d. No biases."""

    def __init__(self, cfg: GPTConfig, rng):
        super().__init__()
        d, hidden = cfg.d_model, cfg.mlp_ratio * cfg.d_model
        self.fc = _linear(d, hidden, rng, 0.02)
        self.proj = _linear(hidden, d, rng, 0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.fc(x).gelu())

    def numpy(self, x: np.ndarray) -> np.ndarray:
        return _gelu_forward(x @ self.fc.weight.data.T) @ self.proj.weight.data.T


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(x))."""

    def __init__(self, cfg: GPTConfig, rng):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = CausalSelfAttention(cfg, rng)
        self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg, rng)

    def forward(self, x: Tensor, batch: int, length: int) -> Tensor:
        x = x + self.attn(self.norm1(x), batch, length)
        return x + self.mlp(self.norm2(x))

    def numpy(self, x: np.ndarray, pos: int = 0, cache: "KVCache | None" = None, layer: int = 0):
        """The block on rows x (T, d) at positions pos.. of one sequence. Without a cache,
        x must be the whole sequence (pos = 0); with one, the new rows' keys and values are
        appended to layer `layer` of the cache and the queries attend over all of it."""
        q, k, v = self.attn.qkv_numpy(self.norm1.numpy(x), pos)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        x = x + self.attn.attend_numpy(q, k, v, pos)
        return x + self.mlp.numpy(self.norm2.numpy(x))


class GPT(nn.Module):
    """The decoder-only transformer of the module docstring. `GPT(cfg, seed=0)`.

    model(ids)            ids: integer array (B, T) with T <= block_size -> logits Tensor
                          (B, T, vocab_size), recording the graph for training
    model.loss(x, y)      mean cross-entropy of the next-token logits against targets y
    model.logits_numpy(ids)   lean path, one sequence (T,) -> logits (T, vocab) as NumPy
    model.step(ids, cache)    lean path with a KVCache: logits (T, vocab) of ids, the
                          next T tokens of the sequence the cache holds
    """

    def __init__(self, cfg: GPTConfig | None = None, seed=0):
        super().__init__()
        cfg = GPTConfig() if cfg is None else cfg
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model, seed=rng)
        self.embedding.weight = _normal(rng, (cfg.vocab_size, cfg.d_model), 0.02)
        self.blocks = [Block(cfg, rng) for _ in range(cfg.n_layer)]
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = None if cfg.tie_weights else _linear(cfg.d_model, cfg.vocab_size, rng, 0.02)

    def _head_weight(self) -> Tensor:
        return self.embedding.weight if self.head is None else self.head.weight

    def _check_ids(self, ids, what: str) -> np.ndarray:
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind == "f" and np.all(ids == np.round(ids)):
            ids = ids.astype(np.int64)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"GPT.{what}: token ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab_size):
            raise ValueError(f"GPT.{what}: token ids must lie in [0, {self.cfg.vocab_size}), got values "
                             f"from {ids.min()} to {ids.max()}")
        return ids

    def forward(self, ids) -> Tensor:
        """Logits (B, T, vocab_size) for integer ids (B, T); position t sees ids[:, :t + 1]."""
        ids = self._check_ids(ids, "forward")
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise ValueError(f"GPT.forward expects ids of shape (batch, length), got {ids.shape}")
        b, t = ids.shape
        if t > self.cfg.block_size:
            raise ValueError(f"GPT.forward: length {t} exceeds block_size {self.cfg.block_size}")
        x = self.embedding(ids.reshape(-1))                      # (B*T, d): the residual stream
        for block in self.blocks:
            x = block(x, b, t)
        head = self._head_weight()
        logits = self.norm(x) @ head.T
        return logits.reshape(b, t, self.cfg.vocab_size)

    def loss(self, x, y) -> Tensor:
        """Mean next-token cross-entropy (nats per token) of ids x (B, T) against targets y (B, T)."""
        y = self._check_ids(y, "loss")
        logits = self(x)
        return cross_entropy(logits.reshape(-1, self.cfg.vocab_size), y.reshape(-1))

    # ------------------------------------------------------------ lean path
    def embed_numpy(self, ids) -> np.ndarray:
        return self.embedding.weight.data[ids]

    def head_numpy(self, x: np.ndarray) -> np.ndarray:
        """Final RMSNorm and output projection of rows x (T, d): logits (T, vocab)."""
        return self.norm.numpy(x) @ self._head_weight().data.T

    def logits_numpy(self, ids, last_only: bool = False) -> np.ndarray:
        """Logits (T, vocab) of one whole sequence ids (T,), no cache (the recompute path);
        last_only=True: only the last position's, (1, vocab) (the head skips the others)."""
        ids = self._check_ids(ids, "logits_numpy")
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"GPT.logits_numpy expects one non-empty sequence (T,), got shape {ids.shape}")
        x = self.embed_numpy(ids)
        for block in self.blocks:
            x = block.numpy(x)
        return self.head_numpy(x[-1:] if last_only else x)

    def step(self, ids, cache: "KVCache", last_only: bool = False) -> np.ndarray:
        """Logits (T, vocab) of the next T tokens `ids` of the sequence held by `cache`
        (T = the prompt for the first call, then 1 per generated token). Their positions are
        cache.length .. cache.length + T - 1; their keys and values are appended.
        last_only=True: only the last position's logits, (1, vocab)."""
        ids = self._check_ids(ids, "step").reshape(-1)
        if ids.size == 0:
            raise ValueError("GPT.step: no tokens given")
        pos = cache.length
        x = self.embed_numpy(ids)
        for layer, block in enumerate(self.blocks):
            x = block.numpy(x, pos, cache, layer)
        return self.head_numpy(x[-1:] if last_only else x)

    def new_cache(self, max_len: int, dtype=np.float32) -> "KVCache":
        """An empty KVCache for sequences of up to max_len tokens of this model."""
        cfg = self.cfg
        return KVCache(cfg.n_layer, cfg.n_head, max_len, cfg.head_dim, dtype=dtype)


# --------------------------------------------------------------------- KV cache
class KVCache:
    """Keys and values of the positions seen so far, for every layer of a model.

    KVCache(n_layer, n_head, max_len, head_dim): per layer, two preallocated arrays
    `keys[layer]`, `values[layer]` of shape (n_head, max_len, head_dim), zeros at first.
    `append(layer, k, v)` writes k, v (n_head, t, head_dim) at positions length .. length
    + t - 1 of that layer, in place (nothing is reallocated), and returns views of the
    filled part (n_head, length + t, head_dim). `length` is the number of positions held
    by every layer; it advances once each layer has appended its t positions.

    The keys are stored AFTER rotation (RoPE at their absolute positions), so they are
    never rotated again: a step rotates only its own new query and key.
    """

    def __init__(self, n_layer: int, n_head: int, max_len: int, head_dim: int, dtype=np.float32):
        for name, v in (("n_layer", n_layer), ("n_head", n_head), ("max_len", max_len), ("head_dim", head_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"KVCache: {name} must be a positive int, got {v!r}")
        shape = (int(n_head), int(max_len), int(head_dim))
        self.keys = [np.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.values = [np.zeros(shape, dtype=dtype) for _ in range(n_layer)]
        self.lengths = np.zeros(n_layer, dtype=np.int64)
        self.max_len = int(max_len)

    @property
    def length(self) -> int:
        """Positions held by every layer (layers mid-step may hold more)."""
        return int(self.lengths.min())

    def __len__(self) -> int:
        return self.length

    @property
    def n_layer(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        """Memory of the preallocated arrays in bytes: 2 * n_layer * n_head * max_len * head_dim * itemsize."""
        return sum(a.nbytes for a in self.keys) + sum(a.nbytes for a in self.values)

    def append(self, layer: int, k: np.ndarray, v: np.ndarray):
        """Write k, v (n_head, t, head_dim) after the positions layer `layer` holds; return
        (keys, values) of that layer up to and including them, as views."""
        keys, values = self.keys[layer], self.values[layer]
        if k.shape != v.shape or k.ndim != 3 or k.shape[0] != keys.shape[0] or k.shape[2] != keys.shape[2]:
            raise ValueError(f"KVCache.append: k {k.shape} and v {v.shape} must both be (n_head={keys.shape[0]}, "
                             f"t, head_dim={keys.shape[2]})")
        start = int(self.lengths[layer])
        end = start + k.shape[1]
        if end > self.max_len:
            raise ValueError(f"KVCache.append: layer {layer} holds {start} positions; {k.shape[1]} more "
                             f"exceed max_len={self.max_len}")
        keys[:, start:end] = k
        values[:, start:end] = v
        self.lengths[layer] = end
        return keys[:, :end], values[:, :end]

    def reset(self) -> None:
        """Forget every position (the arrays are kept for the next sequence)."""
        self.lengths[:] = 0

    def __repr__(self) -> str:
        h, m, d = self.keys[0].shape
        return (f"KVCache({self.n_layer} layers x (n_head={h}, max_len={m}, head_dim={d}), length={self.length}, "
                f"{self.nbytes:,} bytes)")


# ------------------------------------------------------------------- generation
def sample_next(logits: np.ndarray, temperature: float | None, top_k: int | None, rng) -> int:
    """The next token from one row of logits (vocab,).

    temperature 0 or None: greedy (argmax; the first index on ties). Otherwise softmax of
    logits / temperature over the top_k largest logits (all when top_k is None), sampled
    with one uniform draw from `rng` (so both generation paths consume the same stream)."""
    if temperature is None or temperature == 0:
        return int(np.argmax(logits))
    if temperature < 0:
        raise ValueError(f"sample_next: temperature must be >= 0, got {temperature!r}")
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if top_k is not None:
        top_k = int(top_k)
        if top_k < 1:
            raise ValueError(f"sample_next: top_k must be >= 1 or None, got {top_k}")
        if top_k < z.size:
            kth = np.partition(z, -top_k)[-top_k]
            z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max())
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), z.size - 1))


class Generation(NamedTuple):
    """What `generate` returns: the new token ids (n,), the logits each was chosen from
    (n, vocab) when asked for (else None), and the seconds each token took (n,)."""

    tokens: np.ndarray
    logits: np.ndarray | None
    seconds: np.ndarray


def generate(model: GPT, prompt_ids, n: int, temperature: float | None = 1.0, top_k: int | None = None,
             seed=None, cache: bool = True, return_logits: bool = False,
             blas_threads: int | None = 1) -> Generation:
    """Generate `n` tokens after `prompt_ids` (a non-empty integer sequence).

    One sampling loop (`sample_next`: greedy when temperature is 0 or None, else
    temperature and top-k with `seed`), two ways to get each step's logits:

      cache=False  recompute: run the whole sequence so far (`logits_numpy`), keep the last row
      cache=True   incremental: one `step` over the prompt fills a `KVCache`, then each new
                   token is one `step` of a single position (its Q/K/V only, RoPE at its
                   absolute position, attention over the cache)

    Runs on the lean NumPy path under `no_grad()`. The context is never cropped: every
    token attends to the whole prompt and all tokens generated before it.

    blas_threads: NumPy's BLAS is held to this many threads while generating (threadpoolctl;
    None leaves it alone). The products of one sequence are small (one row per step with
    the cache). Measured on the 2-core course machine: quiet, one and two BLAS threads were
    level; with another job running, a 150-token recompute forward took about 0.7 s on two
    threads against 26 ms on one (spinning BLAS threads fighting for the cores).
    Returns a `Generation` (tokens, logits if return_logits, seconds per token; with the
    cache, seconds[0] includes running the prompt through the model).
    """
    prompt = model._check_ids(prompt_ids, "generate").reshape(-1)
    if prompt.size == 0:
        raise ValueError("generate: the prompt must hold at least one token")
    n = int(n)
    if n < 0:
        raise ValueError(f"generate: n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    tokens = np.empty(n, dtype=np.int64)
    seconds = np.empty(n)
    kept = np.empty((n, model.cfg.vocab_size), dtype=np.float32) if return_logits else None
    sequence = list(prompt)
    kv = model.new_cache(prompt.size + n) if cache else None
    limit = threadpool_limits(limits=blas_threads) if blas_threads else contextlib.nullcontext()
    with no_grad(), limit:
        for i in range(n):
            start = time.perf_counter()
            if kv is None:
                logits = model.logits_numpy(np.array(sequence), last_only=True)[-1]
            else:
                new = prompt if i == 0 else tokens[i - 1:i]
                logits = model.step(new, kv, last_only=True)[-1]
            token = sample_next(logits, temperature, top_k, rng)
            seconds[i] = time.perf_counter() - start
            tokens[i] = token
            sequence.append(token)
            if kept is not None:
                kept[i] = logits
    return Generation(tokens, kept, seconds)


# ----------------------------------------------------------- training helpers
def get_batch(data: np.ndarray, batch_size: int, block_size: int, rng):
    """(x, y), each int64 (batch_size, block_size): random windows of `data` and the same
    windows shifted by one (the next-token targets)."""
    if len(data) <= block_size:
        raise ValueError(f"get_batch: data of {len(data)} tokens is too short for windows of {block_size} + 1")
    starts = rng.integers(0, len(data) - block_size, batch_size)
    window = starts[:, None] + np.arange(block_size + 1)[None, :]
    chunk = np.asarray(data, dtype=np.int64)[window]
    return chunk[:, :-1], chunk[:, 1:]


def evaluate_loss(model: GPT, data: np.ndarray, block_size: int | None = None, batch_size: int = 32,
                  max_windows: int | None = None) -> float:
    """Mean next-token cross-entropy (nats per token) of `model` on `data`, over consecutive
    non-overlapping windows of block_size + 1 tokens (the first max_windows of them, or all),
    under no_grad. Every window starts with no context, as in training."""
    block_size = model.cfg.block_size if block_size is None else int(block_size)
    data = np.asarray(data, dtype=np.int64)
    count = (len(data) - 1) // block_size
    if max_windows is not None:
        count = min(count, int(max_windows))
    if count < 1:
        raise ValueError(f"evaluate_loss: {len(data)} tokens hold no window of {block_size} + 1")
    starts = np.arange(count) * block_size
    total = 0.0
    with no_grad():
        for i in range(0, count, batch_size):
            window = starts[i:i + batch_size, None] + np.arange(block_size + 1)[None, :]
            chunk = data[window]
            total += float(model.loss(chunk[:, :-1], chunk[:, 1:]).item()) * len(window)
    return total / count


# ---------------------------------------------------------------- save / load
_CONFIG_TYPES = {f.name: f.type for f in fields(GPTConfig)}


class LoadedGPT(NamedTuple):
    """What `load_gpt` returns: the model, its tokenizer and the training log (name -> array)."""

    model: GPT
    tokenizer: CharTokenizer
    log: dict


def save_gpt(path, model: GPT, tokenizer: CharTokenizer, log: dict | None = None) -> Path:
    """One `.npz` (via `fastgrad.io.save`, no pickle) holding the weights (`param.<name>`),
    the vocabulary as code points (`vocab`), every config field (`config.<field>`) and the
    training log (`log.<name>`: arrays such as per-step losses). Returns the path."""
    if tokenizer.vocab_size != model.cfg.vocab_size:
        raise ValueError(f"save_gpt: the tokenizer has {tokenizer.vocab_size} characters, the model "
                         f"vocab_size is {model.cfg.vocab_size}")
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    arrays["vocab"] = tokenizer.to_array()
    for name, value in asdict(model.cfg).items():
        arrays[f"config.{name}"] = np.asarray(value)
    for name, value in (log or {}).items():
        arrays[f"log.{name}"] = np.asarray(value)
    return io.save(arrays, path)


def load_gpt(path=None) -> LoadedGPT:
    """Read a file written by `save_gpt` (by default the shipped Shakespeare weights,
    `WEIGHTS_PATH`), with `allow_pickle=False`: model (eval mode), tokenizer and log."""
    path = WEIGHTS_PATH if path is None else Path(path)
    arrays = io.load(path)
    missing = [k for k in ("vocab", *(f"config.{f}" for f in _CONFIG_TYPES)) if k not in arrays]
    if missing:
        raise io.WeightFileError(f"{str(path)!r} is not a GPT file written by save_gpt: missing {missing}")
    config = {}
    for name in _CONFIG_TYPES:
        value = arrays[f"config.{name}"].item()
        config[name] = bool(value) if name == "tie_weights" else value
    model = GPT(GPTConfig(**config), seed=0)
    model.load_state_dict({k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")})
    model.eval()
    log = {k[len("log."):]: v for k, v in arrays.items() if k.startswith("log.")}
    return LoadedGPT(model, CharTokenizer.from_array(arrays["vocab"]), log)
