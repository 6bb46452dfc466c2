"""Chapter 08 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet", and plausible wrong answers get a fail whose message names
the real mistake (the expected words): exponential and recursive graph walks, left-aligned
broadcasting, fusion across reductions and multi-user nodes, generated kernels without
parentheses or with float64 constants, and CSE keys that ignore attributes, argument order
or identity, or that take quadratic or exponential time."""
import pytest

from fastgrad.check import ch08
from fastgrad.check.ch08 import COMMUTATIVE, ELEMENTWISE, LEAVES, OPERATORS, REDUCTIONS


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers (as in solutions/08)

def topo_order(output):
    order, done = [], set()
    stack = [(output, False)]
    while stack:
        node, inputs_done = stack.pop()
        if node in done:
            continue
        if inputs_done:
            done.add(node)
            order.append(node)
        else:
            stack.append((node, True))
            for inp in node.inputs:
                if inp not in done:
                    stack.append((inp, False))
    return order


def _broadcast_shape_ref(a, b):
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"cannot broadcast shapes {a} and {b}")
        out.append(y if x == 1 else x)
    return tuple(out)


broadcast_shape = _broadcast_shape_ref


def fusable_groups(order):
    users = {n: 0 for n in order}
    for n in order:
        for inp in set(n.inputs):
            users[inp] += 1
    group = {n: [n] for n in order if n.op not in LEAVES}
    for n in order:
        if n.op in LEAVES or n.op == "matmul":
            continue
        for m in n.inputs:
            if m.op in ELEMENTWISE and users[m] == 1 and group[m] is not group[n]:
                merged = group[m] + group[n]
                for x in merged:
                    group[x] = merged
    groups, seen = [], set()
    for n in order:
        if n in group and id(group[n]) not in seen:
            seen.add(id(group[n]))
            groups.append(group[n])
    return groups


def elementwise_source(order):
    out = order[-1]
    rank = len(out.shape)
    loop_index = [f"i{k}" for k in range(rank)]
    names = sorted({n.attrs["name"] for n in order if n.op == "input"})
    text = {}
    for n in order:
        if n.op == "input":
            shape = n.shape
            idx = loop_index[rank - len(shape):]
            parts = ["0" if d == 1 else i for d, i in zip(shape, idx)]
            text[n] = f"{n.attrs['name']}[{', '.join(parts)}]" if parts else f"{n.attrs['name']}[()]"
        elif n.op == "const":
            text[n] = f"np.{n.dtype}({n.attrs['value']!r})"
        elif n.op == "neg":
            text[n] = f"(-{text[n.inputs[0]]})"
        elif n.op in OPERATORS:
            a, b = n.inputs
            text[n] = f"({text[a]} {OPERATORS[n.op]} {text[b]})"
        else:
            text[n] = f"np.{n.op}({', '.join(text[i] for i in n.inputs)})"
    lines = [f"def kernel({', '.join(names + ['out'])}):"]
    for k in range(rank):
        lines.append("    " * (k + 1) + f"for i{k} in range(out.shape[{k}]):")
    lines.append("    " * (rank + 1) + f"out[{', '.join(loop_index)}] = {text[out]}")
    return "\n".join(lines) + "\n"


def _key(node, rep):
    inputs = [id(rep[i]) for i in node.inputs]
    if node.op in COMMUTATIVE:
        inputs.sort()
    return (node.op, tuple(inputs), tuple(sorted((k, repr(v)) for k, v in node.attrs.items())), node.shape,
            node.dtype)


def cse(order):
    rep, first = {}, {}
    for node in order:
        if node.op == "input":
            rep[node] = node
        else:
            rep[node] = first.setdefault(_key(node, rep), node)
    return rep


REFERENCES = {"topo_order": topo_order, "broadcast_shape": broadcast_shape, "fusable_groups": fusable_groups,
              "elementwise_source": elementwise_source, "cse": cse}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch08, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch08, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_checker_prints_its_verdict(capsys):
    ch08.broadcast_shape(broadcast_shape)
    assert "broadcast_shape: all" in capsys.readouterr().out


