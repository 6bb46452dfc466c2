"""A PyTorch twin of `fastgrad.models.gpt.GPT`, for the generation benchmark and its tests.

Used only by `python -m fastgrad.bench generate` and `tests/test_bench_generate.py`; the
library never imports it (torch is optional: this module imports it at the top, so
import it only when torch is installed).

`TorchGPT.from_fastgrad(model)` builds the same architecture in PyTorch, written the way
a PyTorch user would (nn.Linear without bias, `F.rms_norm`, `F.gelu(approximate="tanh")`,
`F.scaled_dot_product_attention`) and copies the fastgrad model's weights in, float32:

    token embedding -> n_layer x [x + attn(rms_norm(x)), x + mlp(rms_norm(x))] -> rms_norm -> head

with the same conventions as fastgrad: one (3d, d) projection to Q, K, V (in that order,
heads contiguous inside each), RoPE in the "rotate half" layout (feature i paired with
i + head_dim/2, pair i turning by p * base**(-2i/head_dim) at position p; the cos/sin
table computed in float64 and rounded once to float32), scores scaled by
1/sqrt(head_dim), causal (query at absolute position offset + i sees keys j <= offset + i).

`TorchKVCache`: per layer preallocated keys and values (n_head, max_len, head_dim),
written in place; keys stored after rotation. `generate(twin, prompt, n, ...)` mirrors
`fastgrad.models.gpt.generate`: one sampling loop (greedy argmax when temperature is 0
or None, else fastgrad's own `sample_next` on the logits, so both consume the same random
stream), either recomputing the whole sequence per token (cache=False) or one position per
step against the cache (cache=True). Everything runs under `torch.inference_mode()`.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..models.gpt import Generation, sample_next

__all__ = ["TorchGPT", "TorchKVCache", "generate", "rope_tables"]


def rope_tables(length: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin (length, head_dim), each half repeated, for positions 0 .. length - 1:
    angle[p, i] = p * base**(-2i/head_dim) in float64, rounded once to float32."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), x (..., T, head_dim)."""
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], dim=-1) * sin


class TorchKVCache:
    """Keys and values per layer: `keys[l]`, `values[l]` of shape (n_head, max_len,
    head_dim), zeros at first, written in place; `length` positions held (advanced by
    `TorchGPT.step` once every layer has appended)."""

    def __init__(self, n_layer: int, n_head: int, max_len: int, head_dim: int):
        self.keys = torch.zeros(n_layer, n_head, max_len, head_dim)
        self.values = torch.zeros(n_layer, n_head, max_len, head_dim)
        self.max_len = int(max_len)
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (n_head, t, head_dim) at positions length .. length + t - 1 of `layer`;
        return that layer's keys and values up to them (views)."""
        start, end = self.length, self.length + k.shape[1]
        if end > self.max_len:
            raise ValueError(f"TorchKVCache.append: {end} positions exceed max_len={self.max_len}")
        self.keys[layer, :, start:end] = k
        self.values[layer, :, start:end] = v
        return self.keys[layer, :, :end], self.values[layer, :, :end]


