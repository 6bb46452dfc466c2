"""Experience replay: n-step returns, a uniform buffer, and prioritised replay on a sum-tree.

    returns, discounts = n_step_returns(rewards, terminal, gamma, n)   # one episode, by hand
    acc = NStepAccumulator(n=3, gamma=0.9, batch=64)   # the same, online, for 64 environments
    buf = PrioritizedReplay(100_000, alpha=0.6)
    buf.add(*acc.push(states, actions, rewards, next_states, terminal, truncated))
    batch = buf.sample(128, rng, beta=0.4)             # indices, weights and the transitions
    buf.update_priorities(batch.indices, abs_td_errors)

A stored transition is (state, action, R, next_state, discount): R is the discounted sum
of up to n rewards and `discount` is gamma^k for the k steps it covers, or 0 when the
episode ended (the cube was solved) inside them, so every target is R + discount * max Q.
States are stored as 24 bytes (the stickers), not 144 floats: one-hot at sampling time.

Why the sum-tree is fast: sampling and updating a priority are O(log capacity) walks down
or up a flat array, in Numba, for a whole batch per call.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["n_step_returns", "NStepAccumulator", "SumTree", "ReplayBuffer", "PrioritizedReplay", "Batch"]


def n_step_returns(rewards, terminal, gamma: float, n: int):
    """n-step returns of one episode of T steps: for each step t, R_t = sum of
    gamma^i * rewards[t+i] over the next min(n, steps left) rewards, and the discount of
    the bootstrap, gamma^k for the k rewards summed, or 0 when the episode's last step is
    terminal and lies within them. `terminal` says whether the episode ended by reaching a
    goal (True) or was cut off by a step limit (False, so the last states still bootstrap).

    rewards (T,) floats -> (returns (T,) float64, discounts (T,) float64)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    T = len(rewards)
    if n < 1:
        raise ValueError(f"n-step returns need n >= 1, got {n}")
    returns = np.zeros(T)
    discounts = np.zeros(T)
    for t in range(T):
        k = min(n, T - t)
        returns[t] = sum(gamma ** i * rewards[t + i] for i in range(k))
        ends_inside = terminal and t + k == T
        discounts[t] = 0.0 if ends_inside else gamma ** k
    return returns, discounts


class NStepAccumulator:
    """n-step transitions for `batch` environments stepped together.

    Each environment keeps its last n (state, action, reward); `push` takes one step of
    every environment and returns the transitions that are complete now, as arrays
    (states, actions, returns, next_states, discounts): the oldest pending step of each
    environment whose window is full, and every pending step of an environment whose
    episode ended (`terminal`: solved, discount 0; `truncated`: cut off, bootstrap from
    the last state). Equal to `n_step_returns` per episode (a test)."""

    def __init__(self, n: int, gamma: float, batch: int, state_size: int = 24):
        if n < 1:
            raise ValueError(f"n-step returns need n >= 1, got {n}")
        self.n, self.gamma, self.batch = n, float(gamma), batch
        self.states = np.zeros((n, batch, state_size), dtype=np.uint8)
        self.actions = np.zeros((n, batch), dtype=np.int64)
        self.rewards = np.zeros((n, batch), dtype=np.float64)
        self.pending = np.zeros(batch, dtype=np.int64)    # steps waiting, 0..n
        self.t = 0                                         # ring position of the next step

    def push(self, states, actions, rewards, next_states, terminal, truncated):
        n, slot = self.n, self.t % self.n
        self.states[slot], self.actions[slot], self.rewards[slot] = states, actions, rewards
        self.pending += 1
        self.t += 1
        ended = np.asarray(terminal, bool) | np.asarray(truncated, bool)
        out = []
        # k = how many steps a transition covers; an ended episode flushes every pending step
        for k in range(1, n + 1):
            envs = np.flatnonzero((ended & (self.pending >= k)) | (~ended & (k == n) & (self.pending == n)))
            if len(envs) == 0:
                continue
            start = (self.t - k) % n                       # ring slot of the step k steps ago
            R = np.zeros(len(envs))
            for i in range(k):
                R += self.gamma ** i * self.rewards[(start + i) % n, envs]
            disc = np.where(np.asarray(terminal, bool)[envs], 0.0, self.gamma ** k)
            out.append((self.states[start, envs], self.actions[start, envs], R,
                        next_states[envs], disc))
        self.pending[ended] = 0
        self.pending[~ended] = np.minimum(self.pending[~ended], n - 1)
        if not out:
            empty = np.zeros(0)
            return (np.zeros((0, self.states.shape[2]), np.uint8), np.zeros(0, np.int64), empty,
                    np.zeros((0, self.states.shape[2]), np.uint8), empty)
        return tuple(np.concatenate(parts) for parts in zip(*out))


@numba.njit(cache=True)
def _tree_update(tree, leaves, priorities):
    for j in range(len(leaves)):
        i = leaves[j]
        change = priorities[j] - tree[i]
        while i >= 1:
            tree[i] += change
            i //= 2


@numba.njit(cache=True)
def _tree_find(tree, values, capacity):
    out = np.empty(len(values), dtype=np.int64)
    for j in range(len(values)):
        v = values[j]
        i = 1
        while i < capacity:                 # walk down: left if v falls in the left subtree
            left = tree[2 * i]
            if v < left or tree[2 * i + 1] <= 0.0:
                i = 2 * i
            else:
                v -= left
                i = 2 * i + 1
        out[j] = i - capacity
    return out


