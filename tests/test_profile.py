"""fastgrad.profile: call counts, bytes, exclusive times that add up, the op table and
optimizer classes restored (also after exceptions), regions, real models.

No speed thresholds: the only timing facts asserted are orderings that cannot flake
(times >= 0, parts <= wall, a sleep lasts at least its duration)."""
import dataclasses
import time

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import fastgrad.profile as fp                       # noqa: E402
from fastgrad import nn, optim                       # noqa: E402
from fastgrad.autograd import Tensor, no_grad        # noqa: E402
from fastgrad.functional import cross_entropy        # noqa: E402
from fastgrad.models import LeNet                    # noqa: E402
from fastgrad.ops import OPS                         # noqa: E402


def _leaves(shapes, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _assert_consistent(st):
    """Every time >= 0 and the exclusive parts add up to at most the wall time."""
    for s in st["ops"].values():
        assert s["forward_s"] >= 0 and s["backward_s"] >= 0
    for r in st["regions"].values():
        assert r["seconds"] >= 0
    assert st["ops_s"] + st["regions_s"] <= st["total_s"]
    assert st["overhead_s"] >= 0
    assert st["overhead_s"] == pytest.approx(st["total_s"] - st["ops_s"] - st["regions_s"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_counts_and_bytes_of_a_known_graph(dtype):
    a, b, c = _leaves([(3, 4)] * 3, dtype)
    with fp.profile() as prof:
        (a * b + c).sum().backward()
    st = prof.stats
    assert set(st["ops"]) == {"mul", "add", "sum"}
    for s in st["ops"].values():
        assert (s["forward_calls"], s["backward_calls"]) == (1, 1)
    n = 12 * np.dtype(dtype).itemsize                  # one (3, 4) array
    one = np.dtype(dtype).itemsize                     # the 0-d sum
    assert st["ops"]["mul"]["forward_bytes"] == 3 * n  # a, b in; a*b out
    assert st["ops"]["mul"]["backward_bytes"] == 3 * n  # grad in; da, db out
    assert st["ops"]["add"]["forward_bytes"] == 3 * n
    assert st["ops"]["sum"]["forward_bytes"] == n + one
    assert st["ops"]["sum"]["backward_bytes"] == one + n
    assert st["timed_calls"] == 6
    assert st["regions"] == {}
    _assert_consistent(st)


def test_bytes_of_a_broadcast_input_count_its_own_shape():
    a, c = _leaves([(3, 4), (4,)])
    with fp.profile() as prof:
        (a + c).sum().backward()
    add = prof.stats["ops"]["add"]
    assert add["forward_bytes"] == 48 + 16 + 48
    assert add["backward_bytes"] == 48 + 48 + 16     # dc is summed back to (4,)


def test_no_grad_records_forward_only():
    a, b = _leaves([(2, 3), (2, 3)])
    with fp.profile() as prof, no_grad():
        a * b
    assert prof.stats["ops"]["mul"]["forward_calls"] == 1
    assert prof.stats["ops"]["mul"]["backward_calls"] == 0


def test_results_are_unchanged_by_profiling():
    a, b, c = _leaves([(5, 3), (3, 4), (4,)])
    out = ((a @ b + c).relu() ** 2).mean()
    out.backward()
    want = out.item(), a.grad.copy(), b.grad.copy(), c.grad.copy()
    for t in (a, b, c):
        t.zero_grad()
    with fp.profile():
        out = ((a @ b + c).relu() ** 2).mean()
        out.backward()
    assert out.item() == want[0]
    for t, g in zip((a, b, c), want[1:]):
        np.testing.assert_array_equal(t.grad, g)


def _snapshot():
    return dict(OPS), {k: v for k, v in vars(optim.Optimizer).items() if k in ("step", "zero_grad")}


def _assert_restored(before):
    ops, methods = before
    assert OPS.keys() == ops.keys()
    assert all(OPS[k] is v for k, v in ops.items())
    for k, v in methods.items():
        assert vars(optim.Optimizer)[k] is v
    assert fp._current is None


def test_table_restored_after_the_block_and_timed_inside():
    before = _snapshot()
    with fp.profile():
        assert all(OPS[k] is not v for k, v in before[0].items())     # timed copies inside
        assert all(OPS[k].forward.__wrapped__ is v.forward for k, v in before[0].items())
        assert vars(optim.Optimizer)["step"] is not before[1]["step"]
    _assert_restored(before)


def test_table_restored_when_the_block_raises():
    before = _snapshot()
    a, = _leaves([(2, 2)])
    with pytest.raises(ZeroDivisionError):
        with fp.profile():
            a.exp()
            1 / 0
    _assert_restored(before)


def test_table_restored_when_an_op_raises_and_accounting_survives():
    before = _snapshot()
    original = OPS["neg"]

    def broken(x):
        raise FloatingPointError("kernel failed")

    OPS["neg"] = dataclasses.replace(original, forward=broken)
    try:
        a, = _leaves([(2, 2)])
        with fp.profile() as prof:
            with pytest.raises(FloatingPointError):
                -a
            a.exp()
        assert prof.stats["ops"]["neg"]["forward_calls"] == 1      # the failed call is counted
        assert prof.stats["ops"]["exp"]["forward_calls"] == 1
        _assert_consistent(prof.stats)
    finally:
        OPS["neg"] = original
    _assert_restored(before)


def test_nested_blocks_and_reuse_are_refused():
    before = _snapshot()
    with fp.profile() as outer:
        with pytest.raises(RuntimeError, match="do not nest"):
            with fp.profile():
                pass
        assert fp._current is outer._rec                          # the outer block still records
    _assert_restored(before)
    with pytest.raises(RuntimeError, match="already recorded"):
        with outer:
            pass
    _assert_restored(before)
    with pytest.raises(RuntimeError, match="nothing recorded"):
        fp.Profiler().stats


def test_backward_after_the_block_is_not_recorded_and_a_later_block_records_it():
    a, b = _leaves([(3, 3), (3, 3)])
    with fp.profile() as first:
        loss = (a * b).sum()
    loss.backward()                                   # after the block: untimed, still correct
    np.testing.assert_array_equal(a.grad, b.data)
    assert first.stats["ops"]["mul"]["backward_calls"] == 0
    a.zero_grad()
    with fp.profile() as second:
        loss.backward()
    assert second.stats["ops"]["mul"]["backward_calls"] == 1
    assert second.stats["ops"]["mul"]["forward_calls"] == 0
    assert first.stats["ops"]["mul"]["backward_calls"] == 0


def test_a_timed_record_left_in_the_table_is_not_wrapped_twice():
    original = OPS["mul"]
    with fp.profile():
        leaked = OPS["mul"]                           # code that saved the table inside a block
    OPS["mul"] = leaked
    try:
        a, b = _leaves([(2, 2), (2, 2)])
        with fp.profile() as prof:
            (a * b).sum().backward()
        assert prof.stats["ops"]["mul"]["forward_calls"] == 1
        assert prof.stats["ops"]["mul"]["backward_calls"] == 1
    finally:
        OPS["mul"] = original


def _sleepy(op_name, seconds):
    original = OPS[op_name]

    def forward(*arrays, **attrs):
        time.sleep(seconds)
        return original.forward(*arrays, **attrs)

    return original, dataclasses.replace(original, forward=forward)


def test_region_times_are_exclusive_of_the_ops_inside():
    original, slow = _sleepy("neg", 0.01)
    OPS["neg"] = slow
    try:
        a, = _leaves([(4,)])
        with fp.profile(optimizers=False) as prof:
            with prof.region("outer"):
                time.sleep(0.02)
                -a
        st = prof.stats
        assert st["regions"]["outer"]["calls"] == 1
        assert st["regions"]["outer"]["seconds"] >= 0.02
        assert st["ops"]["neg"]["forward_s"] >= 0.01
        # were the op's 10 ms counted in the region too, the parts would exceed the wall time
        _assert_consistent(st)
    finally:
        OPS["neg"] = original


def test_an_op_calling_another_op_keeps_only_its_own_time():
    exp, slow_exp = _sleepy("exp", 0.01)
    neg = OPS["neg"]

    def forward(x):                                   # an op whose kernel runs another table op
        time.sleep(0.01)
        return -OPS["exp"].forward(x)

    OPS["exp"], OPS["neg"] = slow_exp, dataclasses.replace(neg, forward=forward)
    try:
        a, = _leaves([(4,)])
        with fp.profile() as prof:
            -a
        st = prof.stats
        assert st["ops"]["neg"]["forward_s"] >= 0.01 and st["ops"]["exp"]["forward_s"] >= 0.01
        _assert_consistent(st)                        # exp's 10 ms not counted twice
    finally:
        OPS["exp"], OPS["neg"] = exp, neg


def test_region_as_decorator_outside_blocks_and_of_another_profiler():
    calls = []

    @fp.region("helper")
    def helper(x):
        calls.append(x)
        return x * 2

    assert helper(1) == 2                             # no block: a plain call
    idle = fp.Profiler()
    with fp.profile() as prof:
        for i in range(3):
            helper(i)
        with idle.region("ignored"):                  # a region of a profiler that is not active
            pass
        with fp.region("nested"):
            with fp.region("nested"):                 # re-entrant
                pass
    st = prof.stats
    assert st["regions"]["helper"]["calls"] == 3
    assert st["regions"]["nested"]["calls"] == 2
    assert "ignored" not in st["regions"]
    assert calls == [1, 0, 1, 2]
    with pytest.raises(TypeError, match="non-empty string"):
        fp.region("")


def _mlp(seed=0):
    return nn.Sequential(nn.Linear(144, 128, seed=seed), nn.ReLU(), nn.Linear(128, 64, seed=seed + 1),
                         nn.ReLU(), nn.Linear(64, 6, seed=seed + 2))


def _mlp_step(model, opt, x, y):
    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.fixture
def mlp_problem():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((64, 144)).astype(np.float32))
    y = Tensor(rng.standard_normal((64, 6)).astype(np.float32))
    return x, y


MLP_CALLS = {"matmul": 3, "permute": 3, "add": 3, "relu": 2, "sub": 1, "pow": 1, "mean": 1}


def test_mlp_adam_step(mlp_problem):
    x, y = mlp_problem
    plain, profiled = _mlp(), _mlp()
    opt_plain, opt_prof = optim.Adam(plain.parameters(), lr=1e-2), optim.Adam(profiled.parameters(), lr=1e-2)
    _mlp_step(plain, opt_plain, x, y)()
    before = _snapshot()
    with fp.profile() as prof:
        _mlp_step(profiled, opt_prof, x, y)()
    _assert_restored(before)
    np.testing.assert_array_equal(opt_prof.flat, opt_plain.flat)   # profiling changed nothing
    st = prof.stats
    assert {k: (s["forward_calls"], s["backward_calls"]) for k, s in st["ops"].items()} == \
        {k: (n, n) for k, n in MLP_CALLS.items()}
    matmul_fwd = 4 * (64 * 144 + 144 * 128 + 64 * 128) + 4 * (64 * 128 + 128 * 64 + 64 * 64) \
        + 4 * (64 * 64 + 64 * 6 + 64 * 6)
    assert st["ops"]["matmul"]["forward_bytes"] == matmul_fwd
    assert st["regions"]["Adam.step"]["calls"] == 1
    assert st["regions"]["Adam.zero_grad"]["calls"] == 1
    _assert_consistent(st)
    assert list(st["ops"]) == sorted(st["ops"], key=lambda k: -st["ops"][k]["total_s"])


def test_optimizer_regions_can_be_turned_off_and_named_by_hand(mlp_problem):
    x, y = mlp_problem
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with fp.profile(optimizers=False) as prof:
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        with prof.region("optimizer"):
            opt.step()
    assert set(prof.stats["regions"]) == {"optimizer"}


def test_lenet_step():
    rng = np.random.default_rng(0)
    model = LeNet(seed=0)                             # chapter 06's CNN, default sizes
    (c1, c2), n = (32, 64), 8
    opt = optim.Adam(model.parameters(), lr=2e-3)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, n)
    before = _snapshot()
    with fp.profile() as prof:
        opt.zero_grad()
        loss = cross_entropy(model(Tensor(x)), y)
        loss.backward()
        opt.step()
    _assert_restored(before)
    st = prof.stats
    calls = {k: (s["forward_calls"], s["backward_calls"]) for k, s in st["ops"].items()}
    for name, k in {"conv2d": 2, "max_pool2d": 1, "relu": 3, "matmul": 2, "cross_entropy": 1}.items():
        assert calls[name] == (k, k), name
    # x and weight in, output out (the bias is a separate add); float32, padding 1 keeps 8x8
    assert st["ops"]["conv2d"]["forward_bytes"] == 4 * (n * 64 + c1 * 9 + n * c1 * 64) \
        + 4 * (n * c1 * 64 + c2 * c1 * 9 + n * c2 * 64)
    assert st["regions"]["Adam.step"]["calls"] == 1
    _assert_consistent(st)


def test_profile_step_medians(mlp_problem):
    x, y = mlp_problem
    model = _mlp()
    opt = optim.Adam(model.parameters())
    step = _mlp_step(model, opt, x, y)
    count = []
    result = fp.profile_step(lambda: count.append(step()), repeats=3, warmup=2)
    assert len(count) == 5
    st = result.stats
    assert st["runs"] == 3 and len(st["total_s_runs"]) == 3
    assert st["total_s"] == float(np.median(st["total_s_runs"]))
    assert {k: s["forward_calls"] for k, s in st["ops"].items()} == MLP_CALLS
    assert st["regions"]["Adam.step"]["calls"] == 1
    assert all(s["forward_s"] >= 0 and s["backward_s"] >= 0 for s in st["ops"].values())
    assert st["overhead_s"] >= 0                      # a median of values that are each >= 0
    assert "medians of 3 profiled runs" in result.table()
    with pytest.raises(ValueError, match="repeats"):
        fp.profile_step(step, repeats=0)
    with pytest.raises(TypeError, match="callable"):
        fp.profile_step(42)


def test_table_and_plot(mlp_problem):
    x, y = mlp_problem
    model = _mlp()
    opt = optim.Adam(model.parameters())
    with fp.Profiler() as prof:
        _mlp_step(model, opt, x, y)()
    text = prof.table()
    lines = text.splitlines()
    assert lines[0].split() == ["calls", "f/b", "forward", "backward", "total", "share", "bytes", "GB/s"]
    assert lines[1].split()[0] == next(iter(prof.stats["ops"]))    # the largest op first
    assert any(line.startswith("matmul") and " 3/3 " in line for line in lines)
    assert any(line.startswith("Adam.step (region)") for line in lines)
    assert lines[-2].startswith("overhead (python, autograd)")
    assert lines[-1].startswith("total (wall)") and lines[-1].rstrip().endswith("100.0%")
    ax = prof.plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == next(iter(prof.stats["ops"])) and labels[-1] == "python/autograd overhead"
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"forward", "backward", "overhead"}
    matplotlib.pyplot.close(ax.figure)


def test_own_cost_restores_the_table():
    before = _snapshot()
    cost = fp.own_cost(number=200, repeats=3)
    assert isinstance(cost, float) and cost >= 0
    _assert_restored(before)
