"""Chapter 09 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet", and plausible wrong answers get a fail whose message names
the real mistake (the expected words): inclusive or doubly subtracted profiler times, ties
and touching events mis-nested, a quadratic profiler, aliasing buffer pools, the wrong
ReLU mask or layout in a fused backward, and needed-gradients pruning that prunes nothing,
recurses or walks exponentially."""
import numpy as np
import pytest

from fastgrad.check import ch09


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


class StubPool:
    def __init__(self):
        raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers (as in solutions/09)

def self_times(events):
    time, calls = {}, {}
    open_ = []
    for name, start, end in sorted(events, key=lambda e: (e[1], -e[2])):
        while open_ and open_[-1][1] <= start:
            open_.pop()
        d = end - start
        time[name] = time.get(name, 0.0) + d
        calls[name] = calls.get(name, 0) + 1
        if open_:
            time[open_[-1][0]] -= d
        open_.append((name, end))
    return {n: (time[n], calls[n]) for n in time}


class Pool:
    def __init__(self):
        self.free = {}
        self.out = {}

    def get(self, shape, dtype=np.float64):
        key = ((shape,) if isinstance(shape, int) else tuple(int(s) for s in shape), np.dtype(dtype))
        free = self.free.get(key)
        a = free.pop() if free else np.empty(*key)
        self.out[id(a)] = a
        return a

    def release(self, a):
        if self.out.get(id(a)) is not a:
            raise ValueError("not handed out by this pool, or released already")
        del self.out[id(a)]
        self.free.setdefault((a.shape, a.dtype), []).append(a)


def linear_relu_backward(g, x, w, b):
    gz = g * (x @ w.T + b > 0)
    return gz @ w, gz.T @ x, gz.sum(axis=0)


def _topo(loss):
    order, done, stack = [], set(), [(loss, False)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((i, False) for i in node.inputs if i not in done)
    return order


def needed_inputs(loss, requires_grad):
    needs, result = {}, {}
    for node in _topo(loss):
        if node.op == "input":
            needs[node] = node in requires_grad
        else:
            flags = tuple(needs[i] for i in node.inputs)
            needs[node] = any(flags)
            if needs[node]:
                result[node] = flags
    return result


REFERENCES = {"self_times": self_times, "pool": Pool, "linear_relu_backward": linear_relu_backward,
              "needed_inputs": needed_inputs}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch09, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch09, name)(StubPool if name == "pool" else stub, show=False)
    assert result.status == "todo", result.message
    assert "not implemented yet" in result.message


def test_pool_with_stubbed_methods_is_todo():
    class Half(Pool):
        def release(self, a):
            raise NotImplementedError("Exercise")
    assert ch09.pool(Half, show=False).status == "todo"


def test_checker_prints_its_verdict(capsys):
    ch09.linear_relu_backward(linear_relu_backward)
    assert "linear_relu_backward: all" in capsys.readouterr().out


def test_every_checker_is_exported():
    assert set(REFERENCES) | {"Node"} == set(ch09.__all__)


# ------------------------------------------------------------------ 1. self_times, wrong answers

def _st_variant(*, inclusive=False, all_ancestors=False, unsorted=False, strict=False, drop_zero=False,
                count_top_only=False):
    def fn(events):
        time, calls, open_ = {}, {}, []
        for name, start, end in (events if unsorted else sorted(events, key=lambda e: (e[1], -e[2]))):
            if drop_zero and start == end:
                continue
            while open_ and (open_[-1][1] < start if strict else open_[-1][1] <= start):
                open_.pop()
            d = end - start
            time[name] = time.get(name, 0.0) + d
            if not (count_top_only and open_):
                calls[name] = calls.get(name, 0) + 1
            else:
                calls.setdefault(name, 0)
            if not inclusive:
                for parent, _ in (open_ if all_ancestors else open_[-1:]):
                    time[parent] -= d
            open_.append((name, end))
        return {n: (time[n], calls[n]) for n in time}
    return fn


def _st_sorted_in_place(events):
    events.sort(key=lambda e: (e[1], -e[2]))
    return self_times(events)


