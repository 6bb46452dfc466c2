"""fastgrad.widgets.speedup_explorer: builds, measures on run(), passes choices, reports errors."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

W = pytest.importorskip("ipywidgets")
from fastgrad.widgets import speedup_explorer  # noqa: E402


def _controls(box):
    row = box.children[0]
    by_desc = {getattr(w, "description", ""): w for w in row.children}
    return by_desc, box.children[1]


def test_builds_without_measuring():
    box = speedup_explorer({"sum": np.sum}, lambda n, dtype: (np.ones(n, dtype),), min_size=10,
                           max_size=1000, default_size=100, run=False)
    controls, status = _controls(box)
    assert isinstance(box, W.VBox)
    assert isinstance(controls["max size"], W.FloatLogSlider)
    assert controls["dtype"].options == ("float32", "float64")
    assert "Run" in status.value and box.run_count() == 0


def test_run_measures_and_counts():
    sizes = []

    def make_args(n, dtype):
        sizes.append(n)
        return (np.ones(n, dtype),)

    box = speedup_explorer({"np.sum": np.sum, "sum": sum}, make_args, min_size=10, max_size=1000,
                           default_size=1000, points=3, repeats=1, run=False)
    box.run()
    assert box.run_count() == 1
    _, status = _controls(box)
    assert "Run 1" in status.value and "3 sizes" in status.value
    assert sorted(set(sizes)) == [10, 100, 1000]
    box.run()
    assert box.run_count() == 2


def test_dtype_and_choices_flow_into_make_args():
    seen = []

    def impls(variant):
        return {"base": np.sum, variant: np.sum}

    def make_args(n, dtype, variant):
        seen.append((n, dtype, variant))
        return (np.ones(n, dtype),)

    box = speedup_explorer(impls, make_args, min_size=10, max_size=100, default_size=100, points=2, repeats=1,
                           choices={"variant": ["fast", "faster"]}, run=False)
    controls, status = _controls(box)
    controls["dtype"].value = "float64"
    controls["variant"].value = "faster"
    box.run()
    assert box.run_count() == 1, status.value
    assert {(d, v) for _, d, v in seen} == {(np.dtype("float64"), "faster")}


def test_error_in_an_implementation_is_shown_not_raised():
    def broken(x):
        raise RuntimeError("kernel exploded")

    box = speedup_explorer({"ok": np.sum, "broken": broken}, lambda n, dtype: (np.ones(n, dtype),),
                           min_size=10, max_size=100, default_size=100, points=2, repeats=1, run=True)
    _, status = _controls(box)
    assert "Error" in status.value and "RuntimeError" in status.value and "kernel exploded" in status.value
    assert box.run_count() == 0
    button = [w for w in box.children[0].children if isinstance(w, W.Button)][0]
    assert not button.disabled  # the button works again after an error
