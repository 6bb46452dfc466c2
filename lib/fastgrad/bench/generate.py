"""`python -m fastgrad.bench generate [--quick]`: chapter 07's text generation, with and
without the KV cache, against a PyTorch implementation of the same model.

The model: the shipped Shakespeare GPT (`fastgrad.models.gpt.load_gpt()`), or with
`--quick` a freshly initialised 2-layer GPT (d_model 32) over the prompts' characters,
so the smoke test depends on no weight file (its figures mean nothing).

Implementations, each generating greedily (temperature 0) after the prompt "ROMEO:":

  fastgrad recompute   `generate(model, ..., cache=False)`: the whole sequence per token
  fastgrad cached      `generate(model, ..., cache=True)`: one position per step, KVCache
  torch cached         `bench.torch_gpt.TorchGPT`, the same architecture in PyTorch eager
                       (nn.Linear, F.rms_norm, F.scaled_dot_product_attention) with a copy
                       of the weights and its own preallocated KV cache
  torch recompute      the same twin, the whole sequence per token

Every thread pool is held to one thread (`threads.one_thread`: BLAS, Numba, torch),
Python's garbage collector is frozen around the timed region (`gc.freeze`, as the LeNet
epoch benchmark does), and all rows of one length are timed in one interleaved run
(`fastgrad.measure.compare`, rotating order). Seconds cover the whole call: the prompt's
forward pass plus n steps (tokens/s = n / seconds).

Correctness before timing: for two prompts and the timed number of tokens, the greedy
tokens of all four rows must be identical and every step's logits within LOGIT_ATOL of
fastgrad recompute's; before each length is timed, each row's tokens must equal fastgrad
recompute's again. Otherwise an AssertionError: nothing is timed.

Targets (printed as met / NOT met; never an error), at 200 tokens: fastgrad cached >= 8x
fastgrad recompute; fastgrad cached tokens/s >= torch cached's (stretch: 2x). The factor
cached/recompute is also reported at 100, 200 and 400 tokens for both frameworks: it grows
with length, because a recompute step costs O(t) projections and O(t^2) attention and a
cached step O(1) and O(t).
"""
from __future__ import annotations

import argparse
import gc

import numpy as np

from ..measure import compare
from .kernels import _load, _verdict
from .threads import one_thread, optional_torch as _torch

PROMPTS = ("ROMEO:", "First Citizen:\n")     # the first is the timed one
TOKENS, LENGTHS = 200, (100, 200, 400)
QUICK_TOKENS, QUICK_LENGTHS = 20, (10, 20, 40)
CACHE_TARGET = 8.0          # fastgrad cached / recompute speed-up at TOKENS
TORCH_TARGET, TORCH_STRETCH = 1.0, 2.0    # fastgrad cached tokens/s over torch cached's
# Cached vs recomputed and fastgrad vs torch compute the same float32 arithmetic in another
# order (one query row against the cache, other BLAS kernels): measured on the shipped
# model over 200 tokens, max |difference| about 1e-5 on logits up to about 11.
LOGIT_ATOL = 1e-4
ROWS = ("fastgrad recompute", "fastgrad cached", "torch cached", "torch recompute")


def quick_model():
    """(model, tokenizer, description): a fresh 2-layer GPT over the prompts' characters."""
    from ..datasets import CharTokenizer
    from ..models.gpt import GPT, GPTConfig

    tok = CharTokenizer.from_text("".join(PROMPTS))
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2, d_model=32)
    return GPT(cfg, seed=0), tok, "a freshly initialised GPT (--quick)"


def shipped_model():
    """(model, tokenizer, description): the shipped Shakespeare weights."""
    from ..models.gpt import WEIGHTS_PATH, load_gpt

    loaded = load_gpt()
    val = loaded.log.get("val_loss")
    trained = "" if val is None or not np.size(val) else f", validation loss {float(np.ravel(val)[-1]):.3f}"
    return loaded.model, loaded.tokenizer, f"the shipped weights ({WEIGHTS_PATH.name}{trained})"


def generators(model, twin):
    """{row name: fn(prompt_ids, n, return_logits=False) -> Generation}, greedy; the torch
    rows only when `twin` is given."""
    from ..models.gpt import generate

    rows = {"fastgrad recompute": lambda p, n, logits=False: generate(model, p, n, 0, cache=False,
                                                                      return_logits=logits),
            "fastgrad cached": lambda p, n, logits=False: generate(model, p, n, 0, cache=True, return_logits=logits)}
    if twin is not None:
        from .torch_gpt import generate as torch_generate

        rows["torch cached"] = lambda p, n, logits=False: torch_generate(twin, p, n, 0, cache=True,
                                                                         return_logits=logits)
        rows["torch recompute"] = lambda p, n, logits=False: torch_generate(twin, p, n, 0, cache=False,
                                                                            return_logits=logits)
    return rows