def _st_shorter_first(events):
    """Sorted by (start, end): at a tie the shorter (inner) event comes first."""
    time, calls, open_ = {}, {}, []
    for name, start, end in sorted(events, key=lambda e: (e[1], e[2])):
        while open_ and open_[-1][1] <= start:
            open_.pop()
        time[name] = time.get(name, 0.0) + (end - start)
        calls[name] = calls.get(name, 0) + 1
        if open_:
            time[open_[-1][0]] -= end - start
        open_.append((name, end))
    return {n: (time[n], calls[n]) for n in time}


def _st_quadratic(events):
    """Correct, but finds each event's parent by scanning back over all earlier events."""
    ordered = sorted(events, key=lambda e: (e[1], -e[2]))
    time, calls = {}, {}
    for i, (name, start, end) in enumerate(ordered):
        d = end - start
        time[name] = time.get(name, 0.0) + d
        calls[name] = calls.get(name, 0) + 1
        for pname, pstart, pend in reversed(ordered[:i]):
            if pstart <= start and end <= pend and (pstart, pend) != (start, end) and not pend <= start:
                time[pname] -= d
                break
    return {n: (time[n], calls[n]) for n in time}


def _st_float32(events):
    """Times stored as float32 (e.g. np.array(times, np.float32)): near 12345 s, a step of about 1 ms."""
    return self_times([(n, float(np.float32(s)), float(np.float32(e))) for n, s, e in events])


SELF_TIMES_WRONG = [
    ("inclusive time", _st_variant(inclusive=True), ["inclusive time"]),
    ("all descendants subtracted", _st_variant(all_ancestors=True), ["every event that encloses it", "twice"]),
    ("ties in the given order", _st_variant(unsorted=True), ["ends LATER", "(start, -end)"]),
    ("ties sorted shorter first", _st_shorter_first, ["ends LATER", "(start, -end)"]),
    ("touching events nested", _st_variant(strict=True), ["sibling", "end <= the new start"]),
    ("zero-length events dropped", _st_variant(drop_zero=True), ["zero-length event is a call"]),
    ("nested calls not counted", _st_variant(count_top_only=True), ["calls", "nested ones included"]),
    ("sorted in place", _st_sorted_in_place, ["changed the list", "sorted(events"]),
    ("quadratic parent search", _st_quadratic, ["did not finish within 10 s"]),
    ("float32 times", _st_float32, ["wrong self times", "float32 has a resolution"]),
    ("a list of pairs", lambda ev: list(self_times(ev).items()), ["expected a dict"]),
    ("times only", lambda ev: {n: t for n, (t, c) in self_times(ev).items()}, ["expected a pair"]),
    ("float counts", lambda ev: {n: (t, float(c)) for n, (t, c) in self_times(ev).items()}, ["expected an int"]),
    ("forgot return", lambda ev: None, ["returned None"]),
]


# ------------------------------------------------------------------ 2. Pool, wrong answers

class _BySize(Pool):
    """Free lists keyed by the number of bytes; a free buffer is served as it is."""
    def get(self, shape, dtype=np.float64):
        key = np.empty(shape, dtype).nbytes
        free = self.free.get(key)
        a = free.pop() if free else np.empty(shape, dtype)
        self.out[id(a)] = a
        return a

    def release(self, a):
        if self.out.pop(id(a), None) is not a:
            raise ValueError("not from this pool")
        self.free.setdefault(a.nbytes, []).append(a)


class _BySizeReshaped(_BySize):
    """Keyed by bytes, the free buffer reshaped and re-viewed to the requested shape and dtype."""
    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)
        if a.shape == np.empty(shape, dtype).shape and a.dtype == dtype:
            return a
        del self.out[id(a)]
        v = a.reshape(-1).view(dtype).reshape(shape)
        self.out[id(v)] = v
        return v


class _AcceptsForeign(Pool):
    def release(self, a):
        self.out.pop(id(a), None)
        self.free.setdefault((a.shape, a.dtype), []).append(a)


class _AcceptsViews(Pool):
    """Refuses arrays that share no memory with a handed-out buffer: views pass."""
    def release(self, a):
        for b in list(self.out.values()):
            if np.shares_memory(a, b):
                self.out.pop(id(a), None)
                self.free.setdefault((a.shape, a.dtype), []).append(a)
                return
        raise ValueError("not from this pool")


