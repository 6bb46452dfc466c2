"""`python -m fastgrad.bench train --quick` runs and prints every expected line.
No speed assertions: speed targets are reported by the benchmark, not tested."""
import importlib.util
import re
import subprocess
import sys

import numpy as np
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


def _lenet_values():
    from fastgrad.models.lenet import LeNet

    return f"{LeNet().num_parameters():,}"


@pytest.mark.parametrize("label, n", [("LeNet 8x8 digits", _lenet_values()), ("DQN 144-128-64-6", "27,206")])
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


# ------------------------------------------------------------------ LeNet epoch
def test_adam_uses_the_real_lenet():
    from fastgrad.bench.train import lenet_shapes
    from fastgrad.models.lenet import LeNet

    assert lenet_shapes() == [p.shape for p in LeNet().parameters()]
    assert (32, 1, 3, 3) in lenet_shapes()          # the default model, not the old (16, 32) / 64 variant


def test_lenet_epoch_rows(quick_output):
    assert re.search(r"^== LeNet training epoch, digits: 96 training images, 3 batches of 32, Adam lr 0.002, "
                     r"every thread pool at 1 thread ==$", quick_output, re.M)
    rows = ["fastgrad"] + (["torch"] if HAS_TORCH else [])
    for row in rows:
        timing = r"[\d.]+ [mµ]?s"
        assert re.search(rf"^{row}\s+{timing}\s+{timing}\.\.{timing}\s+[\d.]+x$", quick_output, re.M), row
    if HAS_TORCH:
        assert re.search(r"^check before timing \(first batch\): loss fastgrad ([\d.]+), torch ([\d.]+); "
                         r"gradients agree within [\d.e+-]+ \(relative\)$", quick_output, re.M)
    for phase in ("forward", "backward", "optimizer", "rest", "epoch"):
        cells = r"\s+[\d.]+ \(\d+%\)" * len(rows) + (r"\s+[\d.]+x" if HAS_TORCH else "")
        assert re.search(rf"^{phase}{cells}$", quick_output, re.M), phase
    assert re.search(r"^fastgrad's largest ops per epoch \(share of the epoch\): \w+ (forward|backward) [\d.]+ ms "
                     r"\(\d+%\)", quick_output, re.M)
    assert re.search(r"forward \+ backward outside the op kernels \(autograd, Python\): -?[\d.]+ ms", quick_output)
    if HAS_TORCH:
        assert re.search(rf"^lenet epoch: fastgrad [\d.]+ ms, torch [\d.]+ ms, fastgrad/torch [\d.]+ "
                         rf"\(target <= 1: {VERDICT}\); fastgrad's epoch: forward \d+%, backward \d+%, "
                         rf"optimizer \d+%, rest -?\d+%; its largest op: \w+ (forward|backward) \(\d+% of the epoch\); "
                         rf"furthest behind torch: (forward|backward|optimizer)", quick_output, re.M)
        assert re.search(rf"^target LeNet epoch no slower than torch \(fastgrad/torch <= 1\): {VERDICT} \([\d.]+\)$",
                         quick_output, re.M)


def test_linear_dispatch_rows(quick_output):
    for label in ("MLP 64->128", "MLP 128->10", "large 128->128"):
        assert f"== Linear forward+backward, float32, 1 thread, {label}: " in quick_output
        for row in ("dtype-dispatching", "float32-specialised", r"fastgrad nn.Linear \(autograd\)"):
            assert re.search(rf"^{row}\s+[\d.]+ [mµ]?s ", quick_output, re.M), row
        assert re.search(rf"^linear {label}: float32-specialised [\d.]+x the dtype-dispatching path "
                         rf"\(claim >= 1.30x: {VERDICT}\); per step the dispatch alone costs [\d.]+ [nµm]?s "
                         rf"\(2 calls\), "
                         rf"the measured difference is -?[\d.]+ [nµm]?s \(repeats spread over [\d.]+ [nµm]?s: "
                         rf"(within|beyond) the noise\)", quick_output, re.M)
        assert re.search(rf"^claim float32-specialised Linear >= 1.30x the dtype-dispatching one \({label}\): "
                         rf"{VERDICT} \([\d.]+x\)$", quick_output, re.M)
    assert re.search(r"^linear dispatch: the dispatch is a per-call cost of .* a 1.3x gain needs a specialised step "
                     r"under about [\d.]+ [nµm]?s \(dispatch / 0.3\). Claim met at: ", quick_output, re.M)
    assert "not measured by this suite yet" not in quick_output


