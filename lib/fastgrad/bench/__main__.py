"""Command line benchmarks: `python -m fastgrad.bench <suite>`.

Suites:
  machine   this machine's memory bandwidth and peak GEMM FLOP/s
  kernels   chapter 02/03 kernels against NumPy/BLAS, ratios from one interleaved run

Suites other than `machine` live in `fastgrad.benchmarks.<suite>` and are imported only
when asked for: `bench` sits at the bottom of the library and must not import the
kernels it measures.
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
        from .limits import machine_limits

        print(machine_limits().report())
        return 0
    try:
        module = importlib.import_module(f"fastgrad.benchmarks.{args.suite}")
    except ModuleNotFoundError:
        print(f"unknown benchmark suite {args.suite!r}; try: machine, kernels", file=sys.stderr)
        return 2
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
