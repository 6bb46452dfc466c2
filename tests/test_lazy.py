"""fastgrad.lazy: kernel counts of known graphs (tinygrad's style), lazy == eager on
hypothesis-generated random graphs, the compile cache, build-time shape errors, explain."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastgrad as fg
from fastgrad.ops import OPS
from fastgrad import lazy as L
from fastgrad.autograd import Tensor

RNG = np.random.default_rng(0)


def _arr(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def softmax(x):
    e = (x - x.max(-1, keepdims=True)).exp()
    return e / e.sum(-1, keepdims=True)


def rms_norm(x, w, eps=1e-6):
    return x * ((x * x).mean(-1, keepdims=True) + eps) ** -0.5 * w


def lora(x, W, A, B, scale=0.5):
    return x @ W + scale * ((x @ A) @ B)


def _close(got, want, dtype):
    rtol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------- kernel counts
def test_a_times_b_plus_c_is_one_kernel():
    a, b, c = (fg.lazy(_arr(64, 32)) for _ in range(3))
    out = a * b + c
    assert L.kernel_count(out) == 1
    np.testing.assert_array_equal(out.numpy(), a.value * b.value + c.value)


def test_sum_of_a_product_is_one_pass():
    a, b = fg.lazy(_arr(50, 40)), fg.lazy(_arr(40))
    out = (a * b).sum()
    (g,) = L.schedule(out)
    assert g.kind == "reduce" and [n.op.name for n in g.nodes] == ["mul", "sum"]
    _close(out.numpy(), (Tensor(a.value) * Tensor(b.value)).sum().data, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_at_most_three_kernels(dtype):
    x = _arr(16, 100, dtype=dtype)
    out = softmax(fg.lazy(x))
    assert L.kernel_count(out) <= 3
    _close(out.numpy(), Tensor(x).softmax(-1).data, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rms_norm_is_at_most_two_kernels(dtype):
    x, w = _arr(8, 64, dtype=dtype), _arr(64, dtype=dtype)
    out = rms_norm(fg.lazy(x), fg.lazy(w))
    assert L.kernel_count(out) <= 2
    _close(out.numpy(), rms_norm(Tensor(x), Tensor(w)).data, dtype)


def test_lora_is_the_three_matmuls_plus_one():
    x, W, A, B = _arr(16, 32), _arr(32, 24), _arr(32, 4), _arr(4, 24)
    out = lora(*(fg.lazy(t) for t in (x, W, A, B)))
    kinds = [g.kind for g in L.schedule(out)]
    assert kinds.count("eager") == 3 and kinds.count("elementwise") == 1 and len(kinds) == 4
    _close(out.numpy(), lora(*(Tensor(t) for t in (x, W, A, B))).data, np.float32)


def test_an_unfusable_consumer_makes_its_input_materialised():
    x, W = _arr(6, 8), _arr(8, 3)
    h = (fg.lazy(x) * 2.0).tanh()                 # elementwise, then consumed by matmul
    out = (h @ fg.lazy(W)).relu()
    assert [g.kind for g in L.schedule(out)] == ["elementwise", "eager", "elementwise"]
    _close(out.numpy(), ((Tensor(x) * 2.0).tanh() @ Tensor(W)).relu().data, np.float32)


def test_movement_and_composite_ops_run_their_eager_forward():
    x = _arr(4, 6)
    out = (fg.lazy(x).reshape(6, 4).T.softmax(0) + 1.0).sum(0)
    want = (Tensor(x).reshape(6, 4).T.softmax(0) + 1.0).sum(0)
    _close(out.numpy(), want.data, np.float32)


@pytest.mark.parametrize("build, kernels", [
    (lambda a, b: (a * 2.0).T + b, 1),                      # transpose between fused ops
    (lambda a, b: a[:, ::2] * a[:, 1::2] + b[::2, 0], 1),    # strided slices, an int index
    (lambda a, b: a[::-1, 1:] - 1.0, 1),                     # a negative step
    (lambda a, b: (a.reshape(2, 6) + 1.0).reshape(4, 3) * b, 1),   # // and % on a flat index
    (lambda a, b: (a.T * b).sum(0), 1),                      # in a reduction's prologue
    (lambda a, b: a.sum(1, keepdims=True).broadcast_to((3, 4)) * a, 2),
])
def test_movement_between_fused_ops_is_index_arithmetic(build, kernels):
    a, b = _arr(3, 4), _arr(4, 3)
    out = build(fg.lazy(a), fg.lazy(b))
    groups = L.schedule(out)
    assert all(g.kind != "eager" for g in groups), [g.kind for g in groups]   # no copy kernel
    assert len(groups) == kernels
    _close(out.numpy(), build(Tensor(a), Tensor(b)).data, np.float32)


def test_a_movement_that_must_be_written_stays_a_view():
    a, W = _arr(4, 3), _arr(4, 5)
    out = (fg.lazy(a) * 2.0).T @ fg.lazy(W)            # matmul cannot fuse its input
    assert [g.kind for g in L.schedule(out)] == ["elementwise", "eager", "eager"]
    _close(out.numpy(), ((Tensor(a) * 2.0).T @ Tensor(W)).data, np.float32)
    source = L.codegen.generate(L.schedule((fg.lazy(a) * 2.0).T + 1.0)[0]).source
    assert "a0[i1, i0]" in source                       # read transposed, not copied


@pytest.mark.parametrize("op, axis, keepdims", [("sum", (0, 2), False), ("mean", 1, False),
                                               ("max", None, False), ("sum", 0, True), ("max", -1, True)])
def test_reductions_over_any_axes_with_a_prologue(op, axis, keepdims):
    x, y = _arr(2, 3, 4, dtype=np.float64), _arr(3, 1, dtype=np.float64)
    out = getattr(fg.lazy(x) * fg.lazy(y) + 1.0, op)(axis, keepdims)
    assert L.kernel_count(out) == 1
    want = getattr(Tensor(x) * Tensor(y) + 1.0, op)(axis, keepdims).data
    assert out.shape == want.shape
    _close(out.numpy(), want, np.float64)


def test_reductions_of_empty_or_0d_inputs_use_the_eager_forward():
    assert [g.kind for g in L.schedule(fg.lazy(np.ones((), np.float32)).sum())] == ["eager"]
    with pytest.raises(ValueError):
        fg.lazy(np.ones((0, 3))).max(0).numpy()
    np.testing.assert_array_equal(fg.lazy(np.ones((0, 3))).sum(0).numpy(), np.zeros(3))


@pytest.mark.parametrize("name", sorted(name for name, op in OPS.items() if op.scalar is not None))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_fused_scalar_form_matches_the_ops_forward(name, dtype):
    """Each op the code generator fuses, on every sampler case of the op table (broadcast
    shapes, scalars, exponents), fused lazily (then * 1.5, so the op sits inside a kernel)
    against the table's eager forward."""
    from fastgrad.ops import OPS

    op = OPS[name]
    for case in range(op.cases):
        inputs, attrs = op.sample(np.random.default_rng(case), dtype, case)
        got = (L.apply(name, *[fg.lazy(x) if x.dtype != bool else x for x in inputs], **attrs) * 1.5)
        scalars_only = all(isinstance(x, np.generic) for x in inputs)    # folded: no kernel
        assert L.kernel_count(got) == (0 if scalars_only else 1)
        want = op.forward(*inputs, **attrs) * dtype(1.5)
        assert got.numpy().dtype == dtype and got.shape == want.shape
        _close(got.numpy(), want, dtype)