class _AcceptsDoubleRelease(Pool):
    """Checks that the array was handed out at some time, not that it is out now."""
    def __init__(self):
        super().__init__()
        self.ever = {}

    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)
        self.ever[id(a)] = a
        return a

    def release(self, a):
        if self.ever.get(id(a)) is not a:
            raise ValueError("not from this pool")
        self.out.pop(id(a), None)
        self.free.setdefault((a.shape, a.dtype), []).append(a)


class _NoReuse(Pool):
    def get(self, shape, dtype=np.float64):
        a = np.empty(shape, dtype)
        self.out[id(a)] = a
        return a


class _OneBuffer(Pool):
    """Every get returns the same cached buffer of its key: aliasing."""
    def get(self, shape, dtype=np.float64):
        key = (tuple(np.atleast_1d(shape)) if not isinstance(shape, int) else (shape,), np.dtype(dtype))
        if key not in self.free:
            self.free[key] = [np.empty(*key)]
        a = self.free[key][0]
        self.out[id(a)] = a
        return a

    def release(self, a):
        pass


class _RawKeys(Pool):
    """Keys are the arguments as given: 5 and (5,) differ, a list is unhashable."""
    def get(self, shape, dtype=np.float64):
        free = self.free.get((shape, dtype))
        a = free.pop() if free else np.empty(shape, dtype)
        self.out[id(a)] = (a, (shape, dtype))
        return a

    def release(self, a):
        entry = self.out.pop(id(a), None)
        if entry is None or entry[0] is not a:
            raise ValueError("not from this pool")
        self.free.setdefault(entry[1], []).append(a)


class _ListMembership(Pool):
    def __init__(self):
        super().__init__()
        self.handed = []

    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)
        self.handed.append(a)
        return a

    def release(self, a):
        if a not in self.handed:                       # elementwise ==: ambiguous truth value
            raise ValueError("not from this pool")
        self.handed.remove(a)
        super().release(a)


class _ViewsByShape(Pool):
    """Accepts any array whose shape and dtype match a handed-out buffer that shares its memory."""
    def release(self, a):
        for b in list(self.out.values()):
            if b.shape == a.shape and b.dtype == a.dtype and np.shares_memory(a, b):
                del self.out[id(b)]
                self.free.setdefault((a.shape, a.dtype), []).append(a)
                return
        raise ValueError("not from this pool")


class _TypeErrorRefusal(Pool):
    def release(self, a):
        if self.out.get(id(a)) is not a:
            raise TypeError("not from this pool")
        super().release(a)


class _CopyOnGet(Pool):
    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)
        c = a.copy()
        del self.out[id(a)]
        self.out[id(c)] = c
        return c


class _ViewOnGet(Pool):
    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)[...]
        return a

    def release(self, a):
        base = a.base
        if self.out.get(id(base)) is not base:
            raise ValueError("not from this pool")
        del self.out[id(base)]
        self.free.setdefault((a.shape, a.dtype), []).append(base)


class _Fifo(Pool):
    """A FIFO free list that also allocates anew now and then although a buffer is free."""
    def __init__(self):
        super().__init__()
        self.calls = 0

    def get(self, shape, dtype=np.float64):
        self.calls += 1
        if self.calls % 7 == 0:
            a = np.empty(shape, dtype)
            self.out[id(a)] = a
            return a
        return super().get(shape, dtype)


class _Fortran(Pool):
    def get(self, shape, dtype=np.float64):
        a = super().get(shape, dtype)
        if a.ndim == 2 and a.flags.c_contiguous and min(a.shape) > 1:
            f = np.asfortranarray(a)
            del self.out[id(a)]
            self.out[id(f)] = f
            return f
        return a


