"""`python -m fastgrad.bench kernels --quick` runs and prints every expected line.
No speed assertions: speed targets are reported by the benchmark, not tested."""
import json
import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def quick_output():
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "kernels", "--quick", "--repeats", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_header_reports_blas_and_bandwidth(quick_output):
    assert re.search(r"^BLAS: library=", quick_output, re.M)
    assert re.search(r"^CPU: .*threading layer: \w+, load average: ", quick_output, re.M)
    assert re.search(r"^measured bandwidth: [\d.]+ GB/s", quick_output, re.M)


def test_fused_lines(quick_output):
    assert "== Fused a*b+c, float32" in quick_output
    assert re.search(r"^numpy a\*b\+c .* GB/s|^numpy a\*b\+c\s", quick_output, re.M)
    assert re.search(r"^fastgrad fma\(out=\)\s", quick_output, re.M)
    assert re.search(r"fused: fastgrad vs NumPy [\d.]+x \(target >= 1.5x: (met|NOT met)\)", quick_output)
    assert re.search(r"fused: fastgrad [\d.]+ GB/s = \d+% of measured [\d.]+ GB/s \(target >= 80%: (met|NOT met)\)",
                     quick_output)


def test_matmul_lines(quick_output):
    for n in (64, 96, 128):
        assert f"== Matmul float32, n = {n} " in quick_output
        assert re.search(rf"matmul n={n}: best Numba matmul_(packed|parallel) [\d.]+ GFLOP/s vs BLAS [\d.]+ GFLOP/s "
                         rf"= \d+% of BLAS", quick_output)
    assert re.search(r"BLAS for the GEMM figures below: library=", quick_output)


def test_uncapped_blas_lines(quick_output):
    # With OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE set, the matmuls run again in a subprocess
    # without them; otherwise the benchmark says the BLAS is already uncapped.
    if re.search(r"^BLAS: .*OPENBLAS_(CORETYPE|L2_SIZE)=", quick_output, re.M):
        assert "== Matmul float32 against BLAS with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (a subprocess) ==" \
            in quick_output
        assert re.search(r"^BLAS there: .*, kernels .*, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset$", quick_output,
                         re.M)
        for n in (64, 96, 128):
            assert re.search(rf"matmul n={n}: best Numba matmul_(packed|parallel) [\d.]+ GFLOP/s vs uncapped BLAS "
                             rf"[\d.]+ GFLOP/s = \d+% of uncapped BLAS", quick_output)
    else:
        assert "the BLAS above is already uncapped" in quick_output
    assert re.search(r"'capped' = BLAS as configured here \(.*kernels .*\), 'uncapped' = uncapped BLAS \(",
                     quick_output)
    for n in (64, 96, 128):
        assert re.search(rf"^matmul float32 n={n}: best Numba = \d+% of capped BLAS \(matmul_\w+ [\d.]+ vs "
                         rf"[\d.]+ GFLOP/s\), \d+% of uncapped BLAS \(matmul_\w+ [\d.]+ vs [\d.]+ GFLOP/s\)$",
                         quick_output, re.M)


def test_matmul_json_mode_for_the_subprocess():
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "kernels", "--matmul-json", "--sizes", "16,24",
                           "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "library" in data["blas"]
    for n in ("16", "24"):
        assert data[n]["best"] in ("matmul_packed", "matmul_parallel")
        assert data[n]["ratio"] > 0 and data[n]["gflops"] > 0 and data[n]["blas"] > 0
        assert data[n]["table"].splitlines()[0].startswith("implementation")


def test_uncapped_env_drops_only_the_caps():
    from fastgrad.bench.kernels import uncapped_env

    env = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512", "OPENBLAS_NUM_THREADS": "2", "PATH": "/bin"}
    assert uncapped_env(env) == {"OPENBLAS_NUM_THREADS": "2", "PATH": "/bin"}


def test_summary_and_targets(quick_output):
    assert "== Summary ==" in quick_output
    assert re.search(r"target fused >= 1.5x NumPy: (met|NOT met)", quick_output)
    assert re.search(r"target fused >= 80% of bandwidth: (met|NOT met)", quick_output)
    assert re.search(r"target matmul >= 50% of BLAS at n=128 with \d+ threads: (met|NOT met) \(best: matmul_\w+\)",
                     quick_output)
    assert re.search(r"target matmul >= 50% of uncapped BLAS at n=128: (met|NOT met) \(best: matmul_\w+\)",
                     quick_output)
    assert re.search(r"each timed alone \(not interleaved\): matmul_parallel [\d.]+ GFLOP/s", quick_output)
    assert re.search(r"load average at the end: [\d.]+", quick_output)


def test_main_is_callable_in_process(capsys):
    from fastgrad.bench import kernels

    assert callable(kernels.main)
    with pytest.raises(SystemExit):
        kernels.main(["--help"])
    assert "--quick" in capsys.readouterr().out
