"""Chapter 10 checkers as graders: the reference answers pass, stubs get "not implemented
yet", and each plausible wrong answer fails with a hint that names its mistake."""
import time

import numpy as np
import pytest

from fastgrad.check import ch10


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers (as in solutions/10)

def inverse_permutation(perm):
    perm = np.asarray(perm)
    n = len(perm)
    if perm.ndim != 1 or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"not a permutation of 0..{n - 1}: {perm.tolist()}")
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    return inv


def compose(p, q):
    return np.asarray(p)[np.asarray(q)]


def n_step_returns(rewards, terminal, gamma, n):
    T = len(rewards)
    returns, discounts = np.zeros(T), np.zeros(T)
    for t in range(T):
        k = min(n, T - t)
        returns[t] = sum(gamma ** i * rewards[t + i] for i in range(k))
        discounts[t] = 0.0 if (terminal and t + k == T) else gamma ** k
    return returns, discounts


def double_dqn_target(q_online, q_target, returns, discounts):
    best = q_online.argmax(axis=1)
    return returns + discounts * q_target[np.arange(len(returns)), best]


def dueling(value, advantage):
    return value + advantage - advantage.mean(axis=1, keepdims=True)


def tree_update(tree, slot, priority):
    i = len(tree) // 2 + slot
    change = priority - tree[i]
    while i >= 1:
        tree[i] += change
        i //= 2


def tree_find(tree, value):
    capacity = len(tree) // 2
    i = 1
    while i < capacity:
        if value < tree[2 * i]:
            i = 2 * i
        else:
            value -= tree[2 * i]
            i = 2 * i + 1
    return i - capacity


REFERENCES = {"inverse_permutation": inverse_permutation, "compose": compose, "n_step_returns": n_step_returns,
              "double_dqn_target": double_dqn_target, "dueling": dueling, "tree_update": tree_update,
              "tree_find": tree_find}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch10, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch10, name)(stub, show=False)
    assert result.status == "todo" and "not implemented yet" in result.message


def test_every_checker_is_exported():
    assert set(REFERENCES) | {"tree_size"} == set(ch10.__all__)


def test_checker_prints_its_verdict_and_facts(capsys):
    ch10.compose(compose)
    out = capsys.readouterr().out
    assert "compose: all" in out and "has order 6" in out


def fails(name, fn, *expected):
    result = getattr(ch10, name)(fn, show=False)
    assert result.status == "fail", result.message
    for words in expected:
        assert words in result.message, result.message
    return result


# ------------------------------------------------------------------ 1. permutations

def _checked(fn):
    def wrapped(perm):
        inverse_permutation(perm)            # raises ValueError on bad input, like the reference
        return fn(np.asarray(perm))
    return wrapped


@pytest.mark.parametrize("wrong, words", [
    (_checked(lambda p: p.copy()), "the permutation itself"),
    (_checked(lambda p: p[p]), "applied twice"),
    (_checked(lambda p: p[::-1].copy()), "reversed the array"),
    (_checked(lambda p: p[p][p]), "three times"),
    (_checked(lambda p: np.argsort(p).astype(np.float64)), "dtype float64"),
    (_checked(lambda p: (np.argsort(p) + 1) % len(p)), "inv[perm[i]] = i"),
])
def test_inverse_wrong_answers(wrong, words):
    fails("inverse_permutation", wrong, words)


def test_inverse_without_validation_is_caught():
    def no_check(perm):
        inv = np.empty(len(perm), dtype=np.int64)
        inv[perm] = np.arange(len(perm))
        return inv
    fails("inverse_permutation", no_check, "not a permutation", "ValueError")


def test_inverse_that_mutates_its_input_is_caught():
    def sorts_in_place(perm):
        inverse_permutation(perm)
        inv = np.argsort(perm)
        perm.sort()
        return inv
    fails("inverse_permutation", sorts_in_place, "wrote into one of its inputs")