class Attention(torch.nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head, self.head_dim = n_head, d_model // n_head
        self.qkv = torch.nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = torch.nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, cos, sin, pos: int, cache: TorchKVCache | None, layer: int):
        """x (T, d): the rows at positions pos .. pos + T - 1 of one sequence; without a
        cache x is the whole sequence (pos = 0)."""
        t = x.shape[0]
        q, k, v = self.qkv(x).view(t, 3, self.n_head, self.head_dim).permute(1, 2, 0, 3)   # (H, T, hd) each
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        if t == 1:                                  # one query sees every cached key: no mask
            y = F.scaled_dot_product_attention(q, k, v)
        elif pos == 0:                              # square, top-left aligned
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:                                       # queries after a cache: key j visible if j <= pos + i
            visible = torch.arange(pos + t)[None, :] <= pos + torch.arange(t)[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.proj(y.transpose(0, 1).reshape(t, -1))


class Block(torch.nn.Module):
    def __init__(self, d_model: int, n_head: int, mlp_ratio: int, eps: float):
        super().__init__()
        self.eps = eps
        self.norm1 = torch.nn.Parameter(torch.ones(d_model))
        self.attn = Attention(d_model, n_head)
        self.norm2 = torch.nn.Parameter(torch.ones(d_model))
        self.fc = torch.nn.Linear(d_model, mlp_ratio * d_model, bias=False)
        self.mlp_proj = torch.nn.Linear(mlp_ratio * d_model, d_model, bias=False)

    def forward(self, x, cos, sin, pos, cache, layer):
        d = x.shape[-1]
        x = x + self.attn(F.rms_norm(x, (d,), self.norm1, self.eps), cos, sin, pos, cache, layer)
        h = F.gelu(self.fc(F.rms_norm(x, (d,), self.norm2, self.eps)), approximate="tanh")
        return x + self.mlp_proj(h)


class TorchGPT(torch.nn.Module):
    """The fastgrad GPT in PyTorch (float32). Build it with `TorchGPT.from_fastgrad(model)`.

    twin.logits(ids)          whole sequence ids (T,) -> logits (T, vocab)
    twin.step(ids, cache)     the next T tokens of the sequence `cache` holds -> logits (T, vocab)
    twin.new_cache(max_len)   an empty TorchKVCache
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.embedding = torch.nn.Embedding(cfg.vocab_size, d)
        self.blocks = torch.nn.ModuleList(Block(d, cfg.n_head, cfg.mlp_ratio, cfg.norm_eps)
                                          for _ in range(cfg.n_layer))
        self.norm = torch.nn.Parameter(torch.ones(d))
        self.head = None if cfg.tie_weights else torch.nn.Linear(d, cfg.vocab_size, bias=False)
        self._tables(max(256, cfg.block_size))

    def _tables(self, length: int) -> None:
        self.cos, self.sin = rope_tables(length, self.cfg.head_dim, self.cfg.rope_base)

    @classmethod
    def from_fastgrad(cls, model) -> "TorchGPT":
        """A twin holding a float32 copy of the weights of the fastgrad GPT `model`.
        Every fastgrad parameter is copied to exactly one twin parameter and vice versa
        (KeyError / ValueError otherwise)."""
        twin = cls(model.cfg)
        names = {"embedding.weight": "embedding.weight", "norm.weight": "norm", "head.weight": "head.weight"}
        for i in range(model.cfg.n_layer):
            p = f"blocks.{i}."
            names.update({p + "norm1.weight": p + "norm1", p + "attn.qkv.weight": p + "attn.qkv.weight",
                          p + "attn.proj.weight": p + "attn.proj.weight", p + "norm2.weight": p + "norm2",
                          p + "mlp.fc.weight": p + "fc.weight", p + "mlp.proj.weight": p + "mlp_proj.weight"})
        state = {names[k]: torch.tensor(np.asarray(v, dtype=np.float32)) for k, v in model.state_dict().items()}
        twin.load_state_dict(state, strict=True)
        return twin.eval()

    def new_cache(self, max_len: int) -> TorchKVCache:
        cfg = self.cfg
        return TorchKVCache(cfg.n_layer, cfg.n_head, max_len, cfg.head_dim)

    def _head(self, x):
        x = F.rms_norm(x, (x.shape[-1],), self.norm, self.cfg.norm_eps)
        return x @ self.embedding.weight.T if self.head is None else self.head(x)

    def _run(self, ids: torch.Tensor, pos: int, cache, last_only: bool):
        t = ids.shape[0]
        if pos + t > self.cos.shape[0]:
            self._tables(1 << (pos + t - 1).bit_length())
        cos, sin = self.cos[pos:pos + t], self.sin[pos:pos + t]
        x = self.embedding(ids)
        for layer, block in enumerate(self.blocks):
            x = block(x, cos, sin, pos, cache, layer)
        return self._head(x[-1:] if last_only else x)

    def logits(self, ids, last_only: bool = False) -> torch.Tensor:
        """Logits (T, vocab) of the whole sequence ids (T,), no cache (the recompute path)."""
        return self._run(torch.as_tensor(ids, dtype=torch.long), 0, None, last_only)

    def step(self, ids, cache: TorchKVCache, last_only: bool = False) -> torch.Tensor:
        """Logits (T, vocab) of the next T tokens of the sequence `cache` holds (positions
        cache.length ..); their keys and values are appended."""
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        out = self._run(ids, cache.length, cache, last_only)
        cache.length += ids.shape[0]
        return out


def generate(twin: TorchGPT, prompt_ids, n: int, temperature: float | None = 1.0, top_k: int | None = None,
             seed=None, cache: bool = True, return_logits: bool = False) -> Generation:
    """`fastgrad.models.gpt.generate` for the twin: the same arguments and the same
    `Generation` (tokens, logits (n, vocab) float32 if asked for, seconds per token).
    Greedy steps take `argmax` of torch's logits; sampled ones hand the logits to
    fastgrad's `sample_next` (one uniform draw per token from `seed`'s generator)."""
    prompt = torch.as_tensor(np.asarray(prompt_ids, dtype=np.int64).reshape(-1))
    if prompt.numel() == 0:
        raise ValueError("generate: the prompt must hold at least one token")
    n = int(n)
    greedy = temperature is None or temperature == 0
    rng = np.random.default_rng(seed)
    tokens = np.empty(n, dtype=np.int64)
    seconds = np.empty(n)
    kept = np.empty((n, twin.cfg.vocab_size), dtype=np.float32) if return_logits else None
    sequence = torch.empty(prompt.numel() + n, dtype=torch.long)
    sequence[:prompt.numel()] = prompt
    length = prompt.numel()
    kv = twin.new_cache(length + n) if cache else None
    with torch.inference_mode():
        for i in range(n):
            start = time.perf_counter()
            if kv is None:
                logits = twin.logits(sequence[:length], last_only=True)[-1]
            else:
                logits = twin.step(prompt if i == 0 else sequence[length - 1:length], kv, last_only=True)[-1]
            token = int(logits.argmax()) if greedy else sample_next(logits.numpy(), temperature, top_k, rng)
            seconds[i] = time.perf_counter() - start
            tokens[i] = token
            sequence[length] = token
            length += 1
            if kept is not None:
                kept[i] = logits.numpy()
    return Generation(tokens, kept, seconds)
