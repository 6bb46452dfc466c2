"""fastgrad.nn: Module mechanics, layers against PyTorch, gradchecks of the composites."""
import numpy as np
import pytest

from fastgrad import nn
from fastgrad.autograd import Tensor
from fastgrad.gradcheck import gradcheck
from fastgrad.nn import norm

rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# ===================================================================== Module
class Block(nn.Module):
    """A module holding parameters and modules directly, in lists and in dicts."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3), dtype=np.float32)
        self.layers = [nn.Linear(3, 4, seed=0), [nn.ReLU(), nn.Linear(4, 3, seed=1)]]
        self.heads = {"q": nn.Linear(3, 2, seed=2), "k": nn.Linear(3, 2, bias=False, seed=3)}
        self.extras = (nn.Parameter(np.zeros(2), dtype=np.float32),)
        self.constant = Tensor(np.ones(3))                # requires_grad=False: not a parameter
        self.norm = nn.BatchNorm1d(3)

    def forward(self, x):
        h = self.layers[1][1](self.layers[1][0](self.layers[0](x * self.scale)))
        return self.heads["q"](self.norm(h)) + self.heads["k"](h) + self.extras[0]


def test_named_parameters_walk_lists_dicts_tuples_in_attribute_order():
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "extras.0", "layers.0.weight", "layers.0.bias", "layers.1.1.weight",
                     "layers.1.1.bias", "heads.q.weight", "heads.q.bias", "heads.k.weight",
                     "norm.weight", "norm.bias"]
    b = Block()
    assert [id(p) for p in b.parameters()] == [id(p) for _, p in b.named_parameters()]
    assert b.num_parameters() == 3 + 2 + (12 + 4) + (12 + 3) + (6 + 2) + 6 + (3 + 3)


def test_children_and_modules():
    b = Block()
    assert [n for n, _ in b.named_children()] == ["layers.0", "layers.1.0", "layers.1.1", "heads.q",
                                                    "heads.k", "norm"]
    assert list(b.children()) == [m for _, m in b.named_children()]
    mods = list(b.modules())
    assert mods[0] is b and len(mods) == 7
    assert [n for n, _ in b.named_modules()][0] == ""


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2, seed=0)

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = shared, shared
            self.w = nn.Parameter(np.ones(2))
            self.w_again = self.w

    t = Tied()
    assert [n for n, _ in t.named_parameters()] == ["w", "a.weight", "a.bias"]
    assert len(list(t.modules())) == 2
    assert list(t.state_dict()) == ["w", "a.weight", "a.bias"]


def test_module_with_a_cycle_terminates():
    outer = nn.Sequential(nn.Linear(2, 2, seed=0))
    outer[0].parent = outer                   # a child that points back to its parent
    assert len(list(outer.modules())) == 2
    assert [n for n, _ in outer.named_parameters()] == ["0.weight", "0.bias"]


def test_call_runs_forward_and_missing_forward_says_so():
    x = Tensor(randn(5, 3, dtype=np.float32))
    b = Block().eval()
    np.testing.assert_array_equal(b(x).data, b.forward(x).data)
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(x)


def test_train_eval_propagate_to_every_module():
    b = Block()
    assert all(m.training for m in b.modules())
    assert b.eval() is b
    assert not any(m.training for m in b.modules())
    b.train()
    assert all(m.training for m in b.modules())
    b.train(False)
    assert not b.heads["k"].training and not b.layers[1][0].training


def test_zero_grad_clears_every_gradient():
    b = Block()
    b(Tensor(randn(5, 3, dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in b.parameters())
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


def test_protocols_are_satisfied_structurally():
    lin = nn.Linear(2, 3, seed=0)
    for proto in (nn.Differentiable, nn.Parameterized, nn.Serializable):
        assert isinstance(lin, proto) and isinstance(Block(), proto)

    class OnlyParams:                          # not a Module: satisfies Parameterized only
        def parameters(self): return iter(())
        def named_parameters(self): return iter(())
        def zero_grad(self): pass

    assert isinstance(OnlyParams(), nn.Parameterized)
    assert not isinstance(OnlyParams(), nn.Serializable)
    assert not isinstance(np.zeros(3), nn.Parameterized)


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.ones(3))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == np.float64
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert not isinstance(p * 2, nn.Parameter)


def test_non_leaf_tensor_attribute_is_not_a_parameter():
    lin = nn.Linear(2, 2, seed=0)
    lin.last_output = lin(Tensor(randn(1, 2, dtype=np.float32)))    # a cached activation
    assert lin.last_output.requires_grad
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


# ----------------------------------------------------------- state dicts
def test_state_dict_names_copies_and_buffers():
    b = Block()
    sd = b.state_dict()
    assert list(sd) == ["scale", "extras.0", "layers.0.weight", "layers.0.bias", "layers.1.1.weight",
                        "layers.1.1.bias", "heads.q.weight", "heads.q.bias", "heads.k.weight",
                        "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
                        "norm.num_batches_tracked"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["layers.0.weight"][...] = 7.0                       # a copy: the module is unchanged
    assert not np.any(b.layers[0].weight.data == 7.0)
    assert not np.shares_memory(sd["norm.running_mean"], b.norm.running_mean)


def test_state_dict_round_trip_restores_outputs_in_place():
    src, dst = Block(), Block()
    src(Tensor(randn(6, 3, dtype=np.float32)))                               # updates running statistics
    for p in src.parameters():
        p.data += rng.standard_normal(p.shape).astype(p.dtype)
    weight_object, weight_array = dst.layers[0].weight, dst.layers[0].weight.data
    assert dst.load_state_dict(src.state_dict()) == ([], [])
    assert dst.layers[0].weight is weight_object and dst.layers[0].weight.data is weight_array
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)
    assert int(dst.norm.num_batches_tracked) == 1
    x = Tensor(randn(4, 3, dtype=np.float32))
    src.eval(), dst.eval()
    np.testing.assert_array_equal(src(x).data, dst(x).data)


def test_load_state_dict_strict_errors_name_keys_and_shapes():
    lin = nn.Linear(3, 4, seed=0)
    good = lin.state_dict()
    with pytest.raises(nn.StateDictError, match=r"missing key\(s\): bias"):
        lin.load_state_dict({"weight": good["weight"]})
    with pytest.raises(nn.StateDictError, match=r"unexpected key\(s\): extra"):
        lin.load_state_dict({**good, "extra": np.zeros(1)})
    bad = {**good, "weight": np.zeros((3, 3), dtype=np.float32)}
    with pytest.raises(nn.StateDictError, match=r"weight: the state dict has shape \(3, 3\).*"
                                                r"module has shape \(4, 3\)"):
        lin.load_state_dict(bad)
    with pytest.raises(nn.StateDictError, match=r"bias: .*dtype float64.*dtype float32"):
        lin.load_state_dict({**good, "bias": good["bias"].astype(np.float64)})


def test_refused_state_dict_changes_nothing():
    lin = nn.Linear(3, 4, seed=0)
    before = lin.state_dict()
    new = {"weight": np.ones((4, 3), dtype=np.float32), "bias": np.ones(5, dtype=np.float32)}
    with pytest.raises(nn.StateDictError, match=r"bias.*\(5,\).*\(4,\)"):
        lin.load_state_dict(new)
    np.testing.assert_array_equal(lin.weight.data, before["weight"])    # weight was valid, yet not loaded


def test_non_strict_load_reports_missing_and_unexpected_but_still_checks_shapes():
    lin = nn.Linear(3, 4, seed=0)
    result = lin.load_state_dict({"weight": np.ones((4, 3), np.float32), "junk": np.zeros(2)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["junk"]
    np.testing.assert_array_equal(lin.weight.data, 1.0)
    with pytest.raises(nn.StateDictError, match="weight"):
        lin.load_state_dict({"weight": np.ones((2, 3), np.float32)}, strict=False)


def test_register_buffer_before_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.register_buffer("x", np.zeros(2))

    with pytest.raises(RuntimeError, match="super"):
        Forgot()


# ------------------------------------------------------------------- repr
def test_repr_shows_structure_settings_and_counts():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128, seed=0), nn.ReLU(), nn.Dropout(0.25),
                          nn.Sequential(nn.Linear(128, 10, seed=1), nn.GELU()))
    text = repr(model)
    assert text.splitlines() == [
        "Sequential(  # 9,610 parameters",
        "  (0): Flatten(start_dim=1, end_dim=-1)",
        "  (1): Linear(in_features=64, out_features=128, bias=True)  # 8,320 parameters",
        "  (2): ReLU()",
        "  (3): Dropout(p=0.25)",
        "  (4): Sequential(  # 1,290 parameters",
        "    (0): Linear(in_features=128, out_features=10, bias=True)  # 1,290 parameters",
        "    (1): GELU(approximate='tanh')",
        "  )",
        ")",
    ]
    assert model.num_parameters() == 64 * 128 + 128 + 128 * 10 + 10
    assert repr(nn.Linear(1, 1, bias=False, seed=0)).endswith("# 1 parameter")


# ===================================================================== layers
def test_linear_init_is_pytorch_default_and_seeded():
    lin = nn.Linear(100, 50, seed=0)
    bound = 1 / np.sqrt(100)
    assert lin.weight.shape == (50, 100) and lin.bias.shape == (50,) and lin.weight.dtype == np.float32
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.95 * bound                 # spread over the whole range
    assert abs(lin.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound
    np.testing.assert_array_equal(lin.weight.data, nn.Linear(100, 50, seed=0).weight.data)
    assert not np.array_equal(lin.weight.data, nn.Linear(100, 50, seed=1).weight.data)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"in_features=3.*\(2, 4\)"):
        nn.Linear(3, 2, seed=0)(Tensor(np.ones((2, 4))))


def test_flatten():
    x = Tensor(randn(2, 3, 4, 5), requires_grad=True)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    nn.Flatten()(x).sum().backward()
    assert x.grad.shape == x.shape


def test_sequential_indexing_and_type_check():
    a, b = nn.ReLU(), nn.GELU()
    s = nn.Sequential(a, b)
    assert len(s) == 2 and s[0] is a and s[-1] is b and list(s) == [a, b]
    with pytest.raises(IndexError):
        s[2]
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(a, lambda x: x)


def test_dropout_eval_is_identity():
    d = nn.Dropout(0.5, seed=0).eval()
    x = Tensor(randn(10, 10))
    assert d(x) is x


def test_dropout_train_scales_survivors_and_is_seeded():
    x = Tensor(np.ones((200, 100)), requires_grad=True)
    d = nn.Dropout(0.3, seed=0)
    y = d(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    assert abs(kept.mean() - 0.7) < 0.02                  # 20,000 draws: std 0.003
    y2 = d(x)
    assert not np.array_equal(y.data, y2.data)            # a new mask each call
    np.testing.assert_array_equal(nn.Dropout(0.3, seed=0)(x).data, y.data)   # same seed, same mask
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad, y.data)            # gradient = mask / (1 - p)
    assert np.all(nn.Dropout(1.0, seed=0)(x).data == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_layernorm_and_batchnorm_shape_errors():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\)\).*\(2, 3\)"):
        nn.LayerNorm(4)(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\).*4-D.*\(2, 3\)"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\).*\(2, 4\)"):
        nn.BatchNorm1d(3)(Tensor(np.ones((2, 4))))
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(Tensor(np.ones((1, 3))))


# ====================================================== gradchecks (float64)
def test_gradcheck_layer_norm_composite():
    x, w, b = randn(3, 2, 5), randn(2, 5), randn(2, 5)
    result = gradcheck(lambda x, w, b: norm.layer_norm(x, 2, w, b, 1e-5), x, w, b, name="layer_norm")
    assert result, str(result)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 3, 4)])
def test_gradcheck_batch_norm_composite(shape):
    x, w, b = randn(*shape), randn(shape[1]), randn(shape[1])
    result = gradcheck(lambda x, w, b: norm.batch_norm(x, w, b, 1e-5), x, w, b, name="batch_norm")
    assert result, str(result)
    mean, var = rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])
    result = gradcheck(lambda x, w, b: norm.batch_norm(x, w, b, 1e-5, mean, var), x, w, b,
                       name="batch_norm eval")
    assert result, str(result)


def test_gradcheck_layer_norm_module():
    ln = nn.LayerNorm(4, dtype=np.float64)
    ln.weight.data[...], ln.bias.data[...] = randn(4), randn(4)
    assert gradcheck(lambda x: ln(x), randn(3, 4), name="LayerNorm")


# ============================================================ against torch
def _torch():
    return pytest.importorskip("torch")


def _t(a, torch):
    return torch.tensor(np.array(a), requires_grad=True)


def _compare_module(ours, theirs, x, dtype, atol, steps=1):
    """Same input and cotangent through both; outputs and all gradients must agree."""
    torch = _torch()
    for step in range(steps):
        xs = x[step] if isinstance(x, list) else x
        ours.zero_grad()
        theirs.zero_grad()
        xf = Tensor(xs, requires_grad=True)
        xt = _t(xs, torch)
        yf, yt = ours(xf), theirs(xt)
        v = rng.standard_normal(yf.shape).astype(dtype)
        np.testing.assert_allclose(yf.data, yt.detach().numpy(), atol=atol, rtol=atol)
        yf.backward(v)
        yt.backward(torch.tensor(v))
        np.testing.assert_allclose(xf.grad, xt.grad.numpy(), atol=atol, rtol=atol)
        for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), atol=atol, rtol=atol, err_msg=name)


def _load_from_torch(ours, theirs):
    """Load torch's state dict into ours: the keys, shapes and dtypes must all match."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_linear_matches_torch(dtype, atol):
    torch = _torch()
    theirs = torch.nn.Linear(5, 3).to(getattr(torch, np.dtype(dtype).name))
    ours = nn.Linear(5, 3, dtype=dtype, seed=0)
    _load_from_torch(ours, theirs)
    _compare_module(ours, theirs, randn(4, 5, dtype=dtype), dtype, atol)
    _compare_module(ours, theirs, randn(2, 4, 5, dtype=dtype), dtype, atol)       # batched leading dims


