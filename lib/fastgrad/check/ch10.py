"""Checkers for chapter 10 (a DQN for the 2x2 cube): a move as a permutation and its
inverse, composing moves, n-step returns with episode ends, the double-DQN target, the
dueling aggregation, and a sum-tree's update and find.

Every checker compares the learner's answer with a reference on fixed, random and
adversarial cases; when it is wrong, it also compares it with the plausible wrong answers
below and, if one matches, names that mistake:

* inverse_permutation: the permutation returned unchanged (p is its own inverse only for
  involutions), p[p] (the square), the inverse of the reversed array, an order-4 move
  inverted by applying it once instead of three times (caught on the cube's moves), float
  output, a non-permutation accepted silently (it must raise ValueError), the input changed.
* compose: the order swapped (q[p]: "q then p"), p + q or other element-wise arithmetic, a
  view of an input returned, float output.
* n_step_returns: gamma applied to the first reward too (powers off by one), the discount
  gamma**n even when fewer than n rewards are left, the discount not 0 when a terminal end
  lies inside the window, every end treated as terminal (truncated episodes must
  bootstrap), n ignored (Monte Carlo returns to the end), float32 output, the input
  changed, quadratic work (summing over the whole remaining episode: time limit on a long
  episode).
* double_dqn_target: plain DQN (max of the target network), the online network's own max,
  the argmax taken on the target network and the value read from the online one, the
  discount ignored, ties in the online argmax resolved as anything but the first index
  (`q == q.max()` masks pick every tied move), float64 output, an input changed.
* dueling: no mean subtraction (V + A), the max subtracted instead of the mean, the mean
  over the batch axis or over everything, the mean without keepdims (a wrong broadcast that
  is silent when batch == actions), float64 output.
* tree_update / tree_find: a leaf set without fixing its ancestors, ancestors increased by
  the new priority instead of by the change (wrong when a slot is overwritten), the root
  left out, the node index returned instead of the slot, ties at a segment boundary sent to
  the left leaf, the remainder not reduced when going right, a linear scan or a whole-tree
  recomputation (the tree counts the elements read and written: a log-time answer touches
  about 2 log2(n) of them; a linear one, n), a new tree returned instead of updating in
  place; tree_find is also checked on the sampling distribution it induces.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, expect_close, expect_new_array, read_only, run_cases

__all__ = ["inverse_permutation", "compose", "n_step_returns", "double_dqn_target", "dueling",
           "tree_update", "tree_find", "tree_size"]


# ============================================================================ 1. permutations

def _moves():
    from fastgrad.rl import cube
    return cube.MOVES, cube.INVERSE, cube.MOVE_NAMES


def _expect_int_array(got, shape, what="result"):
    if got is None:
        raise CaseFailed(f"the function returned None; expected the {what} (did you forget `return`?).")
    got = np.asarray(got)
    if got.shape != shape:
        raise CaseFailed(f"{what} has shape {got.shape}, expected {shape}.")
    if got.dtype.kind not in "iu":
        raise CaseFailed(f"{what} has dtype {got.dtype}; a permutation is an array of integer indices "
                         "(np.empty(n, dtype=np.int64), or argsort, keep it integer).")
    return got


def _inverse_case(description, perm, wrongs):
    def run(fn):
        p = read_only(np.asarray(perm))
        got = _expect_int_array(fn(p), p.shape)
        expect_new_array(got, p)
        want = np.argsort(p, kind="stable")
        if np.array_equal(got, want):
            return
        for wrong, hint in wrongs:
            if np.array_equal(got, wrong(p)):
                raise CaseFailed(f"expected {want.tolist()[:12]}..., got {got.tolist()[:12]}... Hint: {hint}")
        raise CaseFailed(f"expected {want.tolist()[:12]}..., got {got.tolist()[:12]}...: applying your result "
                         "after the permutation must give back the state: state[perm][inv] == state, so "
                         "perm[inv[j]] == j, i.e. inv[perm[i]] = i.")
    return Case(description, run)


_WRONG_INVERSES = [
    (lambda p: p, "you returned the permutation itself; it is its own inverse only when applying it twice "
                  "does nothing. Set inv[perm[i]] = i."),
    (lambda p: p[p], "you returned perm[perm], the move applied twice, not undone."),
    (lambda p: p[::-1], "you reversed the array; the inverse swaps the roles of positions and values: "
                        "inv[perm[i]] = i."),
    (lambda p: p[p][p], "you applied the permutation three times: that is the inverse of an order-4 move "
                        "only; compute the inverse of any permutation with inv[perm[i]] = i."),
]


def _not_a_permutation_case():
    def run(fn):
        for bad, why in (([0, 0, 2], "0 appears twice"), ([0, 1, 3], "3 is out of range for length 3"),
                         ([1, -1, 0], "-1 is not an index of the state")):
            try:
                fn(read_only(np.array(bad)))
            except ValueError:
                continue
            except Exception as exc:
                raise CaseFailed(f"{bad} ({why}) raised {type(exc).__name__}: {exc}; raise ValueError naming the "
                                 "problem instead.") from None
            raise CaseFailed(f"{bad} is not a permutation ({why}) but your function returned a result; check that "
                             "every index 0..n-1 appears exactly once and raise ValueError otherwise.")
    return Case("arrays that are not permutations raise ValueError", run)


def inverse_permutation(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `inverse_permutation(perm) -> inv`, integer (n,) -> integer (n,), for gather
    permutations (`new = state[perm]`): `state[perm][inv] == state`."""
    moves, inverse, names = _moves()
    cases = [_inverse_case("the identity of length 5", np.arange(5), _WRONG_INVERSES[2:]),
             _inverse_case("a 3-cycle [1, 2, 0]", np.array([1, 2, 0]), _WRONG_INVERSES)]
    for m in (0, 2, 4):
        cases.append(_inverse_case(f"the cube move {names[m]}", moves[m], _WRONG_INVERSES))
    rng = np.random.default_rng(10)
    for n in (1, 2, 24, 97):
        cases.append(_inverse_case(f"a random permutation of length {n}", rng.permutation(n), _WRONG_INVERSES))
    cases.append(_not_a_permutation_case())

    def move_fact(case_fn):
        ok = all(np.array_equal(np.asarray(case_fn(moves[m])), moves[inverse[m]]) for m in range(len(moves)))
        return [f"the inverse of every cube move is its counter-turn (U -> U', ...): {ok}"]
    return run_cases("inverse_permutation", fn, cases, show=show, info=move_fact)


