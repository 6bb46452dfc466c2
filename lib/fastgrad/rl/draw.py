"""Drawing the pocket cube as a 2-D net in matplotlib (chapter 10).

    ax = draw_net(state)                      # 24 coloured squares on the net
    draw_sequence(states, titles)             # a row of nets, e.g. a solve move by move

The net is the one of `cube.net_positions()`: U on top, then L F R B, then D.
"""
from __future__ import annotations

import numpy as np

from .cube import FACES, SOLVED, net_positions

__all__ = ["FACE_COLOURS", "draw_net", "draw_sequence"]

# the usual scheme: white up, green front, red right (so yellow down, orange left, blue back)
FACE_COLOURS = {"U": "#f5f5f5", "R": "#c41e3a", "F": "#009e60", "D": "#ffd500", "L": "#ff5800", "B": "#0051ba"}
_COLOURS = [FACE_COLOURS[f] for f in FACES]      # colour of sticker value 0..5 (the solved face's colour)


def draw_net(state=SOLVED, ax=None, title: str | None = None):
    """Draw one state (24,) uint8 as the cube's net on `ax` (a new small figure if None);
    returns the axes. Each sticker is one square patch, in storage order, so a test can
    read its colour back from `ax.patches`."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    state = np.asarray(state)
    if state.shape != (24,):
        raise ValueError(f"draw_net draws one cube state of shape (24,), got shape {state.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.4, 1.8))
    for (row, col), colour in zip(net_positions(), state):
        ax.add_patch(Rectangle((col, row), 1, 1, facecolor=_COLOURS[int(colour)], edgecolor="#222222", lw=1.2))
    ax.set_xlim(-0.1, 8.1)
    ax.set_ylim(6.1, -0.1)                        # row 0 at the top
    ax.set_aspect("equal")
    ax.axis("off")
    if title is not None:
        ax.set_title(title, fontsize=10)
    return ax


def draw_sequence(states, titles=None, per_row: int = 6):
    """A grid of nets, one per state of `states` (n, 24), with optional titles; returns the figure."""
    import matplotlib.pyplot as plt

    states = np.asarray(states)
    n = len(states)
    rows = max(1, -(-n // per_row))
    cols = min(n, per_row) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.9 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i < n:
            draw_net(states[i], ax, None if titles is None else titles[i])
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig
