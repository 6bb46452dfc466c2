"""Data (chapter 06): the bundled digits, a stratified split, and a batch iterator.

    x, y = load_digits()                                   # (1797, 1, 8, 8) float32, (1797,) int64
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_fraction=0.2, seed=0)
    for xb, yb in DataLoader(x_tr, y_tr, batch_size=64, shuffle=True, seed=0): ...

Everything is NumPy arrays; wrap a batch in `fastgrad.Tensor` where you need gradients.
"""
from __future__ import annotations

import math
from numbers import Integral

import numpy as np

__all__ = ["load_digits", "train_test_split", "DataLoader"]


def load_digits():
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes;
    no download: the data ships inside the scikit-learn package).

    Returns (images, labels): images float32 of shape (N, 1, 8, 8) -- one channel, as a
    Conv2d expects -- scaled from the original 0..16 gray levels to [0, 1]; labels int64
    of shape (N,), values 0..9. Raises ImportError with the install command when
    scikit-learn is missing (it is imported here, not when fastgrad.data is imported).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError("fastgrad.data.load_digits needs scikit-learn, which ships the digits "
                          "data set: install it with `pip install scikit-learn` "
                          f"(import failed: {e})") from e
    bunch = _sk_load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return images, labels


def _check_xy(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim != 1:
        raise ValueError(f"x must have a sample axis and y must be 1-D, got x {x.shape}, y {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got x {x.shape} and y {y.shape}")
    return x, y


def train_test_split(x, y, test_fraction: float = 0.2, seed: int = 0):
    """Split (x, y) into train and test sets, stratified and deterministic.

    x: (N, ...) array; y: (N,) class labels. Returns (x_train, x_test, y_train, y_test).
    The test set holds round(test_fraction * N) samples, distributed over the classes
    in proportion to their sizes: each class contributes floor(test_fraction * n_c), and
    the samples still missing go to the classes with the largest remainders (largest
    remainder rounding), so every class's test count is within 1 of
    test_fraction * n_c. Which samples of a class go to test is drawn from
    `np.random.default_rng(seed)`; the same seed gives the same split. Both sets are
    shuffled (classes mixed). Fast: one permutation per class and one fancy-index
    gather per output array.
    """
    x, y = _check_xy(x, y)
    if isinstance(test_fraction, bool) or not (0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    n = len(y)
    n_test = int(round(test_fraction * n))
    if n_test < 1 or n_test > n - 1:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples leaves an empty train or "
                         f"test set ({n - n_test} train, {n_test} test)")
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(y, return_inverse=True)
    order = np.argsort(inverse, kind="stable")              # sample indices grouped by class
    counts = np.bincount(inverse, minlength=len(classes))
    exact = test_fraction * counts
    per_class = np.floor(exact).astype(np.int64)
    missing = n_test - int(per_class.sum())
    if missing > 0:                                         # largest remainders, ties by class order
        by_remainder = np.argsort(-(exact - per_class), kind="stable")
        per_class[by_remainder[:missing]] += 1
    test_idx, train_idx = [], []
    for members, k in zip(np.split(order, np.cumsum(counts)[:-1]), per_class):
        members = rng.permutation(members)
        test_idx.append(members[:k])
        train_idx.append(members[k:])
    test_idx = rng.permutation(np.concatenate(test_idx))
    train_idx = rng.permutation(np.concatenate(train_idx))
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]


class DataLoader:
    """Iterate over (x_batch, y_batch) NumPy arrays of `batch_size` samples.

    DataLoader(x, y, batch_size, shuffle=False, seed=None, drop_last=False)
        x: (N, ...) array, y: (N,) or (N, ...) array with the same N.
        shuffle    a new order every epoch (every `iter()`), drawn from one generator
                   `np.random.default_rng(seed)` created here: the sequence of epochs is
                   reproducible for a given seed (seed=None: fresh entropy).
        drop_last  drop a last batch smaller than batch_size.

    `len(loader)` is the number of batches per epoch: ceil(N / batch_size), or
    floor(N / batch_size) with drop_last. Every sample appears exactly once per epoch
    (drop_last aside). Fast: without shuffle a batch is a slice (a view, no copy); with
    shuffle the epoch's data is gathered once in its new order (one pass over memory),
    and the batches are slices of that.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool = False, seed=None, drop_last: bool = False):
        self.x, self.y = _check_xy_loader(x, y)
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        x, y = self.x, self.y
        if self.shuffle:
            perm = self._rng.permutation(len(x))
            x, y = x[perm], y[perm]
        bs = self.batch_size
        for b in range(len(self)):
            yield x[b * bs:(b + 1) * bs], y[b * bs:(b + 1) * bs]

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")


def _check_xy_loader(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"x and y must have a sample axis, got x {x.shape}, y {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got x {x.shape} and y {y.shape}")
    return x, y
