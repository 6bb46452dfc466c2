"""Train the chapter 07 character-level GPT on Tiny Shakespeare with fastgrad itself.

    .venv/bin/python tools/train_gpt.py --minutes 28

Adam, cross-entropy, gradient clipping (`fastgrad.nn.clip_grad_norm_`), a learning rate
with linear warmup then cosine decay, a tqdm progress bar and the validation loss every
`--eval-every` steps. Training stops when the time budget (`--minutes`, the training loop
only) or `--max-steps` runs out; the cosine schedule follows whichever is nearer to its
end (progress = max(elapsed / budget, step / max_steps)), so a time-limited run still
ends at the minimum learning rate.

Writes `lib/fastgrad/models/weights/gpt_shakespeare.npz` (weights, vocabulary, config and
the training log: loss, learning rate, gradient norm and time per step, validation losses;
see `fastgrad.models.gpt.save_gpt`), saved at every evaluation so an interrupted run
leaves usable weights, and a text log `tools/train_gpt.log`.

Threads: BLAS is held to `--blas-threads` (default 1) with threadpoolctl. On the 2-core
course machine, loaded by other jobs, OpenBLAS's two spinning threads interleaved with
Numba's made the matmuls of one step 25-50x slower than on one thread (about 10 s
instead of 0.3 s for a 4-layer, d_model 128 step of 4096 tokens; measured while writing this).
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

from fastgrad import optim  # noqa: E402
from fastgrad.datasets import shakespeare_char  # noqa: E402
from fastgrad.models.gpt import GPT, WEIGHTS_PATH, GPTConfig, evaluate_loss, get_batch, save_gpt  # noqa: E402
from fastgrad.nn import clip_grad_norm_  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=28.0, help="time budget of the training loop")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: time only)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--tie-weights", action="store_true")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument("--min-lr", type=float, default=2e-4, help="learning rate at the end of the cosine")
    p.add_argument("--warmup", type=int, default=100, help="linear warmup steps")
    p.add_argument("--clip", type=float, default=1.0, help="max global gradient norm")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--eval-windows", type=int, default=128, help="validation windows per periodic evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--blas-threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    p.add_argument("--log", type=Path, default=ROOT / "tools" / "train_gpt.log")
    return p.parse_args(argv)


def learning_rate(step: int, progress: float, args) -> float:
    """Linear warmup over args.warmup steps, then cosine from lr to min_lr as progress goes 0 -> 1."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(max(progress, 0.0), 1.0)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def bigram_loss(train: np.ndarray, val: np.ndarray, vocab: int) -> float:
    """Validation loss (nats/char) of the count-based bigram model of the training text
    (add-one smoothing): the baseline the transformer must beat."""
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-logp[val[:-1], val[1:]].mean())


def main(argv=None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    threadpool_limits(limits=args.blas_threads)
    train, val, tok = shakespeare_char()
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, d_model=args.d_model, tie_weights=args.tie_weights)
    model = GPT(cfg, seed=args.seed)
    opt = optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(args.seed)
    budget = 60.0 * args.minutes

    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    logf = open(args.log, "w")

    def say(text: str) -> None:
        tqdm.write(text)
        logf.write(text + "\n")
        logf.flush()

    say(f"train_gpt: {time.strftime('%Y-%m-%d %H:%M:%S')} on {platform.machine()} "
        f"({platform.processor() or 'cpu'}), BLAS threads {args.blas_threads}")
    say(f"config: {cfg}")
    say(f"parameters: {model.num_parameters():,}; tokens per step {args.batch_size * args.block_size:,}; "
        f"train {len(train):,} / validation {len(val):,} characters")
    say(f"schedule: Adam lr {args.lr:g} (warmup {args.warmup} steps, cosine to {args.min_lr:g}), "
        f"clip {args.clip:g}, budget {args.minutes:g} min" + (f", max {args.max_steps} steps" if args.max_steps else ""))
    say(f"bigram baseline (counts, add-one): validation loss {bigram_loss(train, val, tok.vocab_size):.4f} nats/char")

    log = {k: [] for k in ("step_loss", "step_lr", "step_grad_norm", "step_seconds", "step_elapsed",
                           "val_step", "val_loss", "val_elapsed")}

    def evaluate(step: int, elapsed: float, windows) -> float:
        model.eval()
        loss = evaluate_loss(model, val, cfg.block_size, batch_size=32, max_windows=windows)
        model.train()
        log["val_step"].append(step)
        log["val_loss"].append(loss)
        log["val_elapsed"].append(elapsed)
        return loss

    def checkpoint(final_val=None) -> None:
        arrays = {k: np.asarray(v, dtype=np.int64 if k == "val_step" else np.float64) for k, v in log.items()}
        if final_val is not None:
            arrays["final_val_loss"] = np.asarray(final_val)
        save_gpt(args.out, model, tok, arrays)

    bar = tqdm(total=args.max_steps, unit="step", mininterval=5.0, dynamic_ncols=False, ncols=100)
    train_time = 0.0          # the training loop only (evaluations excluded)
    step = 0
    while True:
        progress = max(train_time / budget, step / args.max_steps if args.max_steps else 0.0)
        if progress >= 1.0:
            break
        start = time.perf_counter()
        lr = learning_rate(step, progress, args)
        opt.lr = lr
        x, y = get_batch(train, args.batch_size, cfg.block_size, rng)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        norm = clip_grad_norm_(model.parameters(), args.clip)
        if not math.isfinite(norm):
            say(f"step {step}: gradient norm {norm}; stopping")
            break
        opt.step()
        seconds = time.perf_counter() - start
        train_time += seconds
        value = float(loss.item())
        for k, v in (("step_loss", value), ("step_lr", lr), ("step_grad_norm", norm),
                     ("step_seconds", seconds), ("step_elapsed", train_time)):
            log[k].append(v)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", s_per_step=f"{seconds:.2f}", refresh=False)
        if step % args.eval_every == 0:
            v = evaluate(step, train_time, args.eval_windows)
            recent = float(np.mean(log["step_loss"][-args.eval_every:]))
            say(f"step {step:5d}  {train_time / 60:5.1f} min  train {recent:.4f}  val[{args.eval_windows} windows] {v:.4f}  "
                f"lr {lr:.2e}  {np.median(log['step_seconds'][-args.eval_every:]):.3f} s/step (median)")
            checkpoint()
    bar.close()
    say(f"trained {step} steps in {train_time / 60:.1f} min "
        f"({np.median(log['step_seconds']):.3f} s/step median)")
    final = evaluate(step, train_time, None)
    say(f"final validation loss (all {(len(val) - 1) // cfg.block_size} windows of {cfg.block_size}): "
        f"{final:.4f} nats/char")
    checkpoint(final)
    size = args.out.stat().st_size
    say(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
        f"({size / 1e6:.2f} MB)")
    logf.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
