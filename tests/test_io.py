"""fastgrad.io: round trips, and hostile or broken weight files rejected without executing anything."""
import os
import pickle

import numpy as np
import pytest

from fastgrad import io
from fastgrad.autograd import Tensor


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_values_shapes_dtypes_and_order(tmp_path, dtype):
    rng = np.random.default_rng(0)
    weights = {"conv1.weight": rng.standard_normal((4, 1, 3, 3)).astype(dtype),
               "conv1.bias": rng.standard_normal(4).astype(dtype),
               "scalar": np.array(1.5, dtype=dtype),
               "empty": np.zeros((0, 3), dtype=dtype),
               "file": rng.standard_normal(2).astype(dtype)}    # np.savez's own parameter name
    written = io.save(weights, tmp_path / "w.npz")
    assert written == tmp_path / "w.npz"
    got = io.load(written)
    assert list(got) == list(weights)
    for k, v in weights.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)


def test_save_accepts_tensors_state_dict_objects_and_appends_suffix(tmp_path):
    class Model:
        def state_dict(self):
            return {"w": Tensor(np.arange(3.0), requires_grad=True), "b": np.ones(2, np.float32)}

    written = io.save(Model(), tmp_path / "model")
    assert written.name == "model.npz" and written.exists()
    got = io.load(written)
    np.testing.assert_array_equal(got["w"], [0.0, 1.0, 2.0])
    assert got["w"].dtype == np.float64 and got["b"].dtype == np.float32


def test_file_is_readable_by_numpy_and_numpys_savez_is_readable(tmp_path):
    io.save({"a": np.ones(3, np.float32)}, tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["a"], np.ones(3, np.float32))
    np.savez(tmp_path / "numpys.npz", a=np.arange(4.0))
    np.testing.assert_array_equal(io.load(tmp_path / "numpys.npz")["a"], np.arange(4.0))


def test_save_rejects_what_cannot_be_saved_without_pickle(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        io.save({"x": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="complex"):
        io.save({"x": np.ones(2, np.complex64)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="names must be non-empty strings"):
        io.save({1: np.ones(2)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict"):
        io.save([np.ones(2)], tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    assert os.listdir(tmp_path) == []                  # no temporary file left behind


# ------------------------------------------------------------------ hostile and broken files
class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_renamed_npz_is_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "PWNED"
    bad = tmp_path / "weights.npz"
    bad.write_bytes(pickle.dumps(_Payload(str(marker))))
    # sanity: the payload really would create the marker when unpickled
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(str(probe)))).close()
    assert probe.exists()
    with pytest.raises(io.WeightFileError, match=r"weights\.npz.*not an \.npz archive.*pickle"):
        io.load(bad)
    assert not marker.exists()


def test_object_array_inside_npz_is_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "PWNED"
    bad = tmp_path / "obj.npz"
    np.savez(bad, weight=np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(io.WeightFileError, match=r"obj\.npz.*pickled Python objects"):
        io.load(bad)
    assert not marker.exists()


def test_object_npy_from_np_save_is_rejected(tmp_path):
    bad = tmp_path / "obj.npz"
    with open(bad, "wb") as f:                        # np.save of an object array, named .npz
        np.save(f, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(io.WeightFileError, match=r"obj\.npz.*bare \.npy"):
        io.load(bad)


def test_truncated_file_is_rejected(tmp_path):
    good = io.save({"w": np.random.default_rng(0).standard_normal(1000)}, tmp_path / "good.npz")
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 40):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(io.WeightFileError, match=rf"cut{cut}\.npz.*(truncated|corrupt)"):
            io.load(bad)


def test_corrupt_member_bytes_are_rejected(tmp_path):
    good = io.save({"w": np.arange(100.0)}, tmp_path / "good.npz")
    data = bytearray(good.read_bytes())
    i = data.index(b"\x93NUMPY")
    data[i + 10:i + 40] = b"X" * 30                    # smash the .npy header
    bad = tmp_path / "smashed.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(io.WeightFileError, match=r"smashed\.npz"):
        io.load(bad)


def test_empty_file_missing_file_and_text_file(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(io.WeightFileError, match=r"empty\.npz.*empty"):
        io.load(tmp_path / "empty.npz")
    with pytest.raises(FileNotFoundError, match=r"nope\.npz.*does not exist"):
        io.load(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello, I am not a zip archive")
    with pytest.raises(io.WeightFileError, match=r"text\.npz.*not an \.npz archive"):
        io.load(tmp_path / "text.npz")
    with pytest.raises(io.WeightFileError, match="not a regular file"):
        io.load(tmp_path)


def test_zip_with_non_npy_member_is_rejected(tmp_path):
    import zipfile
    bad = tmp_path / "extra.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("w.npy", b"")
        zf.writestr("run_me.py", b"print('hi')")
    with pytest.raises(io.WeightFileError, match=r"extra\.npz.*not \.npy arrays.*run_me\.py"):
        io.load(bad)


def test_non_float_arrays_where_floats_are_expected(tmp_path):
    np.savez(tmp_path / "ints.npz", w=np.arange(3))
    with pytest.raises(io.WeightFileError, match=r"ints\.npz.*'w' has dtype int64, expected float32 or float64"):
        io.load(tmp_path / "ints.npz", floats_only=True)
    np.testing.assert_array_equal(io.load(tmp_path / "ints.npz")["w"], [0, 1, 2])
    np.savez(tmp_path / "strings.npz", w=np.array(["a", "bc"]))      # loads without pickle in NumPy
    for floats_only in (True, False):
        with pytest.raises(io.WeightFileError, match=r"strings\.npz.*'w' has dtype <U2"):
            io.load(tmp_path / "strings.npz", floats_only=floats_only)
    np.savez(tmp_path / "complex.npz", w=np.ones(2, np.complex128))
    with pytest.raises(io.WeightFileError, match=r"complex\.npz.*complex128"):
        io.load(tmp_path / "complex.npz", floats_only=False)


def test_a_model_with_batchnorm_round_trips(tmp_path):
    """state_dict holds an int64 buffer (num_batches_tracked): save, load, load_state_dict."""
    import fastgrad as fg
    model = fg.nn.Sequential(fg.nn.Linear(4, 3, seed=0), fg.nn.BatchNorm1d(3))
    model(fg.Tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)))   # update running stats
    fg.save(model, tmp_path / "bn.npz")
    state = fg.load(tmp_path / "bn.npz")
    fresh = fg.nn.Sequential(fg.nn.Linear(4, 3, seed=1), fg.nn.BatchNorm1d(3))
    fresh.load_state_dict(state)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_saved_file_gets_the_usual_permissions(tmp_path):
    # mkstemp creates 0600 files; a saved weight file should be readable like any other file.
    import stat

    umask = os.umask(0)
    os.umask(umask)
    path = io.save({"w": np.ones(3)}, tmp_path / "w.npz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
