"""Command line benchmarks: `python -m fastgrad.bench <suite>`.

Suites:
  machine   this machine's memory bandwidth and peak GEMM FLOP/s
            (--quick: tiny sizes, a smoke test whose figures mean little)
  kernels   chapter 02/03 kernels against NumPy/BLAS, ratios from one interleaved run
  train     chapter 06: fused Adam/SGD steps vs NumPy and torch, 3x3 conv vs the generic loop,
            dtype dispatch vs a float32 Linear, the LeNet epoch vs torch
  generate  chapter 07: tokens/s of greedy GPT generation, KV cache vs recompute, fastgrad vs
            a PyTorch twin of the same model with its own cache (--quick: a tiny random model)
  lazy      chapter 08: lazy graphs fused into generated Numba kernels vs eager fastgrad and
            NumPy (softmax, RMSNorm, an 8-op chain, LoRA overhead), compile and cache figures
  scratch   chapter 09: the "scratch buffers gave 9.7-17.7x" claim against np.empty, np.zeros
            and fresh pages, and what a buffer pool gains at the course's sizes
  dqn       chapter 10: batched cube steps per second, the DQN training step vs a PyTorch twin,
            the BFS over all 3,674,160 states

`fastgrad.measure` is the toolkit (timers, machine limits, plots) at the bottom of the
library; `fastgrad.bench` holds the benchmark programs built on it, one module per
suite, imported only when asked for.
"""
import argparse
import importlib
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", default="machine", help="machine, kernels, ...")
    args, rest = parser.parse_known_args(argv)
    if args.suite == "machine":
        from ..measure import machine_limits

        options = argparse.ArgumentParser(prog="python -m fastgrad.bench machine")
        options.add_argument("--quick", action="store_true", help="tiny sizes (seconds -> a fraction)")
        options.add_argument("--gemm-n", type=int, default=None, help="matrix size for the GEMM peak")
        extra = options.parse_args(rest)
        sizes = dict(in_cache=1024, out_of_cache=100_000, gemm_n=64, repeats=3) if extra.quick else {}
        if extra.gemm_n:
            sizes["gemm_n"] = extra.gemm_n
        print(machine_limits(**sizes).report())
        return 0
    try:
        module = importlib.import_module(f"fastgrad.bench.{args.suite}")
    except ModuleNotFoundError:
        print(f"unknown benchmark suite {args.suite!r}; try: machine, kernels, train, generate, lazy, scratch, dqn", file=sys.stderr)
        return 2
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
