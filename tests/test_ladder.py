"""Chapter 09's ladder stays correct: for 100 steps from the same initialisation, every rung's
loss trajectory matches the plain step's, and fastgrad's best step matches PyTorch's (the
torch part is skipped without torch). Also the benchmark's twins and its first-loss check."""
import numpy as np
import pytest

from fastgrad import ladder
from fastgrad.switches import SWITCHES

STEPS = 100
RTOL = {"mlp": 1e-4, "cnn": 1e-4}          # float32: fused sums round differently
CONFIGS = list(ladder.RUNGS) + [ladder.CHAPTER06, ladder.BEST]


def trajectory(step, n=STEPS):
    return np.array([step() for _ in range(n)])


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def plain(request):
    kind = request.param
    return kind, trajectory(ladder.training_step(kind, "plain"))


@pytest.mark.parametrize("config", CONFIGS[1:], ids=lambda r: r.name)
def test_every_rung_follows_the_plain_trajectory(plain, config):
    kind, want = plain
    before = {name: getattr(SWITCHES, name) for name in ("lean_dispatch", "needed_grads", "free_graph")}
    got = trajectory(ladder.training_step(kind, config))
    assert {name: getattr(SWITCHES, name) for name in before} == before     # the step restores them
    assert want[-1] < 0.9 * want[0], "the plain step does not train: the comparison would mean little"
    np.testing.assert_allclose(got, want, rtol=RTOL[kind], err_msg=f"{kind} at {config.name}")


def test_the_plain_rung_really_turns_everything_off(monkeypatch):
    seen = []
    from fastgrad import autograd
    real = autograd._run_backward

    def spy(root, grad, retain_graph):
        seen.append((SWITCHES.lean_dispatch, SWITCHES.needed_grads, SWITCHES.inplace_grads,
                     SWITCHES.free_graph, SWITCHES.buffer_pool))
        return real(root, grad, retain_graph)
    monkeypatch.setattr(autograd, "_run_backward", spy)
    ladder.training_step("mlp", "plain")()
    ladder.training_step("mlp", "fused optimizer")()
    assert seen == [(False,) * 5, (True,) * 5]


def test_fused_forward_is_one_op_per_layer():
    from fastgrad.autograd import topological_order
    step = ladder.training_step("mlp", "plain")
    out = ladder.fused_forward(step.model, step.x)
    ops = [t.op.name for t in topological_order(out) if t.op is not None]
    assert ops == ["linear", "linear", "linear"]
    np.testing.assert_allclose(out.data, step.model(step.x).data, rtol=1e-5, atol=1e-6)


def test_fused_forward_fuses_conv_relu_pairs():
    from fastgrad.autograd import topological_order
    step = ladder.training_step("cnn", "plain")
    out = ladder.fused_forward(step.model, step.x)
    ops = [t.op.name for t in topological_order(out) if t.op is not None]
    assert ops.count("conv2d_layer") == 2 and "conv2d" not in ops and "add" not in ops and "relu" not in ops
    np.testing.assert_allclose(out.data, step.model(step.x).data, rtol=1e-4, atol=1e-5)


def test_rung_names_are_checked():
    with pytest.raises(KeyError, match="no rung named 'fast'.*plain"):
        ladder.training_step("mlp", "fast")
    with pytest.raises(ValueError, match="kind must be 'mlp' or 'cnn'"):
        ladder.training_step("rnn", "plain")


def test_loop_adam_matches_the_fused_adam():
    a = ladder.training_step("mlp", ladder.CHAPTER06)
    b = ladder.training_step("mlp", ladder.rung("needed grads"))     # same switches family, LoopAdam
    np.testing.assert_allclose(trajectory(a, 20), trajectory(b, 20), rtol=1e-5)


# ------------------------------------------------------------------ PyTorch
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_best_step_follows_pytorch_for_100_steps(kind):
    torch = pytest.importorskip("torch")
    from fastgrad.bench import steps
    from fastgrad.bench.threads import one_thread
    best = ladder.training_step(kind, ladder.BEST)
    with one_thread(torch):
        rows = steps._torch_rows(torch, kind, best)
        got = trajectory(best)
        want = trajectory(rows["torch default"])
        fused = trajectory(rows["torch fused=True"])
    np.testing.assert_allclose(got, want, rtol=1e-3, err_msg=f"{kind}: fastgrad vs torch default Adam")
    np.testing.assert_allclose(fused, want, rtol=1e-3)
    assert got[-1] < 0.9 * got[0]


def test_gpt_step_follows_pytorch():
    torch = pytest.importorskip("torch")
    from fastgrad.bench import steps
    fg_step = steps.gpt_step(ladder.BEST, quick=True)
    rows = steps._torch_rows(torch, "gpt", fg_step)
    got = trajectory(fg_step, 20)
    want = trajectory(rows["torch default"], 20)
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_the_first_loss_check_refuses_a_different_step():
    from fastgrad.bench import steps
    rows = {"a": lambda: 1.0, "b": lambda: 1.0 + 1e-3}
    with pytest.raises(AssertionError, match="nothing timed"):
        steps._check_first_losses(rows, "mlp")
    assert steps._check_first_losses({"a": lambda: 2.0, "b": lambda: 2.0}, "mlp") == {"a": 2.0, "b": 2.0}