def test_linear_without_bias_matches_torch():
    torch = _torch()
    theirs = torch.nn.Linear(5, 3, bias=False).double()
    ours = nn.Linear(5, 3, bias=False, dtype=np.float64, seed=0)
    _load_from_torch(ours, theirs)
    _compare_module(ours, theirs, randn(4, 5), np.float64, 1e-10)


def test_gelu_and_relu_match_torch():
    torch = _torch()
    x = randn(4, 6) * 3
    _compare_module(nn.GELU(), torch.nn.GELU(approximate="tanh").double(), x, np.float64, 1e-10)
    _compare_module(nn.ReLU(), torch.nn.ReLU(), x, np.float64, 1e-12)


@pytest.mark.parametrize("shape,dtype,atol", [((5,), np.float64, 1e-10), ((3, 4), np.float64, 1e-10),
                                              ((6,), np.float32, 1e-5)])
def test_layernorm_matches_torch(shape, dtype, atol):
    torch = _torch()
    theirs = torch.nn.LayerNorm(shape).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(shape))
        theirs.bias.copy_(torch.randn(shape))
    ours = nn.LayerNorm(shape, dtype=dtype)
    _load_from_torch(ours, theirs)
    _compare_module(ours, theirs, randn(2, 3, *shape, dtype=dtype) * 2 + 1, dtype, atol)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 4)), ("BatchNorm1d", (6, 4, 5)),
                                       ("BatchNorm2d", (5, 4, 3, 3))])
