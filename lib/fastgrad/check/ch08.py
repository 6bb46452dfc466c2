"""Checkers for chapter 08 (lazy graphs, fusion and code generation): a topological order
of a graph with shared nodes, NumPy's broadcasting rule, grouping nodes into fused
kernels, generating the source of an elementwise loop kernel, and common-subexpression
elimination.

The checkers are self-contained: they define the tiny graph the exercises build on,
`Node(op, inputs, shape, dtype, **attrs)`, with identity equality and hashing (two nodes are
the same node only if they are the same object), and the op sets `LEAVES`, `ELEMENTWISE`,
`REDUCTIONS`, `COMMUTATIVE`. They do not use `fastgrad.lazy`. The mistakes they catch and name:

* topo_order: a recursive walk without a visited set (a node reached by 2**k paths of a
  diamond chain is visited 2**k times: caught by counting visits on a 14-deep chain and by
  the time limit on a 40-deep one), a recursive walk with a visited set (RecursionError on a
  chain of 5000 nodes), duplicates (a visited check on the way in but the node appended once
  per path), the order reversed (users before inputs, e.g. the DFS pre-order or the stack
  popped in reverse), a breadth-first order from the output reversed (wrong on diamonds of
  uneven depth), leaves left out, the output left out, a list of ops or ids instead of nodes.
* broadcast_shape: dimensions aligned on the left, the max of each pair (accepting (3,)
  with (4,)), no error for incompatible shapes, an error of another type or without both
  shapes in its message, rank 0 mishandled, 0 vs 1 giving 1 (max) instead of 0, 0 vs 3
  accepted, a list instead of a tuple, the inputs changed (they are passed as tuples anyway).
* fusable_groups: every compute node its own kernel (not maximal), a node fused with its
  first input only, leaves put into groups, an elementwise node fused after a reduction
  (the reduction ends a group), a reduction left alone without its elementwise prologue,
  a matmul fused with anything, a value with two users fused into a user's kernel
  (multi-user nodes ignored), a node used twice by one user (e * e) counted as two users (edges
  counted instead of distinct users), a node in two groups, a compute node in no group.
* elementwise_source: a hard-coded expression (the same source for every graph), missing
  parentheses (operator precedence: (a + b) * c written a + b * c), constants written as
  bare literals (float64 in a Numba float32 kernel: caught from Numba's types), whole-array
  operations or one loop nest per node (temporary arrays) instead of one loop nest, the index
  of a broadcast input not set to 0 on its size-1 dimensions (IndexError or wrong values), a
  rank-1 input indexed with the output's rank-2 index, the arguments in another order than the
  sorted input names, the source not defining `kernel`, a syntax error in the generated source,
  None or a function returned instead of the source.
* cse: merging by op only (or by op and inputs, attrs ignored: sum over axis 0 merged with
  axis 1, constants 2.0 and 3.0 merged), argument order ignored for non-commutative ops
  (a - b merged with b - a), a + b not merged with b + a, inputs that are not the same object
  merged (two inputs of equal name and shape), equal constants not merged, representatives
  that are not the earliest node, inputs compared before they are deduplicated (only one
  round: the users of merged nodes not merged), quadratic pairwise comparison (time limit
  on 20000 nodes), structural keys built recursively as nested tuples (exponential hashing
  on a diamond chain: time limit), a mapping that misses nodes.
* every checker: the caller's graph changed (an attribute written onto a node, e.g. a cached
  expression or group number) or the list `order` changed.
"""
from __future__ import annotations

import ast
import math
import traceback
from typing import Callable

import numpy as np

from ._base import Case, CaseFailed, CheckResult, run_cases

__all__ = ["Node", "LEAVES", "ELEMENTWISE", "REDUCTIONS", "COMMUTATIVE", "OPERATORS",
           "topo_order", "broadcast_shape", "fusable_groups", "elementwise_source", "cse"]

LEAVES = frozenset({"input", "const"})
ELEMENTWISE = frozenset({"add", "sub", "mul", "div", "neg", "exp", "maximum", "broadcast"})
REDUCTIONS = frozenset({"sum", "amax"})
COMMUTATIVE = frozenset({"add", "mul", "maximum"})
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


class Node:
    """One node of a lazy graph: `op` (a string), `inputs` (a tuple of Nodes), `shape` (a
    tuple), `dtype` (a string) and the op's attributes as `attrs` (a dict: `name` for an
    "input", `value` for a "const", `axis` for a reduction). Nodes compare and hash by
    identity: two nodes are equal only if they are the same object."""

    __slots__ = ("op", "_inputs", "shape", "dtype", "attrs", "_reads")

    def __init__(self, op: str, inputs=(), shape=(), dtype: str = "float64", **attrs):
        self.op = op
        self._inputs = tuple(inputs)
        self.shape = tuple(shape)
        self.dtype = dtype
        self.attrs = dict(attrs)
        self._reads = 0

    @property
    def inputs(self) -> tuple:
        self._reads += 1          # the topo_order checker counts how often a walk looks at a node
        return self._inputs

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v!r}" for k, v in sorted(self.attrs.items()))
        return f"<{self.op}{extra} {self.shape}>"


def learner_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at line {last.lineno} in {last.name}: `{(last.line or '').strip()}`)"


def _reachable(output: Node) -> list[Node]:
    """Every node reachable from `output`, each once, inputs before users (iterative)."""
    order, done, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        for inp in reversed(node._inputs):
            if inp not in done:
                stack.append((inp, False))
    return order


def _graph_state(nodes) -> list:
    return [(n.op, tuple(map(id, n._inputs)), n.shape, n.dtype, repr(sorted(n.attrs.items()))) for n in nodes]


def _expect_graph_unchanged(nodes, before: list) -> None:
    """Fail when a pass changed the nodes it was given (a pass reads the graph; the caller's
    graph may be used again, e.g. realised a second time)."""
    for node, was, now in zip(nodes, before, _graph_state(nodes)):
        if was != now:
            raise CaseFailed(f"your function changed the node {node!r} (its op, inputs, shape, dtype or attrs): "
                             "a pass must leave the caller's graph as it was. Keep your own data in dicts keyed "
                             "by node, not on the nodes.")


