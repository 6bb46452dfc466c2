"""Whole training steps against PyTorch (chapter 09), part of `python -m fastgrad.bench train`.

Three models, each a full step (zero_grad, forward, loss, backward, Adam lr 1e-3) on a fixed
batch, one interleaved `compare` run per model, every thread pool at one thread:

* the DQN MLP 144-128-64-6, batch 64, MSE (`fastgrad.ladder`): fastgrad's plain rung,
  fastgrad as chapter 06 wrote it (nn layers, default switches, fused Adam), fastgrad's best
  configuration (`ladder.BEST`: fused layers, fused Adam, only needed gradients), and torch
  eager with its default Adam and with `fused=True`;
* chapter 06's LeNet on 8x8 images, batch 32, cross-entropy: the same rows;
* chapter 07's GPT (d_model 64, 2 layers, 4 heads, 32 tokens x batch 8; `--quick`: smaller)
  on random tokens: fastgrad with default switches vs the best switches, and a batched
  torch forward over `TorchGPT.from_fastgrad`'s weights (default and fused Adam).

Before timing, each torch twin starts from fastgrad's weights and must compute the same
first loss (relative 1e-5; an AssertionError otherwise, and nothing is timed). Targets
(printed met / NOT met): the MLP step at least 2x faster than torch eager with its default
Adam (stretch 3x); the CNN and GPT steps no slower than torch (ratio >= 1).
"""
from __future__ import annotations

import numpy as np

from .. import ladder
from ..measure import compare

MLP_TARGET, MLP_STRETCH = 2.0, 3.0
LOSS_RTOL = 1e-5


def _fg_rows(kind: str, batch=None) -> dict:
    return {"fastgrad plain": ladder.training_step(kind, "plain", batch=batch),
            "fastgrad ch06": ladder.training_step(kind, ladder.CHAPTER06, batch=batch),
            "fastgrad best": ladder.training_step(kind, ladder.BEST, batch=batch)}


def _torch_step(torch, twin, loss_fn, x, target, fused: bool):
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3, fused=fused)

    def step():
        opt.zero_grad()
        loss = loss_fn(twin(x), target)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def _torch_rows(torch, kind: str, step) -> dict:
    """torch default and fused Adam steps for the fastgrad `step`'s model and data."""
    F = torch.nn.functional
    if kind == "gpt":
        twins = [torch_gpt_twin(torch, step.model) for _ in range(2)]
        x, y = torch.from_numpy(step.x), torch.from_numpy(step.target)
        return {f"torch {name}": _torch_step(torch, twin, lambda out, t: F.cross_entropy(out, t), x, y.reshape(-1),
                                              fused) for twin, (name, fused) in zip(twins, (("default", False),
                                                                                             ("fused=True", True)))}
    x = torch.from_numpy(step.x.data)
    target = torch.from_numpy(step.target.data) if kind == "mlp" else torch.from_numpy(np.asarray(step.target))
    loss_fn = F.mse_loss if kind == "mlp" else F.cross_entropy
    from .train import torch_twin            # the same Sequential, weights copied (strict)
    return {"torch default": _torch_step(torch, torch_twin(torch, step.model), loss_fn, x, target, False),
            "torch fused=True": _torch_step(torch, torch_twin(torch, step.model), loss_fn, x, target, True)}


