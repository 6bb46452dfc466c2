"""Chapter 04 checkers: pass on reference answers, "todo" on stubs, and catch the
plausible wrong answers with a message that helps."""
import numpy as np
import pytest

from fastgrad.check import ch04


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


# ------------------------------------------------------------------ plausible wrong answers

def fails(checker, fn, *words, **kwargs):
    result = checker(fn, show=False, **kwargs)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message
    return result


def test_mul_swapped_operands():
    fails(ch04.mul_backward, lambda g, a, b: (g * a, g * b), "grad_a", "grad * b")


def test_mul_returns_none():
    fails(ch04.mul_backward, lambda g, a, b: None, "returned None")


def test_mul_returns_one_array():
    fails(ch04.mul_backward, lambda g, a, b: g * b, "pair")


def test_div_missing_minus():
    fails(ch04.div_backward, lambda g, a, b: (g / b, g * a / b**2), "grad_b", "minus sign")


def test_div_missing_square():
    fails(ch04.div_backward, lambda g, a, b: (g / b, -g * a / b), "grad_b")


def test_matmul_missing_transpose_square_gives_values_message():
    result = fails(ch04.matmul_backward, lambda g, a, b: (g @ b, a.T @ g), "grad_a", "b.T")
    assert "square" in result.message


def test_matmul_missing_transpose_of_a():
    fails(ch04.matmul_backward, lambda g, a, b: (g @ b.T, a @ g), "grad_b", "a.T")


def test_matmul_missing_transpose_rectangular_gives_shape_hint():
    # Passes the square case only if the learner got lucky; start from the rectangular case.
    def wrong(g, a, b):
        if a.shape[0] == a.shape[1] == b.shape[1]:
            return matmul_backward(g, a, b)
        return g @ b, a.T @ g
    fails(ch04.matmul_backward, wrong, "ValueError", "shape")


def test_matmul_batched_with_dot_T():
    fails(ch04.matmul_backward, lambda g, a, b: (g @ b.T, a.T @ g), "swapaxes", batched=True)


def test_sum_without_reinserting_axis():
    def wrong(grad, input_shape, axis, keepdims):
        return np.broadcast_to(grad, input_shape).copy()
    result = fails(ch04.sum_backward, wrong, "expand_dims")
    assert "keepdims=False" in result.message


def test_sum_wrong_shape_returns_grad():
    fails(ch04.sum_backward, lambda grad, shape, axis, keepdims: grad, "shape")


def test_sum_loses_dtype():
    def wrong(grad, input_shape, axis, keepdims):
        return sum_backward(grad, input_shape, axis, keepdims).astype(np.float64)
    fails(ch04.sum_backward, wrong, "dtype", "float32")


def test_unbroadcast_not_reduced():
    fails(ch04.unbroadcast, lambda grad, shape: grad, "shape", "not reduced")


def test_unbroadcast_only_leading_axes():
    def wrong(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.sum(axis=0)
        return grad
    fails(ch04.unbroadcast, wrong, "(1, 4)", "keepdims=True")


def test_unbroadcast_mean_instead_of_sum():
    def wrong(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.mean(axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and grad.shape[axis] != 1:
                grad = grad.mean(axis=axis, keepdims=True)
        return grad
    fails(ch04.unbroadcast, wrong, "differs")


def test_topo_recursive_hits_recursion_limit():
    def recursive(root):
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
    fails(ch04.topo_sort, recursive, "RecursionError", "stack")


def test_topo_duplicates_in_diamond():
    def no_visited(root):
        order, stack = [], [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            else:
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        return order
    fails(ch04.topo_sort, no_visited, "twice", "visited")


def test_topo_root_first():
    fails(ch04.topo_sort, lambda root: topo_sort(root)[::-1], "comes after its child")


def test_topo_reversed_breadth_first():
    def bfs(root):
        order, seen, queue = [], {id(root)}, [root]
        while queue:
            node = queue.pop(0)
            order.append(node)
            for p in node.parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    queue.append(p)
        return order[::-1]
    fails(ch04.topo_sort, bfs, "skip connection", "comes after its child")


def test_topo_missing_leaves():
    fails(ch04.topo_sort, lambda root: [n for n in topo_sort(root) if n.parents], "nodes")


def test_chain_helper():
    root = ch04.chain(4)
    assert [n.name for n in topo_sort(root)] == ["x0", "x1", "x2", "x3"]