def _name(node: Node, names: dict) -> str:
    return names.get(node, repr(node))


# ============================================================================ graphs used by several checkers

def _inp(name, shape=(4,), dtype="float64"):
    return Node("input", (), shape, dtype, name=name)


def _diamond_chain(depth: int) -> Node:
    """x -> (exp, neg) -> add -> (exp, neg) -> add ...: the output is reached by 2**depth paths."""
    x = _inp("x")
    node = x
    for _ in range(depth):
        node = Node("add", (Node("exp", (node,), node.shape), Node("neg", (node,), node.shape)), node.shape)
    return node


def _chain(length: int) -> Node:
    node = _inp("x")
    for _ in range(length):
        node = Node("neg", (node,), node.shape)
    return node


def _uneven() -> tuple[Node, dict]:
    """A diamond with a long and a short branch: BFS levels from the output disagree with
    the dependencies (d is one step from the output via e but also an input of c)."""
    a, b = _inp("a"), _inp("b")
    c = Node("mul", (a, b), (4,))
    d = Node("exp", (c,), (4,))
    e = Node("neg", (d,), (4,))
    f = Node("add", (e, c), (4,))
    g = Node("sub", (f, d), (4,))
    return g, {a: "a", b: "b", c: "c", d: "d", e: "e", f: "f", g: "g"}


# ============================================================================ 1. topo_order

def _as_node_list(got, what="the order") -> list:
    if got is None:
        raise CaseFailed(f"the function returned None; expected {what}, a list of nodes (did you forget `return`?).")
    if not isinstance(got, (list, tuple)):
        try:
            got = list(got)
        except TypeError:
            raise CaseFailed(f"returned a {type(got).__name__}; expected {what} as a list of nodes.") from None
    for item in got:
        if not isinstance(item, Node):
            raise CaseFailed(f"the list holds {item!r} ({type(item).__name__}); expected the Node objects "
                             "themselves (not their ops, names or ids), so that a later pass can use them.")
    return list(got)


def _check_order(got: list, output: Node, names: dict) -> None:
    want = _reachable(output)
    ids = [id(n) for n in got]
    if len(set(ids)) != len(ids):
        seen, dup = set(), None
        for n in got:
            if id(n) in seen:
                dup = n
                break
            seen.add(id(n))
        raise CaseFailed(f"node {_name(dup, names)} appears {ids.count(id(dup))} times in the order: a node reached "
                         "by two paths (a shared node) must be listed once. Keep a set of visited nodes and skip "
                         "a node that is already in it.")
    got_ids, want_set = set(ids), set(want)
    missing = [n for n in want if id(n) not in got_ids]
    if missing:
        m = missing[0]
        what = ("the output itself" if m is output else "a leaf (an input or constant)" if m.op in LEAVES
                else "an intermediate node")
        raise CaseFailed(f"{len(missing)} node(s) missing, e.g. {_name(m, names)}, {what}: the order lists every "
                         "node the output depends on, the leaves and the output included.")
    extra = [n for n in got if n not in want_set]
    if extra:
        raise CaseFailed(f"node {_name(extra[0], names)} is not an input of the output (directly or indirectly).")
    position = {id(n): i for i, n in enumerate(got)}
    for n in got:
        for inp in n._inputs:
            if position[id(inp)] > position[id(n)]:
                hint = ""
                if position[id(output)] == 0:
                    hint = (" Hint: the output comes first: the order is reversed (a node is appended before its "
                            "inputs, a pre-order). Append a node after all its inputs (post-order), or reverse.")
                raise CaseFailed(f"{_name(n, names)} comes at position {position[id(n)]}, before its input "
                                 f"{_name(inp, names)} (position {position[id(inp)]}): every node must come after "
                                 f"all its inputs.{hint}")


def _topo_case(description: str, build: Callable[[], tuple[Node, dict]], *, max_reads: int | None = None,
               time_limit: float | None = None) -> Case:
    def run(fn):
        output, names = build()
        nodes = _reachable(output)
        before = _graph_state(nodes)
        try:
            got = fn(output)
        except RecursionError as exc:
            raise CaseFailed(f"RecursionError{learner_frame(exc)}: a recursive walk goes one Python frame deeper "
                             "per node, and Python stops at about 1000 frames; real graphs (an unrolled loop, a "
                             "long chain of layers) are deeper than that. Walk the graph with an explicit stack "
                             "(a list you push to and pop from) instead of recursion.") from None
        got = _as_node_list(got)
        _expect_graph_unchanged(nodes, before)
        if max_reads is not None:
            reads = sum(n._reads for n in nodes)
            if reads > max_reads:
                raise CaseFailed(f"the graph has {len(nodes)} nodes, but your walk looked at nodes' inputs {reads} "
                                 "times: it visits a shared node once per PATH to it, and a chain of k diamonds "
                                 "has 2**k paths (exponential time). Mark each node as visited and never expand it "
                                 "twice.")
        _check_order(got, output, names)
    return Case(description, run, time_limit)


def _small() -> tuple[Node, dict]:
    a, b, c = _inp("a"), _inp("b"), _inp("c")
    s = Node("add", (a, b), (4,))
    out = Node("mul", (s, c), (4,))
    return out, {a: "a", b: "b", c: "c", s: "a+b", out: "(a+b)*c"}


def _shared() -> tuple[Node, dict]:
    x = _inp("x")
    e = Node("exp", (x,), (4,))
    m = Node("mul", (e, e), (4,))        # the same node twice as an input
    out = Node("add", (m, x), (4,))
    return out, {x: "x", e: "exp(x)", m: "exp(x)*exp(x)", out: "out"}


def _diamond_named(depth):
    def build():
        out = _diamond_chain(depth)
        return out, {}
    return build


