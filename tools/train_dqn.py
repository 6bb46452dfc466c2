"""Train the chapter 10 agent: a dueling double DQN on the pocket cube, with fastgrad itself.

    .venv/bin/python tools/train_dqn.py --minutes 30              # the shipped agent
    .venv/bin/python tools/train_dqn.py --ablations --iterations 40000

The first writes `lib/fastgrad/models/weights/pocket_dqn.npz` (weights, config and the
training log, `fastgrad.rl.dqn.save_run`; saved at every evaluation, so an interrupted run
leaves usable weights) and the text log `tools/train_dqn.log`. Training stops when
`--iterations` or `--minutes` (wall time of the training loop) runs out, whichever first.

`--ablations` trains five variants on the same budget of iterations (the same number of
environment steps and gradient steps each), the full agent and one with each piece
removed, and writes `pocket_dqn_ablation_<name>.npz` for each and `tools/train_dqn_ablations.log`.

Every thread pool is held to one thread (threadpoolctl and Numba), so a run measures one
core and two runs can share the course machine's two cores.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fastgrad.rl.dqn import DQNAgent, DQNConfig, save_run  # noqa: E402

WEIGHTS = ROOT / "lib" / "fastgrad" / "models" / "weights"
ABLATIONS = {                         # name -> what changes from the full agent
    "full": {},
    "no dueling": {"dueling": False},
    "1-step": {"n_step": 1},
    "uniform replay": {"prioritized": False},
    "no curriculum": {"curriculum": False},
}


def run(config: DQNConfig, iterations: int, minutes: float, out: Path, log_file, label: str) -> dict:
    agent = DQNAgent(config)
    bar = tqdm(total=iterations, desc=label, unit="it", mininterval=2.0)
    state = {"done": 0}

    def progress(log):
        i = len(log["seconds"]) - 1
        success = " ".join(f"{s:.2f}" for s in log["success"][i])
        line = (f"{label} {log['seconds'][i]:7.1f}s it {log['iterations'][i]} episodes {log['episodes'][i]} "
                f"ep/min {log['episodes_per_minute'][i]:.0f} loss {log['loss'][i]:.5f} "
                f"eps {log['epsilon'][i]:.3f} depth {log['depth'][i]} success d1-{len(log['success'][i])}: {success}")
        print(line, file=log_file, flush=True)
        bar.update(log["iterations"][i] - state["done"])
        state["done"] = log["iterations"][i]
        shown = min(log["depth"][i], len(log["success"][i]))
        bar.set_postfix(depth=log["depth"][i], **{f"success_d{shown}": f"{log['success'][i][shown - 1]:.2f}"})
        if i % 20 == 0:
            save_run(out, agent, {k: np.array(v) for k, v in log.items()})

    log = agent.train(iterations, seconds=minutes * 60, progress=progress)
    bar.close()
    save_run(out, agent, log)
    total = sum(log[f"seconds_{k}"] for k in agent.seconds)
    shares = ", ".join(f"{k} {log[f'seconds_{k}'] / total:.0%}" for k in agent.seconds)
    print(f"{label} done: {agent.iterations} iterations, {agent.grad_steps} gradient steps, "
          f"{agent.episodes} episodes in {log['seconds'][-1]:.0f} s; time in {shares}; wrote {out}",
          file=log_file, flush=True)
    return log


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--iterations", type=int, default=400_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ablations", action="store_true")
    p.add_argument("--only", choices=list(ABLATIONS), help="with --ablations: train this variant only, "
                   "appending to the ablations log")
    p.add_argument("--out-dir", type=Path, default=WEIGHTS, help="where the .npz files go")
    p.add_argument("--log-dir", type=Path, default=ROOT / "tools", help="where the text log goes")
    args = p.parse_args(argv)
    numba.set_num_threads(1)
    with threadpool_limits(1):
        name = "train_dqn_ablations.log" if args.ablations else "train_dqn.log"
        with open(args.log_dir / name, "a" if args.only else "w") as log_file:
            print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.processor() or platform.machine()}, "
                  f"numpy {np.__version__}, numba {numba.__version__}; one thread; "
                  f"budget {args.iterations} iterations / {args.minutes} min", file=log_file, flush=True)
            if args.ablations:
                for label, change in ABLATIONS.items():
                    if args.only and label != args.only:
                        continue
                    slug = label.replace(" ", "_").replace("-", "_")
                    config = DQNConfig(seed=args.seed, **change)
                    print(f"# {label}: {config}", file=log_file, flush=True)
                    run(config, args.iterations, args.minutes, args.out_dir / f"pocket_dqn_ablation_{slug}.npz",
                        log_file, label)
            else:
                config = DQNConfig(seed=args.seed)
                print(f"# {config}", file=log_file, flush=True)
                run(config, args.iterations, args.minutes, args.out_dir / "pocket_dqn.npz", log_file, "dqn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
