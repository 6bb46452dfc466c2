"""Deep Q-learning on the pocket cube: Q-networks, double-DQN targets, and the training loop.

    net = QNetwork(dueling=True, seed=0)          # 144-128-64 trunk, then 6 Q-values
    agent = DQNAgent(DQNConfig(n_step=3))         # online + target network, replay, fused Adam
    log = agent.train(iterations=20_000)          # a dict of arrays: success per depth, loss, ...
    agent.q_values(states)                        # (B, 6) Q-values of sticker states (B, 24)

The reward is 1 for the move that solves the cube (the episode ends) and 0 otherwise, so
with discount gamma the optimal Q-value of a move is gamma^d, d the optimal distance of
the state it leads to: the network learns the BFS distances without being shown them.

The training step is chapter 09's fast path: the trunk as fused Linear+bias+ReLU ops
(`ladder.fused_forward`), only the needed gradients (`ladder.BEST`'s switches), and Adam
as one Numba kernel over one flat buffer.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..autograd import Tensor, no_grad
from ..ladder import BEST, fused_forward
from ..switches import switches
from .cube import INVERSE, N_MOVES, PocketCube, encode, scramble
from .replay import NStepAccumulator, PrioritizedReplay, ReplayBuffer

__all__ = ["dueling_aggregate", "double_dqn_targets", "dqn_targets", "QNetwork", "DQNConfig", "save_run", "load_run",
           "DQNAgent", "greedy_solve", "WEIGHTS_DIR", "shipped"]


def dueling_aggregate(value, advantage) -> np.ndarray:
    """Q = V + (A - mean of A over the actions): value (B, 1), advantage (B, A) -> (B, A).
    Subtracting the mean makes V and A identifiable (a constant moved between them would
    otherwise give the same Q); the mean rather than the max keeps the target smooth."""
    return value + advantage - advantage.mean(axis=1, keepdims=True)


def double_dqn_targets(q_next_online, q_next_target, returns, discounts) -> np.ndarray:
    """Double DQN: y = R + discount * Q_target(s', argmax_a Q_online(s', a)).
    The online network chooses the next move and the target network values it, which
    removes the overestimation of taking a max over noisy estimates. Shapes: (B, A),
    (B, A), (B,), (B,) -> (B,) float32; discount 0 ends the episode (no bootstrap)."""
    best = np.argmax(q_next_online, axis=1)
    chosen = np.take_along_axis(q_next_target, best[:, None], axis=1)[:, 0]
    return (returns + discounts * chosen).astype(np.float32)


def dqn_targets(q_next_target, returns, discounts) -> np.ndarray:
    """Plain DQN: y = R + discount * max_a Q_target(s', a) (B,) float32."""
    return (returns + discounts * q_next_target.max(axis=1)).astype(np.float32)


class QNetwork(nn.Module):
    """144 one-hot stickers -> Linear 128 -> ReLU -> Linear 64 -> ReLU -> head.
    Dueling: the head is Linear(64, 7), a value and 6 advantages, aggregated by
    `dueling_aggregate`; otherwise Linear(64, 6), the Q-values themselves."""

    def __init__(self, hidden=(128, 64), dueling: bool = True, seed=0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        sizes = (144,) + tuple(hidden)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, seed=rng, dtype=dtype), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.dueling = dueling
        self.head = nn.Linear(sizes[-1], N_MOVES + 1 if dueling else N_MOVES, seed=rng, dtype=dtype)

    def forward(self, x):
        out = F.linear(fused_forward(self.trunk, x), self.head.weight, self.head.bias)
        if not self.dueling:
            return out
        value, advantage = out[:, :1], out[:, 1:]
        return value + advantage - advantage.mean(axis=1, keepdims=True)


def greedy_solve(q_values, states, max_moves: int = 20):
    """Play the greedy policy (the move of largest Q) from each state of a batch (B, 24)
    for at most `max_moves` moves. Returns moves used (B,) int64, -1 where unsolved."""
    from .cube import apply_moves, is_solved
    states = np.array(states, dtype=np.uint8)
    used = np.where(is_solved(states), 0, -1)
    active = np.flatnonzero(used < 0)
    for move in range(1, max_moves + 1):
        if len(active) == 0:
            break
        actions = np.argmax(q_values(states[active]), axis=1)
        states[active] = apply_moves(states[active], actions)
        done = is_solved(states[active])
        used[active[done]] = move
        active = active[~done]
    return used


@dataclass
class DQNConfig:
    """Everything that defines a run (saved with the weights). Steps count iterations:
    one move in each of `n_envs` cubes, then `train_every` gradient steps of `batch`."""
    seed: int = 0
    n_envs: int = 64
    batch: int = 128
    gamma: float = 0.9
    lr: float = 5e-4
    n_step: int = 3
    dueling: bool = True
    double: bool = True
    prioritized: bool = True
    alpha: float = 0.6
    beta_start: float = 0.4
    capacity: int = 200_000
    warmup: int = 2_000               # transitions stored before the first gradient step
    train_every: int = 1
    target_every: int = 500           # gradient steps between copies into the target network
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay: int = 5_000            # iterations of linear decay
    curriculum: bool = True
    start_depth: int = 1
    max_depth: int = 12               # the curriculum stops here; without it, depths 1..max_depth
    advance_at: float = 0.9           # success (greedy, within the step limit) to go one deeper
    eval_every: int = 250             # iterations between evaluations (and curriculum checks)
    eval_episodes: int = 200          # scrambles per depth at each evaluation
    eval_depths: int = 10             # evaluate depths 1..eval_depths
    hidden: tuple = (128, 64)

    def step_limit(self, depth):
        """Moves allowed in a training episode at scramble depth `depth`."""
        return 2 * np.asarray(depth) + 2


class DQNAgent:
    """An online and a target QNetwork, a replay buffer and a batch of cubes; `train`."""

    def __init__(self, config: DQNConfig | None = None):
        self.config = c = config or DQNConfig()
        self.rng = np.random.default_rng(c.seed)
        self.eval_rng = np.random.default_rng(c.seed + 10_000)
        self.online = QNetwork(c.hidden, c.dueling, seed=c.seed)
        self.target = QNetwork(c.hidden, c.dueling, seed=c.seed)
        self.target.load_state_dict(self.online.state_dict())
        self.optimizer = optim.Adam(self.online.parameters(), lr=c.lr)
        self.replay = (PrioritizedReplay(c.capacity, alpha=c.alpha) if c.prioritized
                       else ReplayBuffer(c.capacity))
        self.nstep = NStepAccumulator(c.n_step, c.gamma, c.n_envs)
        self.envs = PocketCube(c.n_envs)
        self.depth = c.start_depth if c.curriculum else c.max_depth
        self.env_depth = np.zeros(c.n_envs, dtype=np.int64)
        self.env_moves = np.zeros(c.n_envs, dtype=np.int64)
        self._reset(np.ones(c.n_envs, bool))
        self.iterations = self.grad_steps = self.episodes = self.solved = 0
        self.seconds = {"env": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0, "replay": 0.0}

    # ---------------------------------------------------------------- acting
    def q_values(self, states) -> np.ndarray:
        """Q-values (B, 6) float32 of sticker states (B, 24), from the online network."""
        with no_grad(), switches(**BEST.settings()):
            return self.online(Tensor(encode(states))).numpy()

    def _reset(self, where) -> None:
        depths = self.rng.integers(1, self.depth + 1, self.config.n_envs)
        self.envs.reset(depths, self.rng, where=where)
        self.env_depth[where] = depths[where]
        self.env_moves[where] = 0

    def epsilon(self) -> float:
        c = self.config
        frac = min(1.0, self.iterations / max(1, c.eps_decay))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def _act_and_step(self) -> None:
        c, t0 = self.config, time.perf_counter()
        states = self.envs.states.copy()
        q = self.q_values(states)
        t1 = time.perf_counter()
        actions = np.argmax(q, axis=1)
        explore = self.rng.random(c.n_envs) < self.epsilon()
        actions[explore] = self.rng.integers(0, N_MOVES, int(explore.sum()))
        solved = self.envs.step(actions)
        self.env_moves += 1
        truncated = ~solved & (self.env_moves >= c.step_limit(self.env_depth))
        self.replay.add(*self.nstep.push(states, actions, solved.astype(np.float64),
                                         self.envs.states, solved, truncated))
        ended = solved | truncated
        self.episodes += int(ended.sum())
        self.solved += int(solved.sum())
        if ended.any():
            self._reset(ended)
        self.seconds["forward"] += t1 - t0
        self.seconds["env"] += time.perf_counter() - t1

    # -------------------------------------------------------------- learning
    def train_step(self) -> float:
        """One gradient step on a sampled batch; returns the (importance-weighted) loss."""
        c, t0 = self.config, time.perf_counter()
        beta = min(1.0, c.beta_start + (1 - c.beta_start) * self.iterations / max(1, self._planned))
        b = self.replay.sample(c.batch, self.rng, beta=beta)
        t1 = time.perf_counter()
        loss, td_errors = self.learn(b)
        t2 = time.perf_counter()
        self.replay.update_priorities(b.indices, td_errors)
        self.grad_steps += 1
        if self.grad_steps % c.target_every == 0:
            self.target.load_state_dict(self.online.state_dict())
        self.seconds["replay"] += (t1 - t0) + (time.perf_counter() - t2)
        return loss

    def learn(self, b) -> tuple[float, np.ndarray]:
        """The gradient step itself on a replay `Batch` b: targets from the target network
        (double DQN: the online network picks the move), the importance-weighted squared TD
        error, backward, Adam. Returns (loss, TD errors (B,)); times forward, backward and
        optimizer into `self.seconds`."""
        c, t1 = self.config, time.perf_counter()
        with switches(**BEST.settings()):
            with no_grad():
                xn = Tensor(encode(b.next_states))
                q_next_target = self.target(xn).numpy()
                if c.double:
                    y = double_dqn_targets(self.online(xn).numpy(), q_next_target, b.returns, b.discounts)
                else:
                    y = dqn_targets(q_next_target, b.returns, b.discounts)
            q = self.online(Tensor(encode(b.states)))
            chosen = Tensor(np.eye(N_MOVES, dtype=np.float32)[b.actions])
            diff = (q * chosen).sum(axis=1) - Tensor(y)
            loss = (diff * diff * Tensor(b.weights)).mean()
            t2 = time.perf_counter()
            self.optimizer.zero_grad()
            loss.backward()
            t3 = time.perf_counter()
            self.optimizer.step()
        s = self.seconds
        s["forward"] += t2 - t1
        s["backward"] += t3 - t2
        s["optimizer"] += time.perf_counter() - t3
        return float(loss.numpy()), diff.numpy()

    def evaluate(self, depths, episodes: int, max_moves: int = 20) -> np.ndarray:
        """Greedy success rate within `max_moves` at each scramble depth (no-undo scrambles
        from the agent's own evaluation generator, fresh ones each call)."""
        rates = []
        for d in depths:
            states, _ = scramble(int(d), self.eval_rng, batch=episodes)
            rates.append(np.mean(greedy_solve(self.q_values, states, max_moves) >= 0))
        return np.array(rates)

    def train(self, iterations: int, seconds: float | None = None, progress=None) -> dict:
        """Run up to `iterations` iterations (and at most `seconds` of wall time). Returns
        the log: per evaluation, the time, iterations, episodes, episodes per minute, mean
        loss, epsilon, curriculum depth and greedy success within 20 moves at each depth
        1..eval_depths; plus the seconds spent in env, forward, backward, optimizer, replay."""
        c = self.config
        self._planned = iterations
        log = {k: [] for k in ("seconds", "iterations", "episodes", "episodes_per_minute", "loss",
                                "epsilon", "depth", "success")}
        losses, start = [], time.perf_counter()
        last_t, last_episodes = 0.0, 0
        depths = np.arange(1, c.eval_depths + 1)
        for it in range(iterations):
            self._act_and_step()
            self.iterations += 1
            if len(self.replay) >= c.warmup and self.iterations % c.train_every == 0:
                losses.append(self.train_step())
            if self.iterations % c.eval_every == 0 or it == iterations - 1:
                now = time.perf_counter() - start
                success = self.evaluate(depths, c.eval_episodes)
                log["seconds"].append(now)
                log["iterations"].append(self.iterations)
                log["episodes"].append(self.episodes)
                log["episodes_per_minute"].append((self.episodes - last_episodes) / max(1e-9, now - last_t) * 60)
                log["loss"].append(np.mean(losses) if losses else np.nan)
                log["epsilon"].append(self.epsilon())
                log["depth"].append(self.depth)
                log["success"].append(success)
                losses, last_t, last_episodes = [], now, self.episodes
                if c.curriculum and self.depth < c.max_depth:
                    rate = (success[self.depth - 1] if self.depth <= len(success)
                            else self.evaluate([self.depth], c.eval_episodes)[0])
                    if rate >= c.advance_at:
                        self.depth += 1
                if progress is not None:
                    progress(log)
                if seconds is not None and now >= seconds:
                    break
        out = {k: np.array(v) for k, v in log.items()}
        out.update({f"seconds_{k}": np.array(v) for k, v in self.seconds.items()})
        return out


WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"


def shipped(name: str = "pocket_dqn") -> Path:
    """Path of a committed run written by tools/train_dqn.py: "pocket_dqn" (the agent) or
    "pocket_dqn_ablation_<variant>"."""
    path = WEIGHTS_DIR / f"{name}.npz"
    if not path.exists():
        found = sorted(p.stem for p in WEIGHTS_DIR.glob("pocket_dqn*.npz"))
        raise FileNotFoundError(f"no shipped DQN run {name!r} at {path}; shipped: {found}")
    return path


def save_run(path, agent: "DQNAgent", log: dict):
    """Write the online network's weights (`net.<name>`), the config (`config.<field>`) and the
    training log (`log.<key>`) to one `.npz` (fastgrad.save: no pickle)."""
    from ..io import save
    arrays = {f"net.{k}": v for k, v in agent.online.state_dict().items()}
    arrays.update({f"config.{k}": np.asarray(v) for k, v in asdict(agent.config).items()})
    arrays.update({f"log.{k}": np.asarray(v) for k, v in log.items()})
    return save(arrays, path)


def load_run(path):
    """(QNetwork with the saved weights, DQNConfig, log dict) from a file of `save_run`."""
    from ..io import load
    arrays = load(path)
    if not any(k.startswith("net.") for k in arrays) or not any(k.startswith("config.") for k in arrays):
        raise ValueError(f"{path} is not a DQN run written by save_run (no net.* and config.* arrays; "
                         f"it holds {sorted(arrays)[:5]}...)")
    fields = DQNConfig.__dataclass_fields__
    values = {}
    for k, v in arrays.items():
        if k.startswith("config."):
            name = k[len("config."):]
            if name not in fields:
                raise ValueError(f"{path}: unknown config field {name!r}")
            values[name] = tuple(int(x) for x in v) if v.ndim else v.item()
    config = DQNConfig(**values)
    net = QNetwork(config.hidden, config.dueling, seed=config.seed)
    net.load_state_dict({k[len("net."):]: v for k, v in arrays.items() if k.startswith("net.")})
    log = {k[len("log."):]: v for k, v in arrays.items() if k.startswith("log.")}
    return net, config, log
