"""Chapter 06 checkers as graders: reference answers and answers written another way pass,
stubs get "not implemented yet", and plausible wrong answers get a fail whose message
names the real mistake (the expected words). The optimizer references are compared with
torch.optim.SGD and torch.optim.Adam, and the loss and Linear backward with torch's
autograd, when torch is installed (skipped otherwise)."""
import math

import numpy as np
import pytest

from fastgrad.check import ch06


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your code here, then run the check cell below.")


# ------------------------------------------------------------------ reference answers (as in solutions/06)

def linear_backward(grad_out, x, w):
    grad_x = grad_out @ w
    grad_w = grad_out.T @ x
    grad_b = grad_out.sum(axis=0)
    return grad_x, grad_w, grad_b


def im2col(x, r, s, stride=1, padding=0):
    n, c, h, w = x.shape
    oh = (h + 2 * padding - r) // stride + 1
    ow = (w + 2 * padding - s) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, oh, ow, c, r, s), dtype=x.dtype)
    for dr in range(r):
        for ds in range(s):
            window = xp[:, :, dr:dr + stride * (oh - 1) + 1:stride, ds:ds + stride * (ow - 1) + 1:stride]
            cols[:, :, :, :, dr, ds] = window.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * r * s)


def conv_output_shape(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    k, c_w, r, s = w_shape
    if c != c_w:
        raise ValueError(f"input {tuple(x_shape)} has {c} channels but weight {tuple(w_shape)} expects {c_w}")
    hp, wp = h + 2 * padding, w + 2 * padding
    if r > hp or s > wp:
        raise ValueError(f"the {r}x{s} kernel of weight {tuple(w_shape)} is larger than input {tuple(x_shape)} "
                         f"padded to {hp}x{wp}")
    return n, k, (hp - r) // stride + 1, (wp - s) // stride + 1


def sgd_momentum_step(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += grad
    param -= lr * velocity


def adam_step(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


def cross_entropy(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(logits.shape[0]), targets].mean())


REFERENCES = {"linear_backward": linear_backward, "im2col": im2col, "conv_output_shape": conv_output_shape,
              "sgd_momentum_step": sgd_momentum_step, "adam_step": adam_step, "cross_entropy": cross_entropy}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_passes(name):
    result = getattr(ch06, name)(REFERENCES[name], show=False)
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_stub_is_todo(name):
    result = getattr(ch06, name)(stub, show=False)
    assert result.status == "todo"
    assert "not implemented yet" in result.message


def test_checker_prints_its_verdict(capsys):
    ch06.conv_output_shape(conv_output_shape)
    assert "conv_output_shape: all" in capsys.readouterr().out


# ------------------------------------------------------------------ 1. linear_backward, wrong answers

def _lb_w_transposed(grad_out, x, w):
    return grad_out @ w, x.T @ grad_out, grad_out.sum(axis=0)


def _lb_x_transposed(grad_out, x, w):
    return grad_out @ w.T, grad_out.T @ x, grad_out.sum(axis=0)


def _lb_b_not_summed(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out.copy()


def _lb_b_mean(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out.mean(axis=0)


def _lb_b_axis1(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out.sum(axis=1)


def _lb_b_everything(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out.sum()


def _lb_b_keepdims(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out.sum(axis=0, keepdims=True)


def _lb_w_mean(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x / len(x), grad_out.sum(axis=0)


def _lb_x_mean(grad_out, x, w):
    return grad_out @ w / len(x), grad_out.T @ x, grad_out.sum(axis=0)


def _lb_squeeze(grad_out, x, w):
    g, xs = np.squeeze(grad_out), np.squeeze(x)
    if g.ndim == 1:                       # "one sample": the single-sample formulas
        return g @ w, np.outer(g, xs), g
    return g @ w, g.T @ xs, g.sum(axis=0)


def _lb_loop_view(grad_out, x, w):
    grad_b = grad_out[0]
    for row in grad_out[1:]:
        grad_b = grad_b + row             # a new array each time, except when N = 1
    return grad_out @ w, grad_out.T @ x, grad_b


def _lb_loop_in_place(grad_out, x, w):
    grad_b = grad_out[0]
    for row in grad_out[1:]:
        grad_b += row                     # writes into grad_out[0]
    return grad_out @ w, grad_out.T @ x, grad_b


def _lb_float64(grad_out, x, w):
    grad_w = np.zeros(w.shape)            # float64 accumulator
    for n in range(len(x)):
        grad_w += np.outer(grad_out[n], x[n])
    return grad_out @ w, grad_w, grad_out.sum(axis=0)


def _lb_first_sample(grad_out, x, w):
    return grad_out @ w, np.outer(grad_out[0], x[0]), grad_out.sum(axis=0)


def _lb_first_row_b(grad_out, x, w):
    return grad_out @ w, grad_out.T @ x, grad_out[0].copy()


LINEAR_WRONG = [
    ("grad_w = x.T @ grad_out", _lb_w_transposed,
     ["should be (3, 5) like w", "x.T @ grad_out instead of grad_out.T @ x"]),
    ("grad_x = grad_out @ w.T", _lb_x_transposed, ["shapes do not fit", "grad_x = grad_out @ w"]),
    ("grad_b not summed", _lb_b_not_summed, ["not summed over the batch", "axis 0"]),
    ("grad_b mean", _lb_b_mean, ["MEAN", "sum"]),
    ("grad_b over axis 1", _lb_b_axis1, ["axis 1", "axis 0"]),
    ("grad_b over everything", _lb_b_everything, ["summed over everything"]),
    ("grad_b keepdims", _lb_b_keepdims, ["keepdims=True"]),
    ("grad_w divided by N", _lb_w_mean, ["grad_w was divided by N"]),
    ("grad_x divided by N", _lb_x_mean, ["grad_x was divided by N"]),
    ("squeezed batch for N=1", _lb_squeeze, ["N = 1", "squeeze"]),
    ("grad_b a view for N=1", _lb_loop_view, ["shares memory", "grad_out[0]"]),
    ("grad_b += into grad_out", _lb_loop_in_place, ["wrote into one of its inputs"]),
    ("float64 accumulator", _lb_float64, ["grad_w has dtype float64", "float32", "np.zeros"]),
    ("first sample only", _lb_first_sample, ["only the first sample"]),
    ("first row as grad_b", _lb_first_row_b, ["first row"]),
    ("two results", lambda g, x, w: (g @ w, g.T @ x), ["(grad_x, grad_w, grad_b)", "length 2"]),
    ("a dict", lambda g, x, w: {"x": g @ w, "w": g.T @ x, "b": g.sum(0)}, ["expected a tuple", "dict"]),
    ("forgot return", lambda g, x, w: None, ["returned None"]),
]


def _lb_square_transpose(grad_out, x, w):
    """Right only where the shapes force it: transposed whenever w is square."""
    grad_w = x.T @ grad_out if w.shape[0] == w.shape[1] else grad_out.T @ x
    return grad_out @ w, grad_w, grad_out.sum(axis=0)


def _lb_square_x(grad_out, x, w):
    grad_x = grad_out @ w.T if w.shape[0] == w.shape[1] else grad_out @ w
    return grad_x, grad_out.T @ x, grad_out.sum(axis=0)


LINEAR_WRONG += [
    ("transposed grad_w, square case", _lb_square_transpose, ["transpose of the right answer"]),
    ("grad_out @ w.T, square case", _lb_square_x, ["w is square", "grad_x = grad_out @ w"]),
]


# ------------------------------------------------------------------ 2. im2col, wrong answers

def _im2col_loops(x, r, s, stride=1, padding=0, *, order="crs", rows="nij", start="stride", pad="both",
                  oh_rule="floor", border=0.0):
    n, c, h, w = x.shape
    if pad == "both":
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=border)
    elif pad == "one side":
        xp = np.pad(x, ((0, 0), (0, 0), (padding, 0), (padding, 0)))
    else:
        xp = np.asarray(x)
    hp, wp = xp.shape[2], xp.shape[3]
    if oh_rule == "floor":
        oh, ow = (hp - r) // stride + 1, (wp - s) // stride + 1
    elif oh_rule == "true division":
        oh, ow = (hp - r) / stride + 1, (wp - s) / stride + 1
    elif oh_rule == "no +1":
        oh, ow = (hp - r) // stride, (wp - s) // stride
    elif oh_rule == "ceil":
        oh, ow = math.ceil((hp - r) / stride) + 1, math.ceil((wp - s) / stride) + 1
    elif oh_rule == "no stride":
        oh, ow = hp - r + 1, wp - s + 1
    cols = np.zeros((n * oh * ow, c * r * s), x.dtype)
    step = stride if oh_rule != "no stride" else 1
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                row = {"nij": (b * oh + i) * ow + j, "ijn": (i * ow + j) * n + b, "nji": (b * ow + j) * oh + i}[rows]
                col = 0
                entries = {"crs": [(cc, dr, ds) for cc in range(c) for dr in range(r) for ds in range(s)],
                           "rsc": [(cc, dr, ds) for dr in range(r) for ds in range(s) for cc in range(c)],
                           "csr": [(cc, dr, ds) for cc in range(c) for ds in range(s) for dr in range(r)]}[order]
                for cc, dr, ds in entries:
                    y0 = i * step if start == "stride" else i
                    x0 = j * step if start == "stride" else j
                    cols[row, col] = xp[b, cc, y0 + dr, x0 + ds]
                    col += 1
    return cols


def _wrong_im2col(**options):
    return lambda x, r, s, stride=1, padding=0: _im2col_loops(x, r, s, stride, padding, **options)


def _im2col_mutates(x, r, s, stride=1, padding=0):
    x -= 0                                 # "harmless", but writes into x
    return im2col(x, r, s, stride, padding)


def _im2col_float64(x, r, s, stride=1, padding=0):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1
    out = np.zeros((n * oh * ow, c * r * s))           # float64 whatever x is
    out[...] = im2col(x, r, s, stride, padding)
    return out


def _im2col_swapped_rs(x, r, s, stride=1, padding=0):
    return im2col(x, s, r, stride, padding)


def _im2col_no_reshape(x, r, s, stride=1, padding=0):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1
    return im2col(x, r, s, stride, padding).reshape(n, oh, ow, c, r, s)


def _im2col_slices_rounded_up(x, r, s, stride=1, padding=0):
    n, c, h, w = x.shape
    oh = math.ceil((h + 2 * padding - r) / stride) + 1
    ow = math.ceil((w + 2 * padding - s) / stride) + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, oh, ow, c, r, s), dtype=x.dtype)
    for dr in range(r):
        for ds in range(s):
            cols[:, :, :, :, dr, ds] = xp[:, :, dr::stride, ds::stride][:, :, :oh, :ow].transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * r * s)


IM2COL_WRONG = [
    ("columns (r, s, c)", _wrong_im2col(order="rsc"), ["(r, s, c) order", "(c, r, s)"]),
    ("columns (c, s, r)", _wrong_im2col(order="csr"), ["r and s are swapped in the column order"]),
    ("rows (i, j, n)", _wrong_im2col(rows="ijn"), ["(i, j, n) order", "image by image"]),
    ("rows (n, j, i)", _wrong_im2col(rows="nji"), ["(n, j, i) order"]),
    ("windows start at (i, j)", _wrong_im2col(start="pixel"), ["start at (i*stride, j*stride)"]),
    ("stride ignored", _wrong_im2col(oh_rule="no stride"), ["the stride was ignored"]),
    ("padding ignored", _wrong_im2col(pad="none"), ["the padding was ignored"]),
    ("padding one side", _wrong_im2col(pad="one side"), ["padded on one side only"]),
    ("OH by true division", _wrong_im2col(oh_rule="true division"), ["true division", "//"]),
    ("OH without +1", _wrong_im2col(oh_rule="no +1"), ["left out the +1"]),
    ("OH rounded up", _wrong_im2col(oh_rule="ceil"), ["ran past the edge", "rounded down (not up)"]),
    ("OH rounded up, slices", _im2col_slices_rounded_up, ["arrays of different shapes met", "rounded down (not up)"]),
    ("border not zero", _wrong_im2col(border=-1.0), ["border must hold zeros"]),
    ("R and S swapped", _im2col_swapped_rs, ["R and S were swapped"]),
    ("transposed", lambda x, r, s, stride=1, padding=0: im2col(x, r, s, stride, padding).T.copy(), ["transposed"]),
    ("not reshaped", _im2col_no_reshape, ["reshape the patches to 2-D"]),
    ("mutates x", _im2col_mutates, ["wrote into one of its inputs"]),
    ("float64 result", _im2col_float64, ["dtype float64", "float32"]),
    ("no defaults", lambda x, r, s, stride, padding: im2col(x, r, s, stride, padding), ["TypeError", "missing"]),
    ("forgot return", lambda x, r, s, stride=1, padding=0: None, ["returned None"]),
]


# ------------------------------------------------------------------ 3. conv_output_shape, wrong answers

def _shape_formula(size):
    def fn(x_shape, w_shape, stride=1, padding=0):
        n, c, h, w = x_shape
        k, c2, r, s = w_shape
        if c != c2:
            raise ValueError(f"channels: input {x_shape}, weight {w_shape}")
        if r > h + 2 * padding or s > w + 2 * padding:
            raise ValueError(f"kernel too large: input {x_shape}, weight {w_shape}")
        return n, k, size(h, r, stride, padding), size(w, s, stride, padding)
    return fn


def _shape_no_checks(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    k, _, r, s = w_shape
    return n, k, (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1


def _shape_assert(x_shape, w_shape, stride=1, padding=0):
    assert x_shape[1] == w_shape[1], "channel mismatch"
    return conv_output_shape(x_shape, w_shape, stride, padding)


def _shape_bare_message(x_shape, w_shape, stride=1, padding=0):
    if x_shape[1] != w_shape[1]:
        raise ValueError("channel mismatch")
    return conv_output_shape(x_shape, w_shape, stride, padding)


def _shape_height_only(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    k, c2, r, s = w_shape
    if c != c2:
        raise ValueError(f"input {x_shape}, weight {w_shape}: channels differ")
    if r > h + 2 * padding:                                # the width is never checked
        raise ValueError(f"input {x_shape}, weight {w_shape}: kernel too large")
    return n, k, (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1


def _shape_unpadded_check(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    k, c2, r, s = w_shape
    if c != c2 or r > h or s > w:                          # ignores the padding
        raise ValueError(f"input {x_shape}, weight {w_shape} do not fit")
    return n, k, (h + 2 * padding - r) // stride + 1, (w + 2 * padding - s) // stride + 1


def _shape_c_not_k(x_shape, w_shape, stride=1, padding=0):
    n, c, _, _ = x_shape
    return (n, c) + conv_output_shape(x_shape, w_shape, stride, padding)[2:]


def _shape_swapped_hw(x_shape, w_shape, stride=1, padding=0):
    n, k, oh, ow = conv_output_shape(x_shape, w_shape, stride, padding)
    return n, k, ow, oh


SHAPE_WRONG = [
    ("padding once", _shape_formula(lambda h, r, st, p: (h + p - r) // st + 1), ["padding counted once"]),
    ("padding ignored", _shape_formula(lambda h, r, st, p: (h - r) // st + 1), ["padding was ignored"]),
    ("no +1", _shape_formula(lambda h, r, st, p: (h + 2 * p - r) // st), ["+1 is missing"]),
    ("true division", _shape_formula(lambda h, r, st, p: (h + 2 * p - r) / st + 1), ["is a float", "//"]),
    ("rounded up", _shape_formula(lambda h, r, st, p: math.ceil((h + 2 * p - r) / st) + 1), ["rounded up"]),
    ("stride ignored", _shape_formula(lambda h, r, st, p: h + 2 * p - r + 1), ["stride was ignored"]),
    ("+1 before dividing", _shape_formula(lambda h, r, st, p: (h + 2 * p - r + 1) // st), ["+1 comes after"]),
    ("C instead of K", _shape_c_not_k, ["output channels K = w_shape[0]"]),
    ("OH and OW swapped", _shape_swapped_hw, ["OH and OW are swapped"]),
    ("no ValueError", _shape_no_checks, ["expected a ValueError", "channels"]),
    ("assert instead of ValueError", _shape_assert, ["AssertionError", "expected a ValueError"]),
    ("message without the shapes", _shape_bare_message, ["name both shapes"]),
    ("kernel width not checked", _shape_height_only, ["kernel wider", "Check BOTH height and width"]),
    ("raw input compared with the kernel", _shape_unpadded_check, ["PADDED input"]),
    ("a list of floats", lambda x, w, stride=1, padding=0: [float(v) for v in conv_output_shape(x, w, stride, padding)],
     ["is a float"]),
    ("a NumPy array", lambda x, w, stride=1, padding=0: np.array(conv_output_shape(x, w, stride, padding)),
     ["expected a tuple of 4 ints"]),
    ("(OH, OW) only", lambda x, w, stride=1, padding=0: conv_output_shape(x, w, stride, padding)[2:],
     ["expected a tuple of 4 ints"]),
    ("forgot return", lambda x, w, stride=1, padding=0: None, ["returned None"]),
]


# ------------------------------------------------------------------ 4. sgd_momentum_step, wrong answers

def _sgd_rebind(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += grad
    param = param - lr * velocity          # noqa: F841  (rebinds the local name only)


def _sgd_rebind_velocity(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    param -= lr * velocity


def _sgd_copy(param, grad, velocity, lr, momentum):
    p, v = param.copy(), velocity.copy()
    v *= momentum
    v += grad
    p -= lr * v
    return p, v


def _sgd_lr_inside(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += lr * grad
    param -= velocity


def _sgd_sutskever(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity -= lr * grad
    param += velocity


def _sgd_dampening(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += (1 - momentum) * grad
    param -= lr * velocity


def _sgd_old_velocity(param, grad, velocity, lr, momentum):
    param -= lr * velocity
    velocity *= momentum
    velocity += grad


def _sgd_no_momentum(param, grad, velocity, lr, momentum):
    velocity[...] = grad
    param -= lr * velocity


def _sgd_uphill(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += grad
    param += lr * velocity


def _sgd_mutates_grad(param, grad, velocity, lr, momentum):
    grad *= lr                             # scales the caller's gradient
    velocity *= momentum
    velocity += grad / lr
    param -= lr * velocity


def _sgd_skip_first(param, grad, velocity, lr, momentum):
    if not velocity.any():                 # "first step: just initialise the velocity"
        velocity[...] = grad
        return
    velocity *= momentum
    velocity += grad
    param -= lr * velocity


def _sgd_returns(param, grad, velocity, lr, momentum):
    sgd_momentum_step(param, grad, velocity, lr, momentum)
    return param


def _sgd_whole_buffer(param, grad, velocity, lr, momentum):
    sgd_momentum_step(param, grad, velocity, lr, momentum)
    base = param.base if param.base is not None else None
    if base is not None and base.ndim == 1:
        base[0] = base[0] * 1.0 + 1.0      # writes outside the view


SGD_WRONG = [
    ("param rebound", _sgd_rebind, ["param did not change", "rebinds the local name", "param -= lr * velocity"]),
    ("velocity rebound", _sgd_rebind_velocity, ["velocity did not change", "in place"]),
    ("updates copies, returns them", _sgd_copy, ["param did not change", "velocity did not change"]),
    ("lr inside the velocity", _sgd_lr_inside, ["lr is inside the velocity", "factor lr", "schedule"]),
    ("Sutskever's convention", _sgd_sutskever, ["param += v convention"]),
    ("dampening", _sgd_dampening, ["dampening", "(1 - momentum) * grad"]),
    ("param moved with the old velocity", _sgd_old_velocity, ["OLD velocity"]),
    ("momentum ignored", _sgd_no_momentum, ["momentum is ignored"]),
    ("uphill", _sgd_uphill, ["uphill"]),
    ("grad written", _sgd_mutates_grad, ["wrote into grad", "leave grad unchanged"]),
    ("first step skipped", _sgd_skip_first, ["param did not change", "first step"]),
    ("returns param", _sgd_returns, ["returned a value of type ndarray", "returns None"]),
    ("writes outside its view", _sgd_whole_buffer, ["outside param's view"]),
]


def test_lr_inside_differs_from_pytorch_only_under_a_schedule():
    """What the "lr inside the velocity" hint claims: the two conventions move param alike
    while lr is constant and apart when it changes (their stored velocities always differ)."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(4) for _ in range(5)]

    def run(lrs, **flags):
        state = {"param": np.ones(4), "velocity": np.zeros(4)}
        for g, lr in zip(grads, lrs):
            state = ch06._sgd(state, g, lr, 0.9, **flags)
        return state
    constant = [0.1] * 5
    schedule = [0.1, 0.1, 0.05, 0.2, 0.01]
    np.testing.assert_allclose(run(constant)["param"], run(constant, lr_inside=True)["param"], rtol=1e-12)
    np.testing.assert_allclose(run(constant, lr_inside=True)["velocity"], 0.1 * run(constant)["velocity"])
    assert not np.allclose(run(schedule)["param"], run(schedule, lr_inside=True)["param"])


# ------------------------------------------------------------------ 5. adam_step, wrong answers

def _adam(**flags):
    """Adam with one deliberate mistake, written as a learner would."""
    def step(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        b1, b2 = (beta2, beta1) if flags.get("swap") else (beta1, beta2)
        if flags.get("defaults"):
            b1, b2, eps = 0.9, 0.999, 1e-8
        if flags.get("init") and t == 1:
            m[...] = grad
            v[...] = grad * grad
        elif flags.get("no_one_minus"):
            m[...] = b1 * m + grad
            v[...] = b2 * v + grad * grad
        else:
            m[...] = b1 * m + (1 - b1) * (grad * grad if flags.get("g2_in_m") else grad)
            v[...] = b2 * v + (1 - b2) * (grad if flags.get("g_in_v") else grad * grad)
        tt = t + flags.get("t_shift", 0)
        m_hat = m / (1 - b1 ** tt) if not flags.get("no_bias") and not flags.get("only_v") else m
        v_hat = v / (1 - b2 ** tt) if not flags.get("no_bias") else v
        if flags.get("store_hat"):
            m[...] = m_hat
            v[...] = v_hat
        if flags.get("eps_in_sqrt"):
            param -= lr * m_hat / np.sqrt(v_hat + eps)
        elif flags.get("sqrt_of_v"):
            param -= lr * m_hat / (np.sqrt(v) + eps)
        elif flags.get("no_sqrt"):
            param -= lr * m_hat / (v_hat + eps)
        elif flags.get("no_eps"):
            param -= lr * m_hat / np.sqrt(v_hat)
        elif flags.get("eps_outside"):
            param -= lr * m_hat / np.sqrt(v_hat) + eps
        elif flags.get("uphill"):
            param += lr * m_hat / (np.sqrt(v_hat) + eps)
        else:
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return step


def _adam_rebind_m(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad ** 2
    param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)


def _adam_rebind_v(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)


def _adam_rebind_param(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad ** 2
    param = param - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)   # noqa: F841


def _adam_mutates_grad(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    grad *= 1 - beta1
    m *= beta1
    m += grad
    v *= beta2
    v += (1 - beta2) * (grad / (1 - beta1)) ** 2
    param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)


def _adam_paper_form(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Algorithm 1's 'more efficient' order from the Adam paper: not PyTorch's eps."""
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad ** 2
    lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    param -= lr_t * m / (np.sqrt(v) + eps)


def _adam_returns(*args, **kwargs):
    adam_step(*args, **kwargs)
    return args[0]


ADAM_WRONG = [
    ("no bias correction", _adam(no_bias=True), ["no bias correction"]),
    ("t taken as 0-based (t + 1)", _adam(t_shift=1), ["uses t + 1", "1-based"]),
    ("t - 1: division by zero at t=1", _adam(t_shift=-1), ["uses t - 1", "divides by zero"]),
    ("eps inside the sqrt", _adam(eps_in_sqrt=True), ["eps is inside the square root"]),
    ("sqrt of v, not v_hat", _adam(sqrt_of_v=True), ["square root of v, not of the bias-corrected v_hat"]),
    ("only v corrected", _adam(only_v=True), ["only v is bias-corrected"]),
    ("betas swapped", _adam(swap=True), ["beta1 and beta2 are swapped"]),
    ("grad**2 in m", _adam(g2_in_m=True), ["grad**2 went into m"]),
    ("grad in v", _adam(g_in_v=True), ["v averages grad**2"]),
    ("no (1 - beta)", _adam(no_one_minus=True), ["(1 - beta) factors are missing"]),
    ("bias-corrected moments stored", _adam(store_hat=True), ["stored the bias-corrected m_hat"]),
    ("no sqrt", _adam(no_sqrt=True), ["square root is missing"]),
    ("no eps", _adam(no_eps=True), ["eps is missing"]),
    ("eps outside the parentheses", _adam(eps_outside=True), ["eps is outside the fraction"]),
    ("moments initialised with the first gradient", _adam(init=True), ["at t=1 you set m = grad"]),
    ("default hyper-parameters hard-coded", _adam(defaults=True), ["instead of the arguments"]),
    ("uphill", _adam(uphill=True), ["uphill"]),
    ("m rebound", _adam_rebind_m, ["m did not change", "in place"]),
    ("v rebound", _adam_rebind_v, ["v did not change", "in place"]),
    ("param rebound", _adam_rebind_param, ["param did not change"]),
    ("grad written", _adam_mutates_grad, ["wrote into grad"]),
    ("returns param", _adam_returns, ["returns None"]),
    ("the paper's efficient form", _adam_paper_form, ["'efficient' form", "sqrt(v_hat) + eps"]),
    ("no default betas", lambda p, g, m, v, t, lr, beta1, beta2, eps: adam_step(p, g, m, v, t, lr, beta1, beta2, eps),
     ["TypeError", "missing"]),
]


# ------------------------------------------------------------------ 6. cross_entropy, wrong answers

def _ce_naive(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(logits)), targets]).mean())


def _ce_global_max(logits, targets):
    z = logits - logits.max()
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(logits)), targets].mean())


def _ce_global_max_softmax(logits, targets):
    e = np.exp(logits - logits.max())
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(logits)), targets]).mean())


def _ce_log_softmax_eps(logits, targets):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(logits)), targets] + 1e-12).mean())


def _ce_clip(logits, targets):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = np.clip(e / e.sum(axis=1, keepdims=True), np.finfo(np.float64).eps, 1.0)
    return float(-np.log(p[np.arange(len(logits)), targets]).mean())


def _ce_log_of_softmax(logits, targets):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(logits)), targets]).mean())


def _ce_sum(logits, targets):
    return cross_entropy(logits, targets) * len(logits)


def _ce_axis0(logits, targets):
    z = logits - logits.max(axis=0, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=0, keepdims=True))
    return float(-log_p[np.arange(len(logits)), targets].mean())


def _ce_no_keepdims(logits, targets):
    z = logits - logits.max(axis=1)
    log_p = z - np.log(np.exp(z).sum(axis=1))
    return float(-log_p[np.arange(len(logits)), targets].mean())


def _log_p(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ce_lse_whole_batch(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum())
    return float(-log_p[np.arange(len(logits)), targets].mean())


CE_WRONG = [
    ("naive exp", _ce_naive, ["overflow: subtract the row max before exp"]),
    ("global max", _ce_global_max, ["max of the whole batch", "axis=1, keepdims=True"]),
    ("global max, softmax form", _ce_global_max_softmax, ["max of the whole batch"]),
    ("log(softmax + 1e-12)", _ce_log_softmax_eps, ["capped at -log(eps)", "log-softmax directly"]),
    ("np.clip(p, eps, 1)", _ce_clip, ["capped at -log(eps)"]),
    ("log(softmax)", _ce_log_of_softmax, ["log(0)", "underflowed", "log-softmax directly"]),
    ("sum instead of mean", _ce_sum, ["SUM over the batch", "mean"]),
    ("softmax over axis 0", _ce_axis0, ["normalised over the batch, axis 0"]),
    ("no keepdims", _ce_no_keepdims, ["keepdims"]),
    ("log-sum-exp over the whole batch", _ce_lse_whole_batch, ["over the whole batch (no axis)"]),
    ("mean over all classes", lambda x, t: float(-_log_p(x).mean()), ["ALL classes"]),
    ("log_p[:, targets]", lambda x, t: float(-_log_p(x)[:, t].mean()), ["N x N matrix"]),
    ("class 0 always", lambda x, t: float(-_log_p(x)[:, 0].mean()), ["targets were ignored"]),
    ("predicted class", lambda x, t: float(-_log_p(x).max(axis=1).mean()), ["most likely class"]),
    ("targets as weights", lambda x, t: float(-(_log_p(x) * t[:, None]).sum(axis=1).mean()), ["class indices"]),
    ("targets as one-hot", lambda x, t: float(-(_log_p(x) * t).sum(axis=1).mean()), ["class indices", "keepdims"]),
    ("sign flipped", lambda x, t: -cross_entropy(x, t), ["sign is flipped"]),
    ("log10", lambda x, t: cross_entropy(x, t) / np.log(10), ["log10"]),
    ("per-sample losses", lambda x, t: -_log_p(x)[np.arange(len(x)), t], ["loss of each sample", "mean"]),
    ("0-d array", lambda x, t: np.asarray(cross_entropy(x, t)), ["float(...)"]),
    ("mutates logits", lambda x, t: (x.__isub__(x.max(axis=1, keepdims=True)), cross_entropy(x, t))[1],
     ["wrote into one of its inputs"]),
    ("a string", lambda x, t: f"{cross_entropy(x, t):.3f}", ["returned a str", "float"]),
    ("forgot return", lambda x, t: None, ["returned None"]),
]


WRONG = ([(ch06.linear_backward, fn, words, f"linear: {name}") for name, fn, words in LINEAR_WRONG]
         + [(ch06.im2col, fn, words, f"im2col: {name}") for name, fn, words in IM2COL_WRONG]
         + [(ch06.conv_output_shape, fn, words, f"shape: {name}") for name, fn, words in SHAPE_WRONG]
         + [(ch06.sgd_momentum_step, fn, words, f"sgd: {name}") for name, fn, words in SGD_WRONG]
         + [(ch06.adam_step, fn, words, f"adam: {name}") for name, fn, words in ADAM_WRONG]
         + [(ch06.cross_entropy, fn, words, f"ce: {name}") for name, fn, words in CE_WRONG])


@pytest.mark.parametrize("checker, fn, words", [w[:3] for w in WRONG], ids=[w[3] for w in WRONG])
def test_wrong_answer_is_caught_and_named(checker, fn, words):
    result = checker(fn, show=False)
    assert result.status == "fail", result.message
    for word in words:
        assert word in result.message, result.message


# ------------------------------------------------------------------ right answers written another way

def _lb_einsum(grad_out, x, w):
    return (np.einsum("no,oi->ni", grad_out, w), np.einsum("no,ni->oi", grad_out, x),
            np.einsum("no->o", grad_out))


def _lb_loop(grad_out, x, w):
    grad_w = np.zeros(w.shape, dtype=x.dtype)
    grad_b = np.zeros(w.shape[0], dtype=x.dtype)
    for n in range(x.shape[0]):
        grad_w += np.outer(grad_out[n], x[n])
        grad_b += grad_out[n]
    return grad_out @ w, grad_w, grad_b


def _im2col_sliding(x, r, s, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (r, s), axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * r * s)


def _shape_loop(x_shape, w_shape, stride=1, padding=0):
    n, c, h, w = x_shape
    k, c2, r, s = w_shape
    if c != c2 or r > h + 2 * padding or s > w + 2 * padding:
        raise ValueError(f"conv2d: input {list(x_shape)} and weight {list(w_shape)} do not fit")
    oh = len(range(0, h + 2 * padding - r + 1, stride))
    ow = len(range(0, w + 2 * padding - s + 1, stride))
    return (n, k, oh, ow)


def _sgd_out(param, grad, velocity, lr, momentum):
    np.multiply(velocity, momentum, out=velocity)
    np.add(velocity, grad, out=velocity)
    param[...] = param - lr * velocity


def _adam_torch_formula(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m[:] = beta1 * m + (1 - beta1) * grad
    v[:] = beta2 * v + (1 - beta2) * grad ** 2
    denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
    param -= (lr / (1 - beta1 ** t)) * m / denom


def _ce_logsumexp(logits, targets):
    m = logits.max(axis=1)
    lse = m + np.log(np.sum(np.exp(logits - m[:, None]), axis=1))
    picked = logits[np.arange(len(logits)), targets]
    return float(np.mean(lse - picked))


def _ce_float32_math(logits, targets):
    """Stable and in the logits' own dtype (np.float32 result for float32 logits)."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=-1))
    return np.mean(lse - np.take_along_axis(z, targets[:, None].astype(np.intp), axis=1)[:, 0])


RIGHT = [
    (ch06.linear_backward, _lb_einsum, "linear: einsum"),
    (ch06.linear_backward, _lb_loop, "linear: a loop over the batch"),
    (ch06.im2col, _im2col_sliding, "im2col: sliding_window_view"),
    (ch06.im2col, lambda x, r, s, stride=1, padding=0: _im2col_loops(x, r, s, stride, padding), "im2col: loops"),
    (ch06.conv_output_shape, _shape_loop, "shape: len(range(...)), list shapes in the message"),
    (ch06.sgd_momentum_step, _sgd_out, "sgd: out= and param[...]"),
    (ch06.adam_step, _adam_torch_formula, "adam: PyTorch's arrangement of the formula"),
    (ch06.cross_entropy, _ce_logsumexp, "ce: log-sum-exp minus the picked logit"),
    (ch06.cross_entropy, _ce_float32_math, "ce: a NumPy scalar in the logits' dtype"),
]


@pytest.mark.parametrize("checker, fn", [r[:2] for r in RIGHT], ids=[r[2] for r in RIGHT])
def test_right_answer_written_another_way_passes(checker, fn):
    result = checker(fn, show=False)
    assert result.status == "pass", result.message


def test_im2col_reference_is_the_library_kernel():
    """The checker's reference is fastgrad.kernels.conv.im2col; it agrees with the loop form."""
    from fastgrad.kernels.conv import im2col as library
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    np.testing.assert_array_equal(library(x, 3, 2, 2, 1), _im2col_loops(x, 3, 2, 2, 1))


# ------------------------------------------------------------------ against PyTorch (skipped without torch)

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _trajectory(dtype, n_steps):
    """A start and gradients of sizes from 1e-4 to 1 (so that eps matters in some steps)."""
    rng = np.random.default_rng(11)
    p0 = rng.standard_normal((3, 4)).astype(dtype)
    grads = [(10.0 ** rng.integers(-4, 1) * rng.standard_normal((3, 4))).astype(dtype) for _ in range(n_steps)]
    return p0, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_matches_torch(torch, dtype):
    p0, grads = _trajectory(dtype, 12)
    lrs = [0.1, 0.1, 0.05, 0.2, 0.01, 0.3] * 2
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.SGD([tp], lr=lrs[0], momentum=0.9)
    p, vel = p0.copy(), np.zeros_like(p0)
    ref_state = {"param": p0.astype(np.float64), "velocity": np.zeros(p0.shape)}
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        tp.grad = torch.tensor(g)
        opt.step()
        sgd_momentum_step(p, g, vel, lr, 0.9)
        ref_state = ch06._sgd(ref_state, g, lr, 0.9)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(vel, opt.state[tp]["momentum_buffer"].numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ref_state["param"], tp.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hyper", [{}, {"betas": (0.8, 0.99), "eps": 1e-6}])
def test_adam_matches_torch(torch, dtype, hyper):
    p0, grads = _trajectory(dtype, 25)
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.Adam([tp], lr=0.01, **hyper)
    b1, b2 = hyper.get("betas", (0.9, 0.999))
    eps = hyper.get("eps", 1e-8)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    ref_state = {"param": p0.astype(np.float64), "m": np.zeros(p0.shape), "v": np.zeros(p0.shape)}
    for t, g in enumerate(grads, 1):
        tp.grad = torch.tensor(g)
        opt.step()
        adam_step(p, g, m, v, t, 0.01, b1, b2, eps)
        ref_state = ch06._adam(ref_state, g, t, 0.01, b1, b2, eps)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    state = opt.state[tp]
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=tol, atol=1e-12)
    np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=tol, atol=1e-14)
    np.testing.assert_allclose(ref_state["param"], tp.detach().numpy(), rtol=tol, atol=tol)


def test_cross_entropy_matches_torch(torch):
    rng = np.random.default_rng(3)
    for logits in (rng.standard_normal((16, 7)) * 3, np.array([[1e4, 0.0, -1e4], [500.0, -500.0, 0.0]])):
        targets = rng.integers(0, logits.shape[1], len(logits))
        want = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()
        assert math.isclose(cross_entropy(logits, targets), want, rel_tol=1e-12)
        assert math.isclose(ch06._reference_ce(logits, targets), want, rel_tol=1e-12)


def test_linear_backward_matches_torch_autograd(torch):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
    for got, want in zip(linear_backward(g, x, w), (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12)