def test_every_checker_is_exported():
    checkers = {"topo_order", "broadcast_shape", "fusable_groups", "elementwise_source", "cse"}
    assert checkers == set(REFERENCES) and checkers <= set(ch08.__all__)


# ------------------------------------------------------------------ 1. topo_order, wrong answers

def _topo_recursive_no_memo(output):
    order = []

    def visit(node):
        for inp in node.inputs:
            visit(inp)
        if node not in order:
            order.append(node)
    visit(output)
    return order


def _topo_recursive_memo(output):
    order, seen = [], set()

    def visit(node):
        if node in seen:
            return
        seen.add(node)
        for inp in node.inputs:
            visit(inp)
        order.append(node)
    visit(output)
    return order


def _topo_duplicates(output):
    order, stack = [], [(output, False)]
    while stack:
        node, ready = stack.pop()
        if ready:
            order.append(node)                       # appended once per path: no visited set
        else:
            stack.append((node, True))
            stack.extend((i, False) for i in node.inputs)
    return order[:2000]


def _topo_reversed(output):
    return topo_order(output)[::-1]


def _topo_preorder(output):
    order, seen, stack = [], set(), [output]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)                           # a node before its inputs
        stack.extend(node.inputs)
    return order


def _topo_bfs_reversed(output):
    order, seen, queue = [], {output}, [output]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for inp in node.inputs:
            if inp not in seen:
                seen.add(inp)
                queue.append(inp)
    return order[::-1]


def _topo_no_leaves(output):
    return [n for n in topo_order(output) if n.op not in LEAVES]


def _topo_marks_nodes(output):
    order = topo_order(output)
    for n in order:
        n.attrs["visited"] = True
    return order


TOPO_WRONG = [
    ("visited flags on the nodes", _topo_marks_nodes, ["changed the node"]),
    ("recursive, no visited set", _topo_recursive_no_memo, ["once per PATH", "exponential"]),
    ("recursive with a visited set", _topo_recursive_memo, ["RecursionError", "explicit stack"]),
    ("duplicates", _topo_duplicates, ["appears", "times", "visited"]),
    ("reversed", _topo_reversed, ["before its input", "reversed"]),
    ("pre-order", _topo_preorder, ["before its input", "post-order"]),
    ("BFS from the output, reversed", _topo_bfs_reversed, ["before its input"]),
    ("leaves left out", _topo_no_leaves, ["missing", "leaf"]),
    ("output left out", lambda out: topo_order(out)[:-1], ["missing", "the output itself"]),
    ("ops instead of nodes", lambda out: [n.op for n in topo_order(out)], ["Node objects"]),
    ("forgot return", lambda out: None, ["returned None"]),
]


def test_exponential_walk_is_stopped_on_the_deep_diamond_chain():
    def exponential(output):                        # slips past the visit count by reading _inputs
        order = []

        def visit(node):
            for inp in node._inputs:
                visit(inp)
            if all(n is not node for n in order):
                order.append(node)
        visit(output)
        return order
    result = ch08.topo_order(exponential, show=False)
    assert result.status == "fail" and "did not finish within 3 s" in result.message, result.message
    assert "once per path never ends" in result.message


# ------------------------------------------------------------------ 2. broadcast_shape, wrong answers

def _bc_left(a, b):
    n = max(len(a), len(b))
    a, b = tuple(a) + (1,) * (n - len(a)), tuple(b) + (1,) * (n - len(b))
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(max(x, y))
    return tuple(out)


