"""An ipywidgets explorer for chapter 10: scramble a cube, watch an agent solve it move by
move on the drawn net, with the Q-value of every move as bars, beside the optimal path
from the BFS table.

    explorer = SolveExplorer(q_values, table)     # q_values: states (B, 24) -> (B, 6)
    explorer.widget                               # display it in a notebook
    explorer.scramble(depth=6, seed=3); explorer.step(); explorer.solve()   # or from Python

The state lives on the object (`state`, `moves`, `optimal`, `history`), so a test can drive
it without a browser.
"""
from __future__ import annotations

import numpy as np

from . import bfs
from .cube import MOVE_NAMES, apply_move, is_solved, scramble

__all__ = ["SolveExplorer"]


class SolveExplorer:
    """Scramble / Step / Solve buttons, a depth slider and a seed; the plot shows the current
    net and the agent's Q-values (the chosen move highlighted); the text line compares the
    agent's moves with an optimal solution of the scrambled state."""

    def __init__(self, q_values, table, max_moves: int = 20, depth: int = 6, seed: int = 0):
        self.q_values, self.table, self.max_moves = q_values, table, max_moves
        self._build_widgets(depth, seed)
        self.scramble(depth, seed)

    # ----------------------------------------------------------------- state, usable without widgets
    def scramble(self, depth: int | None = None, seed: int | None = None) -> None:
        """A new no-undo scramble of `depth` moves from `seed` (the sliders' values if None)."""
        depth = self.depth.value if depth is None else depth
        seed = self.seed.value if seed is None else seed
        self.depth.value, self.seed.value = depth, seed
        states, moves = scramble(depth, np.random.default_rng(seed))
        self.start = states.copy()
        self.scramble_moves = [MOVE_NAMES[m] for m in moves]
        self.state = states.copy()
        self.optimal = [MOVE_NAMES[m] for m in bfs.optimal_moves(self.table, self.start)]
        self.moves: list[str] = []
        self.history = [self.state.copy()]
        self._redraw()

    @property
    def solved(self) -> bool:
        return bool(is_solved(self.state))

    def step(self) -> None:
        """One greedy move of the agent (nothing once solved or at the move limit)."""
        if self.solved or len(self.moves) >= self.max_moves:
            return
        move = int(np.argmax(self.q_values(self.state[None])[0]))
        self.state = apply_move(self.state, move)
        self.moves.append(MOVE_NAMES[move])
        self.history.append(self.state.copy())
        self._redraw()

    def solve(self) -> None:
        """Greedy moves until solved or the move limit."""
        while not self.solved and len(self.moves) < self.max_moves:
            self.step()

    # ----------------------------------------------------------------- widgets
    def _build_widgets(self, depth, seed):
        import ipywidgets as W

        self.depth = W.IntSlider(value=depth, min=1, max=14, description="depth")
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="160px"))
        buttons = [W.Button(description=d) for d in ("Scramble", "Step", "Solve")]
        buttons[0].on_click(lambda _: self.scramble())
        buttons[1].on_click(lambda _: self.step())
        buttons[2].on_click(lambda _: self.solve())
        self.output = W.Output()
        self.text = W.HTML()
        self.widget = W.VBox([W.HBox([self.depth, self.seed, *buttons]), self.text, self.output])

    def _redraw(self):
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .draw import draw_net

        q = self.q_values(self.state[None])[0]
        distance = int(bfs.distance(self.table, self.state[None])[0])
        status = "solved" if self.solved else f"{distance} moves from solved"
        self.text.value = (f"scramble {' '.join(self.scramble_moves)} &nbsp;|&nbsp; optimal "
                           f"({len(self.optimal)}): {' '.join(self.optimal) or '-'} &nbsp;|&nbsp; agent "
                           f"({len(self.moves)}): {' '.join(self.moves) or '-'} &nbsp;|&nbsp; now {status}")
        self.output.clear_output(wait=True)
        with self.output:
            fig, (ax_net, ax_q) = plt.subplots(1, 2, figsize=(8, 2.6), gridspec_kw={"width_ratios": [1.3, 1]})
            draw_net(self.state, ax_net, "after " + (" ".join(self.moves) if self.moves else "the scramble"))
            colours = ["#9aa5b1"] * len(q)
            if not self.solved:
                colours[int(np.argmax(q))] = "#d62728"
            ax_q.bar(MOVE_NAMES, q, color=colours)
            ax_q.set_ylim(0, 1.05)
            ax_q.set_title("Q-value of each move (red: the agent's choice)", fontsize=9)
            fig.tight_layout()
            display(fig)
            plt.close(fig)
        self.figure_q = q