@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-9), (np.float32, 1e-4)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_matches_torch_train_then_eval(cls, shape, dtype, atol, momentum):
    torch = _torch()
    theirs = getattr(torch.nn, cls)(shape[1], momentum=momentum).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(shape[1]))
        theirs.bias.copy_(torch.randn(shape[1]))
    ours = getattr(nn, cls)(shape[1], momentum=momentum, dtype=dtype)
    _load_from_torch(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    batches = [(randn(*shape) * (i + 1) + i).astype(dtype) for i in range(3)]
    _compare_module(ours, theirs, batches, dtype, atol, steps=3)            # training: batch statistics
    for name, value in theirs.state_dict().items():                         # running statistics, count
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=atol, atol=atol, err_msg=name)
    assert int(ours.num_batches_tracked) == 3
    ours.eval(), theirs.eval()
    _compare_module(ours, theirs, randn(*shape, dtype=dtype), dtype, atol)  # eval: running statistics
    assert int(ours.num_batches_tracked) == 3                               # eval does not count


def test_small_mlp_with_every_layer_matches_torch():
    torch = _torch()
    ours = nn.Sequential(nn.Flatten(), nn.Linear(12, 8, dtype=np.float64, seed=0), nn.BatchNorm1d(8, dtype=np.float64),
                         nn.GELU(), nn.LayerNorm(8, dtype=np.float64), nn.ReLU(), nn.Dropout(0.5, seed=0),
                         nn.Linear(8, 3, dtype=np.float64, seed=1)).eval()
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.BatchNorm1d(8),
                                 torch.nn.GELU(approximate="tanh"), torch.nn.LayerNorm(8), torch.nn.ReLU(),
                                 torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load_from_torch(ours, theirs)
    _compare_module(ours, theirs, randn(4, 3, 4), np.float64, 1e-9)
