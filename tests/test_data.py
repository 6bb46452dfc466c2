"""fastgrad.data: the digits, the stratified split, the DataLoader."""
import builtins

import numpy as np
import pytest

from fastgrad import data


def _toy(n=103, classes=(0, 1, 2), weights=(0.6, 0.3, 0.1), seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(classes), size=n, p=weights)
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)      # row i is [2i, 2i + 1]: identifies sample i
    return x, y


# ------------------------------------------------------------------ digits
def test_load_digits_shapes_dtypes_range():
    pytest.importorskip("sklearn")
    x, y = data.load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_without_sklearn_is_a_clear_import_error(monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match="needs scikit-learn.*pip install scikit-learn"):
        data.load_digits()


# ------------------------------------------------------------------ train_test_split
@pytest.mark.parametrize("fraction", [0.2, 0.25, 0.5, 0.33])
def test_split_is_stratified_within_one_sample(fraction):
    x, y = _toy()
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=fraction, seed=3)
    assert len(y_te) == round(fraction * len(y)) and len(y_tr) + len(y_te) == len(y)
    for c in np.unique(y):
        n_c = int((y == c).sum())
        assert abs((y_te == c).sum() - fraction * n_c) <= 1
        assert abs((y_tr == c).sum() - (1 - fraction) * n_c) <= 1


def test_split_on_digits_is_stratified():
    pytest.importorskip("sklearn")
    x, y = data.load_digits()
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=0)
    assert len(y_te) == 359 and len(y_tr) == 1797 - 359
    for c in range(10):
        assert abs((y_te == c).sum() - 0.2 * (y == c).sum()) <= 1


def test_split_is_deterministic_and_seed_dependent():
    x, y = _toy()
    a = data.train_test_split(x, y, seed=7)
    b = data.train_test_split(x, y, seed=7)
    c = data.train_test_split(x, y, seed=8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_split_has_no_overlap_and_keeps_pairs():
    x, y = _toy()
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=0.2, seed=1)
    tr, te = (x_tr[:, 0] // 2).astype(int), (x_te[:, 0] // 2).astype(int)    # original indices
    assert not set(tr) & set(te)
    assert sorted(np.concatenate([tr, te])) == list(range(len(y)))
    np.testing.assert_array_equal(y_tr, y[tr])                 # each x still has its own label
    np.testing.assert_array_equal(y_te, y[te])
    assert not np.all(np.diff(te) > 0)                         # shuffled, not in input order


def test_split_errors():
    x, y = _toy()
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            data.train_test_split(x, y, test_fraction=bad)
    with pytest.raises(ValueError, match="same number of samples"):
        data.train_test_split(x, y[:-1])
    with pytest.raises(ValueError, match="empty train or test"):
        data.train_test_split(x[:3], y[:3], test_fraction=0.1)


# ------------------------------------------------------------------ DataLoader
@pytest.mark.parametrize("n,bs,drop_last,expect", [(10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3),
                                                   (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0)])
def test_batch_counts(n, bs, drop_last, expect):
    x, y = np.zeros((n, 2)), np.arange(n)
    loader = data.DataLoader(x, y, batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == expect
    sizes = [len(yb) for _, yb in batches]
    if drop_last:
        assert all(s == bs for s in sizes)
    else:
        assert sum(sizes) == n and all(s == bs for s in sizes[:-1])


@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_once_per_epoch_and_pairs_kept(shuffle):
    x, y = _toy(n=50)
    loader = data.DataLoader(x, np.arange(50), batch_size=8, shuffle=shuffle, seed=0)
    orders = []
    for _ in range(3):
        seen = []
        for xb, yb in loader:
            assert xb.shape[1:] == (2,) and len(xb) == len(yb)
            np.testing.assert_array_equal(xb[:, 0] // 2, yb)     # x and y stay paired
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(50))
        orders.append(seen)
    if shuffle:
        assert orders[0] != orders[1] != orders[2]               # reshuffled every epoch
    else:
        assert orders[0] == orders[1] == list(range(50))


def test_shuffle_is_reproducible_from_the_seed():
    x, y = np.zeros((20, 1)), np.arange(20)
    epochs = lambda loader: [[yb.tolist() for _, yb in loader] for _ in range(2)]  # noqa: E731
    a = epochs(data.DataLoader(x, y, 4, shuffle=True, seed=5))
    b = epochs(data.DataLoader(x, y, 4, shuffle=True, seed=5))
    c = epochs(data.DataLoader(x, y, 4, shuffle=True, seed=6))
    assert a == b and a != c


def test_loader_errors():
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(np.zeros((4, 1)), np.zeros(4), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(np.zeros((4, 1)), np.zeros(4), batch_size=2.5)
    with pytest.raises(ValueError, match="same number of samples"):
        data.DataLoader(np.zeros((4, 1)), np.zeros(3), batch_size=2)
