"""Interactive explorers built on `fastgrad.measure` (ipywidgets + matplotlib)."""
from __future__ import annotations

import html
import time
from typing import Callable, Sequence

import numpy as np

from .measure import plot_sweep, sweep


def speedup_explorer(impls: dict[str, Callable] | Callable[..., dict[str, Callable]],
                     make_args: Callable[..., tuple], *, min_size: int = 100, max_size: int = 10**7,
                     default_size: int = 10**6, dtypes: Sequence[str] = ("float32", "float64"),
                     choices: dict[str, Sequence] | None = None, baseline: str | None = None,
                     points: int = 6, repeats: int = 5, speedup: bool = True, xlabel: str = "array size (elements)",
                     run: bool = True):
    """A UI that measures implementations over a range of sizes and redraws a plot.

    impls      name -> function, or a function of the `choices` returning that dict
    make_args  make_args(n, dtype, **choices) -> the argument tuple for size n
    The size slider is logarithmic and sets the largest size; the sweep runs `points`
    sizes from `min_size` up to it. Nothing is measured until "Run" is pressed (or
    once at start when `run=True`), so moving a slider stays cheap.
    Returns the widget box; `box.run()` measures and redraws from code.
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

    lo, hi = np.log10(min_size), np.log10(max_size)
    size = W.FloatLogSlider(value=default_size, base=10, min=lo, max=hi, step=0.5,
                            description="max size", readout_format=".0e", continuous_update=False)
    dtype = W.Dropdown(options=list(dtypes), value=dtypes[0], description="dtype")
    extra = {name: W.Dropdown(options=list(opts), value=list(opts)[0], description=name)
             for name, opts in (choices or {}).items()}
    button = W.Button(description="Run", button_style="primary", icon="play")
    status = W.HTML(value="Press <b>Run</b> to measure.")
    out = W.Output()
    runs = {"count": 0}

    def measure(_=None):
        button.disabled = True
        status.value = "Measuring…"
        start = time.perf_counter()
        try:
            options = {name: w.value for name, w in extra.items()}
            table = impls(**options) if callable(impls) else impls
            top = int(size.value)
            sizes = sorted({int(round(s)) for s in np.logspace(lo, np.log10(top), points)})
            results = sweep(table, lambda n: make_args(n, np.dtype(dtype.value), **options), sizes,
                            baseline=baseline, repeats=repeats)
            runs["count"] += 1
            with out:
                out.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=(7, 4))
                label = ", ".join([dtype.value, *map(str, options.values())])
                plot_sweep(results, ax=ax, speedup=speedup, xlabel=xlabel, title=f"{label} (run {runs['count']})")
                plt.show()
            status.value = (f"Run {runs['count']}: {len(sizes)} sizes up to {top:,} measured in "
                            f"{time.perf_counter() - start:.1f} s.")
        except Exception as exc:  # show the problem in the UI instead of a silent dead button
            message = html.escape(f"{type(exc).__name__}: {exc}")
            status.value = f"<span style='color:red'>Error: {message}</span>"
        finally:
            button.disabled = False

    button.on_click(measure)
    box = W.VBox([W.HBox([size, dtype, *extra.values(), button]), status, out])
    box.run = measure
    box.run_count = lambda: runs["count"]
    if run:
        measure()
    return box
