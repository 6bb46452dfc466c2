"""Saving and loading weights (chapter 06): `.npz` archives that never execute code.

    save(model_or_dict, "weights.npz")       # name -> array, one .npy member per name
    weights = load("weights.npz")            # dict name -> np.ndarray, checked

Why not pickle: unpickling a file runs whatever code its author put in it, so a weight
file downloaded from anywhere would be a program. An `.npz` is a zip archive of `.npy`
arrays (a small header: dtype, shape, then raw bytes). `load` opens it with
`np.load(path, allow_pickle=False)`, which refuses object arrays (the only part of the
format that pickles), and checks everything else before returning: the file exists,
is a zip archive, holds only `.npy` members, each an array of real numbers (float, int
or bool; `floats_only=True` for float32/float64 only). Each problem is a
`WeightFileError` (a ValueError) naming the file and the problem; a missing file is a
FileNotFoundError.

Why it is fast: an array is written and read as its raw bytes (no per-element
conversion), uncompressed, so loading costs about one copy of the data.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .shapes import FLOAT_DTYPES

__all__ = ["WeightFileError", "save", "load"]

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


class WeightFileError(ValueError):
    """A weight file that cannot be loaded safely, or arrays that cannot be saved; the
    message names the file and the problem."""


def _arrays_of(obj) -> dict:
    """name -> np.ndarray from a dict or an object with `state_dict()` (Tensors unwrapped)."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"save expects a dict name -> array or an object with state_dict(), "
                        f"got {type(obj).__name__}")
    out = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save: names must be non-empty strings, got {name!r}")
        data = value
        if not isinstance(data, np.ndarray) and isinstance(getattr(value, "data", None), np.ndarray):
            data = value.data                          # a fastgrad Tensor
        data = np.asarray(data)
        if not (data.dtype in FLOAT_DTYPES or data.dtype.kind in "iub"):
            raise TypeError(f"save: {name!r} has dtype {data.dtype}; only float32/float64 "
                            "(and int/bool) arrays can be saved, without pickle")
        out[name] = data
    return out


def save(obj, path) -> Path:
    """Write the arrays of `obj` to an `.npz` archive at `path` (".npz" is appended when
    missing) and return the path written.

    obj: a dict name -> np.ndarray / fastgrad Tensor / array-like, or anything with a
    `state_dict()` method returning such a dict (a Module). Arrays of any shape; real
    float32/float64 (or int/bool) dtypes only (object, string, complex,
    float16 arrays are a TypeError). The file
    has the layout of `np.savez` (one `<name>.npy` member per array), written with
    `allow_pickle=False` into a temporary file that then replaces `path`, so a crash
    never leaves a half-written weight file.
    """
    arrays = _arrays_of(obj)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, data in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, data, allow_pickle=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)        # mkstemp makes 0600; a saved file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load(path, *, floats_only: bool = False) -> dict[str, np.ndarray]:
    """Read an `.npz` weight file: a dict name -> np.ndarray, in the file's order.

    Nothing in the file is executed: it must be a zip archive whose members are all
    `.npy` arrays, read with `np.load(path, allow_pickle=False)`. Raises
    FileNotFoundError (no such file) or WeightFileError naming the file for: an empty
    or non-zip file (a pickle, a bare `.npy`, text), a truncated or corrupt archive, a
    member that is not an array, an object array (pickled data), and a dtype that is not
    real numbers: float, integer and bool arrays load (a BatchNorm's `num_batches_tracked`
    is an int64), strings, objects, complex and structured dtypes never do;
    `floats_only=True` also refuses integer and bool arrays.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weight file {str(path)!r} does not exist")
    if not path.is_file():
        raise WeightFileError(f"weight file {str(path)!r} is not a regular file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise WeightFileError(f"weight file {str(path)!r} is empty (0 bytes)")
    if head not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        kind = ("a pickle" if head[:1] == b"\x80" else
                "a bare .npy array (save with fastgrad.save)" if head == b"\x93NUM" else "not a zip archive")
        raise WeightFileError(f"weight file {str(path)!r} is not an .npz archive "
                              f"(it starts with {head!r}: {kind}); refusing to load it")
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise WeightFileError(f"weight file {str(path)!r} is truncated or corrupt: {e}") from None
    bad = [m for m in members if not m.endswith(".npy")]
    if bad:
        raise WeightFileError(f"weight file {str(path)!r} holds members that are not .npy arrays: {bad}")
    if len(set(members)) != len(members):
        raise WeightFileError(f"weight file {str(path)!r} holds duplicate member names")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in npz.files:
                out[name] = npz[name]
    except ValueError as e:
        if "pickle" in str(e).lower() or "object arrays" in str(e).lower():
            raise WeightFileError(f"weight file {str(path)!r}: array holds pickled Python objects "
                                  f"(object dtype); refusing to unpickle it ({e})") from None
        raise WeightFileError(f"weight file {str(path)!r} is corrupt: {e}") from None
    except Exception as e:       # zlib.error, BadZipFile, EOFError, OSError from a damaged member
        raise WeightFileError(f"weight file {str(path)!r} is truncated or corrupt: "
                              f"{type(e).__name__}: {e}") from None
    for name, data in out.items():
        if not isinstance(data, np.ndarray):
            raise WeightFileError(f"weight file {str(path)!r}: member {name!r} is not an array")
        ok = data.dtype in FLOAT_DTYPES or (not floats_only and data.dtype.kind in "iub")
        if not ok:
            want = "float32 or float64" if floats_only else "a real numeric dtype"
            raise WeightFileError(f"weight file {str(path)!r}: array {name!r} has dtype {data.dtype}, "
                                  f"expected {want}" +
                                  (" (pass floats_only=False to accept integer/bool arrays)"
                                   if floats_only and data.dtype.kind in "iub" else ""))
    return out
