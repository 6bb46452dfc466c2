"""`python -m fastgrad.bench dqn --quick` runs and prints every expected line; the torch twin
of the DQN step computes fastgrad's loss and gradients. No speed assertions: speed is
reported by the benchmark, not tested."""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fastgrad.bench import dqn as bench

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def quick_output():
    env = {**os.environ, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "Haswell")}  # exercise the subprocess
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "dqn", "--quick", "--repeats", "2"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_header_and_env_table(quick_output):
    assert re.search(r"^fastgrad dqn benchmark \(--quick", quick_output, re.M)
    assert re.search(r"^torch: .*, load average: [\d.]+", quick_output, re.M)
    for b in (1, 64, 1024):
        assert re.search(rf"^ *step, batch {b}: +[\d,]+ cube moves/s$", quick_output, re.M)
        assert re.search(rf"^ *step \+ encode, batch {b}: +[\d,]+ cube moves/s$", quick_output, re.M)


def test_step_table(quick_output):
    assert "== DQN gradient step, batch 128, dueling 144-128-64-7, one thread ==" in quick_output
    assert re.search(r"^fastgrad \(DQNAgent\.learn\) ", quick_output, re.M)
    if HAS_TORCH:
        assert re.search(r"^first losses agree \(relative 1e-05\): True", quick_output, re.M)
        assert re.search(r"^DQN gradient step \(batch 128\): fastgrad .* = [\d.]+x torch eager default Adam, "
                         r"[\d.]+x torch fused=True", quick_output, re.M)
    else:
        assert "torch skipped (not installed)" in quick_output
    assert "unset (a subprocess) ==" in quick_output
    assert re.search(r"^with BLAS uncapped: fastgrad ", quick_output, re.M)


def test_bfs_line(quick_output):
    assert "states reached: 3,674,160 (= 3,674,160: True)" in quick_output
    assert re.search(r"^BFS over 3,674,160 states: [\d.]+ s \(first call\)$", quick_output, re.M)


def test_replay_batch_is_fixed_and_consistent():
    from fastgrad.rl.cube import apply_moves, is_solved

    a, b = bench.replay_batch(0), bench.replay_batch(0)
    assert np.array_equal(a.states, b.states) and a.states.shape == (128, 24)
    assert np.array_equal(apply_moves(a.states, a.actions), a.next_states)
    assert np.array_equal(a.discounts == 0, is_solved(a.next_states))


def test_torch_twin_matches_loss_and_gradients():
    torch = pytest.importorskip("torch")
    from fastgrad.rl.cube import encode

    agent, _ = bench.fastgrad_step()
    b = bench.replay_batch(0)
    twin = bench.torch_qnetwork(torch, agent.online)
    x = encode(b.states)
    with torch.no_grad():
        want = agent.q_values(b.states)
        got = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # one step each from the same weights: same loss, same updated weights
    t_step = bench.torch_step(torch, agent, fused=False)
    fg_loss, _ = agent.learn(b)
    t_loss = t_step()
    assert abs(fg_loss - t_loss) <= 1e-5 * abs(fg_loss)
    updated = {k: v.detach().numpy() for k, v in t_step.online.state_dict().items()}
    for name, value in agent.online.state_dict().items():
        np.testing.assert_allclose(np.asarray(value), updated[name], rtol=1e-4, atol=1e-6, err_msg=name)