def topo_order(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `topo_order(output) -> list of nodes`: every node `output` depends on, each
    exactly once, every node after all its inputs, without recursion (a graph can be deeper
    than Python's recursion limit) and in time linear in the number of nodes."""
    cases = [
        _topo_case("(a + b) * c", _small),
        _topo_case("a single input node", lambda: (lambda x: (x, {x: "x"}))(_inp("x"))),
        _topo_case("a shared node: exp(x) * exp(x) + x, the same exp node used twice", _shared),
        _topo_case("a diamond with a long and a short branch", _uneven),
        _topo_case("a chain of 3 diamonds", _diamond_named(3)),
        _topo_case("a chain of 14 diamonds (16384 paths to the input), visits counted", _diamond_named(14),
                   max_reads=8 * (3 * 14 + 1) + 8),
        _topo_case("a chain of 40 diamonds (2**40 paths to the input: a walk that expands a "
                   "node once per path never ends)", _diamond_named(40), time_limit=3.0),
        _topo_case("a chain of 5000 neg nodes (deeper than Python's recursion limit)",
                   lambda: (_chain(5000), {}), time_limit=5.0),
    ]
    return run_cases("topo_order", fn, cases, show=show)


# ============================================================================ 2. broadcast_shape

def _ref_broadcast(a: tuple, b: tuple) -> tuple:
    return tuple(np.broadcast_shapes(tuple(a), tuple(b)))


def _broadcast_ok(a, b) -> Case:
    def run(fn):
        want = _ref_broadcast(a, b)
        try:
            got = fn(a, b)
        except ValueError as exc:
            hint = ""
            n = max(len(a), len(b))
            la, lb = tuple(a) + (1,) * (n - len(a)), tuple(b) + (1,) * (n - len(b))
            if any(x != y and 1 not in (x, y) for x, y in zip(la, lb)):
                hint = (" Hint: you aligned the shapes on the LEFT (padding the shorter one with 1s on the right); "
                        "NumPy aligns them on the right: the last dimensions pair up.")
            raise CaseFailed(f"raised ValueError({str(exc)!r}){learner_frame(exc)}, but {a} and {b} broadcast to "
                             f"{want}.{hint}") from None
        if got is None:
            raise CaseFailed(f"the function returned None; expected the shape {want} (did you forget `return`?).")
        if isinstance(got, list):
            raise CaseFailed(f"returned the list {got}; a shape is a tuple: tuple(...) of it ({want}).")
        if not isinstance(got, tuple) or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                                 for d in got):
            raise CaseFailed(f"returned {got!r} ({type(got).__name__}); expected a tuple of ints, {want}.")
        got = tuple(int(d) for d in got)
        if got != want:
            hint = ""
            n = max(len(a), len(b))
            left = [x if y is None else y if x is None else max(x, y) for x, y in
                    zip(list(a) + [None] * (n - len(a)), list(b) + [None] * (n - len(b)))]
            if tuple(left) == got and len(a) != len(b):
                hint = (" Hint: you aligned the shapes on the LEFT; NumPy aligns them on the right (the last "
                        "dimensions pair up) and pads the shorter shape with 1s on the left.")
            elif 0 in a + b and got != want:
                hint = (" Hint: a dimension of size 1 stretches to the other size, even to 0: (0,) with (1,) is "
                        "(0,), an empty result, not max(0, 1).")
            elif len(got) != len(want):
                hint = f" Hint: the result has the rank of the longer shape ({len(want)})."
            raise CaseFailed(f"broadcast_shape({a}, {b}) returned {got}, expected {want}.{hint}")
    return Case(f"{a} with {b}", run)


def _broadcast_bad(a, b) -> Case:
    def run(fn):
        try:
            got = fn(a, b)
        except ValueError as exc:
            message = str(exc)
            if str(a) not in message or str(b) not in message:
                raise CaseFailed(f"raised ValueError({message!r}); the message should name both shapes as "
                                 f"written, {a} and {b} (e.g. f\"cannot broadcast {{a}} with {{b}}\"), so the "
                                 "reader sees which operands disagree.") from None
            return
        except NotImplementedError:
            raise
        except Exception as exc:
            raise CaseFailed(f"raised {type(exc).__name__}({exc}){learner_frame(exc)}; expected a ValueError "
                             "naming both shapes (NumPy raises ValueError too). An `assert` disappears under "
                             "`python -O`.") from None
        hint = ""
        if 0 in a + b:
            hint = (" Hint: only a dimension of size 1 stretches; 0 and 3 are two different sizes (an empty "
                    "array cannot be stretched to 3 elements).")
        else:
            hint = (" Hint: two dimensions are compatible only when they are equal or one of them is 1; taking "
                    "the max of each pair accepts any sizes.")
        raise CaseFailed(f"{a} and {b} do not broadcast (NumPy raises ValueError), but the function returned "
                         f"{got!r}.{hint}")
    return Case(f"{a} with {b} (incompatible)", run)


def broadcast_shape(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `broadcast_shape(a, b) -> shape`: NumPy's rule for two shapes (tuples) aligned on
    the right; a ValueError naming both shapes when they do not broadcast."""
    ok = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 5), (3, 1)), ((8, 1, 6, 1), (7, 1, 5)),
          ((), (3, 4)), ((2, 3), ()), ((), ()), ((1,), (5,)), ((5, 1), (1, 1, 1)), ((0,), (1,)), ((1, 3), (0, 1)),
          ((0, 4), (4,)), ((1, 1), (1,))]
    bad = [((3,), (4,)), ((2, 3), (3, 2)), ((0,), (3,)), ((4, 3), (2, 1, 4)), ((2, 1), (8, 4, 3))]
    cases = ([_broadcast_ok(a, b) for a, b in ok[:10]] + [_broadcast_bad(a, b) for a, b in bad[:2]]
             + [_broadcast_ok(a, b) for a, b in ok[10:]] + [_broadcast_bad(a, b) for a, b in bad[2:]])
    return run_cases("broadcast_shape", fn, cases, show=show)


# ============================================================================ 3. fusable_groups

def _users(order: list[Node]) -> dict[Node, set]:
    users = {n: set() for n in order}
    for n in order:
        for inp in n._inputs:
            users[inp].add(n)
    return users


def _ref_groups(order: list[Node]) -> list[list[Node]]:
    """The rule of the exercise: a compute node n joins the group of its input m when m is
    elementwise, m has exactly one user (n), and n is elementwise or a reduction."""
    users = _users(order)
    group = {}
    for n in order:
        if n.op in LEAVES:
            continue
        group[n] = [n]
    for n in order:
        if n.op in LEAVES or n.op == "matmul":
            continue
        for m in n._inputs:
            if m.op in ELEMENTWISE and len(users[m]) == 1 and group[m] is not group[n]:
                merged = group[m] + group[n]
                for x in merged:
                    group[x] = merged
    out, seen = [], set()
    for n in order:
        if n in group and id(group[n]) not in seen:
            seen.add(id(group[n]))
            out.append(sorted(group[n], key=order.index))
    return out


def _describe(group, names) -> str:
    return "{" + ", ".join(_name(n, names) for n in group) + "}"


def _groups_diagnosis(got: list, want: list, order: list, names: dict) -> str:
    users = _users(order)
    where = {}
    for g in got:
        for n in g:
            where[n] = g
    for g in got:
        ops = [n.op for n in g]
        if "matmul" in ops and len(g) > 1:
            return ("a matmul shares a kernel with other nodes: a matmul is always its own kernel (it runs on BLAS "
                    "or the packed kernel of chapter 03), so it starts and ends a group.")
        for n in g:
            for m in n._inputs:
                if m in g and m.op in REDUCTIONS:
                    return (f"{_name(n, names)} is fused after the reduction {_name(m, names)}: a reduction ENDS a "
                            "group (its result is complete only after the whole pass), so its users start a new "
                            "kernel.")
                if m in g and len(users[m]) > 1:
                    return (f"{_name(m, names)} has {len(users[m])} users but is fused into the kernel of "
                            f"{_name(n, names)}: a value used by two nodes is written to memory once, so it ends "
                            "its group (fusing it into a user would recompute it in every user's kernel, or "
                            "leave the other user without it). Fuse an input only if it has exactly one user.")
    for n in order:
        if n.op in LEAVES or n.op == "matmul":
            continue
        for m in n._inputs:
            if m.op in ELEMENTWISE and len(users[m]) == 1 and m in where and n in where and where[m] is not where[n]:
                if n.op in REDUCTIONS:
                    return (f"the reduction {_name(n, names)} is not fused with its elementwise input "
                            f"{_name(m, names)}: a reduction takes a fused prologue (sum(a * b) is one pass over "
                            "a and b), so it joins its single-user elementwise input's group, as that group's end.")
                if n._inputs.count(m) > 1:
                    return (f"{_name(m, names)} is used twice by the same node {_name(n, names)}: that is ONE user "
                            "(the kernel reads the value once, into a register), so it fuses. Count the distinct "
                            "users of a node (a set), not the edges.")
                first = n._inputs[0]
                if m is not first:
                    return (f"{_name(n, names)} is fused with its first input only: {_name(m, names)}, another "
                            "input with one user, belongs to the same kernel (groups are maximal: merge the "
                            "groups of EVERY fusable input).")
                return (f"{_name(m, names)} and its only user {_name(n, names)} are both elementwise but in "
                        "different kernels: the groups are not maximal (a kernel per node writes every "
                        "intermediate to memory and reads it back, which is what fusion avoids).")
    return ""


def _groups_case(description: str, build: Callable[[], tuple[list, dict]]) -> Case:
    def run(fn):
        order, names = build()
        given = list(order)
        before = _graph_state(order)
        got = fn(given)
        _expect_graph_unchanged(order, before)
        if got is None:
            raise CaseFailed("the function returned None; expected a list of groups (did you forget `return`?).")
        try:
            got = [list(g) for g in got]
        except TypeError:
            raise CaseFailed(f"returned {got!r}; expected a list of groups, each a list of nodes.") from None
        if given != order:
            raise CaseFailed("your function changed the list `order` it was given; leave it as it is.")
        for g in got:
            for n in g:
                if not isinstance(n, Node):
                    raise CaseFailed(f"a group holds {n!r} ({type(n).__name__}); expected the Node objects.")
        leaves = [n for g in got for n in g if n.op in LEAVES]
        if leaves:
            raise CaseFailed(f"the leaf {_name(leaves[0], names)} is in a group: inputs and constants are arrays "
                             "already in memory, not computed by a kernel, so they belong to no group.")
        counts = {}
        for g in got:
            for n in g:
                counts[n] = counts.get(n, 0) + 1
        twice = [n for n, c in counts.items() if c > 1]
        if twice:
            raise CaseFailed(f"{_name(twice[0], names)} is in {counts[twice[0]]} groups (or twice in one); every "
                             "compute node belongs to exactly one group.")
        missing = [n for n in order if n.op not in LEAVES and n not in counts]
        if missing:
            raise CaseFailed(f"the compute node {_name(missing[0], names)} is in no group: every non-leaf node "
                             "belongs to exactly one kernel.")
        want = _ref_groups(order)
        as_set = lambda gs: sorted(sorted(id(n) for n in g) for g in gs)      # noqa: E731
        if as_set(got) != as_set(want):
            hint = _groups_diagnosis(got, want, order, names)
            shown = ", ".join(_describe(g, names) for g in want)
            raise CaseFailed(f"expected {len(want)} kernel(s), {shown}; got {len(got)}, "
                             f"{', '.join(_describe(g, names) for g in got)}." + (f" Hint: {hint}" if hint else ""))
    return Case(description, run)


def _g_chain():
    a, b, c = _inp("a"), _inp("b"), _inp("c")
    m = Node("mul", (a, b), (4,))
    s = Node("add", (m, c), (4,))
    e = Node("exp", (s,), (4,))
    return [a, b, m, c, s, e], {a: "a", b: "b", c: "c", m: "a*b", s: "a*b+c", e: "exp(a*b+c)"}


def _g_two_branches():
    a, b, c, d = _inp("a"), _inp("b"), _inp("c"), _inp("d")
    x = Node("mul", (a, b), (4,))
    y = Node("sub", (c, d), (4,))
    z = Node("div", (x, y), (4,))
    return [a, b, c, d, x, y, z], {a: "a", b: "b", c: "c", d: "d", x: "a*b", y: "c-d", z: "(a*b)/(c-d)"}


def _g_reduction():
    a, b = _inp("a", (4, 8)), _inp("b", (4, 8))
    m = Node("mul", (a, b), (4, 8))
    s = Node("sum", (m,), (4, 1), axis=1)
    e = Node("exp", (s,), (4, 1))
    n = Node("neg", (e,), (4, 1))
    return [a, b, m, s, e, n], {a: "a", b: "b", m: "a*b", s: "sum(a*b)", e: "exp(sum)", n: "-exp(sum)"}


def _g_multi_user():
    a, b = _inp("a"), _inp("b")
    d = Node("mul", (a, b), (4,))
    e = Node("exp", (d,), (4,))
    f = Node("neg", (d,), (4,))
    g = Node("add", (e, f), (4,))
    return [a, b, d, e, f, g], {a: "a", b: "b", d: "d=a*b", e: "exp(d)", f: "-d", g: "exp(d)+(-d)"}


def _g_square():
    x = _inp("x")
    e = Node("exp", (x,), (4,))
    sq = Node("mul", (e, e), (4,))
    n = Node("neg", (sq,), (4,))
    return [x, e, sq, n], {x: "x", e: "e=exp(x)", sq: "e*e", n: "-(e*e)"}


def _g_softmax():
    x = _inp("x", (4, 8))
    mx = Node("amax", (x,), (4, 1), axis=1)
    bm = Node("broadcast", (mx,), (4, 8))
    sh = Node("sub", (x, bm), (4, 8))
    e = Node("exp", (sh,), (4, 8))
    s = Node("sum", (e,), (4, 1), axis=1)
    bs = Node("broadcast", (s,), (4, 8))
    out = Node("div", (e, bs), (4, 8))
    order = [x, mx, bm, sh, e, s, bs, out]
    return order, {x: "x", mx: "max(x)", bm: "broadcast(max)", sh: "x-max", e: "e=exp(x-max)", s: "sum(e)",
                   bs: "broadcast(sum)", out: "e/sum"}


def _g_matmul():
    x, w, bias = _inp("x", (4, 8)), _inp("W", (8, 3)), _inp("bias", (3,))
    sx = Node("mul", (x, Node("const", (), (), value=0.5)), (4, 8))
    c = sx._inputs[1]
    mm = Node("matmul", (sx, w), (4, 3))
    ad = Node("add", (mm, bias), (4, 3))
    r = Node("maximum", (ad, Node("const", (), (), value=0.0)), (4, 3))
    z = r._inputs[1]
    order = [x, c, sx, w, mm, bias, ad, z, r]
    return order, {x: "x", c: "0.5", sx: "0.5*x", w: "W", mm: "matmul", bias: "bias", ad: "matmul+bias", z: "0.0",
                   r: "relu"}


def _g_rmsnorm():
    x, w = _inp("x", (4, 8)), _inp("w", (8,))
    sq = Node("mul", (x, x), (4, 8))
    ms = Node("sum", (sq,), (4, 1), axis=1)
    bm = Node("broadcast", (ms,), (4, 8))
    y = Node("div", (x, bm), (4, 8))
    out = Node("mul", (y, w), (4, 8))
    return [x, w, sq, ms, bm, y, out], {x: "x", w: "w", sq: "x*x", ms: "sum(x*x)", bm: "broadcast(sum)",
                                        y: "x/sum", out: "x/sum*w"}


def fusable_groups(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `fusable_groups(order) -> list of groups`: partition the compute nodes of a
    topological order into kernels by the rule of the exercise (a compute node n joins the
    group of an input m when m is elementwise, m has exactly one user, and n is elementwise
    or a reduction; a matmul is always alone; leaves are in no group)."""
    cases = [
        _groups_case("a chain exp(a * b + c): one kernel", _g_chain),
        _groups_case("(a * b) / (c - d): two single-user branches meet", _g_two_branches),
        _groups_case("sum(a * b) then exp and neg: the reduction ends the first kernel", _g_reduction),
        _groups_case("d = a * b used twice: exp(d) + (-d)", _g_multi_user),
        _groups_case("-(e * e) with e = exp(x): e used twice by ONE node", _g_square),
        _groups_case("softmax: max, subtract, exp, sum, divide", _g_softmax),
        _groups_case("relu(matmul(0.5 * x, W) + bias): the matmul alone", _g_matmul),
        _groups_case("RMSNorm-like: x / sum(x * x) * w", _g_rmsnorm),
    ]
    return run_cases("fusable_groups", fn, cases, show=show)


# ============================================================================ 4. elementwise_source

def _leaves_by_name(order):
    return sorted({n.attrs["name"]: n for n in order if n.op == "input"}.items())


def _ref_eval(order: list[Node], arrays: dict, dtype) -> np.ndarray:
    t = np.dtype(dtype).type
    vals = {}
    for n in order:
        if n.op == "input":
            vals[n] = arrays[n.attrs["name"]]
        elif n.op == "const":
            vals[n] = t(n.attrs["value"])
        elif n.op == "neg":
            vals[n] = -vals[n._inputs[0]]
        elif n.op == "exp":
            vals[n] = np.exp(vals[n._inputs[0]])
        elif n.op == "maximum":
            vals[n] = np.maximum(vals[n._inputs[0]], vals[n._inputs[1]])
        else:
            x, y = (vals[i] for i in n._inputs)
            vals[n] = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[n.op](x, y)
    out = order[-1]
    return np.broadcast_to(vals[out], out.shape).astype(dtype)


def _flat_source(order: list[Node]) -> str:
    """The expression written without parentheses (the precedence mistake), for diagnosis."""
    text = {}
    for n in order:
        if n.op == "input":
            text[n] = n.attrs["name"] + "@"
        elif n.op == "const":
            text[n] = repr(float(n.attrs["value"]))
        elif n.op == "neg":
            text[n] = "-" + text[n._inputs[0]]
        elif n.op in OPERATORS:
            text[n] = f"{text[n._inputs[0]]} {OPERATORS[n.op]} {text[n._inputs[1]]}"
        else:
            text[n] = f"np.{n.op}({', '.join(text[i] for i in n._inputs)})"
    return text[order[-1]]


def _exec_kernel(source: str):
    if source is None:
        raise CaseFailed("the function returned None; expected the kernel's Python source as a str (did you forget "
                         "`return`?).")
    if not isinstance(source, str):
        raise CaseFailed(f"returned a {type(source).__name__}; expected the kernel's Python source as a str.")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        raise CaseFailed(f"the generated source is not valid Python: SyntaxError at line {exc.lineno}: `{line}` "
                         f"({exc.msg}). Print it and read it.") from None
    namespace = {"np": np, "math": math}
    exec(compile(tree, "<generated kernel>", "exec"), namespace)
    kernel = namespace.get("kernel")
    if not callable(kernel):
        raise CaseFailed("the generated source does not define a function named `kernel`.")
    return tree, kernel


def _structure(tree, arg_names, ndim) -> None:
    """One loop nest over the output, inputs read one element at a time."""
    loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))]
    if len(loops) > ndim:
        raise CaseFailed(f"the kernel has {len(loops)} loops for a {ndim}-dimensional output: one loop nest per "
                         "node (a temporary array per node) instead of one loop nest that computes the whole "
                         "expression per element. Generate the expression once, inside a single nest.")
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in arg_names and isinstance(node.ctx, ast.Load):
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.attr in ("shape", "ndim", "size", "strides", "dtype"):
                continue
            if not (isinstance(parent, ast.Subscript) and parent.value is node):
                raise CaseFailed(f"the kernel uses the whole array `{node.id}` (in `{ast.unparse(parent)}`): "
                                 "a fused kernel reads ONE element of each input per iteration of its loop nest, "
                                 f"`{node.id}[...]`, and whole-array operations make a temporary array per node, "
                                 "the memory traffic fusion removes.")
            index = parent.slice
            parts = index.elts if isinstance(index, ast.Tuple) else [index]
            if any(isinstance(p, ast.Slice) for p in parts):
                raise CaseFailed(f"the kernel slices `{ast.unparse(parent)}`: index one element per iteration "
                                 "instead (a slice is a whole-array operation, a temporary per node).")
    if len(loops) < ndim:
        raise CaseFailed(f"the kernel has {len(loops)} loop(s) for a {ndim}-dimensional output: write one `for` "
                         "per output dimension, over range(out.shape[k]).")