@pytest.mark.parametrize("wrong, words", [
    (lambda p, q: q[p], "other order"),
    (lambda p, q: (p + q) % len(p), "state[compose(p, q)] == state[p][q]"),
    (lambda p, q: p[q].astype(np.float32), "dtype float32"),
    (lambda p, q: p if np.array_equal(q, np.arange(len(q))) else p[q], "shares memory"),
])
def test_compose_wrong_answers(wrong, words):
    fails("compose", wrong, words)


def test_compose_returning_an_input_view_is_caught():
    fails("compose", lambda p, q: p[q] if len(p) != 24 else p[:], "shares memory")


# ------------------------------------------------------------------ 2. n-step returns

def _n_step_variant(first_power=0, full_discount=False, ignore_terminal=False, all_terminal=False,
                    monte_carlo=False, dtype=np.float64):
    def fn(rewards, terminal, gamma, n):
        T = len(rewards)
        returns, discounts = np.zeros(T, dtype), np.zeros(T, dtype)
        for t in range(T):
            k = T - t if monte_carlo else min(n, T - t)
            returns[t] = sum(gamma ** (i + first_power) * rewards[t + i] for i in range(k))
            ends = (terminal or all_terminal) and t + k == T and not ignore_terminal
            discounts[t] = 0.0 if ends else gamma ** (n if full_discount else k)
        return returns, discounts
    return fn


@pytest.mark.parametrize("flags, words", [
    (dict(first_power=1), "first reward is not discounted"),
    (dict(full_discount=True), "gamma^k for the k rewards"),
    (dict(ignore_terminal=True), "must have discount 0"),
    (dict(all_terminal=True), "cut off by the step limit"),
    (dict(monte_carlo=True), "to the end of the episode"),
    (dict(dtype=np.float32), "dtype float32"),
])
def test_n_step_wrong_answers(flags, words):
    fails("n_step_returns", _n_step_variant(**flags), words)


def test_n_step_quadratic_answer_hits_the_time_limit():
    def quadratic(rewards, terminal, gamma, n):
        T = len(rewards)
        returns, discounts = np.zeros(T), np.zeros(T)
        for t in range(T):
            k = min(n, T - t)
            returns[t] = sum((gamma ** i if i < k else 0.0) * rewards[t + i] for i in range(T - t))
            discounts[t] = 0.0 if (terminal and t + k == T) else gamma ** k
        return returns, discounts
    start = time.perf_counter()
    fails("n_step_returns", quadratic, "did not finish")
    assert time.perf_counter() - start < 30


def test_n_step_returning_a_list_is_caught():
    fails("n_step_returns", lambda *a: list(n_step_returns(*a)), "tuple")


# ------------------------------------------------------------------ 3. double-DQN target

def _rows(q):
    return np.arange(len(q))


@pytest.mark.parametrize("wrong, words", [
    (lambda on, tg, r, d: r + d * tg.max(axis=1), "plain DQN target"),
    (lambda on, tg, r, d: r + d * on.max(axis=1), "online network's own maximum"),
    (lambda on, tg, r, d: r + d * on[_rows(on), tg.argmax(axis=1)], "roles are swapped"),
    (lambda on, tg, r, d: r + tg[_rows(on), on.argmax(axis=1)], "discount is missing"),
    (lambda on, tg, r, d: r + d * (tg * (on == on.max(axis=1, keepdims=True))).sum(axis=1), "first one"),
    (lambda on, tg, r, d: (r + d * tg[_rows(on), on.argmax(axis=1)]).astype(np.float64), "dtype float64"),
    (lambda on, tg, r, d: r + d * tg[_rows(on), (len(tg[0]) - 1 - on[:, ::-1].argmax(axis=1))], "targets"),
])
def test_double_dqn_wrong_answers(wrong, words):
    fails("double_dqn_target", wrong, words)


def test_double_dqn_one_bad_row_among_many_is_caught():
    def off_by_one_row(on, tg, r, d):
        y = double_dqn_target(on, tg, r, d)
        if len(y) > 100:
            y = y.copy()
            y[137] += 1e-3
        return y
    fails("double_dqn_target", off_by_one_row, "index (137,)")


# ------------------------------------------------------------------ 4. dueling