def check_agree(rows: dict, prompts: dict, n: int, atol: float = LOGIT_ATOL) -> dict:
    """Run every row greedily for n tokens after each prompt ({text: ids}); the tokens must
    equal fastgrad recompute's and every step's logits lie within `atol` of them.

    Returns {"errors": {row: max |logit difference| over all prompts}, "scale": the largest
    |logit|, "tokens": {prompt text: fastgrad recompute's tokens}}. Raises AssertionError
    naming the row, the prompt and the first differing step otherwise: rows that compute
    different things must not be timed against each other."""
    errors = {name: 0.0 for name in rows if name != "fastgrad recompute"}
    scale, tokens = 0.0, {}
    for text, ids in prompts.items():
        want = rows["fastgrad recompute"](ids, n, True)
        tokens[text] = want.tokens
        scale = max(scale, float(np.abs(want.logits).max()))
        for name in errors:
            got = rows[name](ids, n, True)
            differ = np.flatnonzero(got.tokens != want.tokens)
            if differ.size:
                i = int(differ[0])
                raise AssertionError(f"generate: {name} after {text!r} chose token {got.tokens[i]} at step {i}, "
                                     f"fastgrad recompute {want.tokens[i]}; they do not compute the same thing, "
                                     "so nothing is timed")
            err = float(np.abs(got.logits - want.logits).max())
            if not err <= atol:
                step = int(np.abs(got.logits - want.logits).max(axis=1).argmax())
                raise AssertionError(f"generate: {name}'s logits after {text!r} differ from fastgrad recompute's by "
                                     f"{err:.2e} (step {step}; tolerance {atol:g}), so nothing is timed")
            errors[name] = max(errors[name], err)
    return {"errors": errors, "scale": scale, "tokens": tokens}


def bench_length(rows: dict, prompt_ids, n: int, repeats: int):
    """One interleaved run of every row generating n tokens after prompt_ids; each row's
    tokens are first checked against fastgrad recompute's (this untimed run is also the
    warm-up). Returns the `Comparison` (seconds per call of n tokens)."""
    want = rows["fastgrad recompute"](prompt_ids, n).tokens
    for name, run in rows.items():
        if name != "fastgrad recompute" and not np.array_equal(run(prompt_ids, n).tokens, want):
            raise AssertionError(f"generate: {name}'s {n} greedy tokens differ from fastgrad recompute's; "
                                 "nothing is timed")
    return compare({name: (lambda run=run: run(prompt_ids, n)) for name, run in rows.items()},
                   baseline="fastgrad recompute", repeats=repeats, warmup=0, target=0.05)


def summarise(result, n: int) -> dict:
    """Tokens/s per row and the ratios the targets are about, from one Comparison."""
    names = result.names
    out = {"n": n, "tokens_per_s": {name: n / result.median(name) for name in names},
           "cache_factor": result.speedup("fastgrad cached")}
    has_torch = "torch cached" in names
    out["torch_cache_factor"] = result.speedup("torch cached", over="torch recompute") if has_torch else None
    out["vs_torch"] = result.speedup("fastgrad cached", over="torch cached") if has_torch else None
    return out