class _GPTLoss:
    """A batched forward over a TorchGPT's modules: ids (B, T) -> logits (B*T, vocab)."""

    def __init__(self, torch, twin):
        self.torch, self.twin = torch, twin

    def parameters(self):
        return self.twin.parameters()

    def __call__(self, ids):
        from .torch_gpt import _rotate
        torch, twin = self.torch, self.twin
        F = torch.nn.functional
        cfg = twin.cfg
        b, t = ids.shape
        d, h = cfg.d_model, cfg.n_head
        cos, sin = twin.cos[:t], twin.sin[:t]
        x = twin.embedding(ids)
        for blk in twin.blocks:
            q, k, v = blk.attn.qkv(F.rms_norm(x, (d,), blk.norm1, blk.eps)).view(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + blk.attn.proj(y.transpose(1, 2).reshape(b, t, d))
            x = x + blk.mlp_proj(F.gelu(blk.fc(F.rms_norm(x, (d,), blk.norm2, blk.eps)), approximate="tanh"))
        return twin._head(x).reshape(b * t, -1)


def torch_gpt_twin(torch, model):
    """A batched PyTorch twin of the fastgrad GPT `model` (weights copied)."""
    from .torch_gpt import TorchGPT
    return _GPTLoss(torch, TorchGPT.from_fastgrad(model))


def gpt_step(rung, quick: bool = False, seed: int = 0):
    """A fastgrad GPT training step (random tokens) at `rung`, like `ladder.training_step`."""
    from ..models.gpt import GPT, GPTConfig
    from .. import optim
    from ..switches import switches
    cfg = (GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, d_model=16) if quick else
           GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, d_model=64))
    model = GPT(cfg, seed=seed)
    rng = np.random.default_rng(seed + 1)
    ids = rng.integers(0, cfg.vocab_size, (4 if quick else 8, cfg.block_size + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    opt = optim.Adam(model.parameters(), lr=1e-3)
    settings = rung.settings()

    def run():
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        opt.step()
        return float(loss.data)

    def step():
        with switches(**settings):
            return run()
    step.model, step.x, step.target = model, x, y
    return step


def _check_first_losses(rows: dict, label: str) -> dict:
    """Run every row once (from the same initial weights) and require equal losses."""
    first = {name: fn() for name, fn in rows.items()}
    want = next(iter(first.values()))
    for name, got in first.items():
        if not abs(got - want) <= LOSS_RTOL * abs(want):
            raise AssertionError(f"{label}: {name} computed a first loss of {got!r}, fastgrad {want!r}: "
                                 "not the same step, nothing timed")
    return first


def bench_model(kind: str, repeats: int, torch, quick: bool = False) -> dict:
    """One interleaved comparison of whole steps for `kind` ("mlp", "cnn" or "gpt")."""
    if kind == "gpt":
        rows = {"fastgrad ch07": gpt_step(ladder.CHAPTER06, quick), "fastgrad best": gpt_step(ladder.BEST, quick)}
    else:
        rows = _fg_rows(kind, batch=8 if quick else None)
    if torch is not None:
        rows.update(_torch_rows(torch, kind, rows["fastgrad best"]))
    first = _check_first_losses(rows, kind)
    result = compare(rows, repeats=repeats, baseline="fastgrad best")
    med = {name: result.median(name) for name in rows}
    out = {"result": result, "first_loss": first, "median": med}
    if torch is not None:
        out["vs_torch_default"] = med["torch default"] / med["fastgrad best"]
        out["vs_torch_fused"] = med["torch fused=True"] / med["fastgrad best"]
    return out


def run(repeats: int, torch, quick: bool = False) -> dict:
    """Every model's comparison, printed; returns {kind: bench_model(...)}."""
    from .threads import one_thread
    results = {}
    labels = {"mlp": "DQN MLP 144-128-64-6, batch 64, MSE, Adam", "cnn": "LeNet (chapter 06), batch 32, Adam",
              "gpt": "GPT (chapter 07) d_model 64, 2 layers, batch 8 x 32 tokens, Adam"}
    with one_thread(torch):
        for kind in ("mlp", "cnn", "gpt"):
            print(f"\n== Whole training step: {labels[kind]}{' (--quick sizes)' if quick else ''} ==")
            results[kind] = r = bench_model(kind, repeats, torch, quick)
            print(f"first losses agree (rel {LOSS_RTOL:g}): " + ", ".join(f"{k} {v:.6f}" for k, v in r["first_loss"].items()))
            print(r["result"])
    return results


def summary_lines(results: dict, torch) -> list[str]:
    """The benchmark's summary and target lines for the whole-step comparison."""
    lines = []
    for kind, r in results.items():
        med = r["median"]
        parts = [f"{name} {med[name] * 1e6:.0f} us" for name in med]
        lines.append(f"step {kind}: " + ", ".join(parts))
    if torch is None:
        lines.append("target MLP step >= 2x torch eager: skipped (torch not installed)")
        return lines
    from .kernels import _verdict
    mlp = results["mlp"]["vs_torch_default"]
    lines.append(f"target MLP step >= {MLP_TARGET:g}x torch eager (default Adam): {_verdict(mlp >= MLP_TARGET)} "
                 f"({mlp:.2f}x; stretch {MLP_STRETCH:g}x: {_verdict(mlp >= MLP_STRETCH)}; "
                 f"vs torch fused=True {results['mlp']['vs_torch_fused']:.2f}x)")
    for kind in ("cnn", "gpt"):
        ratio = results[kind]["vs_torch_default"]
        lines.append(f"target {kind.upper()} step no slower than torch eager (default Adam): "
                     f"{_verdict(ratio >= 1.0)} ({ratio:.2f}x; vs fused=True {results[kind]['vs_torch_fused']:.2f}x)")
    return lines