@pytest.mark.parametrize("wrong, words", [
    (lambda v, a: v + a, "subtract the mean advantage"),
    (lambda v, a: v + a - a.max(axis=1, keepdims=True), "subtracts the max"),
    (lambda v, a: v + a - a.mean(axis=0, keepdims=True), "not over the batch"),
    (lambda v, a: v + a - a.mean(), "not over the whole batch"),
    (lambda v, a: v + a - a.mean(axis=1), "keepdims"),
    (lambda v, a: (v + a - a.mean(axis=1, keepdims=True)).astype(np.float64), "dtype float64"),
    (lambda v, a: v.T + a - a.mean(axis=1, keepdims=True) if a.shape[0] == 1 else dueling(v, a) * 0, "Q-values"),
])
def test_dueling_wrong_answers(wrong, words):
    fails("dueling", wrong, words)


# ------------------------------------------------------------------ 5. sum-tree

def update_leaf_only(tree, slot, priority):
    tree[len(tree) // 2 + slot] = priority


def update_adds_priority(tree, slot, priority):
    i = len(tree) // 2 + slot
    tree[i] = priority
    i //= 2
    while i >= 1:
        tree[i] += priority
        i //= 2


def update_without_root(tree, slot, priority):
    i = len(tree) // 2 + slot
    change = priority - tree[i]
    while i > 1:
        tree[i] += change
        i //= 2


def update_recompute_all(tree, slot, priority):
    capacity = len(tree) // 2
    tree[capacity + slot] = priority
    size = capacity
    while size > 1:                     # vectorised, level by level: O(capacity) per update
        tree[size // 2:size] = tree[size:2 * size:2] + tree[size + 1:2 * size:2]
        size //= 2


def update_returns_copy(tree, slot, priority):
    tree = tree.copy()
    tree_update(tree, slot, priority)
    return tree


@pytest.mark.parametrize("wrong, words", [
    (update_leaf_only, "none of its ancestors"),
    (update_adds_priority, "add the change"),
    (update_without_root, "root, node 1"),
    (update_recompute_all, "fix only the ancestors"),
    (update_returns_copy, "in place"),
])
def test_tree_update_wrong_answers(wrong, words):
    fails("tree_update", wrong, words)


def find_node_index(tree, value):
    return tree_find(tree, value) + len(tree) // 2


def find_ties_left(tree, value):
    capacity = len(tree) // 2
    i = 1
    while i < capacity:
        if value <= tree[2 * i]:
            i = 2 * i
        else:
            value -= tree[2 * i]
            i = 2 * i + 1
    return i - capacity


def find_no_subtract(tree, value):
    capacity = len(tree) // 2
    i = 1
    while i < capacity:
        i = 2 * i if value < tree[2 * i] else 2 * i + 1
    return i - capacity


def find_linear_scan(tree, value):
    capacity = len(tree) // 2
    for slot in range(capacity):
        value -= tree[capacity + slot]
        if value < 0:
            return slot
    return capacity - 1


def find_cumsum(tree, value):
    capacity = len(tree) // 2
    return int(np.searchsorted(np.cumsum(tree[capacity:]), value, side="right"))


def find_float(tree, value):
    return float(tree_find(tree, value))


@pytest.mark.parametrize("wrong, words", [
    (find_node_index, "node index"),
    (find_ties_left, "go right"),
    (find_no_subtract, "subtract the left child's sum"),
    (find_linear_scan, "walk down the tree"),
    (find_cumsum, "walk down the tree"),
    (find_float, "as an int"),
])
def test_tree_find_wrong_answers(wrong, words):
    fails("tree_find", wrong, words)


def test_tree_find_distribution_check_catches_a_biased_sampler():
    calls = {"n": 0}

    def biased(tree, value):                  # right on the fixed cases, then favours slot 0 sometimes
        calls["n"] += 1
        if calls["n"] > 200 and calls["n"] % 10 == 0:
            return 0
        return tree_find(tree, value)
    fails("tree_find", biased, "chose slot")


def test_tree_size_rejects_other_capacities():
    with pytest.raises(ValueError, match="power-of-two"):
        ch10.tree_size(6)
    assert ch10.tree_size(8).shape == (16,)
