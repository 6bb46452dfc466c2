"""Chapter 04 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet", and plausible wrong answers a learner writes get a fail
whose message names the real mistake (the expected words)."""
import sys

import numpy as np
import pytest

from fastgrad.check import ch04
from fastgrad.ops import OPS


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers

def mul_backward(grad, a, b):
    return grad * b, grad * a


def div_backward(grad, a, b):
    return grad / b, -grad * a / (b * b)


def matmul_backward(grad, a, b):
    return grad @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad


def sum_backward(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, input_shape).copy()


def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def topo_sort(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


REFERENCES = {
    "mul_backward": mul_backward, "div_backward": div_backward, "matmul_backward": matmul_backward,
    "sum_backward": sum_backward, "unbroadcast": unbroadcast, "topo_sort": topo_sort,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch04, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


def test_batched_matmul_reference_passes():
    assert ch04.matmul_backward(matmul_backward, batched=True, show=False).passed


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch04, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_not_a_function():
    assert ch04.mul_backward(42, show=False).status == "fail"


# ------------------------------------------------------------------ the real machinery

def test_rules_run_through_the_op_table_and_gradcheck():
    """The pass verdict says the library's gradcheck ran with the learner's rule, and the
    op table is the library's own again afterwards."""
    before = {name: OPS[name] for name in ("mul", "div", "matmul", "sum", "add")}
    for checker, fn, op in [(ch04.mul_backward, mul_backward, "mul"), (ch04.div_backward, div_backward, "div"),
                            (ch04.matmul_backward, matmul_backward, "matmul"),
                            (ch04.sum_backward, sum_backward, "sum"), (ch04.unbroadcast, unbroadcast, "add")]:
        result = checker(fn, show=False)
        assert result.passed, result.message
        assert any("fastgrad.gradcheck" in line and f"`{op}`" in line for line in result.info), result.info
    assert all(OPS[name] is op for name, op in before.items())


def test_op_table_is_restored_after_a_failure_and_an_exception():
    before = OPS["mul"]

    def breaks_only_in_the_table(grad, a, b):
        if a.dtype == np.float64 and a.shape == (3, 4) and b.shape == (4,):
            raise ZeroDivisionError("boom")
        return grad * b, grad * a
    result = ch04.mul_backward(breaks_only_in_the_table, show=False)
    assert result.status == "fail" and "mul((3, 4), (4,))" in result.message and "ZeroDivisionError" in result.message
    assert OPS["mul"] is before
    with pytest.raises(KeyError):
        with ch04.swapped_backward("mul", lambda *a: None):
            assert OPS["mul"] is not before
            raise KeyError("an error inside the block")
    assert OPS["mul"] is before


def test_gradcheck_failure_reports_its_worst_element():
    def wrong_only_when_broadcast(grad, a, b):
        # right on same-shape inputs, wrong as soon as b is broadcast
        return grad * b, (grad * a if a.shape == b.shape else grad * a * 2)
    result = ch04.mul_backward(wrong_only_when_broadcast, show=False)
    assert result.status == "fail", result.message
    for words in ("fastgrad.gradcheck fails on mul(", "worst element: b[", "central differences"):
        assert words in result.message, result.message


# ------------------------------------------------------------------ plausible wrong answers
# (checker, kwargs, wrong answer, words the message must contain). Each is a mistake a
# learner makes; the words name it.

def _mul_in_place(grad, a, b):
    grad *= b
    return grad, grad * a / b


def _mul_out_grad(grad, a, b):
    ga = np.multiply(grad, b, out=grad)
    return ga, grad * a


def _mul_scalar_path(grad, a, b):
    if a.ndim == 0:
        return b, a
    return grad * b, grad * a


MUL_WRONG = [
    ("swapped operands", lambda g, a, b: (g * a, g * b), ["grad_a", "grad * b"]),
    ("forgot return", lambda g, a, b: None, ["returned None", "return"]),
    ("one array", lambda g, a, b: g * b, ["pair"]),
    ("three values", lambda g, a, b: (g * b, g * a, None), ["pair", "length 3"]),
    ("no upstream grad", lambda g, a, b: (b, a), ["grad_a", "grad * b"]),
    ("copy-paste", lambda g, a, b: (g * b, g * b), ["grad_b", "grad * a"]),
    ("product of all", lambda g, a, b: (g * a * b, g * a * b), ["grad_a"]),
    ("mutates grad", _mul_in_place, ["wrote into one of its inputs", "read-only"]),
    ("out=grad", _mul_out_grad, ["wrote into one of its inputs"]),
    ("float64 result", lambda g, a, b: ((g * b).astype(float), (g * a).astype(float)), ["dtype float64", "float32"]),
    ("float32 result", lambda g, a, b: ((g * b).astype(np.float32), (g * a).astype(np.float32)), ["dtype float32"]),
    ("matrix product", lambda g, a, b: (g @ b, g @ a), ["grad_a"]),
    ("summed", lambda g, a, b: ((g * b).sum(), (g * a).sum()), ["shape"]),
    ("scalar path ignores grad", _mul_scalar_path, ["scalar", "grad_a"]),
    ("add's backward pasted", lambda g, a, b: (g, g), ["grad_a", "grad * b"]),
]


def _div_in_place(grad, a, b):
    grad /= b
    return grad, -grad * a / b


DIV_WRONG = [
    ("missing minus", lambda g, a, b: (g / b, g * a / b ** 2), ["grad_b", "minus sign"]),
    ("missing square", lambda g, a, b: (g / b, -g * a / b), ["grad_b", "square"]),
    ("forgot a", lambda g, a, b: (g / b, -g / b ** 2), ["grad_b", "factor a"]),
    ("grad_a times b", lambda g, a, b: (g * b, -g * a / b ** 2), ["grad_a", "1/b"]),
    ("precedence / b * b", lambda g, a, b: (g / b, -g * a / b * b), ["grad_b", "/ (b * b)"]),
    ("swapped outputs", lambda g, a, b: (-g * a / b ** 2, g / b), ["grad_a"]),
    ("squared wrong thing", lambda g, a, b: (g / b, g * (-a / b) ** 2), ["grad_b"]),
    ("forgot return", lambda g, a, b: None, ["returned None"]),
    ("mutates grad", _div_in_place, ["wrote into one of its inputs"]),
    ("float64 result", lambda g, a, b: (g / b, -g * a / b.astype(float) ** 2), ["dtype float64", "float32"]),
    ("log trick", lambda g, a, b: (g / b, -g * np.exp(np.log(np.abs(a)) - 2 * np.log(np.abs(b)))), ["grad_b"]),
    ("no upstream grad", lambda g, a, b: (1 / b, -a / b ** 2), ["grad_a"]),
    ("one array", lambda g, a, b: g / b, ["pair"]),
]


def _mm_np_dot_float64(g, a, b):
    return np.dot(g.astype(np.float64), b.T), np.dot(a.T.astype(np.float64), g)


def _mm_rect_only(g, a, b):
    if a.shape[0] == a.shape[1] == b.shape[1]:
        return matmul_backward(g, a, b)
    return g @ b, a.T @ g


MATMUL_WRONG = [
    ("missing transpose of b (square)", {}, lambda g, a, b: (g @ b, a.T @ g), ["grad_a", "b.T", "square"]),
    ("missing transpose of a", {}, lambda g, a, b: (g @ b.T, a @ g), ["grad_b", "a.T"]),
    ("rectangular missing transpose", {}, _mm_rect_only, ["ValueError", "shape"]),
    ("operands swapped", {}, lambda g, a, b: (b.T @ g, g @ a.T), ["grad_a", "order"]),
    ("transposed results", {}, lambda g, a, b: (b @ g.T, g.T @ a), ["grad_a"]),
    ("elementwise", {}, lambda g, a, b: (g * b, g * a), ["not the elementwise *"]),
    ("both from grad @", {}, lambda g, a, b: (g @ b.T, g @ a.T), ["grad_b"]),
    ("forgot return", {}, lambda g, a, b: None, ["returned None"]),
    ("float64 result", {}, _mm_np_dot_float64, ["dtype float64", "float32"]),
    ("mean over rows", {}, lambda g, a, b: (g @ b.T, a.T @ g / a.shape[0]), ["grad_b"]),
    ("batched with .T", {"batched": True}, lambda g, a, b: (g @ b.T, a.T @ g), ["swapaxes"]),
    ("batched with np.dot", {"batched": True},
     lambda g, a, b: (np.dot(g, np.swapaxes(b, -1, -2)), np.dot(np.swapaxes(a, -1, -2), g)), ["swapaxes"]),
]


def _sum_no_expand(grad, input_shape, axis, keepdims):
    return np.broadcast_to(grad, input_shape).copy()


def _sum_expand_unassigned(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        np.expand_dims(grad, axis)
    return np.broadcast_to(grad, input_shape).copy()


def _sum_view(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, input_shape)


def _sum_full_on_none(grad, input_shape, axis, keepdims):
    if axis is None:
        return np.full(input_shape, float(np.asarray(grad).reshape(-1)[0]))   # float64 on this path only
    return sum_backward(grad, input_shape, axis, keepdims)


def _sum_ones_times(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.ones(input_shape) * grad


def _sum_mean_backward(grad, input_shape, axis, keepdims):
    out = sum_backward(grad, input_shape, axis, keepdims)
    return out / (np.prod(input_shape) / max(np.size(grad), 1))


def _sum_inverted(grad, input_shape, axis, keepdims):
    if axis is not None and keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, input_shape).copy()


def _sum_int_axis_only(grad, input_shape, axis, keepdims):
    shape = list(input_shape)
    if axis is None:
        shape = [1] * len(shape)
    else:
        shape[axis] = 1
    return np.broadcast_to(grad.reshape(shape), input_shape).copy()


def _sum_repeat(grad, input_shape, axis, keepdims):
    if axis is None:
        return np.full(input_shape, grad, dtype=grad.dtype)
    if not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.repeat(grad, input_shape[axis], axis=axis)


def _sum_positive_axis_only(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        for ax in sorted((axis,) if isinstance(axis, int) else axis):
            grad = np.expand_dims(grad, ax if ax >= 0 else ax + len(input_shape) - 1)
    return np.broadcast_to(grad, input_shape).copy()


def _sum_in_place(grad, input_shape, axis, keepdims):
    grad += 0.0
    return sum_backward(grad, input_shape, axis, keepdims)


SUM_WRONG = [
    ("no expand_dims", _sum_no_expand, ["expand_dims", "keepdims=False"]),
    ("expand_dims not assigned", _sum_expand_unassigned, ["expand_dims", "assign"]),
    ("returns grad", lambda grad, shape, axis, keepdims: grad, ["shape"]),
    ("broadcast view, no copy", _sum_view, ["broadcast view", ".copy()"]),
    ("float64 on axis=None only", _sum_full_on_none, ["axis=None float32", "dtype float64", "dtype=grad.dtype"]),
    ("ones * grad", _sum_ones_times, ["dtype float64", "np.ones"]),
    ("mean's backward", _sum_mean_backward, ["grad_x", "mean"]),
    ("expand on the wrong branch", _sum_inverted, ["expand_dims"]),
    ("int axis only", _sum_int_axis_only, ["tuple"]),
    ("repeat", _sum_repeat, ["tuple"]),
    ("negative axis off by one", _sum_positive_axis_only, ["axis=-1"]),
    ("mutates grad", _sum_in_place, ["wrote into one of its inputs"]),
    ("forgot return", lambda grad, shape, axis, keepdims: None, ["returned None"]),
    ("float64 everywhere", lambda grad, shape, axis, keepdims: sum_backward(grad, shape, axis, keepdims).astype(float),
     ["dtype float64", "float32"]),
]


def _unb_leading_only(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


def _unb_mean(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.mean(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.mean(axis=axis, keepdims=True)
    return grad


def _unb_ones_only(grad, shape):
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _unb_no_keepdims(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in reversed(list(enumerate(shape))):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis)
    return grad


def _unb_left_aligned(grad, shape):
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


def _unb_unassigned(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad.sum(axis=axis, keepdims=True)
    return grad


def _unb_unassigned_loop(grad, shape):
    while grad.ndim > len(shape):
        grad.sum(axis=0)          # never shrinks: an endless loop
    return grad


def _unb_reshape(grad, shape):
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    return grad.reshape(shape)


def _unb_float64(grad, shape):
    while grad.ndim > len(shape):
        grad = np.sum(grad, axis=0, dtype=np.float64)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = np.sum(grad, axis=axis, keepdims=True, dtype=np.float64)
    return grad


def _unb_squeeze(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return np.squeeze(grad)


def _unb_first_copy(grad, shape):
    while grad.ndim > len(shape):
        grad = grad[0]
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = np.take(grad, [0], axis=axis)
    return grad


UNBROADCAST_WRONG = [
    ("not reduced", lambda grad, shape: grad, ["shape", "not reduced"]),
    ("leading axes only", _unb_leading_only, ["(1, 4)", "keepdims=True"]),
    ("mean instead of sum", _unb_mean, ["differs", "SUM"]),
    ("size-1 axes only", _unb_ones_only, ["leading axes"]),
    ("size-1 axes without keepdims", _unb_no_keepdims, ["keepdims=True"]),
    ("size-1 axes aligned from the left", _unb_left_aligned, ["(2, 3, 4)"]),
    ("sum not assigned", _unb_unassigned, ["assign"]),
    ("sum not assigned in the while loop", _unb_unassigned_loop, ["did not finish", "endless loop"]),
    ("reshape instead of sum", _unb_reshape, ["ValueError", "size 1"]),
    ("float64 accumulation returned", _unb_float64, ["dtype float64", "float32"]),
    ("squeezed", _unb_squeeze, ["shape", "squeezed"]),
    ("one copy instead of the sum", _unb_first_copy, ["SUM"]),
    ("sum of everything", lambda grad, shape: grad.sum(), ["shape"]),
    ("forgot return", lambda grad, shape: None, ["returned None"]),
]


def _topo_recursive(root):
    order, visited = [], set()

    def visit(node):
        if id(node) in visited:
            return
        visited.add(id(node))
        for p in node.parents:
            visit(p)
        order.append(node)
    visit(root)
    return order


def _topo_recursive_raised_limit(root):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1_000_000))
    return _topo_recursive(root)


def _topo_no_visited(root):
    order, stack = [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents)
    return order


def _topo_dedup_at_end(root):
    order = _topo_no_visited(root)
    seen, unique = set(), []
    for node in order:
        if id(node) not in seen:
            seen.add(id(node))
            unique.append(node)
    return unique


def _topo_dedup_dict(root):
    return list(dict.fromkeys(_topo_no_visited(root)))


def _topo_bfs_reversed(root):
    order, seen, queue = [], {id(root)}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for p in node.parents:
            if id(p) not in seen:
                seen.add(id(p))
                queue.append(p)
    return order[::-1]


def _topo_preorder_reversed(root):
    order, seen, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(node.parents)
    return order[::-1]


def _topo_by_name(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node.name in visited:
            continue
        visited.add(node.name)
        stack.append((node, True))
        for parent in node.parents:
            if parent.name not in visited:
                stack.append((parent, False))
    return order


def _topo_visited_list(root):
    order, visited, stack = [], [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.append(node)
        stack.append((node, True))
        for parent in node.parents:
            if parent not in visited:
                stack.append((parent, False))
    return order


def _topo_visited_on_pop_only(root):
    # checks visited when pushing but marks it only when popping: a diamond pushes x twice
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


TOPO_WRONG = [
    ("recursive", _topo_recursive, ["recursed", "explicit stack"]),
    ("recursive with a raised limit", _topo_recursive_raised_limit, ["recursed", "setrecursionlimit"]),
    ("no visited set", _topo_no_visited, ["twice", "visited"]),
    ("no visited set, duplicates removed at the end", _topo_dedup_at_end, ["40 diamonds", "again and again", "visited"]),
    ("no visited set, dict.fromkeys at the end", _topo_dedup_dict, ["again and again"]),
    ("visited checked at push, marked at pop", _topo_visited_on_pop_only, ["twice"]),
    ("root first", lambda root: topo_sort(root)[::-1], ["comes after its child"]),
    ("reversed breadth-first", _topo_bfs_reversed, ["skip connection", "comes after its child"]),
    ("reversed pre-order", _topo_preorder_reversed, ["comes after its child"]),
    ("leaves missing", lambda root: [n for n in topo_sort(root) if n.parents], ["nodes", "Missing"]),
    ("root missing", lambda root: topo_sort(root)[:-1], ["nodes", "Missing"]),
    ("nodes identified by name", _topo_by_name, ["same name", "identity"]),
    ("names instead of nodes", lambda root: [n.name for n in topo_sort(root)], ["not their names"]),
    ("a set", lambda root: set(topo_sort(root)), ["no order"]),
    ("visited as a list", _topo_visited_list, ["set"]),
    ("forgot return", lambda root: None, ["returned None"]),
]

WRONG = ([(ch04.mul_backward, {}, fn, words, f"mul: {name}") for name, fn, words in MUL_WRONG]
         + [(ch04.div_backward, {}, fn, words, f"div: {name}") for name, fn, words in DIV_WRONG]
         + [(ch04.matmul_backward, kw, fn, words, f"matmul: {name}") for name, kw, fn, words in MATMUL_WRONG]
         + [(ch04.sum_backward, {}, fn, words, f"sum: {name}") for name, fn, words in SUM_WRONG]
         + [(ch04.unbroadcast, {}, fn, words, f"unbroadcast: {name}") for name, fn, words in UNBROADCAST_WRONG]
         + [(ch04.topo_sort, {}, fn, words, f"topo: {name}") for name, fn, words in TOPO_WRONG])


@pytest.fixture
def restore_recursion_limit():
    limit = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(limit)


@pytest.mark.parametrize("checker, kwargs, fn, words", [w[:4] for w in WRONG], ids=[w[4] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, kwargs, fn, words, restore_recursion_limit):
    result = checker(fn, show=False, **kwargs)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _topo_kahn(root):
    nodes, stack, seen = [], [root], {id(root)}
    while stack:
        node = stack.pop()
        nodes.append(node)
        for p in node.parents:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    pending = {id(n): len(set(map(id, n.parents))) for n in nodes}
    users = {id(n): [] for n in nodes}
    for n in nodes:
        for p in {id(p): p for p in n.parents}.values():
            users[id(p)].append(n)
    ready = [n for n in nodes if pending[id(n)] == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for user in users[id(node)]:
            pending[id(user)] -= 1
            if pending[id(user)] == 0:
                ready.append(user)
    return order


def _topo_node_set(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents if p not in visited)
    return order


def _topo_iterator_stack(root):
    order, visited = [], {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if id(p) not in visited:
                visited.add(id(p))
                stack.append((p, iter(p.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _unb_axes_at_once(grad, shape):
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad


def _unb_copy_always(grad, shape):
    return unbroadcast(grad, shape).copy()


def _sum_reshape(grad, input_shape, axis, keepdims):
    ndim = len(input_shape)
    axes = range(ndim) if axis is None else [a % ndim for a in ((axis,) if np.ndim(axis) == 0 else axis)]
    keep = [1 if i in axes else n for i, n in enumerate(input_shape)]
    return np.broadcast_to(np.reshape(grad, keep), input_shape).copy()


def _sum_zeros_plus(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.zeros(input_shape, dtype=grad.dtype) + grad


def _sum_ones_like(grad, input_shape, axis, keepdims):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return grad * np.ones(input_shape, dtype=grad.dtype)


RIGHT = [
    (ch04.mul_backward, {}, lambda g, a, b: (np.multiply(g, b), np.multiply(a, g)), "mul: np.multiply"),
    (ch04.mul_backward, {}, lambda g, a, b: [b * g, a * g], "mul: a list, other order"),
    (ch04.div_backward, {}, lambda g, a, b: (g * (1 / b), -(g / b) * (a / b)), "div: via g / b"),
    (ch04.div_backward, {}, lambda g, a, b: (g / b, -g * a * b ** -2.0), "div: b ** -2"),
    (ch04.matmul_backward, {}, lambda g, a, b: ((b @ g.T).T, (g.T @ a).T), "matmul: transposed products"),
    (ch04.matmul_backward, {}, lambda g, a, b: (np.dot(g, b.T), np.dot(a.T, g)), "matmul: np.dot"),
    (ch04.matmul_backward, {"batched": True},
     lambda g, a, b: (np.einsum("...mn,...kn->...mk", g, b), np.einsum("...mk,...mn->...kn", a, g)),
     "matmul: einsum, batched"),
    (ch04.sum_backward, {}, _sum_reshape, "sum: reshape"),
    (ch04.sum_backward, {}, _sum_zeros_plus, "sum: zeros + grad"),
    (ch04.sum_backward, {}, _sum_ones_like, "sum: grad * ones"),
    (ch04.unbroadcast, {}, _unb_axes_at_once, "unbroadcast: all axes at once"),
    (ch04.unbroadcast, {}, _unb_copy_always, "unbroadcast: always a copy"),
    (ch04.topo_sort, {}, _topo_kahn, "topo: Kahn's algorithm"),
    (ch04.topo_sort, {}, _topo_node_set, "topo: a set of nodes"),
    (ch04.topo_sort, {}, _topo_iterator_stack, "topo: a stack of iterators"),
]


@pytest.mark.parametrize("checker, kwargs, fn", [r[:3] for r in RIGHT], ids=[r[3] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, kwargs, fn):
    result = checker(fn, show=False, **kwargs)
    assert result.status == "pass", result.message


def test_recursion_check_leaves_no_trace_and_stays_fast():
    """The watch on .parents is off outside a case, and the iterative reference on the
    100,000-node chain is not slowed into its time limit by it."""
    import time
    assert ch04._WATCH is None
    root = ch04.chain(1000)
    assert len(topo_sort(root)) == 1000
    start = time.perf_counter()
    assert ch04.topo_sort(topo_sort, show=False).passed
    assert time.perf_counter() - start < 10
    assert ch04._WATCH is None


def test_chain_helper():
    root = ch04.chain(4)
    assert [n.name for n in topo_sort(root)] == ["x0", "x1", "x2", "x3"]
