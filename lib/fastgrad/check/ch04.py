"""Checkers for chapter 04 (reverse-mode autodiff): backward rules as plain NumPy
functions, the broadcast reduction and the topological sort.

Each checker runs the learner's function on fixed, random and adversarial cases and
explains a wrong answer: which case, which output, expected versus got, and a hint for
the usual mistakes (a missing transpose, a broadcast dimension not reduced, a reduced
axis not re-inserted, a recursive or duplicated topological order).
"""
from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, expect_close, run_cases

__all__ = ["Node", "div_backward", "matmul_backward", "mul_backward", "sum_backward", "topo_sort",
           "unbroadcast"]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pair(result, what: str) -> tuple:
    """The learner returned (grad_a, grad_b)?"""
    if result is None:
        raise CaseFailed(f"the function returned None; expected a pair {what} (did you forget `return`?).")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CaseFailed(f"expected a pair {what}, got {type(result).__name__}"
                         + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "") + ".")
    return tuple(result)


def _with_hint(check: Callable[[], None], hint: str) -> None:
    """Run `check`; on failure, append `hint` to the message."""
    try:
        check()
    except CaseFailed as failure:
        raise CaseFailed(f"{failure} Hint: {hint}") from None


# ----------------------------------------------------------------------------- mul / div

def _binary_case(description: str, shape, dtype, rule: Callable, names: tuple[str, str],
                 hints: tuple[str, str], positive_b: bool = False, seed: int = 0) -> Case:
    def run(fn):
        rng = _rng(seed)
        a = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape).astype(dtype)
        if positive_b:
            b = (np.abs(b) + 0.5).astype(dtype)
        grad = rng.standard_normal(shape).astype(dtype)
        want_a, want_b = rule(grad, a, b)
        got_a, got_b = _pair(fn(grad.copy(), a.copy(), b.copy()), f"({names[0]}, {names[1]})")
        _with_hint(lambda: expect_close(want_a, got_a, what=names[0], rtol=1e-4 if dtype == np.float32 else None),
                   hints[0])
        _with_hint(lambda: expect_close(want_b, got_b, what=names[1], rtol=1e-4 if dtype == np.float32 else None),
                   hints[1])
    return Case(description, run)


_SHAPES = [("2x3 float64", (2, 3), np.float64), ("a scalar (shape ())", (), np.float64),
           ("1 element", (1,), np.float64), ("size 0", (0, 3), np.float64),
           ("5x7 float32", (5, 7), np.float32), ("4x33 random float64", (4, 33), np.float64)]


def _mul_rule(grad, a, b):
    return grad * b, grad * a


def mul_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `mul_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a * b` (same shapes)."""
    hints = ("d(a*b)/da = b, so grad_a = grad * b (not grad * a).",
             "d(a*b)/db = a, so grad_b = grad * a (not grad * b).")
    cases = [_binary_case(d, s, t, _mul_rule, ("grad_a", "grad_b"), hints, seed=i)
             for i, (d, s, t) in enumerate(_SHAPES)]
    return run_cases("mul_backward", fn, cases, show=show)


def _div_rule(grad, a, b):
    return grad / b, -grad * a / (b * b)


def div_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `div_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a / b` (same shapes)."""
    hints = ("d(a/b)/da = 1/b, so grad_a = grad / b.",
             "d(a/b)/db = -a/b**2: mind the minus sign and the square, grad_b = -grad * a / b**2.")
    cases = [_binary_case(d, s, t, _div_rule, ("grad_a", "grad_b"), hints, positive_b=(i % 2 == 0), seed=i)
             for i, (d, s, t) in enumerate(_SHAPES)]
    return run_cases("div_backward", fn, cases, show=show)


# ----------------------------------------------------------------------------- matmul