POOL_WRONG = [
    ("every get allocates", _NoReuse, ["does not reuse"]),
    ("one buffer per key, never out", _OneBuffer, ["same array", "aliasing"]),
    ("keyed by nbytes", _BySize, ["(3, 2)", "expected exactly shape"]),
    ("keyed by nbytes, reshaped and re-viewed", _BySizeReshaped, ["one free list per (shape, dtype)"]),
    ("keyed by the raw arguments", _RawKeys, ["Normalise the key"]),
    ("foreign arrays accepted", _AcceptsForeign, ["did not hand out"]),
    ("views accepted", _AcceptsViews, ["a view", "identity"]),
    ("views of the same shape accepted", _ViewsByShape, ["a view", "identity"]),
    ("double release accepted", _AcceptsDoubleRelease, ["double release"]),
    ("`a in list`", _ListMembership, ["elementwise", "identity"]),
    ("TypeError on refusal", _TypeErrorRefusal, ["raise a ValueError"]),
    ("a copy on get", _CopyOnGet, ["does not reuse"]),
    ("a view on get", _ViewOnGet, ["a view of the released buffer"]),
    ("allocates although a buffer is free", _Fifo, ["were free"]),
    ("Fortran order", _Fortran, ["C-contiguous"]),
]


def test_pool_checker_wants_the_class():
    result = ch09.pool(Pool(), show=False)
    assert result.status == "fail" and "the class Pool itself" in result.message


# ------------------------------------------------------------------ 3. linear_relu_backward, wrong answers

def _lr(mask="z", use_b=True, dx_mask=True, dw_mask=True, db_mask=True, dw_t=False, db_axis=0, promote=False,
        in_place=False):
    def fn(g, x, w, b):
        z = x @ w.T + (b if use_b else 0)
        if mask == "z":
            m = z > 0
        elif mask == "z>=0":
            m = z >= 0
        elif mask == "y>=0":
            m = np.maximum(z, 0) >= 0
        else:
            m = g > 0
        if in_place:
            g *= m
            gz = g
        elif promote:
            gz = g * m.astype(np.float64)
        else:
            gz = g * m
        dx = (gz if dx_mask else g) @ w
        dw = (gz if dw_mask else g).T @ x
        if dw_t:
            dw = np.ascontiguousarray(dw.T) if dw.shape[0] == dw.shape[1] else dw
        db = (gz if db_mask else g).sum(axis=db_axis) if db_axis is not None else gz
        return dx, dw, db
    return fn


def _lr_dw_shape(g, x, w, b):
    gz = g * (x @ w.T + b > 0)
    return gz @ w, x.T @ gz, gz.sum(axis=0)


def _lr_keepdims(g, x, w, b):
    gz = g * (x @ w.T + b > 0)
    return gz @ w, gz.T @ x, gz.sum(axis=0, keepdims=True)


def _lr_returns_g(g, x, w, b):
    dx, dw, db = linear_relu_backward(g, x, w, b)
    return (g if g.shape == dx.shape else dx), dw, db


def _lr_float64_inputs(g, x, w, b):
    return linear_relu_backward(*(a.astype(np.float64) for a in (g, x, w, b)))


def _lr_numba_contiguous_only(g, x, w, b):
    if not (x.flags.c_contiguous and w.flags.c_contiguous and g.flags.c_contiguous):
        raise ValueError("ndarray is not C-contiguous")
    return linear_relu_backward(g, x, w, b)


def _lr_lists(g, x, w, b):
    return [a.tolist() for a in linear_relu_backward(g, x, w, b)]


LR_WRONG = [
    ("mask from g", _lr(mask="g"), ["not from g"]),
    ("mask from y >= 0", _lr(mask="y>=0"), ["no mask", "y >= 0"]),
    ("mask z >= 0", _lr(mask="z>=0"), ["relu'(0) = 0", "z > 0"]),
    ("b ignored", _lr(use_b=False), ["b was left out"]),
    ("dx without the mask", _lr(dx_mask=False), ["mask is missing on dx"]),
    ("db without the mask", _lr(db_mask=False), ["mask is missing on db"]),
    ("dw without the mask", _lr(dw_mask=False), ["mask is missing on dw"]),
    ("dw of shape (in, out)", _lr_dw_shape, ["dw transposed", "(out, in)"]),
    ("dw transposed values", _lr(dw_t=True), ["dw transposed"]),
    ("db over axis 1", _lr(db_axis=1), ["wrong axis"]),
    ("db not summed", _lr(db_axis=None), ["not summed"]),
    ("db kept 2-D", _lr_keepdims, ["keepdims"]),
    ("float64 mask", _lr(promote=True), ["dtype float64", "promoted"]),
    ("float64 computation", _lr_float64_inputs, ["dtype float64"]),
    ("g masked in place", _lr(in_place=True), ["wrote into one of its inputs"]),
    ("dx is g", _lr_returns_g, ["shares memory with an input"]),
    ("contiguous inputs only", _lr_numba_contiguous_only, ["non-contiguous", "C-contiguous"]),
    ("lists", _lr_lists, ["expected a NumPy array"]),
    ("a pair", lambda g, x, w, b: linear_relu_backward(g, x, w, b)[:2], ["expected a tuple (dx, dw, db)"]),
    ("forgot return", lambda g, x, w, b: None, ["returned None"]),
]


