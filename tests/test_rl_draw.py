"""The cube drawing and the solve explorer, headless (Agg)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fastgrad.rl import bfs, cube, draw  # noqa: E402


def colours_of(ax):
    return [mcolors.to_hex(p.get_facecolor()) for p in ax.patches]


def test_solved_net_has_one_colour_per_face():
    ax = draw.draw_net(cube.SOLVED)
    got = colours_of(ax)
    assert len(got) == 24
    for f, face in enumerate(cube.FACES):
        assert set(got[4 * f:4 * f + 4]) == {draw.FACE_COLOURS[face].lower()}
    plt.close("all")


def test_a_move_changes_exactly_the_turned_stickers_colours():
    state = cube.apply_move(cube.SOLVED, cube.parse("R")[0])
    got = colours_of(draw.draw_net(state))
    expected = [draw.FACE_COLOURS[cube.FACES[c]].lower() for c in state]
    assert got == expected
    changed = sum(a != b for a, b in zip(got, colours_of(draw.draw_net(cube.SOLVED))))
    assert changed == 8          # a quarter turn moves 8 side stickers to another face (its own 4 stay)
    plt.close("all")


def test_patches_sit_on_the_net_positions():
    ax = draw.draw_net(cube.SOLVED)
    corners = [(int(p.get_y()), int(p.get_x())) for p in ax.patches]
    assert corners == [tuple(rc) for rc in cube.net_positions()]
    assert len(set(corners)) == 24
    plt.close("all")


def test_bad_state_shape_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        draw.draw_net(np.zeros((2, 24), np.uint8))


def test_draw_sequence_makes_one_axes_per_state():
    fig = draw.draw_sequence(np.stack([cube.SOLVED] * 7), titles=[str(i) for i in range(7)], per_row=4)
    drawn = [ax for ax in fig.axes if ax.patches]
    assert len(drawn) == 7
    plt.close("all")


@pytest.fixture(scope="module")
def table():
    return bfs.distances()


def oracle(table):
    """Q-values from the exact distances: gamma^(d(s') + 1) for each move, so greedy is optimal."""
    def q_values(states):
        nxt = np.stack([cube.apply_moves(states, np.full(len(states), m)) for m in range(6)], axis=1)
        return 0.9 ** (bfs.distance(table, nxt.reshape(-1, 24)).reshape(-1, 6) + 1.0)
    return q_values


def test_explorer_solves_with_an_oracle_and_matches_the_optimal_length(table):
    pytest.importorskip("ipywidgets")
    from fastgrad.rl.explorer import SolveExplorer

    ex = SolveExplorer(oracle(table), table, depth=5, seed=2)
    start_distance = int(bfs.distance(table, ex.start[None])[0])
    assert len(ex.optimal) == start_distance and not ex.solved
    before = ex.state.copy()
    ex.step()
    assert not np.array_equal(before, ex.state) and len(ex.moves) == 1
    ex.solve()
    assert ex.solved and len(ex.moves) == start_distance
    assert "solved" in ex.text.value
    ex.step()                                    # nothing happens once solved
    assert len(ex.moves) == start_distance
    ex.scramble(depth=3, seed=7)
    assert ex.moves == [] and len(ex.scramble_moves) == 3 and ex.depth.value == 3
    plt.close("all")


def test_explorer_stops_at_the_move_limit(table):
    pytest.importorskip("ipywidgets")
    from fastgrad.rl.explorer import SolveExplorer

    always_u = lambda states: np.tile(np.arange(6, 0, -1, dtype=np.float32), (len(states), 1))   # U forever
    ex = SolveExplorer(always_u, table, max_moves=7, depth=4, seed=1)
    ex.solve()
    assert len(ex.moves) == 7 and set(ex.moves) == {"U"}
    plt.close("all")
