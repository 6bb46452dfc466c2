"""The public API: `import fastgrad as fg` (lazy names) and the dtype rule of `fg.Tensor(x)`."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import autograd
from fastgrad.autograd import Tensor


# ------------------------------------------------------------- lazy public names
@pytest.mark.parametrize("name", ["Tensor", "tensor", "no_grad", "is_grad_enabled"])
def test_public_names_are_the_autograd_objects(name):
    assert getattr(fg, name) is getattr(autograd, name)
    assert name in dir(fg) and name in fg.__all__


@pytest.mark.parametrize("name", ["nn", "optim", "data", "functional"])
def test_public_submodules(name):
    import importlib
    assert getattr(fg, name) is importlib.import_module(f"fastgrad.{name}")
    assert name in dir(fg) and name in fg.__all__


def test_save_and_load_are_the_io_functions():
    from fastgrad import io
    assert fg.save is io.save and fg.load is io.load


def test_lazy_is_the_callable_submodule():
    import fastgrad.lazy
    assert fg.lazy is fastgrad.lazy and "lazy" in dir(fg) and "lazy" in fg.__all__
    assert isinstance(fg.lazy([1.0, 2.0]), fastgrad.lazy.LazyTensor)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Tensr'"):
        fg.Tensr


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_fastgrad_is_lazy():
    # `import fastgrad` alone loads neither NumPy nor Numba; the first `fg.Tensor` does.
    out = _run("import sys, fastgrad as fg\n"
               "print('numba' in sys.modules, 'numpy' in sys.modules, 'fastgrad.autograd' in sys.modules)\n"
               "fg.Tensor\n"
               "print('fastgrad.autograd' in sys.modules)")
    assert out.splitlines() == ["False False False", "True"]


# -------------------------------------------------------------------- dtype rule
def test_numpy_float_arrays_keep_their_dtype():
    assert Tensor(np.ones(3)).dtype == np.float64
    assert fg.Tensor(np.ones(3)).dtype == np.float64          # the "done when"
    assert Tensor(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.float64(2.0)).dtype == np.float64          # a NumPy scalar is an array too
    assert Tensor(np.float32(2.0)).dtype == np.float32
    assert fg.tensor(np.ones(2)).dtype == np.float64


def test_float64_array_with_requires_grad_stays_float64_and_so_does_its_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    assert x.dtype == np.float64
    (x * x).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


@pytest.mark.parametrize("data", [[1.0, 2.0], [1, 2], [True, False], 3.5, 3, True, [[1.5], [2.5]]])
def test_python_lists_and_scalars_default_to_float32(data):
    assert Tensor(data).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.bool_])
def test_numpy_int_and_bool_arrays_default_to_float32(dtype):
    t = Tensor(np.array([1, 0, 1], dtype=dtype))
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("data", [np.ones(2), np.ones(2, dtype=np.float32), [1, 2], np.arange(2),
                                  np.ones(2, dtype=np.float16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_explicit_dtype_wins(data, dtype):
    assert Tensor(data, dtype=dtype).dtype == dtype


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, bool])
def test_explicit_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        Tensor([1.0, 2.0], dtype=dtype)


def test_tensor_of_a_tensor_keeps_its_dtype_and_copies():
    for dtype in (np.float32, np.float64):
        t = Tensor([1.0, 2.0], dtype=dtype)
        u = Tensor(t)
        assert u.dtype == dtype and not np.shares_memory(u.data, t.data)
    assert Tensor(Tensor([1.0]), dtype=np.float64).dtype == np.float64


def test_input_array_is_copied():
    a = np.ones(3)
    t = Tensor(a)
    a[0] = 5.0
    assert t.data[0] == 1.0


def test_float16_array_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match=r"float16.*astype\(np\.float32\).*dtype=np\.float32"):
        Tensor(np.ones(3, dtype=np.float16))


@pytest.mark.parametrize("data", [np.array([1 + 2j]), [1 + 2j, 3.0], 2j, np.array([1.0 + 0j])])
def test_complex_input_is_a_type_error_not_a_dropped_imaginary_part(data):
    with pytest.raises(TypeError, match="complex"):
        Tensor(data)
    with pytest.raises(TypeError, match="complex"):
        Tensor(data, dtype=np.float64)           # not even when a float dtype is asked for


@pytest.mark.parametrize("data, word", [
    ([None, 1.0], "object"),
    (np.array([1.0, 2.0], dtype=object), "object"),
    ([Tensor([1.0]), Tensor([2.0])], "concatenate"),
    (["1.0", "2.0"], "string"),
    (np.array(["a"]), "string"),
    ("3.0", "string"),
    (b"3", "bytes"),
])
def test_object_and_string_input_is_a_type_error(data, word):
    with pytest.raises(TypeError, match=word):
        Tensor(data)
    with pytest.raises(TypeError, match=word):
        Tensor(data, dtype=np.float32)


@pytest.mark.parametrize("constant", [1j, np.array([1j, 2.0]), "a", np.array(["1", "2"])])
def test_complex_or_string_constant_in_an_op_is_a_type_error(constant):
    x = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="add:"):
        x + constant


def test_numpy_constants_still_take_the_tensor_dtype():
    x = Tensor([1.0, 2.0])                                    # float32
    assert (x + np.float64(1.0)).dtype == np.float32
    assert (x * np.arange(2)).dtype == np.float32
    y = Tensor(np.array([1.0, 2.0]))                          # float64
    assert (y + 1).dtype == np.float64 and (y * np.ones(2, np.float32)).dtype == np.float64