def _bc_max(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


def _bc_max_checked(a, b):
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(max(x, y))                        # 0 vs 1 gives 1
    return tuple(out)


def _bc_zero_ok(a, b):
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x != y and 1 not in (x, y) and 0 not in (x, y):
            raise ValueError(f"cannot broadcast {a} and {b}")
        out.append(0 if 0 in (x, y) else max(x, y))  # treats 0 like 1
    return tuple(out)


def _bc_assert(a, b):
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    for x, y in zip(pa, pb):
        assert x == y or 1 in (x, y), "shapes do not broadcast"
    return _broadcast_shape_ref(a, b)


def _bc_vague(a, b):
    try:
        return _broadcast_shape_ref(a, b)
    except ValueError:
        raise ValueError("shapes do not broadcast") from None


def _bc_padded_message(a, b):
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    try:
        return _broadcast_shape_ref(a, b)
    except ValueError:
        raise ValueError(f"cannot broadcast {pa} with {pb}") from None


def _bc_rank0(a, b):
    if not a or not b:
        return ()                                    # a scalar "wins"
    return _broadcast_shape_ref(a, b)


BROADCAST_WRONG = [
    ("left-aligned", _bc_left, ["LEFT", "right"]),
    ("max of each pair", _bc_max, ["do not broadcast", "max of each pair"]),
    ("0 vs 1 gives 1", _bc_max_checked, ["stretches", "even to 0"]),
    ("0 treated like 1", _bc_zero_ok, ["only a dimension of size 1 stretches", "0 and 3"]),
    ("an assert", _bc_assert, ["AssertionError", "ValueError", "python -O"]),
    ("a vague message", _bc_vague, ["name both shapes"]),
    ("the padded shapes in the message", _bc_padded_message, ["name both shapes", "as written"]),
    ("rank 0 mishandled", _bc_rank0, ["rank of the longer shape"]),
    ("a list", lambda a, b: list(_broadcast_shape_ref(a, b)), ["returned the list", "tuple"]),
    ("numpy ints in an array", lambda a, b: __import__("numpy").array(_broadcast_shape_ref(a, b)),
     ["expected a tuple of ints"]),
    ("forgot return", lambda a, b: None, ["returned None"]),
]


# ------------------------------------------------------------------ 3. fusable_groups, wrong answers

def _fg_every_node(order):
    return [[n] for n in order if n.op not in LEAVES]


def _fg_variant(*, multi_user=False, after_reduction=False, reduction_alone=False, first_only=False,
                matmul=False, leaves=False):
    def fn(order):
        users = {n: 0 for n in order}
        for n in order:
            for inp in set(n.inputs):
                users[inp] += 1
        group = {n: [n] for n in order if leaves or n.op not in LEAVES}
        for n in order:
            if n.op in LEAVES:
                continue
            if n.op == "matmul" and not matmul:
                continue
            if n.op in REDUCTIONS and reduction_alone:
                continue
            for m in (n.inputs[:1] if first_only else n.inputs):
                fusable = m.op in ELEMENTWISE or (after_reduction and m.op in REDUCTIONS) or \
                    (matmul and m.op == "matmul") or (leaves and m.op in LEAVES)
                if fusable and (users[m] == 1 or multi_user) and m in group and group[m] is not group[n]:
                    merged = group[m] + group[n]
                    for x in merged:
                        group[x] = merged
        groups, seen = [], set()
        for n in order:
            if n in group and id(group[n]) not in seen:
                seen.add(id(group[n]))
                groups.append(group[n])
        return groups
    return fn


def _fg_edges_counted(order):
    users = {n: 0 for n in order}
    for n in order:
        for inp in n.inputs:                           # e * e counts e twice
            users[inp] += 1
    group = {n: [n] for n in order if n.op not in LEAVES}
    for n in order:
        if n.op in LEAVES or n.op == "matmul":
            continue
        for m in n.inputs:
            if m.op in ELEMENTWISE and users[m] == 1 and group[m] is not group[n]:
                merged = group[m] + group[n]
                for x in merged:
                    group[x] = merged
    return list({id(g): g for g in group.values()}.values())


def _fg_duplicated(order):
    groups = fusable_groups(order)
    return groups + [groups[0][:1]]


def _fg_missing(order):
    return fusable_groups(order)[1:]


FUSE_WRONG = [
    ("every node its own kernel", _fg_every_node, ["not maximal"]),
    ("fused with the first input only", _fg_variant(first_only=True), ["first input only", "EVERY"]),
    ("multi-user nodes ignored", _fg_variant(multi_user=True), ["2 users", "exactly one user"]),
    ("fused after a reduction", _fg_variant(after_reduction=True), ["after the reduction", "ENDS a group"]),
    ("a reduction without its prologue", _fg_variant(reduction_alone=True), ["prologue", "one pass"]),
    ("a matmul fused", _fg_variant(matmul=True), ["matmul", "its own kernel"]),
    ("leaves in groups", _fg_variant(leaves=True), ["leaf", "no group"]),
    ("edges counted as users", _fg_edges_counted, ["used twice by the same node", "distinct"]),
    ("a node in two groups", _fg_duplicated, ["groups", "exactly one group"]),
    ("a group dropped", _fg_missing, ["in no group"]),
    ("ops instead of nodes", lambda order: [[n.op for n in g] for g in fusable_groups(order)], ["Node objects"]),
    ("order emptied", lambda order: [fusable_groups(list(order)), order.clear()][0], ["changed the list"]),
    ("forgot return", lambda order: None, ["returned None"]),
]


# ------------------------------------------------------------------ 4. elementwise_source, wrong answers

def _src_hard_coded(order):
    return "def kernel(a, b, c, out):\n    for i0 in range(out.shape[0]):\n        out[i0] = (a[i0] + b[i0]) * c[i0]\n"


def _src_no_parens_strict(order):
    """Parentheses only around function calls' arguments, none around operators."""
    out = order[-1]
    rank = len(out.shape)
    idx = [f"i{k}" for k in range(rank)]
    names = sorted({n.attrs["name"] for n in order if n.op == "input"})
    text = {}
    for n in order:
        if n.op == "input":
            parts = ["0" if d == 1 else i for d, i in zip(n.shape, idx[rank - len(n.shape):])]
            text[n] = f"{n.attrs['name']}[{', '.join(parts)}]"
        elif n.op == "const":
            text[n] = f"np.{n.dtype}({n.attrs['value']!r})"
        elif n.op == "neg":
            text[n] = f"-{text[n.inputs[0]]}"
        elif n.op in OPERATORS:
            a, b = n.inputs
            text[n] = f"{text[a]} {OPERATORS[n.op]} {text[b]}"
        else:
            text[n] = f"np.{n.op}({', '.join(text[i] for i in n.inputs)})"
    lines = [f"def kernel({', '.join(names + ['out'])}):"]
    for k in range(rank):
        lines.append("    " * (k + 1) + f"for i{k} in range(out.shape[{k}]):")
    lines.append("    " * (rank + 1) + f"out[{', '.join(idx)}] = {text[out]}")
    return "\n".join(lines) + "\n"


def _src_bare_constants(order):
    import re
    return re.sub(r"np\.float(32|64)\(([^()]*)\)", r"\2", elementwise_source(order))


def _src_whole_arrays(order):
    names = sorted({n.attrs["name"] for n in order if n.op == "input"})
    text = {}
    for n in order:
        if n.op == "input":
            text[n] = n.attrs["name"]
        elif n.op == "const":
            text[n] = f"np.{n.dtype}({n.attrs['value']!r})"
        elif n.op == "neg":
            text[n] = f"(-{text[n.inputs[0]]})"
        elif n.op in OPERATORS:
            text[n] = f"({text[n.inputs[0]]} {OPERATORS[n.op]} {text[n.inputs[1]]})"
        else:
            text[n] = f"np.{n.op}({', '.join(text[i] for i in n.inputs)})"
    return f"def kernel({', '.join(names + ['out'])}):\n    out[...] = {text[order[-1]]}\n"


def _src_loop_per_node(order):
    """A temporary array per node, each filled by its own loop nest."""
    out = order[-1]
    rank = len(out.shape)
    idx = ", ".join(f"i{k}" for k in range(rank))
    names = sorted({n.attrs["name"] for n in order if n.op == "input"})
    lines = [f"def kernel({', '.join(names + ['out'])}):"]
    var = {}
    for number, n in enumerate(order):
        if n.op == "input":
            var[n] = f"np.broadcast_to({n.attrs['name']}, out.shape)"
            continue
        if n.op == "const":
            var[n] = None
            continue
        name = "out" if n is out else f"t{number}"
        if n is not out:
            lines.append(f"    {name} = np.empty(out.shape, out.dtype)")
        reads = [f"np.{n.dtype}({i.attrs['value']!r})" if i.op == "const" else f"{var[i]}[{idx}]" for i in n.inputs]
        if n.op == "neg":
            expr = f"-{reads[0]}"
        elif n.op in OPERATORS:
            expr = f"{reads[0]} {OPERATORS[n.op]} {reads[1]}"
        else:
            expr = f"np.{n.op}({', '.join(reads)})"
        for k in range(rank):
            lines.append("    " * (k + 1) + f"for i{k} in range(out.shape[{k}]):")
        lines.append("    " * (rank + 1) + f"{name}[{idx}] = {expr}")
        var[n] = name
    return "\n".join(lines) + "\n"


def _src_full_index(order):
    """Every input indexed with the output's full index: wrong for broadcast inputs."""
    rank = len(order[-1].shape)
    source = elementwise_source(order)
    for n in order:
        if n.op == "input" and n.shape != order[-1].shape:
            import re
            full = ", ".join(f"i{k}" for k in range(rank))
            source = re.sub(rf"\b{n.attrs['name']}\[[^\]]*\]", f"{n.attrs['name']}[{full}]", source)
    return source


def _src_size1_not_zero(order):
    """Right-aligned, but a size-1 dimension indexed by its loop index (reads past the end)."""
    import re
    out = order[-1]
    rank = len(out.shape)
    source = elementwise_source(order)
    for n in order:
        if n.op == "input":
            idx = [f"i{k}" for k in range(rank)][rank - len(n.shape):]
            source = re.sub(rf"\b{n.attrs['name']}\[[^\]]*\]", f"{n.attrs['name']}[{', '.join(idx)}]", source)
    return source


def _src_reversed_args(order):
    source = elementwise_source(order)
    head, rest = source.split("\n", 1)
    names = head[len("def kernel("):-len("):")].split(", ")
    return f"def kernel({', '.join(names[:-1][::-1] + ['out'])}):\n" + rest


def _src_other_name(order):
    return elementwise_source(order).replace("def kernel(", "def fused(")


def _src_syntax_error(order):
    return elementwise_source(order).replace("):\n", ")\n", 1)


def _src_writes_on_nodes(order):
    for n in order:
        n.attrs["seen"] = True                     # a pass that stores its own data on the caller's nodes
    return elementwise_source(order)


def _cse_writes_on_nodes(order):
    rep = cse(order)
    for n in order:
        n.attrs["rep"] = id(rep[n])
    return rep


SOURCE_WRONG = [
    ("data written onto the nodes", _src_writes_on_nodes, ["changed the node", "dicts keyed by node"]),
    ("hard-coded expression", _src_hard_coded, ["hard-coded"]),
    ("no parentheses", _src_no_parens_strict, ["precedence", "parentheses"]),
    ("bare float64 constants", _src_bare_constants, ["float64", "np.float32(0.5)"]),
    ("whole-array operations", _src_whole_arrays, ["whole array", "temporary"]),
    ("a loop nest per node", _src_loop_per_node, ["loop nest per node", "temporary"]),
    ("full index for broadcast inputs", _src_full_index, ["IndexError", "size 1 by 0"]),
    ("size-1 dims not indexed by 0", _src_size1_not_zero, ["IndexError", "stride-0"]),
    ("arguments reversed", _src_reversed_args, ["arguments are (c, b, a, out)", "sorted order"]),
    ("kernel not defined", _src_other_name, ["does not define a function named `kernel`"]),
    ("a syntax error", _src_syntax_error, ["SyntaxError"]),
    ("a function instead of source", lambda order: (lambda *a: None), ["expected the kernel's Python source"]),
    ("forgot return", lambda order: None, ["returned None", "Python source"]),
]


# ------------------------------------------------------------------ 5. cse, wrong answers

def _cse_with(key):
    def fn(order):
        rep, first = {}, {}
        for node in order:
            if node.op == "input" and key is not _key_value_inputs:
                rep[node] = node
            else:
                rep[node] = first.setdefault(key(node, rep), node)
        return rep
    return fn


def _key_op_only(node, rep):
    return node.op if node.op != "input" else id(node)


def _key_no_attrs(node, rep):
    inputs = [id(rep[i]) for i in node.inputs]
    return (node.op, tuple(sorted(inputs) if node.op in COMMUTATIVE else inputs))


def _key_all_sorted(node, rep):
    return (node.op, tuple(sorted(id(rep[i]) for i in node.inputs)), repr(sorted(node.attrs.items())))


def _key_never_sorted(node, rep):
    return (node.op, tuple(id(rep[i]) for i in node.inputs), repr(sorted(node.attrs.items())))


def _key_value_inputs(node, rep):
    inputs = [id(rep[i]) for i in node.inputs]
    if node.op in COMMUTATIVE:
        inputs.sort()
    return (node.op, tuple(inputs), repr(sorted(node.attrs.items())), node.shape)   # inputs by name and shape


def _key_raw_inputs(node, rep):
    inputs = [id(i) for i in node.inputs]                                            # not the representatives
    if node.op in COMMUTATIVE:
        inputs.sort()
    return (node.op, tuple(inputs), repr(sorted(node.attrs.items())))


def _cse_consts_identity(order):
    rep = cse(order)
    for n in order:
        if n.op == "const":
            rep[n] = n                                                                # constants never merge
    return rep


def _cse_last(order):
    reps = cse(order)
    groups = {}
    for n in order:
        groups.setdefault(reps[n], []).append(n)
    return {n: groups[reps[n]][-1] for n in order}                                   # the LAST of equal nodes


def _cse_quadratic(order):
    rep = {}
    kept = []
    for node in order:
        if node.op == "input":
            rep[node] = node
            kept.append(node)
            continue
        k = _key(node, rep)
        for other in kept:                                                            # pairwise comparison
            if other.op != "input" and _key(other, rep) == k:
                rep[node] = other
                break
        else:
            rep[node] = node
            kept.append(node)
    return rep


def _cse_nested_keys(order):
    keys, rep, first = {}, {}, {}
    for node in order:
        if node.op == "input":
            keys[node] = ("input", id(node))
        else:
            ins = [keys[i] for i in node.inputs]                                      # structural, nested tuples
            if node.op in COMMUTATIVE:
                ins.sort(key=repr) if len(order) < 100 else ins.sort(key=hash)
            keys[node] = (node.op, tuple(ins), repr(sorted(node.attrs.items())), node.shape, node.dtype)
        rep[node] = first.setdefault(keys[node], node)
    return rep


CSE_WRONG = [
    ("data written onto the nodes", _cse_writes_on_nodes, ["changed the node"]),
    ("merging by op only", _cse_with(_key_op_only), ["different computations", "not the op alone"]),
    ("attributes ignored", _cse_with(_key_no_attrs), ["attributes", "axis"]),
    ("every op's inputs sorted", _cse_with(_key_all_sorted), ["not commutative", "a - b is not b - a"]),
    ("commutativity ignored", _cse_with(_key_never_sorted), ["commutative", "other order"]),
    ("inputs merged by name and shape", _cse_with(_key_value_inputs), ["different arrays", "identity"]),
    ("raw inputs, not representatives", _cse_with(_key_raw_inputs), ["REPRESENTATIVES"]),
    ("constants never merged", _cse_consts_identity, ["constants of equal value"]),
    ("the last node as representative", _cse_last, ["FIRST"]),
    ("quadratic pairwise comparison", _cse_quadratic, ["did not finish within 3 s", "every pair", "dict"]),
    ("nested structural keys", _cse_nested_keys, ["did not finish within 3 s", "nested", "exponentially"]),
    ("nodes missing", lambda order: {n: n for n in order if n.op == "input"}, ["not a key", "EVERY node"]),
    ("a list", lambda order: [cse(order)[n] for n in order], ["expected a dict"]),
    ("forgot return", lambda order: None, ["returned None"]),
]


WRONG = ([(ch08.topo_order, fn, words, f"topo: {name}") for name, fn, words in TOPO_WRONG]
         + [(ch08.broadcast_shape, fn, words, f"broadcast: {name}") for name, fn, words in BROADCAST_WRONG]
         + [(ch08.fusable_groups, fn, words, f"fuse: {name}") for name, fn, words in FUSE_WRONG]
         + [(ch08.elementwise_source, fn, words, f"source: {name}") for name, fn, words in SOURCE_WRONG]
         + [(ch08.cse, fn, words, f"cse: {name}") for name, fn, words in CSE_WRONG])


@pytest.mark.parametrize("checker, fn, words", [w[:3] for w in WRONG], ids=[w[3] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, fn, words):
    result = checker(fn, show=False)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _topo_kahn(output):
    nodes, stack, seen = [], [output], {output}
    while stack:                                             # every reachable node, any order
        node = stack.pop()
        nodes.append(node)
        for inp in node.inputs:
            if inp not in seen:
                seen.add(inp)
                stack.append(inp)
    pending = {n: len(set(n.inputs)) for n in nodes}
    users = {n: [] for n in nodes}
    for n in nodes:
        for inp in set(n.inputs):
            users[inp].append(n)
    ready = [n for n in nodes if pending[n] == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for user in users[node]:
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    return order


def _topo_iterators(output):
    order, done = [], set()
    stack = [(output, iter(output.inputs))]
    while stack:
        node, inputs = stack[-1]
        for inp in inputs:
            if inp not in done:
                done.add(inp)
                stack.append((inp, iter(inp.inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _bc_zip_longest(a, b):
    from itertools import zip_longest
    dims = []
    for x, y in zip_longest(reversed(a), reversed(b), fillvalue=1):
        if x == y or y == 1:
            dims.append(x)
        elif x == 1:
            dims.append(y)
        else:
            raise ValueError(f"operands could not be broadcast together with shapes {a} {b}")
    return tuple(reversed(dims))


def _bc_numpy(a, b):
    import numpy as np
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(f"{a} and {b} are not compatible") from None


def _fg_union_find(order):
    parent = {n: n for n in order if n.op not in LEAVES}

    def root(n):
        while parent[n] is not n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n
    users = {}
    for n in order:
        for inp in set(n.inputs):
            users.setdefault(inp, set()).add(n)
    for n in order:
        if n.op in ELEMENTWISE or n.op in REDUCTIONS:
            for m in n.inputs:
                if m.op in ELEMENTWISE and users[m] == {n}:
                    parent[root(m)] = root(n)
    groups = {}
    for n in parent:
        groups.setdefault(root(n), set()).add(n)
    return tuple(frozenset(g) for g in groups.values())


def _src_scalar_temporaries(order):
    """One statement per node inside the loop nest, each a scalar temporary: no parentheses needed."""
    out = order[-1]
    rank = len(out.shape)
    index = ["i", "j", "k"][:rank]
    args = sorted({n.attrs["name"] for n in order if n.op == "input"})
    lines = [f"def kernel({', '.join(args)}, out):"]
    for depth, name in enumerate(index):
        lines.append("    " * (depth + 1) + f"for {name} in range(out.shape[{depth}]):")
    pad = "    " * (rank + 1)
    var = {}
    for number, n in enumerate(order):
        if n.op == "input":
            own = index[rank - len(n.shape):]
            var[n] = f"{n.attrs['name']}[{', '.join('0' if d == 1 else i for d, i in zip(n.shape, own))}]"
            continue
        if n.op == "const":
            var[n] = f"np.{n.dtype}({float(n.attrs['value'])!r})"
            continue
        ins = [var[i] for i in n.inputs]
        expr = (f"-{ins[0]}" if n.op == "neg" else f"{ins[0]} {OPERATORS[n.op]} {ins[1]}" if n.op in OPERATORS
                else f"np.{n.op}({', '.join(ins)})")
        lines.append(f"{pad}t{number} = {expr}")
        var[n] = f"t{number}"
    lines.append(f"{pad}out[{', '.join(index)}] = {var[out]}")
    return "\n".join(lines)


def _cse_string_keys(order):
    number = {}
    rep, first = {}, {}
    for i, node in enumerate(order):
        number[node] = i
        if node.op == "input":
            rep[node] = node
            continue
        args = [str(number[rep[x]]) for x in node.inputs]
        if node.op in COMMUTATIVE:
            args.sort()
        attrs = ",".join(f"{k}={v!r}" for k, v in sorted(node.attrs.items()))
        key = f"{node.op}[{attrs}]({','.join(args)}):{node.shape}:{node.dtype}"
        rep[node] = first.setdefault(key, node)
    return rep


RIGHT = [
    (ch08.topo_order, _topo_kahn, "topo: Kahn's algorithm"),
    (ch08.topo_order, _topo_iterators, "topo: a stack of input iterators"),
    (ch08.broadcast_shape, _bc_zip_longest, "broadcast: zip_longest from the right"),
    (ch08.broadcast_shape, _bc_numpy, "broadcast: np.broadcast_shapes, message re-raised"),
    (ch08.fusable_groups, _fg_union_find, "fuse: union-find, frozensets"),
    (ch08.elementwise_source, _src_scalar_temporaries, "source: a scalar temporary per node"),
    (ch08.cse, _cse_string_keys, "cse: string keys of node numbers"),
]


@pytest.mark.parametrize("checker, fn", [r[:2] for r in RIGHT], ids=[r[2] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, fn):
    result = checker(fn, show=False)
    assert result.status == "pass", result.message


# ------------------------------------------------------------------ the checkers' own pieces

def test_reference_kernel_compiles_with_numba_and_matches_the_graph():
    numba = pytest.importorskip("numba")
    import numpy as np
    order = ch08._e_broadcast()
    namespace = {"np": np}
    exec(elementwise_source(order), namespace)
    kernel = numba.njit(namespace["kernel"])
    rng = np.random.default_rng(0)
    arrays = {n.attrs["name"]: rng.standard_normal(n.shape) for n in order if n.op == "input"}
    out = np.empty((4, 5))
    kernel(*[arrays[k] for k in sorted(arrays)], out)
    want = arrays["x"] * arrays["row"] + arrays["col"] - arrays["v"]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    np.testing.assert_allclose(ch08._ref_eval(order, arrays, np.float64), want, rtol=1e-12)


def test_reference_groups_of_known_graphs():
    order, names = ch08._g_softmax()
    groups = [[names[n] for n in g] for g in ch08._ref_groups(order)]
    assert groups == [["max(x)"], ["broadcast(max)", "x-max", "e=exp(x-max)"], ["sum(e)"],
                      ["broadcast(sum)", "e/sum"]]
    order, names = ch08._g_reduction()
    assert [[names[n] for n in g] for g in ch08._ref_groups(order)] == [["a*b", "sum(a*b)"],
                                                                          ["exp(sum)", "-exp(sum)"]]


def test_nodes_compare_by_identity():
    a, b = ch08.Node("input", (), (3,), name="a"), ch08.Node("input", (), (3,), name="a")
    assert a != b and len({a, b}) == 2 and a == a