def run(quick: bool = False, repeats: int | None = None, torch="auto", verbose: bool = True) -> dict:
    """The whole suite; returns {"check", "lengths": {n: summary}, "main": the summary at
    the timed length, "torch": version or None}. torch="auto" imports it when installed;
    None skips the torch rows."""
    torch = _torch() if torch == "auto" else torch
    model, tok, described = quick_model() if quick else shipped_model()
    tokens, lengths = (QUICK_TOKENS, QUICK_LENGTHS) if quick else (TOKENS, LENGTHS)
    say = print if verbose else (lambda *a, **k: None)
    cfg = model.cfg
    say(f"fastgrad generate benchmark{' (--quick: a tiny random model, figures not meaningful)' if quick else ''}")
    say(f"model: {described}: {cfg.n_layer} layers, d_model {cfg.d_model}, {cfg.n_head} heads, vocabulary "
        f"{cfg.vocab_size}, {model.num_parameters():,} parameters, float32")
    say(f"torch: {'not installed (torch rows skipped)' if torch is None else torch.__version__ + ', eager, 1 thread'}, "
        f"load average: {_load()}")
    say("every thread pool at 1 thread (BLAS, Numba, torch); gc frozen while timing; greedy decoding")
    prompts = {text: tok.encode(text) for text in PROMPTS}
    gc.collect()
    gc.freeze()
    try:
        with one_thread(torch):
            twin = None
            if torch is not None:
                from .torch_gpt import TorchGPT

                twin = TorchGPT.from_fastgrad(model)
            rows = generators(model, twin)
            check = check_agree(rows, prompts, tokens)
            say(f"\n== check before timing: {tokens} greedy tokens after each of {len(prompts)} prompts "
                f"({', '.join(map(repr, prompts))}) ==")
            say(f"tokens identical in every row: True ({', '.join(rows)})")
            say("max |logit difference| from fastgrad recompute: "
                + ", ".join(f"{name} {err:.1e}" for name, err in check["errors"].items())
                + f" (tolerance {LOGIT_ATOL:g}; logits up to {check['scale']:.3g})")
            first = PROMPTS[0]
            say(f"fastgrad's text after {first!r}: {tok.decode(check['tokens'][first][:60])!r}")
            results = {}
            for n in lengths:
                reps = repeats or (3 if quick or n > tokens else 5)
                result = bench_length(rows, prompts[first], n, reps)
                results[n] = summarise(result, n)
                say(f"\n== {n} greedy tokens after {first!r} ({len(prompts[first])} tokens), one interleaved run, "
                    f"{reps} rounds ==")
                say(result.table())
                say("tokens/s: " + ", ".join(f"{name} {tps:,.0f}" for name, tps in results[n]["tokens_per_s"].items()))
    finally:
        gc.unfreeze()
    out = {"check": check, "lengths": results, "main": results[tokens], "torch": None if torch is None
           else torch.__version__, "tokens": tokens}
    if verbose:
        _print_summary(out)
    return out


def _print_summary(out: dict) -> None:
    n, main = out["tokens"], out["main"]
    has_torch = out["torch"] is not None
    print("\n== cached / recompute speed-up against length (each length its own interleaved run) ==")
    header = ["tokens", "fastgrad cached/recompute", "fastgrad cached tok/s"]
    if has_torch:
        header += ["torch cached/recompute", "torch cached tok/s", "fastgrad/torch cached"]
    lines = [header]
    for length, r in out["lengths"].items():
        row = [str(length), f"{r['cache_factor']:.1f}x", f"{r['tokens_per_s']['fastgrad cached']:,.0f}"]
        if has_torch:
            row += [f"{r['torch_cache_factor']:.1f}x", f"{r['tokens_per_s']['torch cached']:,.0f}",
                    f"{r['vs_torch']:.2f}x"]
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    for r in lines:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("\n== Summary ==")
    tps = main["tokens_per_s"]
    print(f"generate {n}: fastgrad cached {tps['fastgrad cached']:,.0f} tokens/s, recompute "
          f"{tps['fastgrad recompute']:,.0f} tokens/s: cache {main['cache_factor']:.1f}x recompute"
          + ("" if not has_torch else f"; torch cached {tps['torch cached']:,.0f} tokens/s, recompute "
             f"{tps['torch recompute']:,.0f} tokens/s: torch's cache {main['torch_cache_factor']:.1f}x"))
    factors = ", ".join(f"{r['cache_factor']:.1f}x at {length}" for length, r in out["lengths"].items())
    print(f"fastgrad cache factor by length: {factors}"
          + ("" if not has_torch else "; torch's: " + ", ".join(
              f"{r['torch_cache_factor']:.1f}x at {length}" for length, r in out["lengths"].items())))
    print(f"target cache >= {CACHE_TARGET:g}x recompute at {n} tokens: "
          f"{_verdict(main['cache_factor'] >= CACHE_TARGET)} ({main['cache_factor']:.1f}x)")
    if has_torch:
        print(f"target fastgrad cached tokens/s >= torch cached's at {n} tokens: "
              f"{_verdict(main['vs_torch'] >= TORCH_TARGET)} ({main['vs_torch']:.2f}x)")
        print(f"stretch fastgrad cached tokens/s >= {TORCH_STRETCH:g}x torch cached's: "
              f"{_verdict(main['vs_torch'] >= TORCH_STRETCH)} ({main['vs_torch']:.2f}x)")
    else:
        print(f"target fastgrad cached tokens/s >= torch cached's at {n} tokens: skipped (torch not installed)")
    print(f"(load average at the end: {_load()})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny random model, 20 tokens, a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds per length")
    args = parser.parse_args(argv)
    run(quick=args.quick, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