class SumTree:
    """Priorities of `capacity` slots in a binary tree whose every node holds the sum of its
    children (a flat float64 array: node i has children 2i and 2i+1, leaves from `size`
    on, `size` the capacity rounded up to a power of two).

    `update(slots, priorities)` sets leaves and fixes the sums above them; `find(values)`
    maps values in [0, total) to slots, so uniform values give slots with probability
    priority / total; `sample(k, rng)` draws k slots that way (stratified: one value in
    each of k equal segments of [0, total), as prioritised replay does)."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.size = 1 << max(0, (capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.size)

    @property
    def total(self) -> float:
        return float(self.tree[1]) if self.size > 1 else float(self.tree[1])

    def priorities(self, slots=None) -> np.ndarray:
        leaves = self.tree[self.size:self.size + self.capacity]
        return leaves if slots is None else leaves[np.asarray(slots)]

    def update(self, slots, priorities) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        priorities = np.asarray(priorities, dtype=np.float64)
        if slots.size and (slots.min() < 0 or slots.max() >= self.capacity):
            raise IndexError(f"SumTree slots must be in [0, {self.capacity}); got {slots.min()}..{slots.max()}")
        if np.any(~np.isfinite(priorities)) or np.any(priorities < 0):
            raise ValueError("SumTree priorities must be finite and >= 0")
        priorities = np.broadcast_to(priorities, slots.shape)
        if len(np.unique(slots)) != len(slots):            # the last write of a slot wins
            last = {int(s): j for j, s in enumerate(slots)}
            keep = np.array(sorted(last.values()))
            slots, priorities = slots[keep], priorities[keep]
        _tree_update(self.tree, slots + self.size, np.ascontiguousarray(priorities))
        if self.size == 1:
            self.tree[1] = priorities[-1] if len(priorities) else self.tree[1]

    def find(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.size == 1:
            return np.zeros(len(values), dtype=np.int64)
        return np.minimum(_tree_find(self.tree, values, self.size), self.capacity - 1)

    def sample(self, k: int, rng) -> np.ndarray:
        if self.total <= 0:
            raise ValueError("SumTree.sample: every priority is 0")
        edges = np.arange(k) * (self.total / k)
        return self.find(edges + rng.random(k) * (self.total / k))


@dataclass
class Batch:
    """A sampled batch: buffer slots, importance weights (all 1 for uniform replay) and
    the transitions (states and next_states as (B, 24) stickers)."""
    indices: np.ndarray
    weights: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    next_states: np.ndarray
    discounts: np.ndarray


class ReplayBuffer:
    """A ring buffer of `capacity` n-step transitions, sampled uniformly."""

    def __init__(self, capacity: int, state_size: int = 24):
        self.capacity = capacity
        self.states = np.zeros((capacity, state_size), dtype=np.uint8)
        self.next_states = np.zeros((capacity, state_size), dtype=np.uint8)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.returns = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.size = 0
        self.next = 0

    def __len__(self) -> int:
        return self.size

    def add(self, states, actions, returns, next_states, discounts) -> np.ndarray:
        """Store k transitions (overwriting the oldest when full); returns their slots."""
        k = len(actions)
        slots = (self.next + np.arange(k)) % self.capacity
        self.states[slots], self.actions[slots], self.returns[slots] = states, actions, returns
        self.next_states[slots], self.discounts[slots] = next_states, discounts
        self.next = (self.next + k) % self.capacity
        self.size = min(self.capacity, self.size + k)
        return slots

    def _batch(self, slots, weights) -> Batch:
        return Batch(slots, weights, self.states[slots], self.actions[slots], self.returns[slots],
                     self.next_states[slots], self.discounts[slots])

    def sample(self, k: int, rng, beta: float = 1.0) -> Batch:
        """k transitions drawn uniformly with replacement; weights all 1."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        slots = rng.integers(0, self.size, k)
        return self._batch(slots, np.ones(k, dtype=np.float32))

    def update_priorities(self, slots, td_errors) -> None:
        """Uniform replay keeps no priorities: nothing to do."""


class PrioritizedReplay(ReplayBuffer):
    """Prioritised replay (Schaul et al. 2016, proportional): slot i is drawn with
    probability p_i^alpha / sum p^alpha, p_i = |TD error| + eps, new transitions at the
    largest priority so far; the importance weight (N * P(i))^-beta / max corrects the
    bias (beta annealed towards 1 by the caller)."""

    def __init__(self, capacity: int, alpha: float = 0.6, eps: float = 1e-3, state_size: int = 24):
        super().__init__(capacity, state_size)
        self.alpha, self.eps = alpha, eps
        self.tree = SumTree(capacity)
        self.max_priority = 1.0

    def add(self, states, actions, returns, next_states, discounts) -> np.ndarray:
        slots = super().add(states, actions, returns, next_states, discounts)
        self.tree.update(slots, np.full(len(slots), self.max_priority ** self.alpha))
        return slots

    def sample(self, k: int, rng, beta: float = 0.4) -> Batch:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        slots = self.tree.sample(k, rng)
        p = self.tree.priorities(slots) / self.tree.total
        weights = (self.size * p) ** -beta
        return self._batch(slots, (weights / weights.max()).astype(np.float32))

    def update_priorities(self, slots, td_errors) -> None:
        p = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps
        self.max_priority = max(self.max_priority, float(p.max()))
        self.tree.update(slots, p ** self.alpha)