# ------------------------------------------------------------- graph passes
def test_common_subexpressions_are_computed_once():
    a, b = fg.lazy(_arr(10)), fg.lazy(_arr(10))
    out = (a * b) + (a * b)
    _, stats = L.optimize([out])
    assert stats["merged"] >= 1
    (g,) = L.schedule(out)
    assert [n.op.name for n in g.nodes] == ["mul", "add"]
    np.testing.assert_allclose(out.numpy(), 2 * a.value * b.value, rtol=1e-6)


def test_scalar_only_subgraphs_are_folded_and_their_nodes_dropped():
    x = fg.lazy(_arr(10))
    out = fg.lazy(2.0) * 3.0 + x
    (root,), stats = L.optimize([out])
    assert stats["folded"] == 1 and stats["dead"] >= 2
    (g,) = L.schedule(out)
    assert [n.op.name for n in g.nodes] == ["add"]
    assert [x.value.item() for x in g.inputs if x.const] == [6.0]
    np.testing.assert_allclose(out.numpy(), x.value + 6.0, rtol=1e-6)


def test_topological_order_is_iterative():
    x = fg.lazy(_arr(3))
    y = x
    for _ in range(20_000):                     # far beyond the recursion limit
        y = y + x
    order = L.topological_order([y])
    assert len(order) == 20_001 and order[0] is x and order[-1] is y
    assert L.kernel_count(y) == 1