def _swap_last(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _matmul_case(description: str, a_shape, b_shape, dtype, seed: int, non_contiguous: bool = False) -> Case:
    def run(fn):
        rng = _rng(seed)
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        if non_contiguous:  # transposed views: same values, other strides
            a = np.ascontiguousarray(_swap_last(a))
            a = _swap_last(a)
        grad = rng.standard_normal(np.matmul(a, b).shape).astype(dtype)
        want_a, want_b = grad @ _swap_last(b), _swap_last(a) @ grad
        batched = len(a_shape) > 2
        try:
            result = fn(grad, a, b)
        except ValueError as exc:
            if "matmul" in str(exc) or "align" in str(exc) or "mismatch" in str(exc):
                extra = (" For batched inputs transpose only the last two axes, np.swapaxes(b, -1, -2): "
                         "b.T reverses ALL axes.") if batched else ""
                raise CaseFailed(f"raised ValueError: {exc}. Hint: shapes tell you where the transposes go: "
                                 f"grad_a must have a's shape {a.shape}, so grad_a = grad {grad.shape} @ b^T "
                                 f"{_swap_last(b).shape}; grad_b = a^T {_swap_last(a).shape} @ grad.{extra}") from None
            raise
        got_a, got_b = _pair(result, "(grad_a, grad_b)")
        t_hint = ("for batched inputs transpose only the last two axes: np.swapaxes(b, -1, -2) "
                  "(b.T reverses ALL axes)." if batched else "")
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        _with_hint(lambda: expect_close(want_a, got_a, what="grad_a", rtol=rtol, atol=rtol),
                   t_hint or f"grad_a = grad @ b.T (shape {want_a.shape}); a missing transpose of b "
                             "gives the right shape only when b is square.")
        _with_hint(lambda: expect_close(want_b, got_b, what="grad_b", rtol=rtol, atol=rtol),
                   t_hint or f"grad_b = a.T @ grad (shape {want_b.shape}); a missing transpose of a "
                             "gives the right shape only when a is square.")
    return Case(description, run)


def matmul_backward(fn: Callable, *, batched: bool = False, show: bool = True) -> CheckResult:
    """Check `matmul_backward(grad, a, b) -> (grad_a, grad_b)` for `out = a @ b`.

    a is (m, k), b is (k, n), grad is (m, n). With `batched=True` also (B, m, k) @ (B, k, n).
    """
    cases = [
        _matmul_case("square 3x3 @ 3x3 float64", (3, 3), (3, 3), np.float64, 0),
        _matmul_case("2x3 @ 3x4 float64", (2, 3), (3, 4), np.float64, 1),
        _matmul_case("1x1 @ 1x1", (1, 1), (1, 1), np.float64, 2),
        _matmul_case("row vector 1x5 @ 5x1", (1, 5), (5, 1), np.float64, 3),
        _matmul_case("size 0: 0x3 @ 3x2", (0, 3), (3, 2), np.float64, 4),
        _matmul_case("17x9 @ 9x13 float32", (17, 9), (9, 13), np.float32, 5),
        _matmul_case("non-contiguous a (a transposed view)", (6, 4), (4, 5), np.float64, 6, non_contiguous=True),
    ]
    if batched:
        cases += [
            _matmul_case("batched 2x3x4 @ 2x4x5", (2, 3, 4), (2, 4, 5), np.float64, 7),
            _matmul_case("batched square 3x4x4 @ 3x4x4", (3, 4, 4), (3, 4, 4), np.float64, 8),
        ]
    return run_cases("matmul_backward", fn, cases, show=show)


# ----------------------------------------------------------------------------- sum

def _sum_case(description: str, shape, axis, keepdims: bool, dtype=np.float64, seed: int = 0) -> Case:
    def run(fn):
        rng = _rng(seed)
        x = rng.standard_normal(shape).astype(dtype)
        out = np.sum(x, axis=axis, keepdims=keepdims)
        grad = np.asarray(rng.standard_normal(np.shape(out))).astype(dtype)
        g = grad if keepdims or axis is None else np.expand_dims(grad, axis)
        want = np.broadcast_to(g, shape).astype(dtype)
        try:
            got = fn(grad.copy(), tuple(shape), axis, keepdims)
        except ValueError as exc:
            if "broadcast" in str(exc) and not keepdims:
                raise CaseFailed(f"raised ValueError: {exc}. Hint: with keepdims=False the summed axis "
                                 f"{axis} is gone from grad {grad.shape}; put it back with "
                                 "np.expand_dims(grad, axis) before broadcasting to the input shape.") from None
            raise
        hint = (f"with keepdims=False, re-insert the summed axis {axis} (np.expand_dims(grad, axis)) before "
                f"np.broadcast_to(grad, input_shape): otherwise NumPy lines grad {grad.shape} up with the "
                "LAST axes of the input." if not keepdims and axis is not None else
                "every input element contributed once to its sum, so it gets the grad of that sum: "
                "broadcast grad back to input_shape.")
        _with_hint(lambda: expect_close(want, got, what="grad_x"), hint)
    return Case(description, run)


def sum_backward(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `sum_backward(grad, input_shape, axis, keepdims) -> grad_x`.

    `out = x.sum(axis=axis, keepdims=keepdims)`; `axis` is None or an int (possibly negative).
    The answer has `input_shape` and grad's dtype.
    """
    cases = [
        _sum_case("(3, 4) axis=1 keepdims=True", (3, 4), 1, True),
        _sum_case("(3, 4) axis=0 keepdims=True", (3, 4), 0, True, seed=1),
        _sum_case("(3, 4) axis=None (sum of everything)", (3, 4), None, False, seed=2),
        _sum_case("(3, 4) axis=None keepdims=True (grad has shape (1, 1))", (3, 4), None, True, seed=10),
        _sum_case("(3, 4) axis=1 keepdims=False", (3, 4), 1, False, seed=3),
        _sum_case("square (4, 4) axis=1 keepdims=False", (4, 4), 1, False, seed=4),
        _sum_case("(2, 3, 4) axis=1 keepdims=False", (2, 3, 4), 1, False, seed=5),
        _sum_case("(2, 3, 4) axis=-1 keepdims=False", (2, 3, 4), -1, False, seed=6),
        _sum_case("(5,) axis=0 keepdims=False (to a scalar)", (5,), 0, False, seed=7),
        _sum_case("size 0: (0, 3) axis=0 keepdims=False", (0, 3), 0, False, seed=8),
        _sum_case("(3, 5) axis=0 keepdims=False float32", (3, 5), 0, False, np.float32, seed=9),
    ]
    return run_cases("sum_backward", fn, cases, show=show)


# ----------------------------------------------------------------------------- unbroadcast

def _reference_unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    extra = grad.ndim - len(shape)
    g = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def _unbroadcast_case(description: str, grad_shape, shape, dtype=np.float64, seed: int = 0) -> Case:
    def run(fn):
        grad = _rng(seed).standard_normal(grad_shape).astype(dtype)
        want = _reference_unbroadcast(grad, tuple(shape))
        got = fn(grad.copy(), tuple(shape))
        got_shape = np.shape(got) if got is not None else None
        if got is not None and got_shape != tuple(shape):
            extra = len(grad_shape) - len(shape)
            ones = [extra + i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1]
            todo = []
            if extra:
                todo.append(f"sum the {extra} leading axes the input did not have")
            if ones:
                todo.append(f"sum axes {ones} of grad, where the input had size 1, with keepdims=True")
            hint = ("the broadcast dimensions were not reduced at all: " if got_shape == tuple(grad_shape)
                    else "") + " and ".join(todo) + "."
            raise CaseFailed(f"result has shape {got_shape}, expected {tuple(shape)} (grad {tuple(grad_shape)} "
                             f"summed to the input's shape {tuple(shape)}). Hint: {hint}")
        expect_close(want, got, what="reduced grad", rtol=1e-5 if dtype == np.float32 else None)
    return Case(description, run)


def unbroadcast(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `unbroadcast(grad, shape) -> grad summed down to shape` (a.k.a. sum_to_shape).

    The forward broadcast an input of `shape` to `grad.shape`; every copy contributed, so
    the backward sums the copies: over leading axes the input did not have, and over axes
    where the input had size 1.
    """
    cases = [
        _unbroadcast_case("same shape (3, 4) -> (3, 4): nothing to do", (3, 4), (3, 4)),
        _unbroadcast_case("bias: (3, 4) -> (4,)", (3, 4), (4,), seed=1),
        _unbroadcast_case("(3, 4) -> (1, 4)", (3, 4), (1, 4), seed=2),
        _unbroadcast_case("column: (3, 4) -> (3, 1)", (3, 4), (3, 1), seed=3),
        _unbroadcast_case("(2, 3, 4) -> (3, 1)", (2, 3, 4), (3, 1), seed=4),
        _unbroadcast_case("scalar: (2, 3) -> ()", (2, 3), (), seed=5),
        _unbroadcast_case("(5,) -> (1,)", (5,), (1,), seed=6),
        _unbroadcast_case("(1, 4) -> (1, 4): a size-1 axis that was not broadcast", (1, 4), (1, 4), seed=7),
        _unbroadcast_case("size 0: (0, 4) -> (4,)", (0, 4), (4,), seed=8),
        _unbroadcast_case("(64, 10) -> (10,) float32", (64, 10), (10,), np.float32, seed=9),
    ]
    return run_cases("unbroadcast", fn, cases, show=show)


# ----------------------------------------------------------------------------- topological sort

class Node:
    """A graph node for the topological-sort exercise: a name and the nodes it was computed from."""

    def __init__(self, name: str, parents=()):
        self.name = name
        self.parents = list(parents)

    def __repr__(self) -> str:
        return f"Node({self.name!r})"


def chain(n: int) -> Node:
    """x0 -> x1 -> ... -> x{n-1}; returns the last node (the root of the backward pass)."""
    node = Node("x0")
    for i in range(1, n):
        node = Node(f"x{i}", [node])
    return node


def _check_order(order, root: Node, expected_count: int) -> None:
    if order is None:
        raise CaseFailed("the function returned None; expected a list of nodes (did you forget `return`?).")
    order = list(order)
    seen: dict[int, int] = {}
    for position, node in enumerate(order):
        if id(node) in seen:
            raise CaseFailed(f"{node!r} appears twice (positions {seen[id(node)]} and {position}). Hint: keep a "
                             "`visited` set so a node reached along two paths (a diamond) is listed once; "
                             "otherwise its backward would run twice and its gradient double.")
        seen[id(node)] = position
    if len(order) != expected_count:
        raise CaseFailed(f"got {len(order)} nodes, expected {expected_count} (every node reachable from the "
                         "root through .parents, the root and the leaves included).")
    for node in order:
        for parent in node.parents:
            if id(parent) not in seen:
                raise CaseFailed(f"{parent!r}, a parent of {node!r}, is missing from the order.")
            if seen[id(parent)] > seen[id(node)]:
                raise CaseFailed(f"{parent!r} comes after its child {node!r} (positions {seen[id(parent)]} and "
                                 f"{seen[id(node)]}). Expected parents BEFORE children, the root last; backward "
                                 "then walks the list reversed. Hint: append a node only after all its parents "
                                 "are done (post-order), not when you first see it.")
    if order[-1] is not root:
        raise CaseFailed(f"the root should be last, got {order[-1]!r} last.")


def _topo_case(description: str, build: Callable[[], tuple[Node, int]], hint: str = "") -> Case:
    def run(fn):
        root, count = build()
        start = time.perf_counter()
        try:
            order = fn(root)
        except RecursionError:
            raise CaseFailed("raised RecursionError: a recursive depth-first search needs one Python frame "
                             f"per node and Python stops at {sys.getrecursionlimit()}. Hint: use "
                             "an explicit stack of (node, parents_done) pairs instead of recursion.") from None
        _check_order(order, root, count)
        seconds = time.perf_counter() - start
        if seconds > 1.0:
            raise CaseFailed(f"correct, but took {seconds:.1f} s for {count} nodes. Hint: mark nodes as visited "
                             "when you first push them, so no node is explored twice, and use a set (not "
                             "a list) for `visited`.")
    return Case(description, run)


def _single():
    return Node("x"), 1


def _diamond():
    x = Node("x")
    a = Node("a = f(x)", [x])
    b = Node("b = g(x)", [x])
    return Node("y = a + b", [a, b]), 4


def _reused():
    x = Node("x")
    return Node("y = x * x", [x, x]), 2


def _skip():
    # y depends on a and on x directly; a depends on x. Breadth-first order reversed gets this wrong.
    x = Node("x")
    w = Node("w")
    a = Node("a = x * w", [x, w])
    b = Node("b = tanh(a)", [a])
    return Node("y = x + b", [x, b]), 5


def _mlp():
    x, w1, b1, w2, b2 = (Node(n) for n in ("x", "w1", "b1", "w2", "b2"))
    h = Node("h = x @ w1", [x, w1])
    hb = Node("hb = h + b1", [h, b1])
    r = Node("r = relu(hb)", [hb])
    o = Node("o = r @ w2", [r, w2])
    ob = Node("ob = o + b2", [o, b2])
    sq = Node("sq = ob * ob", [ob, ob])
    return Node("loss = sum(sq)", [sq]), 12


def _ladder(n: int = 18):
    # Diamonds in a row: a search that revisits nodes takes 2**n steps.
    node = Node("x0")
    for i in range(1, n):
        left = Node(f"l{i}", [node])
        right = Node(f"r{i}", [node])
        node = Node(f"x{i}", [left, right])
    return node, 1 + 3 * (n - 1)


def topo_sort(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `topo_sort(root) -> list of nodes`: every node reachable from `root` via
    `.parents`, each exactly once, parents before children (root last), without recursion.
    """
    cases = [
        _topo_case("a single node", _single),
        _topo_case("a chain of 3", lambda: (chain(3), 3)),
        _topo_case("a diamond: y = f(x) + g(x)", _diamond),
        _topo_case("a node used twice: y = x * x", _reused),
        _topo_case("a skip connection: y = x + tanh(x * w)", _skip),
        _topo_case("a small MLP: loss = sum((relu(x@w1+b1)@w2+b2)**2)", _mlp),
        _topo_case("a chain of 5,000 nodes (deeper than Python's recursion limit)", lambda: (chain(5000), 5000)),
        _topo_case("18 diamonds in a row (revisiting nodes would take 2**18 steps)", _ladder),
    ]
    return run_cases("topo_sort", fn, cases, show=show)
