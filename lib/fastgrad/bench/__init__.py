"""Benchmark suites run by `python -m fastgrad.bench <suite>`.

Each module here has `main(argv) -> int` and prints ratios measured side by side in
one run (`fastgrad.measure.compare`), the targets they are held to and whether they are
met. They report; they never fail a build over a speed figure.

    kernels   chapter 02/03: fused a*b+c vs NumPy, Numba matmul vs BLAS
    train     chapter 06: fused Adam/SGD vs NumPy and torch, conv2d 3x3 vs generic vs im2col,
              a dtype-dispatching vs float32 Linear, the LeNet epoch vs torch (per phase, per op)
    generate  chapter 07: greedy GPT generation with and without the KV cache, fastgrad vs a
              PyTorch twin (`torch_gpt`, used only by this suite and its tests), tokens/s
"""