def test_realised_nodes_are_leaves_of_later_graphs():
    a = fg.lazy(_arr(5))
    b = (a * 3.0).realize()
    assert b.is_leaf
    out = b + 1.0
    (g,) = L.schedule(out)
    assert [n.op.name for n in g.nodes] == ["add"]


# ---------------------------------------------------------------- shapes, dtypes
def test_a_bad_shape_raises_when_the_node_is_built():
    a, b = fg.lazy(np.ones((3, 4))), fg.lazy(np.ones(5))
    with pytest.raises(ValueError, match=r"add.*\(3, 4\).*\(5,\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul"):
        a @ fg.lazy(np.ones((3, 2)))


def test_mixing_float32_and_float64_is_refused():
    with pytest.raises(TypeError, match="float32 and float64"):
        fg.lazy(np.ones(3, np.float32)) + fg.lazy(np.ones(3))


def test_constants_are_typed_to_the_kernel_dtype():
    x = _arr(100)
    out = fg.lazy(x) * 0.1 + 1.0
    kernel = L.codegen.generate(L.schedule(out)[0])
    assert [kind for kind, _ in kernel.args].count("scalar") == 2    # constants: typed scalar args
    assert out.dtype == np.float32 and out.numpy().dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), x * np.float32(0.1) + np.float32(1.0))
    x64 = fg.lazy(x.astype(np.float64)) * 0.1
    assert x64.numpy().dtype == np.float64
    assert "np.float32(-np.inf)" in L.codegen.generate(L.schedule(fg.lazy(x).max())[0]).source
    assert "acc / np.float32(100.0)" in L.codegen.generate(L.schedule(fg.lazy(x).mean())[0]).source


# ----------------------------------------------------------------- the cache
def test_realising_the_same_structure_again_compiles_nothing():
    def build(n):
        a, b, c = (fg.lazy(_arr(n, 7)) for _ in range(3))
        return (a * b + c).tanh()

    def built():                                 # compiled, or loaded from the disk cache
        return L.STATS["compiles"] + L.STATS["disk_loads"]

    L.clear_cache()
    build(5).realize()
    assert built() == 1 and L.STATS["plans"] == 1
    out = build(5).realize()                     # the same structure: the cached schedule
    assert built() == 1 and L.STATS["plan_hits"] == 1
    build(300).realize()                         # other sizes, same rank and pattern: the kernel
    assert built() == 1 and L.STATS["hits"] == 1 and L.STATS["plans"] == 2
    a, b, c = (fg.lazy(_arr(5, 7).astype(np.float64)) for _ in range(3))
    (a * b + c).tanh().realize()                 # another dtype: a new kernel
    assert built() == 2
    assert out.value.shape == (5, 7)


def test_the_schedule_cache_tells_apart_what_changes_the_result():
    x, y = _arr(4, 5), _arr(4, 5)
    L.clear_cache()
    for build in [lambda a, b: a * b + 1.0, lambda a, b: a * b + 2.0,      # another constant
                  lambda a, b: a * a + 1.0,                               # the same array twice
                  lambda a, b: (a * b).sum(0), lambda a, b: (a * b).sum(1),   # another axis
                  lambda a, b: a[:, ::2] * 2.0, lambda a, b: a[:, 1::2] * 2.0]:   # another slice
        for _ in range(2):
            a, b = fg.lazy(x), fg.lazy(y)
            want = build(Tensor(x), Tensor(y)).data
            _close(build(a, b).numpy(), want, np.float32)
    assert L.STATS["plans"] == 7 and L.STATS["plan_hits"] == 7


_DISK_SCRIPT = """
import numpy as np, fastgrad as fg
from fastgrad.lazy import codegen
x = np.arange(6, dtype=np.float32)
print((fg.lazy(x) * 3.0 + 1.0).tanh().sum().numpy(), codegen.STATS["compiles"], codegen.STATS["disk_loads"])
"""


