"""The 2x2 (pocket) cube as a permutation group, vectorised over a batch of cubes.

A state is 24 sticker colours (uint8, 0-5), stored face by face in the order
U, R, F, D, L, B, four stickers per face in reading order on the net

          U
       L  F  R  B
          D

A move is a permutation of the 24 sticker places, applied as a gather:
`new = state[..., MOVES[m]]`. Only the U, R and F faces turn (quarter turns, both
directions), so the down-left-back corner never moves and every state has one name:
there are 7! * 3^6 = 3,674,160 of them. Every table here is derived from the geometry of
the cube (each sticker's corner and outward normal, rotated by 90 degrees), not typed in.

    cube = PocketCube(batch=64)          # 64 solved cubes
    cube.reset(depth=4, rng=rng)          # each scrambled by 4 moves, no immediate undo
    cube.step(actions)                    # one move per cube (int array of shape (64,))
    cube.solved()                         # bool (64,)
    encode(cube.states)                   # float32 (64, 144): one-hot stickers
"""
from __future__ import annotations

import numpy as np

__all__ = ["FACES", "MOVE_NAMES", "MOVES", "INVERSE", "SOLVED", "N_MOVES", "N_STATES",
           "apply_move", "apply_moves", "parse", "scramble", "is_solved", "encode",
           "net_positions", "PocketCube"]

FACES = "URFDLB"
MOVE_NAMES = ("U", "U'", "R", "R'", "F", "F'")
N_MOVES = 6
N_STATES = 3_674_160            # 7! * 3^6: the BFS in `fastgrad.rl.bfs` counts them (a test)
INVERSE = np.array([1, 0, 3, 2, 5, 4])     # U <-> U', R <-> R', F <-> F'

# outward normal of each face: x to the right (R), y up (U), z to the front (F)
_NORMALS = {"U": (0, 1, 0), "R": (1, 0, 0), "F": (0, 0, 1),
            "D": (0, -1, 0), "L": (-1, 0, 0), "B": (0, 0, -1)}


def _face_cell(face: str, c) -> tuple[int, int]:
    """(row, column) of the sticker of corner `c` (coordinates +-1) on `face`, as the
    face is seen on the net (U with the front edge at the bottom, D with it at the top)."""
    x, y, z = c
    col = {"U": x, "F": x, "D": x, "R": -z, "L": z, "B": -x}[face]
    row = {"U": z, "D": -z}.get(face, -y)
    return (row + 1) // 2, (col + 1) // 2


def _stickers():
    """The 24 stickers as (face, corner) in storage order: face by face, reading order."""
    out = []
    for face in FACES:
        n = np.array(_NORMALS[face])
        corners = [c for c in np.ndindex(2, 2, 2)]
        corners = [tuple(2 * np.array(c) - 1) for c in corners]
        on_face = [c for c in corners if np.dot(c, n) == 1]
        on_face.sort(key=lambda c: _face_cell(face, c))
        out += [(face, c) for c in on_face]
    return out


_STICKERS = _stickers()
_INDEX = {(f, c): i for i, (f, c) in enumerate(_STICKERS)}
_FACE_OF_NORMAL = {v: k for k, v in _NORMALS.items()}


def _turn(face: str) -> np.ndarray:
    """Gather indices of a clockwise quarter turn of `face` (seen from outside it)."""
    n = np.array(_NORMALS[face])
    gather = np.arange(24)
    for i, (f, c) in enumerate(_STICKERS):
        c = np.array(c)
        if np.dot(c, n) != 1:
            continue                       # not in the turning layer
        normal = np.array(_NORMALS[f])
        # rotation by -90 degrees about n (clockwise seen from outside): v -> (n.v) n - n x v
        rot = lambda v: np.dot(n, v) * n - np.cross(n, v)
        dest = _INDEX[(_FACE_OF_NORMAL[tuple(int(t) for t in rot(normal))], tuple(int(t) for t in rot(c)))]
        gather[dest] = i                   # the sticker at place i moves to place dest
    return gather


MOVES = np.stack([g for face in "URF" for g in (_turn(face), np.argsort(_turn(face)))]).astype(np.intp)
MOVES.setflags(write=False)
SOLVED = np.repeat(np.arange(6, dtype=np.uint8), 4)
SOLVED.setflags(write=False)


def net_positions() -> np.ndarray:
    """(24, 2) int array: (row, column) of each sticker on the 2-D net (8 columns, 6 rows)."""
    offsets = {"U": (0, 2), "L": (2, 0), "F": (2, 2), "R": (2, 4), "B": (2, 6), "D": (4, 2)}
    return np.array([np.add(offsets[f], _face_cell(f, c)) for f, c in _STICKERS])