# ------------------------------------------------------------------ 4. needed_inputs, wrong answers

def _ni_no_pruning(loss, requires_grad):
    needs = {}
    result = {}
    for node in _topo(loss):
        needs[node] = node in requires_grad if node.op == "input" else any(needs[i] for i in node.inputs)
        if node.op != "input":
            result[node] = tuple(needs[i] for i in node.inputs)
    return result


def _ni_all_true(loss, requires_grad):
    return {n: (True,) * len(t) for n, t in needed_inputs(loss, requires_grad).items()}


def _ni_with_leaves(loss, requires_grad):
    result = needed_inputs(loss, requires_grad)
    result.update({leaf: () for leaf in requires_grad})
    return result


def _ni_recursive_memo(loss, requires_grad):
    needs, result = {}, {}

    def visit(node):
        if node in needs:
            return needs[node]
        if node.op == "input":
            needs[node] = node in requires_grad
            return needs[node]
        flags = tuple(visit(i) for i in node.inputs)
        needs[node] = any(flags)
        if needs[node]:
            result[node] = flags
        return needs[node]
    visit(loss)
    return result


def _ni_recursive_no_memo(loss, requires_grad):
    result = {}

    def visit(node):
        if node.op == "input":
            return node in requires_grad
        flags = tuple(visit(i) for i in node.inputs)
        if any(flags):
            result[node] = flags
        return any(flags)
    visit(loss)
    return result


def _ni_exponential_hidden(loss, requires_grad):
    """Exponential without reading `.inputs` (so only the time limit can stop it)."""
    import sys
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    result = {}

    def visit(node):
        if node.op == "input":
            return node in requires_grad
        flags = tuple(visit(i) for i in node._inputs)
        if any(flags):
            result[node] = flags
        return any(flags)
    visit(loss)
    return result


def _ni_distinct_inputs(loss, requires_grad):
    result = needed_inputs(loss, requires_grad)
    return {n: tuple(v for k, (i, v) in enumerate(zip(n.inputs, t)) if i not in n.inputs[:k])
            for n, t in result.items()}


def _ni_first_use_only(loss, requires_grad):
    out = {}
    for n, t in needed_inputs(loss, requires_grad).items():
        seen = set()
        flags = []
        for i, v in zip(n.inputs, t):
            flags.append(v and i not in seen)
            seen.add(i)
        out[n] = tuple(flags)
    return out


def _ni_marks_nodes(loss, requires_grad):
    result = needed_inputs(loss, requires_grad)
    for n in result:
        n.needed = True
    return result


def _ni_grows_the_set(loss, requires_grad):
    for node in _topo(loss):
        if node.op != "input" and any(i in requires_grad for i in node.inputs):
            requires_grad.add(node)
    return {n: tuple(i in requires_grad for i in n.inputs) for n in _topo(loss)
            if n.op != "input" and n in requires_grad}


def _ni_lists(loss, requires_grad):
    return {n: list(t) for n, t in needed_inputs(loss, requires_grad).items()}


def _ni_ints(loss, requires_grad):
    return {n: tuple(int(v) for v in t) for n, t in needed_inputs(loss, requires_grad).items()}