def _float64_in_numba(kernel, args) -> list[str]:
    import signal

    import numba

    jitted = numba.njit(kernel)
    # The first compile in a process takes about a second on a busy laptop: pause the case's time limit.
    remaining = signal.getitimer(signal.ITIMER_REAL)[0] if hasattr(signal, "getitimer") else 0.0
    if remaining:
        signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        jitted(*args)
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining)
    typemap = jitted.overloads[jitted.signatures[0]].type_annotation.typemap
    return sorted(name for name, t in typemap.items()
                  if str(t) == "float64" and name.startswith(("$binop", "$unary", "$inplace")))


def _source_case(description: str, build: Callable[[], list], dtype="float64", seed=0, numba_types=False,
                 previous: dict | None = None) -> Case:
    def run(fn):
        order = build()
        dt = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        inputs = _leaves_by_name(order)
        arrays = {name: (rng.standard_normal(n.shape) + 2.0).astype(dt) for name, n in inputs}
        given = list(order)
        before = _graph_state(order)
        source = fn(given)
        _expect_graph_unchanged(order, before)
        tree, kernel = _exec_kernel(source)
        if previous is not None:
            earlier = previous.get("source")
            previous["source"] = source
            if earlier is not None and earlier == source:
                raise CaseFailed("the same source as for the previous, different graph: the expression is "
                                 "hard-coded. Generate it from the nodes: walk `order` and build one string per "
                                 "node from its inputs' strings.")
        root = order[-1]
        defs = [d for d in tree.body if isinstance(d, ast.FunctionDef) and d.name == "kernel"]
        if defs:
            params = [arg.arg for arg in defs[0].args.args]
            expected = [name for name, _ in inputs] + ["out"]
            if params != expected:
                raise CaseFailed(f"the kernel's arguments are ({', '.join(params)}); expected the inputs' names in "
                                 f"sorted order, then out: ({', '.join(expected)}). The caller passes the arrays "
                                 "in that order.")
        _structure(tree, {name for name, _ in inputs} | {"out"}, len(root.shape))
        want = _ref_eval(order, arrays, dt)
        out = np.full(root.shape, np.nan, dt)
        args = [arrays[name] for name, _ in inputs] + [out]
        for a in args[:-1]:
            a.setflags(write=False)
        try:
            kernel(*args)
        except IndexError as exc:
            shapes = ", ".join(f"{name} {n.shape}" for name, n in inputs)
            raise CaseFailed(f"the kernel raised IndexError: {exc}. The inputs have their own shapes ({shapes}; "
                             f"out {root.shape}): an input with fewer dimensions is indexed by the LAST loop "
                             "indices only (aligned on the right), and a dimension of size 1 by 0 (a stride-0 "
                             "read: every output element reads the same value).") from None
        except TypeError as exc:
            if "positional argument" in str(exc):
                raise CaseFailed(f"calling kernel({', '.join(n for n, _ in inputs)}, out) raised TypeError: {exc}. "
                                 "The arguments are the inputs' names in sorted order, then out.") from None
            raise
        if not np.allclose(out, want, rtol=1e-5 if dt == np.float32 else 1e-12, atol=1e-6, equal_nan=False):
            hint = ""
            flat = _flat_source(order).replace("@", "")
            text = ast.unparse(tree)
            try:
                flat_vals = eval("lambda " + ", ".join(n for n, _ in inputs) + ": " + flat,
                                 {"np": np})(*[arrays[n] for n, _ in inputs])
                if np.allclose(np.broadcast_to(flat_vals, root.shape), out, rtol=1e-5, atol=1e-6):
                    hint = (" Hint: these are the values of the expression written without parentheses, "
                            f"`{flat}`: operator precedence changed it (a + b * c is not (a + b) * c). Put each "
                            "node's expression in parentheses, `(` + left + ` + ` + right + `)`.")
            except Exception:
                pass
            if not hint:
                for name, n in inputs:
                    if n.shape != root.shape and f"{name}[" in text:
                        hint = (f" Hint: check the index of `{name}`, shape {n.shape} against out {root.shape}: "
                                "its size-1 dimensions are indexed by 0 and a missing leading dimension not at "
                                "all.")
                        break
            bad = tuple(int(i) for i in np.argwhere(~np.isclose(out, want, rtol=1e-5, atol=1e-6))[0])
            raise CaseFailed(f"out differs at index {bad}: expected {want[bad].item()!r}, got {out[bad].item()!r} "
                             f"({int((~np.isclose(out, want, rtol=1e-5, atol=1e-6)).sum())} of {out.size} elements "
                             f"wrong).{hint}")
        if given != order:
            raise CaseFailed("your function changed the list `order` it was given; leave it as it is.")
        if numba_types:
            found = _float64_in_numba(kernel, [np.array(a) for a in args[:-1]] + [np.empty_like(out)])
            if found:
                raise CaseFailed("the values are right here, but compiled with Numba your float32 kernel computes "
                                 f"in float64 ({len(found)} float64 operation(s)): a bare literal such as 0.5 is a "
                                 "float64 in Numba and promotes every operation it touches (slower, and other "
                                 "rounding). Write each constant in the graph's dtype: np.float32(0.5), i.e. "
                                 "f\"np.{dtype}({value!r})\".")
    return Case(description, run)