def _check_states(states) -> np.ndarray:
    states = np.asarray(states)
    if states.shape[-1:] != (24,) or states.dtype != np.uint8:
        raise ValueError(f"cube states must be uint8 arrays of shape (..., 24); got shape "
                         f"{states.shape} and dtype {states.dtype}")
    return states


def _check_moves(moves) -> np.ndarray:
    moves = np.asarray(moves)
    if moves.dtype.kind not in "iu" or (moves.size and (moves.min() < 0 or moves.max() >= N_MOVES)):
        raise ValueError(f"moves must be integers 0-{N_MOVES - 1} ({', '.join(MOVE_NAMES)}); "
                         f"got {moves!r}")
    return moves


def apply_move(states, move: int) -> np.ndarray:
    """States (..., 24) after `move` (0-5); a new array."""
    return _check_states(states)[..., MOVES[_check_moves(move)]]


def apply_moves(states, moves) -> np.ndarray:
    """A batch of states (B, 24) after one move each (`moves`, shape (B,)): one gather."""
    states, moves = _check_states(states), _check_moves(moves)
    if states.ndim != 2 or moves.shape != states.shape[:1]:
        raise ValueError(f"apply_moves needs states (B, 24) and moves (B,); got {states.shape} "
                         f"and {moves.shape}")
    return np.take_along_axis(states, MOVES[moves], axis=1)


def parse(sequence: str) -> list[int]:
    """Move numbers of a sequence written like "U R U' R'" (a move and a prime)."""
    names = {name: i for i, name in enumerate(MOVE_NAMES)}
    try:
        return [names[token] for token in sequence.split()]
    except KeyError as e:
        raise ValueError(f"unknown move {e.args[0]!r} in {sequence!r}; the moves are "
                         f"{', '.join(MOVE_NAMES)}") from None


def scramble(depth: int, rng, batch: int | None = None, no_undo: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(states, moves): `batch` cubes (or one, when batch is None) scrambled from solved by
    `depth` random moves; with `no_undo` no move is the inverse of the one before it (so
    the last five of six choices remain). `moves` has shape (batch, depth)."""
    if depth < 0:
        raise ValueError(f"scramble depth must be >= 0, got {depth}")
    n = 1 if batch is None else batch
    moves = np.empty((n, depth), dtype=np.intp)
    states = np.broadcast_to(SOLVED, (n, 24)).copy()
    for t in range(depth):
        if no_undo and t > 0:
            # one of the five moves that is not the inverse of the previous one
            m = rng.integers(0, N_MOVES - 1, n)
            m = m + (m >= INVERSE[moves[:, t - 1]])
        else:
            m = rng.integers(0, N_MOVES, n)
        moves[:, t] = m
        states = np.take_along_axis(states, MOVES[m], axis=1)
    if batch is None:
        return states[0], moves[0]
    return states, moves


def is_solved(states) -> np.ndarray:
    """True where every face shows one colour (the fixed corner makes that the SOLVED array)."""
    return (_check_states(states) == SOLVED).all(axis=-1)


_EYE = np.eye(6, dtype=np.float32)


def encode(states) -> np.ndarray:
    """One-hot stickers: float32 (..., 144), 24 stickers x 6 colours (the network's input)."""
    states = _check_states(states)
    return _EYE[states].reshape(states.shape[:-1] + (144,))


class PocketCube:
    """A batch of `batch` pocket cubes stepped together (one gather per step for all).

    `states` (batch, 24) uint8; `reset(depth, rng, where=None)` scrambles the cubes selected
    by the boolean mask `where` (all when None) by `depth` moves (an int, or one per cube);
    `step(actions)` applies one move per cube and returns whether each is now solved."""

    def __init__(self, batch: int = 1):
        self.states = np.broadcast_to(SOLVED, (batch, 24)).copy()

    @property
    def batch(self) -> int:
        return len(self.states)

    def reset(self, depth, rng, where=None) -> None:
        idx = np.arange(self.batch) if where is None else np.flatnonzero(where)
        depths = np.broadcast_to(np.asarray(depth), (self.batch,))[idx]
        for d in np.unique(depths):
            chosen = idx[depths == d]
            self.states[chosen] = scramble(int(d), rng, batch=len(chosen))[0]

    def step(self, actions) -> np.ndarray:
        self.states = apply_moves(self.states, actions)
        return is_solved(self.states)

    def solved(self) -> np.ndarray:
        return is_solved(self.states)

    def encoded(self) -> np.ndarray:
        return encode(self.states)