def test_torch_rows_skip_cleanly_without_torch(monkeypatch, capsys):
    from fastgrad.bench import train

    monkeypatch.setattr(train, "_torch", lambda: None)
    assert train.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "torch: not installed (torch rows skipped)" in out
    assert "check before timing: skipped (torch not installed)" in out
    assert re.search(r"^lenet epoch: fastgrad [\d.]+ ms; vs torch: skipped \(torch not installed\); "
                     r"fastgrad's epoch: forward", out, re.M)
    assert re.search(r"^target LeNet epoch no slower than torch \(fastgrad/torch <= 1\): skipped "
                     r"\(torch not installed\)$", out, re.M)
    assert re.search(r"^phase\s+fastgrad ms/epoch \(share\)$", out, re.M)      # no torch column
    assert not re.search(r"^torch(?!: not installed)", out, re.M)             # no torch row anywhere
    assert "fastgrad/torch" not in out.replace("(fastgrad/torch <= 1)", "")


@pytest.fixture
def twin_pair():
    torch = pytest.importorskip("torch")
    from fastgrad.bench.train import lenet_data, torch_twin
    from fastgrad.models.lenet import LeNet

    x, y = lenet_data(batches=1)
    model = LeNet(seed=0)
    return torch, model, torch_twin(torch, model), x, y


def test_lenet_models_compute_the_same_first_batch_loss(twin_pair):
    torch, model, twin, x, y = twin_pair
    from fastgrad.autograd import Tensor
    from fastgrad.bench.train import check_lenet_agree
    from fastgrad.functional import cross_entropy

    assert x.shape == (32, 1, 8, 8) and y.shape == (32,)
    ours = float(cross_entropy(model(Tensor(x)), y).item())
    theirs = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y)).item()
    assert abs(ours - theirs) <= 1e-5 * abs(theirs)
    assert 1.5 < ours < 3.5                             # about ln(10) at initialisation: a real loss, not 0
    check = check_lenet_agree(model, twin, torch, x, y)
    assert check["loss_fastgrad"] == pytest.approx(ours, rel=1e-6)
    assert check["grad_error"] <= 1e-3
    assert all(p.grad is None for p in model.parameters())       # gradients left cleared
    assert all(p.grad is None for p in twin.parameters())


def test_check_refuses_models_that_differ(twin_pair):
    torch, model, twin, x, y = twin_pair
    from fastgrad.bench.train import check_lenet_agree

    with torch.no_grad():
        twin[8].weight.mul_(1.01)                        # a 1% different last layer
    with pytest.raises(AssertionError, match=r"the first batch's loss differs, fastgrad [\d.]+ vs torch [\d.]+"):
        check_lenet_agree(model, twin, torch, x, y)


def test_check_catches_a_gradient_difference(twin_pair):
    torch, model, twin, x, y = twin_pair
    from fastgrad.bench.train import check_lenet_agree

    # the right loss, a wrong gradient: torch's first conv scaled by 2 on the way back only
    twin[0].weight.register_hook(lambda g: 2 * g)
    with pytest.raises(AssertionError, match=r"the gradient of 0.weight \(32, 1, 3, 3\) differs from torch's"):
        check_lenet_agree(model, twin, torch, x, y)


def test_epoch_benchmark_refuses_to_time_disagreeing_models(monkeypatch):
    torch = pytest.importorskip("torch")
    from fastgrad.bench import train

    real_twin = train.torch_twin

    def wrong_twin(torch, model):
        twin = real_twin(torch, model)
        with torch.no_grad():
            twin[0].bias.add_(0.5)
        return twin

    def no_timing(*args, **kwargs):
        raise RuntimeError("timed models that disagree")

    monkeypatch.setattr(train, "torch_twin", wrong_twin)
    monkeypatch.setattr(train, "compare", no_timing)
    with pytest.raises(AssertionError, match="nothing is timed"):
        train.bench_lenet_epoch(1, torch, batches=1, verbose=False)