def _compose_case(description, p, q):
    def run(fn):
        pp, qq = read_only(np.asarray(p), np.asarray(q))
        got = _expect_int_array(fn(pp, qq), pp.shape)
        expect_new_array(got, pp, qq)
        want = pp[qq]
        if np.array_equal(got, want):
            return
        if np.array_equal(got, qq[pp]):
            raise CaseFailed("you composed in the other order: q[p] is \"q, then p\". With new = state[p], "
                             "applying q next gives state[p][q] = state[p[q]], so p then q is p[q].")
        raise CaseFailed(f"expected {want.tolist()[:12]}..., got {got.tolist()[:12]}...: the composition must "
                         "satisfy state[compose(p, q)] == state[p][q] for every state.")
    return Case(description, run)


def compose(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `compose(p, q)` for gather permutations: the single permutation equal to
    applying p, then q (`state[compose(p, q)] == state[p][q]`)."""
    moves, _, names = _moves()
    rng = np.random.default_rng(11)
    cases = [_compose_case(f"{names[0]} then {names[2]} (the order matters: U R != R U)", moves[0], moves[2]),
             _compose_case(f"{names[2]} then {names[4]}", moves[2], moves[4]),
             _compose_case("a move then the identity (still a new array)", moves[0], np.arange(24))]
    for n in (2, 5, 24, 200):
        cases.append(_compose_case(f"random permutations of length {n}", rng.permutation(n), rng.permutation(n)))

    def order_fact(case_fn):
        from fastgrad.rl import cube
        p = moves[cube.parse("U")[0]]
        for name in ("R", "U'", "R'"):
            p = np.asarray(case_fn(p, moves[cube.parse(name)[0]]))
        k, q = 1, p
        while not np.array_equal(q, np.arange(24)) and k < 100:
            q, k = np.asarray(case_fn(q, p)), k + 1
        return [f"U R U' R' composed with your function has order {k} (it is 6)"]
    return run_cases("compose", fn, cases, show=show, info=order_fact)


# ============================================================================ 2. n-step returns

def _ref_n_step(rewards, terminal, gamma, n, *, first_power=0, full_discount=False, ignore_terminal=False,
                all_terminal=False, monte_carlo=False):
    rewards = np.asarray(rewards, dtype=np.float64)
    T = len(rewards)
    returns, discounts = np.zeros(T), np.zeros(T)
    for t in range(T):
        k = T - t if monte_carlo else min(n, T - t)
        returns[t] = sum(gamma ** (i + first_power) * rewards[t + i] for i in range(k))
        ends = (terminal or all_terminal) and t + k == T and not ignore_terminal
        discounts[t] = 0.0 if ends else gamma ** (n if full_discount else k)
    return returns, discounts


_WRONG_N_STEP = [
    (dict(first_power=1), "the first reward is not discounted: R_t = r_t + gamma r_{t+1} + ... + "
                          "gamma^(k-1) r_{t+k-1}."),
    (dict(full_discount=True), "near the end fewer than n rewards are left; the bootstrap discount is "
                               "gamma^k for the k rewards actually summed, not always gamma^n."),
    (dict(ignore_terminal=True), "the episode ended by solving (terminal=True): a window that reaches its "
                                 "last step must have discount 0, there is no next state to bootstrap from."),
    (dict(all_terminal=True), "this episode was cut off by the step limit (terminal=False): its last states "
                              "still bootstrap, with discount gamma^k; only a solved episode ends with 0."),
    (dict(monte_carlo=True), "you summed the rewards to the end of the episode; an n-step return stops after "
                             "n rewards (and bootstraps from there)."),
]


def _n_step_case(description, rewards, terminal, gamma, n, time_limit=None):
    def run(fn):
        r = read_only(np.asarray(rewards, dtype=np.float64))
        got = fn(r, terminal, gamma, n)
        if got is None:
            raise CaseFailed("the function returned None; expected (returns, discounts).")
        if not isinstance(got, tuple) or len(got) != 2:
            raise CaseFailed(f"expected a tuple (returns, discounts), got {type(got).__name__}.")
        want = _ref_n_step(r, terminal, gamma, n)
        try:
            expect_close(want[0], got[0], what="returns")
            expect_close(want[1], got[1], what="discounts")
        except CaseFailed as failure:
            g = tuple(np.asarray(x) for x in got)
            for flags, hint in _WRONG_N_STEP:
                if flags.get("monte_carlo") and len(r) > 1000:
                    continue                          # quadratic to compute; caught on the short cases
                alt = _ref_n_step(r, terminal, gamma, n, **flags)
                if all(a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(alt, g)):
                    raise CaseFailed(f"{failure} Hint: {hint}") from None
            raise
    return Case(description, run, time_limit)


def n_step_returns(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `n_step_returns(rewards, terminal, gamma, n) -> (returns, discounts)`: rewards
    (T,) of one episode, `terminal` whether it ended by solving; both results float64 (T,)."""
    rng = np.random.default_rng(12)
    cases = [
        _n_step_case("the hand example: 4 steps, solved at the last, gamma 0.9, n 3", [0, 0, 0, 1], True, 0.9, 3),
        _n_step_case("the same episode cut off by the step limit (terminal=False)", [0, 0, 0, 1], False, 0.9, 3),
        _n_step_case("n = 1 (one-step TD)", [0, 0, 1], True, 0.9, 1),
        _n_step_case("n larger than the episode", [0, 0, 1], True, 0.5, 5),
        _n_step_case("a one-step episode, solved", [1.0], True, 0.9, 3),
        _n_step_case("a one-step episode, cut off", [0.0], False, 0.9, 3),
        _n_step_case("an empty episode", np.zeros(0), True, 0.9, 3),
        _n_step_case("random rewards, n = 5, cut off", rng.normal(size=13), False, 0.8, 5),
        _n_step_case("random rewards, n = 2, solved", rng.normal(size=9), True, 0.99, 2),
        _n_step_case("a long episode (20,000 steps, n = 3): linear time", rng.normal(size=20_000), True, 0.9, 3,
                     time_limit=5.0),
    ]
    return run_cases("n_step_returns", fn, cases, show=show)


# ============================================================================ 3. double-DQN target

def _double_variants(on, tg, r, d):
    rows = np.arange(len(r))
    return [
        (r + d * tg.max(axis=1), "that is the plain DQN target, max over the target network. Double DQN lets the "
                                 "online network choose the move (argmax of q_next_online) and the target network "
                                 "value it."),
        (r + d * on.max(axis=1), "you used the online network's own maximum; its choice must be valued by the "
                                 "target network: q_next_target[i, argmax(q_next_online[i])]."),
        (r + d * on[rows, tg.argmax(axis=1)], "the roles are swapped: choose with the online network, value with "
                                              "the target network."),
        (r + tg[rows, on.argmax(axis=1)], "the discount is missing: y = R + discount * Q (discount is 0 after a "
                                          "solve, gamma^n otherwise)."),
        (r + d * (tg * (on == on.max(axis=1, keepdims=True))).sum(axis=1),
         "when two moves tie for the online maximum, take the first one (np.argmax does); a mask "
         "q == q.max() selects every tied move and adds their values."),
    ]


def _double_case(description, on, tg, r, d):
    def run(fn):
        a, b, c, e = read_only(on.astype(np.float32), tg.astype(np.float32), r.astype(np.float32),
                               d.astype(np.float32))
        got = fn(a, b, c, e)
        rows = np.arange(len(c))
        want = (c + e * b[rows, np.argmax(a, axis=1)]).astype(np.float32)
        try:
            expect_close(want, got, what="targets")
        except CaseFailed as failure:
            g = np.asarray(got)
            for alt, hint in _double_variants(a, b, c, e):
                if g.shape == alt.shape and np.allclose(g, alt, rtol=1e-5, atol=1e-6) and not np.allclose(alt, want):
                    raise CaseFailed(f"{failure} Hint: {hint}") from None
            raise
    return Case(description, run)


def double_dqn_target(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `double_dqn_target(q_next_online, q_next_target, returns, discounts) -> (B,)`
    float32: y = R + discount * Q_target(s', argmax_a Q_online(s', a))."""
    rng = np.random.default_rng(13)
    on = np.array([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]])
    tg = np.array([[0.8, 0.2, 0.1], [0.3, 0.7, 0.6]])
    ties_on = np.array([[0.5, 0.5, 0.1], [0.2, 0.9, 0.9], [0.3, 0.3, 0.3]])
    ties_tg = np.array([[0.1, 0.7, 0.2], [0.6, 0.4, 0.8], [0.9, 0.2, 0.5]])
    B = 257
    big_on, big_tg = rng.random((B, 6)), rng.random((B, 6))
    disc = np.where(rng.random(B) < 0.2, 0.0, 0.9 ** 3)
    cases = [
        _double_case("two states where the networks disagree", on, tg, np.zeros(2), np.full(2, 0.9)),
        _double_case("a solved transition: discount 0, target = return", on, tg, np.array([1.0, 0.0]),
                     np.array([0.0, 0.81])),
        _double_case("ties in the online network (the first maximum wins, as in np.argmax)", ties_on, ties_tg,
                     np.zeros(3), np.ones(3)),
        _double_case(f"a batch of {B}, 6 moves, 20% solved", big_on, big_tg, rng.random(B), disc),
        _double_case("a batch of 1", big_on[:1], big_tg[:1], np.ones(1), np.full(1, 0.5)),
    ]
    return run_cases("double_dqn_target", fn, cases, show=show)


# ============================================================================ 4. dueling aggregation

def _dueling_case(description, value, advantage):
    def run(fn):
        v, a = read_only(value.astype(np.float32), advantage.astype(np.float32))
        try:
            got = fn(v, a)
        except ValueError as exc:
            if "broadcast" not in str(exc):
                raise
            raise CaseFailed(f"shapes {v.shape} and {a.shape}: {exc}. Hint: advantage.mean(axis=1) has shape (B,); "
                             "keep it (B, 1) with keepdims=True so it lines up with the states.") from None
        want = v + a - a.mean(axis=1, keepdims=True)
        try:
            expect_close(want, got, what="Q-values", rtol=1e-5, atol=1e-6)
        except CaseFailed as failure:
            g = np.asarray(got)
            wrongs = [(v + a, "subtract the mean advantage over the moves: Q = V + A - mean(A); without it V and "
                              "A are not identifiable (a constant can move between them)."),
                      (v + a - a.max(axis=1, keepdims=True), "that subtracts the max; this chapter's dueling head "
                                                             "subtracts the mean over the moves."),
                      (v + a - a.mean(axis=0, keepdims=True), "the mean is over the moves (axis 1) of each state, "
                                                              "not over the batch (axis 0)."),
                      (v + a - a.mean(), "the mean is per state, over its moves (axis=1, keepdims=True), not over "
                                         "the whole batch.")]
            if a.shape[0] == a.shape[1]:
                wrongs.append((v + a - a.mean(axis=1)[None, :], "mean(axis=1) without keepdims has shape (B,), and "
                                                                "broadcasting lines it up with the moves, not the "
                                                                "states: use keepdims=True."))
            for alt, hint in wrongs:
                if g.shape == alt.shape and np.allclose(g, alt, rtol=1e-5, atol=1e-6) and not np.allclose(alt, want):
                    raise CaseFailed(f"{failure} Hint: {hint}") from None
            if g.shape != want.shape and g.shape[:1] != want.shape[:1]:
                raise CaseFailed(f"{failure} Hint: value has shape (B, 1) and advantage (B, A); the result is (B, A).")
            raise
    return Case(description, run)


def dueling(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `dueling(value, advantage) -> q`: value (B, 1), advantage (B, A) -> (B, A)
    float32, Q = V + A - mean over the moves of A."""
    rng = np.random.default_rng(14)
    cases = [
        _dueling_case("one state, 3 moves", np.array([[1.0]]), np.array([[1.0, 2.0, 6.0]])),
        _dueling_case("two states, 6 moves", rng.normal(size=(2, 1)), rng.normal(size=(2, 6))),
        _dueling_case("6 states, 6 moves (batch == moves)", rng.normal(size=(6, 1)), rng.normal(size=(6, 6))),
        _dueling_case("128 states, 6 moves", rng.normal(size=(128, 1)), rng.normal(size=(128, 6))),
    ]
    return run_cases("dueling", fn, cases, show=show)


# ============================================================================ 5. sum-tree

def tree_size(capacity: int) -> np.ndarray:
    """An empty sum-tree of `capacity` leaves (a power of two): a float64 array of 2 *
    capacity nodes; node 1 is the root (the total), node i has children 2i and 2i + 1, the
    leaf of slot s is node capacity + s, and node 0 is unused."""
    if capacity < 1 or capacity & (capacity - 1):
        raise ValueError(f"the exercise's sum-tree needs a power-of-two capacity, got {capacity}")
    return np.zeros(2 * capacity)


class _CountingTree(np.ndarray):
    """A float64 array that counts the elements read and written through indexing, so a
    checker can tell a log-time walk from a scan or a recomputation of the whole tree."""

    def __array_finalize__(self, obj):
        self.touched = getattr(obj, "touched", [0])

    def __getitem__(self, key):
        out = super().__getitem__(key)
        self.touched[0] += int(np.size(out))
        return out.view(np.ndarray) if isinstance(out, np.ndarray) else out

    def __setitem__(self, key, value):
        self.touched[0] += int(np.size(np.empty(self.shape, dtype=np.bool_)[key]))
        super().__setitem__(key, value)


def _counting(tree: np.ndarray) -> _CountingTree:
    t = np.array(tree, dtype=np.float64).view(_CountingTree)
    t.touched = [0]
    return t


def _ref_tree(priorities, capacity):
    tree = tree_size(capacity)
    tree[capacity:capacity + len(priorities)] = priorities
    for i in range(capacity - 1, 0, -1):
        tree[i] = tree[2 * i] + tree[2 * i + 1]
    return tree


def _leaf_only(tree, slot, priority):
    tree[len(tree) // 2 + slot] = priority


def _adds_priority(tree, slot, priority):
    i = len(tree) // 2 + slot
    tree[i] = priority
    while i > 1:
        i //= 2
        tree[i] += priority


def _without_root(tree, slot, priority):
    i = len(tree) // 2 + slot
    change = priority - tree[i]
    while i > 1:
        tree[i] += change
        i //= 2


_WRONG_UPDATES = {
    "leaf only": (_leaf_only, "you set the leaf but none of its ancestors: walk i //= 2 up to the root, fixing "
                              "each sum on the way."),
    "adds priority": (_adds_priority, "this slot already had a priority: add the change (new - old) to the "
                                      "ancestors, not the new priority."),
    "no root": (_without_root, "the root, node 1, is an ancestor too (it holds the total): loop while i >= 1."),
}


def _work_limit(capacity):
    return 4 * int(np.log2(capacity)) + 8


def _update_case(description, capacity, updates):
    def run(fn):
        tree = _counting(tree_size(capacity))
        leaves = np.zeros(capacity)
        variants = {wrong: tree_size(capacity) for wrong in _WRONG_UPDATES}
        for slot, priority in updates:
            tree.touched[0] = 0
            returned = fn(tree, slot, priority)
            leaves[slot] = priority
            want = _ref_tree(leaves, capacity)
            got = np.asarray(tree).view(np.ndarray)
            if returned is not None and returned is not tree and not np.allclose(got, want):
                raise CaseFailed("the tree you were given is unchanged and your function returned another array; "
                                 "update `tree` in place (the replay buffer keeps one tree for its lifetime).")
            if not np.allclose(got[capacity:], want[capacity:]):
                i = int(np.argmax(~np.isclose(got[capacity:], want[capacity:])))
                raise CaseFailed(f"after setting slot {slot} to {priority}, the leaf of slot {i} (node "
                                 f"{capacity + i}) holds {got[capacity + i]}, expected {want[capacity + i]}. "
                                 "The leaf of slot s is node capacity + s.")
            for wrong, alt in variants.items():
                _WRONG_UPDATES[wrong][0](alt, slot, priority)
            bad = ~np.isclose(got[1:capacity], want[1:capacity])
            if bad.any():
                node = int(np.argmax(bad)) + 1
                hint = "every node on the path from the leaf up to the root (node 1) holds the sum of its children."
                for wrong, alt in variants.items():
                    if np.allclose(got, alt):
                        hint = _WRONG_UPDATES[wrong][1]
                        break
                raise CaseFailed(f"after setting slot {slot} to {priority}, node {node} holds {got[node]}, expected "
                                 f"{want[node]}. Hint: {hint}")
            if tree.touched[0] > _work_limit(capacity):
                raise CaseFailed(f"one update read or wrote {tree.touched[0]} tree elements in a tree of {capacity} "
                                 f"leaves; walking from the leaf to the root needs about {2 * int(np.log2(capacity))}. "
                                 "Do not recompute or scan the whole tree: fix only the ancestors of the leaf.")
    return Case(description, run)


def tree_update(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `tree_update(tree, slot, priority)`: set the leaf of `slot` to `priority` and
    fix the sums of its ancestors, in place, in O(log capacity)."""
    rng = np.random.default_rng(15)
    many = [(int(s), float(p)) for s, p in zip(rng.integers(0, 1024, 300), rng.random(300))]
    cases = [
        _update_case("one update in a tree of 4 leaves", 4, [(2, 5.0)]),
        _update_case("every slot of a tree of 8 leaves", 8, [(s, float(s + 1)) for s in range(8)]),
        _update_case("a slot overwritten with a smaller priority", 8, [(3, 4.0), (5, 1.0), (3, 2.0)]),
        _update_case("a tree of 1 leaf", 1, [(0, 3.0), (0, 1.5)]),
        _update_case("300 random updates in a tree of 1024 leaves", 1024, many),
        _update_case("updates in a tree of 65,536 leaves (log-time work)", 1 << 16,
                     [(0, 1.0), (65535, 2.0), (31337, 0.5), (0, 0.25)]),
    ]
    return run_cases("tree_update", fn, cases, show=show)


def _ref_find(leaves, value):
    return int(np.searchsorted(np.cumsum(leaves), value, side="right"))


def _find_case(description, capacity, priorities, values):
    def run(fn):
        tree = _ref_tree(np.asarray(priorities, dtype=np.float64), capacity)
        for value in values:
            t = _counting(tree)
            got = fn(t, float(value))
            want = _ref_find(priorities, value)
            if not np.array_equal(np.asarray(t), tree):
                raise CaseFailed("tree_find changed the tree; finding a slot only reads it.")
            if got is None:
                raise CaseFailed("the function returned None; expected the slot (did you forget `return`?).")
            if not isinstance(got, (int, np.integer)):
                raise CaseFailed(f"expected the slot as an int, got {type(got).__name__} {got!r}.")
            if got == want:
                if t.touched[0] > _work_limit(capacity):
                    raise CaseFailed(f"finding one slot read {t.touched[0]} tree elements in a tree of {capacity} "
                                     f"leaves; walking down from the root reads about {2 * int(np.log2(capacity))}. "
                                     "Do not scan the leaves (or their cumulative sum): walk down the tree.")
                continue
            prefix = np.concatenate([[0.0], np.cumsum(priorities)])
            hint = "walk down from the root: go left if value < the left child's sum, else subtract it and go right."
            if got == want + capacity:
                hint = "you returned the node index of the leaf; return the slot, node - capacity."
            elif value in prefix and got == want - 1:
                hint = (f"the value {value} is exactly where slot {want} begins: slot s owns [sum of earlier "
                        "priorities, that + its priority), so at a tie go right (value < left goes left).")
            elif got < len(priorities) and priorities[got] == 0:
                hint = f"slot {got} has priority 0 and must never be chosen; compare with <, not <=."
            elif got > want:
                hint = "when you go right, subtract the left child's sum from the value first."
            raise CaseFailed(f"value {value}: expected slot {want}, got {got}. Hint: {hint}")
    return Case(description, run)


def _distribution_case():
    def run(fn):
        capacity = 16
        priorities = np.array([5, 0, 1, 3, 0.5, 0, 2, 8, 0.25, 0, 0, 4, 1, 1, 0, 6], dtype=np.float64)
        tree = _ref_tree(priorities, capacity)
        rng = np.random.default_rng(16)
        n = 20_000
        counts = np.zeros(capacity)
        for value in rng.random(n) * tree[1]:
            counts[int(fn(tree, float(value)))] += 1
        p = priorities / priorities.sum()
        sigma = np.sqrt(n * p * (1 - p)) + 1
        bad = np.abs(counts - n * p) > 5 * sigma
        if bad.any():
            s = int(np.argmax(bad))
            raise CaseFailed(f"sampling with uniform values in [0, total) chose slot {s} {int(counts[s])} times in "
                             f"{n}, expected about {n * p[s]:.0f} (probability priority / total = {p[s]:.3f}).")
    return Case("the sampling distribution: 20,000 uniform values over 16 slots", run, 20.0)


def tree_find(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `tree_find(tree, value) -> slot` for 0 <= value < total: the slot whose
    segment [sum of earlier priorities, that + its priority) holds `value`, in O(log
    capacity); uniform values then pick slots with probability priority / total."""
    rng = np.random.default_rng(17)
    pr = [1.0, 2.0, 3.0, 4.0]
    zeros = [0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0]
    big = rng.integers(0, 5, 1 << 16).astype(np.float64)     # integers: every partial sum is exact
    cases = [
        _find_case("4 slots with priorities 1, 2, 3, 4", 4, pr, [0.0, 0.5, 1.5, 2.99, 4.5, 9.99]),
        _find_case("values exactly at segment boundaries (ties go to the next slot)", 4, pr, [1.0, 3.0, 6.0]),
        _find_case("zero-priority slots are never chosen", 8, zeros, [0.0, 1.0, 1.999, 2.0, 2.5, 3.0, 5.999]),
        _find_case("a tree of 1 leaf", 1, [2.5], [0.0, 1.0, 2.4]),
        _find_case("a tree of 65,536 leaves (log-time work)", 1 << 16, big,
                   list(rng.random(50) * big.sum())),
        _distribution_case(),
    ]
    return run_cases("tree_find", fn, cases, show=show)
