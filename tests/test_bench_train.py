"""`python -m fastgrad.bench train --quick` runs and prints every expected line.
No speed assertions: speed targets are reported by the benchmark, not tested."""
import importlib.util
import re
import subprocess
import sys

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
VERDICT = r"(met|NOT met)"


@pytest.fixture(scope="module")
def quick_output():
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "train", "--quick", "--repeats", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_header(quick_output):
    assert re.search(r"^fastgrad train benchmark \(--quick", quick_output, re.M)
    assert re.search(r"^torch: .*, load average: [\d.]+", quick_output, re.M)


@pytest.mark.parametrize("label, n", [("LeNet 8x8 digits", "38,282"), ("DQN 144-128-64-6", "27,206")])
def test_adam_tables(quick_output, label, n):
    assert re.search(rf"^== Adam step, float32, {label}: \d+ tensors, {n} values ==$", quick_output, re.M)
    rows = ["fastgrad fused Adam", "fastgrad kernel only", r"numpy in place \(out=\)", r"report style \(alloc per op\)"]
    if HAS_TORCH:
        rows += ["torch Adam default", "torch Adam fused=True"]
    for row in rows:
        assert re.search(rf"^{row}\s+[\d.]+ [mµ]?s ", quick_output, re.M), row
    assert re.search(rf"adam {label}: fastgrad fused [\d.]+ [mµ]?s, [\d.]+x the report's style "
                     rf"\(target >= 3x: {VERDICT}\), [\d.]+x NumPy in place", quick_output)
    if HAS_TORCH:
        assert re.search(rf"adam {label}: fastgrad fused [\d.]+x torch fused=True \(target > 1x: {VERDICT}\)",
                         quick_output)
    else:
        assert f"adam {label}: vs torch fused=True: skipped (torch not installed)" in quick_output


def test_sgd_both_regimes(quick_output):
    for label in ("DQN 144-128-64-6", "one tensor of 200,000"):
        assert f"== SGD step (momentum 0.9), float32, {label}: " in quick_output
        assert re.search(rf"^sgd {label}: fastgrad fused [\d.]+ [mµ]?s \([\d.]+ GB/s; "
                         rf"kernel alone [\d.]+ [mµ]?s\), [\d.]+x the report's style",
                         quick_output, re.M)
    for row in ("fastgrad fused SGD", "fastgrad kernel only"):
        assert re.search(rf"^{row}\s+.*\s[\d.]+$", quick_output, re.M)   # the GB/s column


def test_conv_lines(quick_output):
    for label in ("report size", "digits layer"):
        assert f"== conv2d 3x3 forward, float32, {label}: " in quick_output
        for row in (r"direct \(generic loop\)", "3x3 specialised", r"im2col \+ matmul"):
            assert re.search(rf"^{row}\s+[\d.]+ [mµ]?s ", quick_output, re.M), row
        assert re.search(rf"conv {label}: 3x3 specialised [\d.]+x the generic loop \([+-]\d+%\), "
                         rf"im2col \+ matmul [\d.]+x the 3x3 kernel", quick_output)


def test_summary_and_targets(quick_output):
    assert "== Summary ==" in quick_output
    for label in ("LeNet 8x8 digits", "DQN 144-128-64-6"):
        assert re.search(rf"^target fused Adam >= 3x the report's style \({label}\): {VERDICT}$", quick_output, re.M)
        torch_verdict = VERDICT if HAS_TORCH else r"skipped \(torch not installed\)"
        assert re.search(rf"^target fused Adam faster than torch fused=True \({label}\): {torch_verdict}$",
                         quick_output, re.M)
    assert re.search(r"load average at the end: [\d.]+", quick_output)


def test_listed_by_the_command_line():
    from fastgrad.bench import __main__ as cli

    assert re.search(r"^  train ", cli.__doc__, re.M)


def test_check_catches_a_wrong_implementation():
    # every implementation is compared with fastgrad's result before it is timed
    import numpy as np

    from fastgrad.bench.train import _check_same

    want = [np.ones((2, 3), np.float32)]
    _check_same("same", [want[0].copy()], want)
    with pytest.raises(AssertionError, match=r"wrong: parameter 0 \(2, 3\) disagrees with fastgrad"):
        _check_same("wrong", [want[0] * 1.01], want)


def test_main_is_callable_in_process(capsys):
    from fastgrad.bench import train

    with pytest.raises(SystemExit):
        train.main(["--help"])
    assert "--quick" in capsys.readouterr().out