def test_epoch_benchmark_result(monkeypatch):
    from fastgrad.bench import train

    r = train.bench_lenet_epoch(1, None, batches=2, phase_epochs=1, verbose=False)
    assert r["torch"] is None and r["ratio"] is None and r["met"] is None and r["check"] is None
    assert r["batches"] == 2 and r["samples"] == 64 and r["fastgrad"] > 0
    ph = r["phases"]["fastgrad"]
    assert set(ph) == {"forward", "backward", "optimizer", "rest", "epoch"}
    assert ph["forward"] > 0 and ph["backward"] > 0 and ph["optimizer"] > 0
    assert sum(ph[p] for p in ("forward", "backward", "optimizer", "rest")) == pytest.approx(ph["epoch"])
    names = {name for (name, _), _ in r["ops"]}
    assert {"conv2d", "max_pool2d", "matmul", "cross_entropy"} <= names
    assert sum(sec for _, sec in r["ops"]) <= ph["forward"] + ph["backward"]


def test_op_clock_restores_the_table():
    from fastgrad.autograd import Tensor
    from fastgrad.bench.train import _op_clock
    from fastgrad.ops import OPS

    before = dict(OPS)
    with _op_clock() as seconds:
        assert OPS["exp"] is not before["exp"]
        t = Tensor(np.ones(3, np.float32), requires_grad=True)
        t.exp().sum().backward()
    assert OPS == before and all(OPS[k] is before[k] for k in before)
    assert seconds[("exp", "forward")] > 0 and seconds[("exp", "backward")] > 0


# ------------------------------------------------------------------ threads
def test_one_thread_restores_the_settings():
    import numba

    from fastgrad.bench.threads import one_thread

    torch = pytest.importorskip("torch")
    numba_before, torch_before = numba.get_num_threads(), torch.get_num_threads()
    with pytest.raises(ZeroDivisionError):
        with one_thread(torch):
            assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1
            from threadpoolctl import threadpool_info

            assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
            1 / 0
    assert numba.get_num_threads() == numba_before and torch.get_num_threads() == torch_before


# ------------------------------------------------------------------ dtype dispatch
def test_dispatching_linear_really_dispatches():
    from fastgrad.bench.dispatch import DispatchingLinear, Float32Linear

    w, b = np.ones((4, 3), np.float32), np.zeros(4, np.float32)
    layer = DispatchingLinear(w, b)
    with pytest.raises(TypeError, match=r"input float64 but weight float32 and bias float32"):
        layer.forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"no kernel for dtype int64"):
        layer.forward(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, 4\), got \(2, 3\)"):
        layer.backward(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    x = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(layer.forward(x), Float32Linear(w, b).forward(np.ascontiguousarray(x)))
    with pytest.raises(TypeError, match="must be float32"):
        Float32Linear(w.astype(np.float64), b)


def test_linear_backward_is_the_gradient():
    from fastgrad.bench.dispatch import Float32Linear

    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((5, 3), (4, 3), (4,)))
    gy = rng.standard_normal((5, 4)).astype(np.float32)
    dx, dw, db = Float32Linear(w, b).backward(x, gy)
    np.testing.assert_allclose(dx, gy @ w, rtol=1e-5)
    np.testing.assert_allclose(dw, gy.T @ x, rtol=1e-5)
    np.testing.assert_allclose(db, gy.sum(0), rtol=1e-5)
    y = Float32Linear(w, b).forward(x)
    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-5)


def test_bench_linear_dispatch_returns_measured_figures():
    from fastgrad.bench.dispatch import bench_linear_dispatch, explain

    r = bench_linear_dispatch(1, sizes=[("tiny", 4, 8, 2)], verbose=False)["tiny"]
    for key in ("dispatching", "specialised", "fastgrad", "dispatch_alone", "spread"):
        assert r[key] >= 0
    assert r["speedup"] == pytest.approx(r["dispatching"] / r["specialised"])
    assert r["difference"] == pytest.approx(r["dispatching"] - r["specialised"])
    assert r["claim_met"] == (r["speedup"] >= 1.3) and r["flops"] == 6 * 4 * 8 * 2
    assert 0 < r["dispatch_alone"] < r["dispatching"]
    assert "Claim met at: " in explain({"tiny": r})


def test_linear_check_catches_a_wrong_layer():
    from fastgrad.bench.dispatch import _check

    want = (np.ones((2, 3), np.float32),) * 4
    _check("x", "same", want, want, exact=True)
    with pytest.raises(AssertionError, match=r"linear x: wrong dW \(2, 3\) disagrees"):
        _check("x", "wrong", (want[0], want[0], want[0] * 1.01, want[0]), want, exact=False)