NI_WRONG = [
    ("no pruning", _ni_no_pruning, ["need not run", "nothing was pruned"]),
    ("all-True tuples", _ni_all_true, ["is True", "all True"]),
    ("leaves in the result", _ni_with_leaves, ["leaf", "no backward"]),
    ("recursive with memo", _ni_recursive_memo, ["RecursionError", "explicit"]),
    ("recursive without memo", _ni_recursive_no_memo, ["once per PATH", "exponential"]),
    ("exponential, inputs not counted", _ni_exponential_hidden, ["did not finish within 3 s", "once per path"]),
    ("one entry per distinct input", _ni_distinct_inputs, ["x * x", "one entry per input"]),
    ("a second use marked False", _ni_first_use_only, ["each use gets its own entry"]),
    ("attributes on nodes", _ni_marks_nodes, ["changed the graph"]),
    ("requires_grad grown", _ni_grows_the_set, ["changed the set"]),
    ("ints", _ni_ints, ["tuple of bools"]),
    ("a list of nodes", lambda loss, rg: list(needed_inputs(loss, rg)), ["expected a dict"]),
    ("forgot return", lambda loss, rg: None, ["returned None"]),
]


WRONG = ([(ch09.self_times, fn, words, f"self_times: {name}") for name, fn, words in SELF_TIMES_WRONG]
         + [(ch09.pool, fn, words, f"pool: {name}") for name, fn, words in POOL_WRONG]
         + [(ch09.linear_relu_backward, fn, words, f"linear_relu: {name}") for name, fn, words in LR_WRONG]
         + [(ch09.needed_inputs, fn, words, f"needed: {name}") for name, fn, words in NI_WRONG])


