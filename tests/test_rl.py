"""fastgrad.rl: the cube group, the BFS ground truth, replay (n-step, sum-tree, priorities),
the DQN pieces and a run's save/load. References: hand computations, brute force, NumPy."""
import numpy as np
import pytest

from fastgrad.rl import bfs, cube, dqn, replay

IDENTITY = np.arange(24)
KNOWN = [1, 6, 27, 120, 534, 2256, 8969, 33058, 114149, 360508, 930588, 1350852, 782536, 90280, 276]


def power(perm, k):
    p = IDENTITY
    for _ in range(k):
        p = p[perm]
    return p


# ------------------------------------------------------------------ cube

@pytest.mark.parametrize("m", range(6))
def test_each_move_has_order_4_and_its_inverse_cancels(m):
    p = cube.MOVES[m]
    assert sorted(p) == list(IDENTITY)
    assert not np.array_equal(power(p, 2), IDENTITY) and np.array_equal(power(p, 4), IDENTITY)
    assert np.array_equal(p[cube.MOVES[cube.INVERSE[m]]], IDENTITY)
    assert np.array_equal(cube.MOVES[cube.INVERSE[m]], np.argsort(p))


def test_commutator_has_order_6_and_u_r_do_not_commute():
    seq = IDENTITY
    for m in cube.parse("U R U' R'"):
        seq = seq[cube.MOVES[m]]
    assert [k for k in range(1, 13) if np.array_equal(power(seq, k), IDENTITY)][0] == 6
    u, r = cube.MOVES[cube.parse("U")[0]], cube.MOVES[cube.parse("R")[0]]
    assert not np.array_equal(u[r], r[u])


def test_batched_moves_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    states, _ = cube.scramble(5, rng, batch=50)
    moves = rng.integers(0, 6, 50)
    batched = cube.apply_moves(states, moves)
    assert np.array_equal(batched, np.stack([cube.apply_move(s, m) for s, m in zip(states, moves)]))


def test_scramble_no_undo_and_uniform():
    rng = np.random.default_rng(1)
    _, moves = cube.scramble(8, rng, batch=2000)
    assert not np.any(moves[:, 1:] == cube.INVERSE[moves[:, :-1]])
    assert set(np.unique(moves)) == set(range(6))
    _, moves = cube.scramble(8, rng, batch=2000, no_undo=False)
    assert np.any(moves[:, 1:] == cube.INVERSE[moves[:, :-1]])


def test_encode_is_one_hot_and_pocketcube_steps():
    x = cube.encode(cube.SOLVED[None])
    assert x.shape == (1, 144) and x.dtype == np.float32 and x.sum() == 24
    assert np.array_equal(x.reshape(24, 6).argmax(axis=1), cube.SOLVED)
    envs = cube.PocketCube(3)
    assert envs.solved().all()
    envs.step(np.array([0, 2, 4]))
    assert not envs.solved().any()
    envs.step(np.array([1, 3, 5]))
    assert envs.solved().all()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="uint8"):
        cube.apply_move(np.zeros(24, np.int64), 0)
    with pytest.raises(ValueError, match="moves must be integers"):
        cube.apply_moves(np.stack([cube.SOLVED]), np.array([6]))
    with pytest.raises(ValueError):
        cube.parse("U X")


# ------------------------------------------------------------------ BFS

@pytest.fixture(scope="module")
def table():
    return bfs.distances()


def test_bfs_counts_every_state_and_gods_number(table):
    hist = bfs.histogram(table)
    assert hist.sum() == cube.N_STATES == 7 * 6 * 5 * 4 * 3 * 2 * 729
    assert hist.tolist() == KNOWN               # God's number 14 in this metric


def test_distances_of_known_states(table):
    assert bfs.distance(table, cube.SOLVED[None])[0] == 0
    one = np.stack([cube.apply_move(cube.SOLVED, m) for m in range(6)])
    assert (bfs.distance(table, one) == 1).all()
    rng = np.random.default_rng(2)
    for depth in (3, 7, 12):
        states, _ = cube.scramble(depth, rng, batch=200)
        assert (bfs.distance(table, states) <= depth).all()


def test_optimal_moves_lower_the_distance_by_one(table):
    states, _ = cube.scramble(10, np.random.default_rng(3), batch=20)
    for s in states:
        d = bfs.distance(table, s[None])[0]
        path = bfs.optimal_moves(table, s)
        assert len(path) == d
        for m in path:
            s = cube.apply_move(s, m)
            d, before = bfs.distance(table, s[None])[0], d
            assert d == before - 1
        assert cube.is_solved(s)


def test_states_at_distance_round_trip(table):
    rng = np.random.default_rng(4)
    for d in (1, 5, 14):
        states = bfs.states_at_distance(table, d, 50, rng)
        assert (bfs.distance(table, states) == d).all()
    assert len(bfs.states_at_distance(table, 14, 1000, rng)) == 276