def _run_script(cache):
    import os
    import subprocess
    import sys
    env = dict(os.environ, FASTGRAD_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, "-c", _DISK_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    value, compiles, loads = done.stdout.split()
    return float(value), int(compiles), int(loads)


def test_the_disk_cache_serves_a_new_process(tmp_path):
    want = float(np.tanh(np.arange(6) * 3.0 + 1.0).sum())
    value, compiles, loads = _run_script(tmp_path)
    assert (compiles, loads) == (1, 0) and abs(value - want) < 1e-5
    sources = list((tmp_path / "lazy").glob("k_*.py"))
    assert len(sources) == 1 and "cache=True" in sources[0].read_text()
    value, compiles, loads = _run_script(tmp_path)       # a new process: loaded, not compiled
    assert (compiles, loads) == (0, 1) and abs(value - want) < 1e-5
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    value, compiles, loads = _run_script(blocked)        # cannot write: compiled from exec'd source
    assert (compiles, loads) == (1, 0) and abs(value - want) < 1e-5


# ----------------------------------------------------------------- explain, draw
def test_explain_prints_the_groups_their_source_and_bytes(capsys):
    x = fg.lazy(_arr(8, 16))
    text = softmax(x).explain()
    printed = capsys.readouterr().out
    assert text in printed
    assert text.count("\nkernel ") == 3 and "def kernel(" in text and "fast_exp(" in text
    assert "bytes moved:" in text and "reduce [max]" in text


def test_draw_colours_nodes_by_kernel():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fg.lazy.draw(softmax(fg.lazy(_arr(4, 5))))
    boxes = [t.get_text().split("\n")[0] for t in ax.texts if t.get_bbox_patch() is not None]
    assert sorted(boxes) == sorted(["input", "max", "sub", "exp", "sum", "div"])   # CSE: one sub, one exp
    assert "3 kernel(s)" in ax.get_title()
    plt.close(ax.figure)


def test_fg_lazy_is_the_callable_module():
    import fastgrad.lazy
    assert fg.lazy is fastgrad.lazy and isinstance(fg.lazy(np.ones(2)), L.LazyTensor)


def test_the_benchmark_runs_quick(capsys):
    from fastgrad.bench import lazy as bench

    assert bench.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "compile: first kernel" in out and "softmax (64, 128) float32: 3 lazy kernel(s)" in out
    assert "RMSNorm (64, 128) float32: 2 lazy kernel(s)" in out and "lazy overhead on LoRA" in out
    assert "disk cache: a new process compiles 5 structures" in out
    assert out.count(" met") + out.count("NOT met") >= 3


# --------------------------------------------------------- random graphs: lazy == eager
_SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]
_UNARY = ["neg", "tanh", "sigmoid", "relu", "exp", "square", "gelu"]
_BINARY = ["add", "sub", "mul", "div"]
_REDUCE = [("sum", -1), ("mean", 0), ("max", -1), ("sum", None)]
_MOVE = ["flip", "transpose", "flatten", "broadcast"]


def _step(kind, name, x, y=None):
    """The same step on Tensors and LazyTensors (both spell ops the same way)."""
    if kind == "unary":
        if name == "exp":
            return x.tanh().exp()                # bounded, so chains cannot overflow
        if name == "square":
            return x ** 2
        return -x if name == "neg" else getattr(x, name)()
    if kind == "binary":
        if name == "div":
            return x / (y * y + 1.0)             # a denominator >= 1
        return {"add": x + y, "sub": x - y, "mul": x * y}[name]
    if kind == "move":          # shape-preserving, so later steps still broadcast
        if name == "flip":
            return x[::-1] if x.ndim else x
        if name == "transpose":
            return (x.T + 1.0).T
        if name == "flatten":
            return (x.reshape(-1) * 2.0).reshape(x.shape)
        return x.broadcast_to((3, 4)) * 0.5
    op, axis = name
    return getattr(x, op)(axis, True)


_steps = st.lists(st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(_UNARY), st.integers(0, 99), st.just(0)),
    st.tuples(st.just("binary"), st.sampled_from(_BINARY), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("reduce"), st.sampled_from(_REDUCE), st.integers(0, 99), st.just(0)),
    st.tuples(st.just("move"), st.sampled_from(_MOVE), st.integers(0, 99), st.just(0)),
), min_size=1, max_size=8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=st.lists(st.sampled_from(_SHAPES), min_size=1, max_size=3), steps=_steps,
       seed=st.integers(0, 2**16))
def test_random_graphs_lazy_equals_eager(dtype, shapes, steps, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, s).astype(dtype) for s in shapes]
    eager = [Tensor(a) for a in arrays]
    lazy = [fg.lazy(a) for a in arrays]
    for kind, name, i, j in steps:
        i, j = i % len(eager), j % len(eager)
        eager.append(_step(kind, name, eager[i], eager[j]))
        lazy.append(_step(kind, name, lazy[i], lazy[j]))
    want = eager[-1].data
    got = lazy[-1].numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    _close(got, want, dtype)