def _e_precedence(dtype="float64"):
    a, b, c = (_inp(n, (6,), dtype) for n in "abc")
    s = Node("add", (a, b), (6,), dtype)
    return [a, b, s, c, Node("mul", (s, c), (6,), dtype)]


def _e_sub_chain():
    a, b, c = (_inp(n, (3, 5)) for n in "abc")
    d = Node("sub", (b, c), (3, 5))
    e = Node("sub", (a, d), (3, 5))
    f = Node("div", (e, Node("neg", (a,), (3, 5))), (3, 5))
    return [a, b, c, d, e, f._inputs[1], f]


def _e_broadcast():
    x = _inp("x", (4, 5))
    row = _inp("row", (1, 5))
    col = _inp("col", (4, 1))
    v = _inp("v", (5,))
    m = Node("mul", (x, row), (4, 5))
    s = Node("add", (m, col), (4, 5))
    out = Node("sub", (s, v), (4, 5))
    return [x, row, m, col, s, v, out]


def _e_consts(dtype, small=0.1, big=3.0):
    def build():
        a, b = _inp("a", (7,), dtype), _inp("b", (7,), dtype)
        half = Node("const", (), (), dtype, value=small)
        three = Node("const", (), (), dtype, value=big)
        m = Node("mul", (a, half), (7,), dtype)
        s = Node("add", (m, b), (7,), dtype)
        d = Node("div", (s, three), (7,), dtype)
        return [a, half, m, b, s, three, d]
    return build