def test_unreachable_state_is_an_error(table):
    bad = cube.SOLVED.copy()
    bad[[0, 4]] = bad[[4, 0]]              # stickers of two corners swapped by hand
    with pytest.raises(ValueError, match="not a pocket-cube state"):
        bfs.distance(table, bad[None])
    twisted = cube.SOLVED.copy()
    corner = bfs.CORNER_STICKERS[0]
    twisted[corner] = twisted[corner[[1, 2, 0]]]     # one corner twisted in place: a real cubie, unreachable
    with pytest.raises(ValueError, match="reachable"):
        bfs.distance(table, twisted[None])


def test_disk_cache_is_written_reused_and_rebuilt_when_corrupt(tmp_path, monkeypatch, table):
    monkeypatch.setenv("FASTGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(bfs, "_TABLE", None)
    path = bfs.table_path()
    assert str(path).startswith(str(tmp_path))
    built = bfs.distances()
    assert path.exists() and np.array_equal(built, table)
    monkeypatch.setattr(bfs, "_TABLE", None)
    monkeypatch.setattr(bfs, "build", lambda: pytest.fail("a good cache must be loaded, not rebuilt"))
    assert np.array_equal(bfs.distances(), table)
    path.write_bytes(b"not an npy file")
    monkeypatch.setattr(bfs, "_TABLE", None)
    rebuilt = []
    monkeypatch.setattr(bfs, "build", lambda: rebuilt.append(1) or np.array(table))
    assert np.array_equal(bfs.distances(), table) and rebuilt == [1]


# ------------------------------------------------------------------ replay

def test_n_step_returns_by_hand():
    r, d = replay.n_step_returns([0, 0, 0, 1], True, 0.9, 3)
    assert np.allclose(r, [0, 0.81, 0.9, 1]) and np.allclose(d, [0.729, 0, 0, 0])
    r, d = replay.n_step_returns([0, 0, 0, 1], False, 0.9, 3)
    assert np.allclose(d, [0.729, 0.729, 0.81, 0.9])
    r, d = replay.n_step_returns([1.0, 2.0], True, 0.5, 1)
    assert np.allclose(r, [1, 2]) and np.allclose(d, [0.5, 0])


@pytest.mark.parametrize("n", [1, 3, 5])
def test_accumulator_matches_n_step_returns(n):
    rng = np.random.default_rng(n)
    B, steps = 6, 60
    acc = replay.NStepAccumulator(n=n, gamma=0.8, batch=B)
    got, episodes, current = {}, [], [[] for _ in range(B)]
    for t in range(steps):
        s = np.zeros((B, 24), np.uint8)
        s[:, 0], s[:, 1] = np.arange(B), t
        rewards = rng.random(B)
        u = rng.random(B)
        term, trunc = u < 0.15, (u >= 0.15) & (u < 0.25)
        out = acc.push(s, np.zeros(B, np.int64), rewards, s + 0, term, trunc)
        for st, ret, disc in zip(out[0], out[2], out[4]):
            key = (int(st[0]), int(st[1]))
            assert key not in got
            got[key] = (ret, disc)
        for b in range(B):
            current[b].append((t, rewards[b]))
            if term[b] or trunc[b]:
                episodes.append((b, current[b], bool(term[b])))
                current[b] = []
    assert len(episodes) > 10
    for b, steps_, term in episodes:
        want_r, want_d = replay.n_step_returns([r for _, r in steps_], term, 0.8, n)
        for (t, _), wr, wd in zip(steps_, want_r, want_d):
            assert np.isclose(got[b, t][0], wr, rtol=1e-12) and np.isclose(got[b, t][1], wd, rtol=1e-12)


def test_sum_tree_totals_find_and_distribution():
    tree = replay.SumTree(10)
    p = np.array([4.0, 0.0, 1.0, 3.0, 2.0, 0.0, 5.0, 1.0, 0.5, 2.5])
    tree.update(np.arange(10), p)
    assert tree.total == p.sum()
    prefix = np.concatenate([[0], np.cumsum(p)])
    # values at segment starts go to the slot that starts there (zero-priority slots skipped)
    assert tree.find(prefix[:-1][p > 0]).tolist() == np.flatnonzero(p > 0).tolist()
    tree.update([3], [0.0])
    assert tree.total == p.sum() - 3.0
    tree.update([3], [3.0])
    rng = np.random.default_rng(0)
    draws = tree.sample(100_000, rng)
    freq = np.bincount(draws, minlength=10) / len(draws)
    assert np.abs(freq - p / p.sum()).max() < 0.005
    assert freq[[1, 5]].sum() == 0


def test_prioritized_replay_weights():
    buf = replay.PrioritizedReplay(64, alpha=0.6)
    rng = np.random.default_rng(0)
    s = np.zeros((32, 24), np.uint8)
    slots = buf.add(s, np.zeros(32, np.int64), np.zeros(32), s, np.ones(32))
    errors = rng.random(32)
    buf.update_priorities(slots, errors)
    batch = buf.sample(16, rng, beta=0.5)
    prio = buf.tree.priorities(batch.indices)
    probs = prio / buf.tree.total
    want = (len(buf) * probs) ** -0.5
    assert np.allclose(batch.weights, want / want.max(), rtol=1e-5)


def test_replay_buffer_wraps_around():
    buf = replay.ReplayBuffer(5)
    s = np.arange(7 * 24, dtype=np.uint8).reshape(7, 24) % 6
    buf.add(s, np.arange(7), np.arange(7, dtype=np.float64), s, np.ones(7))
    assert len(buf) == 5
    b = buf.sample(200, np.random.default_rng(0))
    assert set(b.actions.tolist()) == {2, 3, 4, 5, 6} and (b.weights == 1).all()


# ------------------------------------------------------------------ DQN

def test_dueling_and_targets_by_hand():
    v = np.array([[1.0]], np.float32)
    a = np.array([[1.0, 2.0, 6.0]], np.float32)
    assert np.allclose(dqn.dueling_aggregate(v, a), [[-1, 0, 4]])
    on = np.array([[0.1, 0.9], [0.5, 0.5]], np.float32)
    tg = np.array([[0.8, 0.2], [0.3, 0.7]], np.float32)
    y = dqn.double_dqn_targets(on, tg, np.array([0.0, 1.0]), np.array([0.9, 0.5]))
    assert y.dtype == np.float32 and np.allclose(y, [0.18, 1.15])   # tie: first move
    assert np.allclose(dqn.dqn_targets(tg, np.array([0.0, 1.0]), np.array([0.9, 0.0])), [0.72, 1.0])


def test_greedy_solve_with_an_oracle(table):
    def oracle(states):
        nxt = np.stack([cube.apply_moves(states, np.full(len(states), m)) for m in range(6)], axis=1)
        return 0.9 ** bfs.distance(table, nxt.reshape(-1, 24)).reshape(-1, 6).astype(np.float32)
    states, _ = cube.scramble(9, np.random.default_rng(5), batch=40)
    used = dqn.greedy_solve(oracle, states)
    assert np.array_equal(used, bfs.distance(table, states))
    assert (dqn.greedy_solve(lambda s: np.zeros((len(s), 6), np.float32), states, max_moves=3) == -1).sum() > 30


def test_short_training_is_deterministic_and_logs(tmp_path):
    cfg = dqn.DQNConfig(warmup=256, eval_every=100, eval_episodes=20)
    logs = [dqn.DQNAgent(cfg).train(300) for _ in range(2)]
    for key in ("seconds", "iterations", "episodes", "episodes_per_minute", "loss", "epsilon", "depth", "success",
                "seconds_env", "seconds_forward", "seconds_backward", "seconds_optimizer", "seconds_replay"):
        assert key in logs[0]
    assert logs[0]["success"].shape == (3, 10)
    assert np.array_equal(logs[0]["loss"], logs[1]["loss"]) and np.isfinite(logs[0]["loss"][-1])


def test_save_and_load_round_trip(tmp_path):
    agent = dqn.DQNAgent(dqn.DQNConfig(seed=3, n_step=2, dueling=False))
    log = {"loss": np.array([0.5, 0.25]), "success": np.ones((2, 10))}
    path = tmp_path / "run.npz"
    dqn.save_run(path, agent, log)
    net, cfg, got = dqn.load_run(path)
    assert cfg == agent.config
    for k, v in agent.online.state_dict().items():
        assert np.array_equal(np.asarray(net.state_dict()[k]), np.asarray(v))
    assert np.array_equal(got["loss"], log["loss"])
    import fastgrad as fg
    fg.save({"w": np.ones(3)}, tmp_path / "other.npz")
    with pytest.raises(ValueError, match="not a DQN run"):
        dqn.load_run(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="no shipped DQN run"):
        dqn.shipped("nope")


def test_shipped_runs_load():
    net, cfg, log = dqn.load_run(dqn.shipped("pocket_dqn"))
    assert cfg.dueling and cfg.n_step == 3 and log["success"].shape[1] == cfg.eval_depths


def test_backward_matches_central_differences():
    from fastgrad import gradcheck
    assert hasattr(gradcheck, "__name__")
    net = dqn.QNetwork(hidden=(5, 4), dueling=True, seed=0, dtype=np.float64)
    import fastgrad as fg
    x = cube.encode(cube.scramble(3, np.random.default_rng(0), batch=4)[0]).astype(np.float64)
    w = net.head.weight

    def loss():
        return float((net(fg.Tensor(x)) ** 2).sum().numpy())
    net.zero_grad() if hasattr(net, "zero_grad") else None
    (net(fg.Tensor(x)) ** 2).sum().backward()
    analytic = np.array(w.grad, dtype=np.float64).copy()
    numeric = np.zeros_like(analytic)
    eps = 1e-6
    for idx in np.ndindex(*analytic.shape):
        old = w.data[idx]
        w.data[idx] = old + eps
        up = loss()
        w.data[idx] = old - eps
        down = loss()
        w.data[idx] = old
        numeric[idx] = (up - down) / (2 * eps)
    assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
