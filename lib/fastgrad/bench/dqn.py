"""`python -m fastgrad.bench dqn`: chapter 10's agent, timed (one interleaved run per table).

1. Environment steps per second: `PocketCube.step` on batches of 1, 64 and 1,024 cubes (one
   gather per step for the whole batch), with and without the one-hot `encode` the network
   needs; steps/s counts cube moves.
2. The DQN gradient step, fastgrad vs PyTorch: the same dueling QNetwork (144-128-64, head 7),
   the same replay batch of 128 (double-DQN targets from a target network, importance-weighted
   squared TD error, Adam lr 5e-4), one thread each. fastgrad runs `DQNAgent.learn` (chapter
   09's fast path); the torch twin starts from the same weights and must compute the same
   first loss (relative 1e-5) before anything is timed; torch with its default Adam and with
   `fused=True`. Skipped without torch. When OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set
   (they hold OpenBLAS below this CPU), the step is timed again in a subprocess without them.
3. BFS over the full state space: `bfs.build()` twice (the first call also loads or compiles
   the Numba kernel), states per second.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from ..measure import compare, format_seconds
from ..measure.limits import BLAS_CAPS
from .kernels import _load, uncapped_env
from .threads import one_thread, optional_torch

LOSS_RTOL = 1e-5
BATCH = 128


def bench_env(repeats: int, batches=(1, 64, 1024)) -> dict:
    """Steps per second of PocketCube.step (and step + encode) per batch size."""
    from ..rl.cube import PocketCube, encode

    rng = np.random.default_rng(0)
    impls, sizes = {}, {}
    for b in batches:
        envs = PocketCube(b)
        envs.reset(6, rng)
        actions = rng.integers(0, 6, size=b)
        impls[f"step, batch {b}"] = lambda envs=envs, a=actions: envs.step(a)
        impls[f"step + encode, batch {b}"] = lambda envs=envs, a=actions: (envs.step(a), encode(envs.states))
        sizes[f"step, batch {b}"] = sizes[f"step + encode, batch {b}"] = b
    with one_thread():
        result = compare(impls, repeats=repeats)
    print("\n== Environment: batched cube moves (one thread) ==")
    print(result.table())
    rates = {name: sizes[name] / result.median(name) for name in impls}
    for name, rate in rates.items():
        print(f"{name:>24}: {rate:>14,.0f} cube moves/s")
    return rates


def replay_batch(seed: int = 0, batch: int = BATCH):
    """A fixed replay Batch of `batch` transitions from scrambles of depth 1-8."""
    from ..rl.cube import apply_moves, is_solved, scramble
    from ..rl.replay import Batch

    rng = np.random.default_rng(seed)
    states = np.concatenate([scramble(d, rng, batch=batch // 8)[0] for d in range(1, 9)])
    actions = rng.integers(0, 6, size=batch)
    next_states = apply_moves(states, actions)
    solved = is_solved(next_states)
    return Batch(indices=np.arange(batch), weights=rng.uniform(0.3, 1.0, batch).astype(np.float32),
                 states=states, actions=actions, returns=solved.astype(np.float64),
                 next_states=next_states, discounts=np.where(solved, 0.0, 0.9 ** 3))


def fastgrad_step(seed: int = 0):
    """A DQNAgent (default config) and its gradient step on the fixed batch: () -> loss."""
    from ..rl.dqn import DQNAgent, DQNConfig

    agent = DQNAgent(DQNConfig(seed=seed))
    b = replay_batch(seed)
    return agent, lambda: agent.learn(b)[0]


def torch_qnetwork(torch, net):
    """The torch twin of a dueling QNetwork with a copy of its weights (names match, strict)."""
    class TorchQNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = torch.nn.Sequential(torch.nn.Linear(144, 128), torch.nn.ReLU(),
                                             torch.nn.Linear(128, 64), torch.nn.ReLU())
            self.head = torch.nn.Linear(64, 7)

        def forward(self, x):
            out = self.head(self.trunk(x))
            value, advantage = out[:, :1], out[:, 1:]
            return value + advantage - advantage.mean(dim=1, keepdim=True)

    twin = TorchQNetwork()
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()}, strict=True)
    return twin


def torch_step(torch, agent, fused: bool, seed: int = 0):
    """The same gradient step in PyTorch, from `agent`'s current weights: () -> loss
    (the torch online network is `step.online`)."""
    from ..rl.cube import encode

    online, target = torch_qnetwork(torch, agent.online), torch_qnetwork(torch, agent.target)
    opt = torch.optim.Adam(online.parameters(), lr=agent.config.lr, fused=fused)
    b = replay_batch(seed)
    actions = torch.from_numpy(b.actions)[:, None]
    returns, discounts = torch.from_numpy(b.returns.astype(np.float32)), torch.from_numpy(b.discounts.astype(np.float32))
    weights = torch.from_numpy(b.weights)

    def step():
        xn = torch.from_numpy(encode(b.next_states))
        with torch.no_grad():
            best = online(xn).argmax(dim=1, keepdim=True)
            y = returns + discounts * target(xn).gather(1, best)[:, 0]
        q = online(torch.from_numpy(encode(b.states)))
        diff = q.gather(1, actions)[:, 0] - y
        loss = (diff * diff * weights).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    step.online = online
    return step


def bench_step(repeats: int, torch) -> dict:
    """fastgrad's DQN gradient step vs the torch twin (default and fused Adam), interleaved."""
    agent, fg_step = fastgrad_step()
    impls = {"fastgrad (DQNAgent.learn)": fg_step}
    if torch is not None:
        twins = {"torch default Adam": torch_step(torch, agent, fused=False),
                 "torch fused=True": torch_step(torch, agent, fused=True)}
        with one_thread(torch):
            first = fg_step()
            for name, step in twins.items():
                loss = step()
                if abs(loss - first) > LOSS_RTOL * abs(first):
                    raise AssertionError(f"{name}: first loss {loss!r} differs from fastgrad's {first!r}")
        print(f"\nfirst losses agree (relative {LOSS_RTOL:g}): True (fastgrad {first:.6g})")
        impls.update(twins)
    with one_thread(torch):
        result = compare(impls, repeats=repeats)
    print(f"\n== DQN gradient step, batch {BATCH}, dueling 144-128-64-7, one thread ==")
    print(result.table())
    out = {"fastgrad": result.median("fastgrad (DQNAgent.learn)")}
    if torch is not None:
        out["vs_torch_default"] = result.median("torch default Adam") / out["fastgrad"]
        out["vs_torch_fused"] = result.median("torch fused=True") / out["fastgrad"]
    return out