@pytest.mark.parametrize("checker, fn, words", [w[:3] for w in WRONG], ids=[w[3] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, fn, words):
    result = checker(fn, show=False)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _st_intervals(events):
    """A stack of [name, end, child time] entries, each event's self time settled when it closes."""
    totals = {}
    stack = []

    def close():
        name, start, end, inner = stack.pop()
        t, c = totals.get(name, (0.0, 0))
        totals[name] = (t + (end - start) - inner, c + 1)
    for name, start, end in sorted(events, key=lambda e: (e[1], -e[2])):
        while stack and stack[-1][2] <= start:
            close()
        if stack:
            stack[-1][3] += end - start
        stack.append([name, start, end, 0.0])
    while stack:
        close()
    return totals


def _st_numpy_lists(events):
    order = sorted(range(len(events)), key=lambda i: (events[i][1], -events[i][2]))
    own = {}
    calls = {}
    stack = []
    for i in order:
        name, start, end = events[i]
        while stack and events[stack[-1]][2] <= start:
            stack.pop()
        own[name] = own.get(name, 0.0) + (end - start)
        calls[name] = calls.get(name, 0) + 1
        if stack:
            parent = events[stack[-1]][0]
            own[parent] -= end - start
        stack.append(i)
    return {n: [np.float64(own[n]), np.int64(calls[n])] for n in own}


class _PoolWithDeque(Pool):
    """FIFO free lists and a set of handed-out ids."""
    def __init__(self):
        from collections import defaultdict, deque
        self.free = defaultdict(deque)
        self.out = {}

    def get(self, shape, dtype=np.float64):
        shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
        free = self.free[shape, np.dtype(dtype)]
        a = free.popleft() if free else np.empty(shape, dtype)
        self.out[id(a)] = a
        return a


def _lr_where(g, x, w, b):
    z = np.matmul(x, w.T)
    z += b
    gz = np.where(z > 0, g, 0)
    return np.dot(gz, w), np.dot(gz.T, x), np.add.reduce(gz, axis=0)


def _lr_einsum(g, x, w, b):
    z = np.einsum("ni,oi->no", x, w) + b
    gz = g * (z > 0)
    return np.einsum("no,oi->ni", gz, w), np.einsum("no,ni->oi", gz, x), gz.sum(0)


def _ni_kahn(loss, requires_grad):
    """Forward from the leaves: users lists, then a queue from the required leaves."""
    nodes = _topo(loss)
    users = {n: [] for n in nodes}
    for n in nodes:
        for i in set(n.inputs):
            users[i].append(n)
    needed = {n for n in nodes if n.op == "input" and n in requires_grad}
    queue = list(needed)
    while queue:
        n = queue.pop()
        for u in users[n]:
            if u not in needed:
                needed.add(u)
                queue.append(u)
    return {n: tuple(i in needed for i in n.inputs) for n in nodes if n.op != "input" and n in needed}


RIGHT = [
    (ch09.self_times, _st_intervals, "self_times: child time settled on close"),
    (ch09.self_times, _st_numpy_lists, "self_times: indices, numpy scalars in lists"),
    (ch09.pool, _PoolWithDeque, "pool: FIFO deques"),
    (ch09.linear_relu_backward, _lr_where, "linear_relu: np.where and dot"),
    (ch09.linear_relu_backward, _lr_einsum, "linear_relu: einsum"),
    (ch09.needed_inputs, _ni_kahn, "needed: users lists and a queue from the leaves"),
]


@pytest.mark.parametrize("checker, fn", [r[:2] for r in RIGHT], ids=[r[2] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, fn):
    result = checker(fn, show=False)
    assert result.status == "pass", result.message


# ------------------------------------------------------------------ the checkers' own pieces

def _brute_self_times(events):
    """Quadratic definition: the direct parent is the smallest enclosing event."""
    ordered = sorted(events, key=lambda e: (e[1], -e[2]))
    out = {}
    for i, (name, start, end) in enumerate(ordered):
        t, c = out.get(name, (0.0, 0))
        out[name] = (t + end - start, c + 1)
        parents = [j for j in range(i) if ordered[j][1] <= start and end <= ordered[j][2] and ordered[j][2] > start]
        if parents:
            p = max(parents)
            pt, pc = out[ordered[p][0]]
            out[ordered[p][0]] = (pt - (end - start), pc)
    return out


@pytest.mark.parametrize("seed", [1, 5, 11])
def test_reference_self_times_matches_the_definition(seed):
    events = ch09._random_trace(seed, 20, 4, 4, offset=3.0)
    want, got = _brute_self_times(events), ch09._ref_self_times(events)
    assert want.keys() == got.keys()
    for k in want:
        assert want[k][1] == got[k][1] and abs(want[k][0] - got[k][0]) < 1e-9


def test_random_trace_has_ties_zero_lengths_and_touching_events():
    events = ch09._random_trace(1, 30, 4, 4, offset=12345.678)
    starts = [e[1] for e in events]
    assert starts == sorted(starts)
    assert any(a[1] == b[1] for a, b in zip(events, events[1:]))                  # ties
    assert any(e[1] == e[2] for e in events)                                        # zero length
    ends = {e[2] for e in events}
    assert any(e[1] in ends and e[1] != e[2] for e in events)                        # touching
    assert any(a[1] == b[1] and a[2] < b[2] for a, b in zip(events, events[1:]))     # child listed first


def test_big_trace_is_about_200k_events():
    assert 150_000 < len(ch09._random_trace(2, 20_000, 4, 4, offset=500.0)) < 250_000


def test_linear_relu_reference_matches_central_differences_and_ties_exist():
    g, x, w, b = ch09._lr_data(4, 3, 2, np.float64, 1)
    _, dx, dw, db = ch09._ref_linear_relu(g, x, w, b)
    nx, nw, nb = ch09._central_differences(g, x, w, b)
    np.testing.assert_allclose(dx, nx, atol=1e-6)
    np.testing.assert_allclose(dw, nw, atol=1e-6)
    np.testing.assert_allclose(db, nb, atol=1e-6)
    g, x, w, b = ch09._lr_data(65, 127, 33, np.float32, 9, "ties")
    assert ((x.astype(np.float64) @ w.T.astype(np.float64) + b) == 0).any()
    assert ((x @ w.T + b) == (x.astype(np.float64) @ w.T.astype(np.float64) + b)).all()   # exact in float32


def test_linear_relu_matches_torch():
    torch = pytest.importorskip("torch")
    g, x, w, b = ch09._lr_data(6, 5, 4, np.float64, 2, "ties")
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.relu(torch.nn.functional.linear(xt, wt, bt)).backward(torch.tensor(g))
    _, dx, dw, db = ch09._ref_linear_relu(g, x, w, b)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_nodes_compare_by_identity():
    a, b = ch09.Node("input", name="a"), ch09.Node("input", name="a")
    assert a != b and len({a, b}) == 2 and a == a
