"""Grading an agent against the exact optimum (the BFS distance table).

    q = net_q_values(net)                         # states (B, 24) -> Q-values (B, 6)
    by_depth = grade_scrambles(q, table)          # 1,000 fixed-seed no-undo scrambles per depth 1..14
    by_distance = grade_distances(q, table)       # 1,000 states at each true distance 1..14

A scramble of depth d is not a state at distance d: two moves can cancel or commute into
a shorter path, so each scramble is graded by its true (BFS) distance d*. An episode counts
as solved within 20 moves (the usual limit) and as solved optimally when it took d* moves.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor, no_grad
from ..ladder import BEST
from ..switches import switches
from . import bfs
from .cube import encode, scramble
from .dqn import greedy_solve

__all__ = ["net_q_values", "grade", "grade_scrambles", "grade_distances", "PUBLIC_SOLVER",
           "SEED_DEPTH4", "TARGETS", "PYTORCH_REFERENCE"]

# figures quoted by the chapter (success in %, by scramble depth)
SEED_DEPTH4 = 45.8                                           # the Zig report's dueling DQN, depth 4
PUBLIC_SOLVER = {4: 100.0, 5: 98.0, 6: 92.6, 7: 82.3, 8: 54.8}  # a public 2x2 solver, 12M steps
PYTORCH_REFERENCE = {4: (99.4, 99.9), 5: (94.0, 97.0), 6: (66.0, 71.0)}  # 4-minute PyTorch DQN
TARGETS = {4: 99.0, 5: 95.0, 6: 85.0}                        # this chapter's targets, within 20 moves


def net_q_values(net):
    """A function states (B, 24) -> Q-values (B, 6) float32 of QNetwork `net`, without
    gradients and on chapter 09's fast path."""
    def q_values(states):
        with no_grad(), switches(**BEST.settings()):
            return net(Tensor(encode(states))).numpy()
    return q_values


def grade(q_values, table, states, max_moves: int = 20) -> dict:
    """Greedy rollouts from `states` (B, 24), graded by their BFS distances: a dict of
    `distance` (B,), `moves` (B,; -1 unsolved), `solved` (within max_moves), `optimal`
    (solved in exactly `distance` moves) and `above` (moves minus distance, NaN unsolved)."""
    d = bfs.distance(table, states)
    moves = greedy_solve(q_values, states, max_moves)
    solved = moves >= 0
    return {"distance": d, "moves": moves, "solved": solved, "optimal": solved & (moves == d),
            "above": np.where(solved, moves - d, np.nan)}


def _summary(results: list[dict], key: str, values) -> dict:
    return {key: np.array(values),
            "n": np.array([len(r["distance"]) for r in results]),
            "mean_distance": np.array([r["distance"].mean() for r in results]),
            "success": np.array([r["solved"].mean() for r in results]),
            "optimal": np.array([r["optimal"].mean() for r in results]),
            "mean_above": np.array([np.nanmean(r["above"]) if r["solved"].any() else np.nan
                                    for r in results])}


def grade_scrambles(q_values, table, depths=range(1, 15), n: int = 1000, seed: int = 0,
                    max_moves: int = 20, no_undo: bool = True) -> dict:
    """Grade on `n` scrambles per depth (generator seeded by (seed, depth), so every run and
    every agent sees the same cubes). Arrays per depth: depth, n, mean_distance,
    at_depth (share whose true distance equals the depth), success, optimal, mean_above."""
    results = []
    at_depth = []
    for depth in depths:
        states, _ = scramble(int(depth), np.random.default_rng([seed, int(depth)]), batch=n,
                             no_undo=no_undo)
        r = grade(q_values, table, states, max_moves)
        results.append(r)
        at_depth.append(np.mean(r["distance"] == depth))
    out = _summary(results, "depth", list(depths))
    out["at_depth"] = np.array(at_depth)
    return out


def grade_distances(q_values, table, distances=range(1, 15), n: int = 1000, seed: int = 0,
                    max_moves: int = 20) -> dict:
    """Grade on `n` states drawn uniformly from those at each true distance (all of them
    where there are fewer: 6 at distance 1, 276 at 14). Arrays per distance as in
    `grade_scrambles`, without at_depth."""
    results = [grade(q_values, table, bfs.states_at_distance(table, int(d), n,
                                                            np.random.default_rng([seed, int(d)])), max_moves)
               for d in distances]
    return _summary(results, "distance", list(distances))