def bench_step_uncapped(repeats: int) -> dict | None:
    """The step comparison again in a subprocess with BLAS_CAPS unset, or None when none is set."""
    if not any(var in os.environ for var in BLAS_CAPS):
        print(f"\n({' and '.join(BLAS_CAPS)} are not set: the step above already ran with BLAS uncapped)")
        return None
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "dqn", "--step-json", "--repeats", str(repeats)],
                          env=uncapped_env(dict(os.environ)), capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the uncapped-BLAS subprocess failed:\n{proc.stderr}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n== DQN gradient step with {' and '.join(BLAS_CAPS)} unset (a subprocess) ==")
    print(data.pop("table"))
    return data


def bench_bfs(runs: int) -> list[float]:
    """Seconds of `bfs.build()` over all 3,674,160 states, `runs` times in a row."""
    from ..rl import bfs

    seconds = []
    with one_thread():
        for _ in range(runs):
            start = time.perf_counter()
            table = bfs.build()
            seconds.append(time.perf_counter() - start)
    reached = int((table >= 0).sum())
    print(f"\n== BFS over the pocket cube ==\nstates reached: {reached:,} (= 3,674,160: {reached == 3_674_160})")
    for i, s in enumerate(seconds):
        what = "first call (includes loading or compiling the Numba kernel)" if i == 0 else "again"
        print(f"bfs.build() {what}: {s:.2f} s = {reached / s / 1e6:.2f} M states/s")
    return seconds


def _step_json(repeats: int) -> int:
    torch = optional_torch()
    agent, fg_step = fastgrad_step()
    impls = {"fastgrad (DQNAgent.learn)": fg_step}
    if torch is not None:
        impls["torch default Adam"] = torch_step(torch, agent, fused=False)
        impls["torch fused=True"] = torch_step(torch, agent, fused=True)
    with one_thread(torch):
        result = compare(impls, repeats=repeats)
    data = {"table": result.table(), "fastgrad": result.median("fastgrad (DQNAgent.learn)")}
    if torch is not None:
        data["vs_torch_default"] = result.median("torch default Adam") / data["fastgrad"]
    print(json.dumps(data))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastgrad.bench dqn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds, one BFS (for tests)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds per comparison")
    parser.add_argument("--step-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    if args.step_json:
        return _step_json(repeats)
    torch = optional_torch()
    print(f"fastgrad dqn benchmark{' (--quick: few rounds, figures rough)' if args.quick else ''}")
    print(f"torch: {'not installed (torch rows skipped)' if torch is None else torch.__version__ + ', 1 thread'}, "
          f"load average: {_load()}")
    env = bench_env(repeats)
    step = bench_step(repeats, torch)
    uncapped = bench_step_uncapped(repeats)
    bfs_seconds = bench_bfs(1 if args.quick else 2)

    print("\n== Summary ==")
    print("cube moves/s, step only: " + ", ".join(f"batch {n.split()[-1]} {r:,.0f}" for n, r in env.items()
                                                  if n.startswith("step,")))
    print(f"DQN gradient step (batch {BATCH}): fastgrad {format_seconds(step['fastgrad'])}"
          + ("; torch skipped (not installed)" if torch is None else
             f" = {step['vs_torch_default']:.2f}x torch eager default Adam, {step['vs_torch_fused']:.2f}x torch "
             "fused=True (above 1: fastgrad faster)"))
    if uncapped is not None:
        print(f"with BLAS uncapped: fastgrad {format_seconds(uncapped['fastgrad'])}"
              + ("" if "vs_torch_default" not in uncapped else
                 f" = {uncapped['vs_torch_default']:.2f}x torch eager default Adam"))
    print(f"BFS over 3,674,160 states: {bfs_seconds[-1]:.2f} s"
          + (f" (first call {bfs_seconds[0]:.2f} s)" if len(bfs_seconds) > 1 else " (first call)"))
    print(f"(load average at the end: {_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