def _e_exp():
    x, y = _inp("x", (2, 3)), _inp("y", (3,))
    e = Node("exp", (Node("neg", (x,), (2, 3)),), (2, 3))
    mx = Node("maximum", (e, y), (2, 3))
    return [x, e._inputs[0], e, y, mx]


def elementwise_source(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `elementwise_source(order) -> str`: the Python source of
    `def kernel(<input names sorted>, out):` with one loop nest over out's shape that
    computes the graph's expression per element (parenthesised), each input indexed by the
    right-aligned loop indices with 0 on its size-1 dimensions, constants written in the
    graph's dtype (`np.float32(0.5)`). The checker execs the source and runs the kernel in
    Python, and compiles the float32 one with Numba to check its types."""
    previous: dict = {}
    cases = [
        _source_case("(a + b) * c", _e_precedence, previous=previous),
        _source_case("(a - (b - c)) / -a over a (3, 5) output", _e_sub_chain, previous=previous),
        _source_case("x * row + col - v: inputs of shapes (4, 5), (1, 5), (4, 1), (5,)", _e_broadcast,
                     previous=previous),
        _source_case("np.maximum(exp(-x), y) with y of shape (3,)", _e_exp, previous=previous),
        _source_case("(a * 0.1 + b) / 3.0 in float64", _e_consts("float64"), previous=previous),
        _source_case("(a * 0.3 + b) / 7.0 in float32, compiled with Numba", _e_consts("float32", 0.3, 7.0),
                     dtype="float32",
                     numba_types=True, previous=previous),
    ]
    return run_cases("elementwise_source", fn, cases, show=show)


# ============================================================================ 5. cse

def _ref_cse(order: list[Node]) -> dict:
    rep, seen = {}, {}
    for n in order:
        if n.op == "input":
            rep[n] = n
            continue
        ins = [id(rep[i]) for i in n._inputs]
        if n.op in COMMUTATIVE:
            ins = sorted(ins)
        key = (n.op, tuple(ins), tuple(sorted((k, repr(v)) for k, v in n.attrs.items())), n.shape, n.dtype)
        rep[n] = seen.setdefault(key, n)
    return rep


def _cse_case(description: str, build: Callable[[], tuple[list, dict]], time_limit: float | None = None) -> Case:
    def run(fn):
        order, names = build()
        given = list(order)
        before = _graph_state(order)
        got = fn(given)
        _expect_graph_unchanged(order, before)
        if got is None:
            raise CaseFailed("the function returned None; expected a dict {node: representative} (did you forget "
                             "`return`?).")
        if not isinstance(got, dict):
            raise CaseFailed(f"returned a {type(got).__name__}; expected a dict mapping every node of the order to "
                             "its representative node.")
        if given != order:
            raise CaseFailed("your function changed the list `order` it was given; leave it as it is.")
        missing = [n for n in order if n not in got]
        if missing:
            raise CaseFailed(f"the node {_name(missing[0], names)} is not a key of the dict: map EVERY node of the "
                             "order, a node without a duplicate to itself.")
        want = _ref_cse(order)
        for n in order:
            g, w = got[n], want[n]
            if g is w:
                continue
            if not isinstance(g, Node):
                raise CaseFailed(f"{_name(n, names)} maps to {g!r}; expected a Node of the order.")
            gn, wn, nn = _name(g, names), _name(w, names), _name(n, names)
            if w is n and isinstance(g, Node) and g in want and want[g] is w:
                raise CaseFailed(f"{nn} maps to {gn}, an equal node later in the order. Hint: the representative "
                                 f"of a group of equal nodes is the FIRST of them in the order, {wn}, so that "
                                 "every user (which comes later) can be pointed at it.")
            if w is n:
                hint = ""
                if n.op == "input":
                    hint = ("two inputs are different arrays even with the same name and shape: an input is its "
                            "own representative (compare nodes by identity, `is`, never by value).")
                elif g.op == n.op and [want[i] for i in g._inputs] == [want[i] for i in n._inputs]:
                    hint = (f"their attributes differ ({g.attrs} vs {n.attrs}): the key must include the op's "
                            "attributes (a reduction's axis, a constant's value).")
                elif g.op == n.op and n.op not in COMMUTATIVE and sorted(map(id, (want[i] for i in g._inputs))) == \
                        sorted(map(id, (want[i] for i in n._inputs))):
                    hint = (f"'{n.op}' is not commutative: a - b is not b - a, so the inputs' order is part of the "
                            "key (sort the inputs only for add, mul and maximum).")
                elif g.op == n.op:
                    hint = ("they have the same op but different inputs: the key is (op, attributes, the "
                            "representatives of the inputs), not the op alone.")
                raise CaseFailed(f"{nn} was merged into {gn}, but they are different computations." +
                                 (f" Hint: {hint}" if hint else ""))
            hint = ""
            if g is n:
                if n.op == "const":
                    hint = "two constants of equal value and dtype are the same value: merge them."
                elif n.op in COMMUTATIVE and [want[i] for i in n._inputs] != [want[i] for i in w._inputs]:
                    hint = (f"'{n.op}' is commutative: {nn} and {wn} have the same inputs in the other order; sort "
                            "the inputs' keys for add, mul and maximum.")
                elif any(want[i] is not i for i in n._inputs):
                    hint = ("its inputs are duplicates that were merged: build each key from the inputs' "
                            "REPRESENTATIVES, in topological order, so that merging propagates to the users in "
                            "one pass.")
            else:
                hint = (f"the representative of a group of equal nodes is the FIRST of them in the order, "
                        f"{wn}.") if g in want and want[g] is w else ""
            raise CaseFailed(f"{nn} should map to {wn} (the same op, attributes and inputs), got {gn}." +
                             (f" Hint: {hint}" if hint else ""))
    return Case(description, run, time_limit)


def _c_basic():
    a, b = _inp("a"), _inp("b")
    x1 = Node("mul", (a, b), (4,))
    x2 = Node("mul", (a, b), (4,))
    y1 = Node("exp", (x1,), (4,))
    y2 = Node("exp", (x2,), (4,))
    z = Node("add", (y1, y2), (4,))
    sq = Node("mul", (a, a), (4,))
    return [a, b, x1, sq, x2, y1, y2, z], {a: "a", b: "b", x1: "a*b (first)", sq: "a*a", x2: "a*b (second)",
                                           y1: "exp (first)", y2: "exp (second)", z: "sum"}


def _c_ops():
    a, b = _inp("a"), _inp("b")
    s = Node("sub", (a, b), (4,))
    t = Node("sub", (b, a), (4,))
    m = Node("mul", (a, b), (4,))
    n = Node("mul", (b, a), (4,))
    ad = Node("add", (a, b), (4,))
    out = Node("add", (Node("add", (s, t), (4,)), Node("add", (m, n), (4,))), (4,))
    o1, o2 = out._inputs
    return [a, b, s, t, m, n, ad, o1, o2, out], {a: "a", b: "b", s: "a-b", t: "b-a", m: "a*b", n: "b*a",
                                                   ad: "a+b", o1: "(a-b)+(b-a)", o2: "a*b+b*a", out: "out"}


def _c_attrs():
    x = _inp("x", (3, 4))
    s0 = Node("sum", (x,), (1, 4), axis=0)
    s1 = Node("sum", (x,), (3, 1), axis=1)
    s1b = Node("sum", (x,), (3, 1), axis=1)
    c2 = Node("const", (), (), value=2.0)
    c3 = Node("const", (), (), value=3.0)
    c2b = Node("const", (), (), value=2.0)
    return [x, s0, s1, s1b, c2, c3, c2b], {x: "x", s0: "sum(axis=0)", s1: "sum(axis=1)", s1b: "sum(axis=1) again",
                                           c2: "2.0", c3: "3.0", c2b: "2.0 again"}


def _c_inputs():
    a, a2 = _inp("a"), _inp("a")
    e1, e2 = Node("exp", (a,), (4,)), Node("exp", (a2,), (4,))
    return [a, a2, e1, e2], {a: "input a", a2: "another input named a", e1: "exp(a)", e2: "exp(other a)"}


def _c_deep():
    """18002 nodes: 3000 layers, each computing its products twice (a third of the nodes merge)."""
    x, y = _inp("x"), _inp("y")
    order = [x, y]
    p, q = x, y
    for _ in range(3000):
        first = Node("mul", (p, q), (4,))
        second = Node("mul", (p, q), (4,))
        e1, e2 = Node("exp", (first,), (4,)), Node("exp", (second,), (4,))
        order += [first, second, e1, e2]
        p, q = Node("add", (e1, first), (4,)), Node("sub", (e2, second), (4,))
        order += [p, q]
    return order, {}


def _c_diamond():
    out = _diamond_chain(60)
    return _reachable(out), {}


def cse(fn: Callable, *, show: bool = True) -> CheckResult:
    """Check `cse(order) -> dict`: map every node of a topological order to its
    representative, the first node in the order with the same op, attributes, shape, dtype
    and (already deduplicated) inputs; the inputs' order counts except for add, mul and
    maximum; an "input" node is only ever its own representative; in linear time."""
    cases = [
        _cse_case("a * b twice and exp of each: the users of merged nodes merge too", _c_basic),
        _cse_case("a - b, b - a, a * b, b * a", _c_ops),
        _cse_case("reductions over different axes, constants 2.0, 3.0 and 2.0", _c_attrs),
        _cse_case("two different inputs with the same name and shape", _c_inputs),
        _cse_case("a chain of 60 diamonds (no duplicates; 2**60 paths, so a key nested from "
                  "its inputs' keys is hashed exponentially often)", _c_diamond, time_limit=3.0),
        _cse_case("18002 nodes, 3000 layers deep, a third of them duplicates (comparing every "
                  "pair of nodes is too slow: look keys up in a dict)", _c_deep, time_limit=3.0),
    ]
    return run_cases("cse", fn, cases, show=show)
