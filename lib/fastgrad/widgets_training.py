"""Chapter 09's profile bars and its training-step explorer (ipywidgets + matplotlib).

    step = profiled(training_step("mlp", "plain"))        # the Python-loop Adam timed as a region
    parts = breakdown(profile_step(step).stats)          # seconds per part of the step
    plot_breakdowns({"plain": parts, ...})                # one stacked bar per configuration
    ladder_explorer()                                     # checkboxes + "measure"
"""
from __future__ import annotations

import time

import numpy as np

from .ops import OPS
from .profile import profile_step, region

__all__ = ["PARTS", "breakdown", "plot_breakdowns", "profiled", "ladder_explorer"]

PARTS = ("products (matmul, conv, linear)", "other ops (elementwise, reductions, movement)",
         "optimizer", "Python/autograd overhead")
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "0.6")
_PRODUCTS = {"conv2d", "linear"}


def breakdown(stats: dict) -> dict[str, float]:
    """Split a profile's `stats` (`fastgrad.profile`) into the four `PARTS`, in seconds:
    ops whose work is a product (matmul, conv2d, the fused linear: many FLOPs per byte),
    every other op (few FLOPs per byte: bound by memory and per-call cost), the regions
    (optimizer steps and zero_grad), and the overhead (wall time minus all of those)."""
    products = sum(s["total_s"] for name, s in stats["ops"].items()
                   if name in _PRODUCTS or (name in OPS and OPS[name].kind == "matmul"))
    return dict(zip(PARTS, (products, stats["ops_s"] - products, stats["regions_s"], max(stats["overhead_s"], 0.0))))


def plot_breakdowns(parts: dict[str, dict[str, float]], ax=None, title: str = ""):
    """Horizontal stacked bars, one per configuration (`parts`: name -> `breakdown(...)`),
    the first on top; times in µs or ms. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    from .measure import legend_above

    names = list(parts)
    biggest = max(sum(p.values()) for p in parts.values())
    unit, scale = ("ms", 1e-3) if biggest >= 1e-3 else ("µs", 1e-6)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
    y = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    for part, colour in zip(PARTS, _COLOURS):
        width = np.array([parts[n][part] for n in names]) / scale
        ax.barh(y, width, left=left, color=colour, label=part)
        left += width
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {total:.3g} {unit}", va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, left.max() * 1.18)
    ax.set_xlabel(f"time per training step ({unit}, medians of profiled runs)")
    if title:
        ax.set_title(title, fontsize=9)
    legend_above(ax)
    return ax


def profiled(step):
    """`step` (from `ladder.training_step`) with a Python-loop optimizer's `step` and
    `zero_grad` attributed to regions ("LoopAdam.step"), as `fastgrad.profile` does by
    itself for `optim` optimizers; otherwise that time would count as overhead."""
    opt = step.optimizer
    from .optim import Optimizer

    if not isinstance(opt, Optimizer):
        name = type(opt).__name__
        opt.step = region(f"{name}.step")(opt.step)
        opt.zero_grad = region(f"{name}.zero_grad")(opt.zero_grad)
    return step


def ladder_explorer(kind: str = "mlp", repeats: int = 5):
    """Checkboxes for every switch and for fused layers / fused optimizer, and a "measure"
    button: times the `kind` training step with that configuration against the plain one
    (interleaved, one thread) and draws both profiles as stacked bars. Returns the box."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    from .bench.threads import one_thread
    from .ladder import Rung, training_step
    from .measure import compare, format_seconds
    from .switches import NAMES

    boxes = {name: W.Checkbox(value=name != "buffer_pool", description=name) for name in NAMES}
    boxes["fused layers"] = W.Checkbox(value=True, description="fused layers")
    boxes["fused optimizer"] = W.Checkbox(value=True, description="fused optimizer")
    button = W.Button(description="measure", button_style="primary", icon="play")
    status = W.HTML(value="Choose the speed-ups, then press <b>measure</b>.")
    out = W.Output()

    def measure(_=None):
        button.disabled = True
        status.value = "Measuring…"
        start = time.perf_counter()
        try:
            chosen = Rung("chosen", {n: boxes[n].value for n in NAMES}, fused_layers=boxes["fused layers"].value,
                          fused_optimizer=boxes["fused optimizer"].value)
            with one_thread():
                c = compare({"plain": training_step(kind, "plain"), "chosen": training_step(kind, chosen)},
                            baseline="plain", repeats=repeats, target=0.01)
                parts = {name: breakdown(profile_step(profiled(training_step(kind, r)), repeats=repeats).stats)
                         for name, r in (("plain", "plain"), ("chosen", chosen))}
            with out:
                out.clear_output(wait=True)
                print(c)
                fig, ax = plt.subplots(figsize=(7, 2.6))
                plot_breakdowns(parts, ax=ax, title=f"{kind} step: chosen {c.speedup('chosen'):.2f}x plain")
                plt.show()
            status.value = (f"chosen: {format_seconds(c.median('chosen'))} per step, {c.speedup('chosen'):.2f}x plain "
                            f"(measured in {time.perf_counter() - start:.1f} s)")
        except Exception as err:            # keep the widget alive and say what went wrong
            status.value = f"<b>error:</b> {type(err).__name__}: {err}"
        finally:
            button.disabled = False

    button.on_click(measure)
    box = W.VBox([W.HBox(list(boxes.values())[:4]), W.HBox(list(boxes.values())[4:] + [button]), status, out])
    box.measure = measure
    return box
