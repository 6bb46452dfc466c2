"""The exact answer: breadth-first search from the solved cube over every reachable state.

Each state gets an index from its corner cubies: which cubie sits at each of the seven
movable corner places (a permutation of 7, ranked 0..5039) and which of its three
stickers shows its U/D colour there (0-2 per place, 3^7 combinations). The table has
5040 * 3^7 = 11,022,480 int8 slots; the BFS reaches exactly 3,674,160 of them (a third:
the twists of a reachable state always sum to 0 mod 3) and writes each one's distance
from solved in quarter turns; the others stay -1.

    table = distances()            # built in seconds by Numba, then cached on disk
    distance(table, states)        # optimal number of moves for a batch of states (B, 24)
    histogram(table)               # how many states at each distance 0..14

Why it is fast: the queue holds states as rows of 24 bytes and the search is one Numba
loop over it (no Python per state); the visited set is the distance table itself.
"""
from __future__ import annotations

import os
import tempfile
import time
from itertools import permutations
from pathlib import Path

import numba
import numpy as np

from ..paths import cache_root
from .cube import _NORMALS as NORMALS, _STICKERS, FACES, MOVES, N_STATES, SOLVED

__all__ = ["TABLE_SIZE", "index", "distances", "distance", "histogram", "build", "table_path",
           "optimal_moves", "states_at_distance", "last_build_seconds"]

# the 8 corner places, each as its three sticker places (in storage order)
_CORNERS = sorted({c for _, c in _STICKERS})
_FIXED = (-1, -1, -1)
_PLACES = [c for c in _CORNERS if c != _FIXED]
CORNER_STICKERS = np.array([[i for i, (_, c) in enumerate(_STICKERS) if c == place] for place in _PLACES],
                           dtype=np.intp)                                    # (7, 3)
# a cubie is named by the set of its colours (a 6-bit mask) -> its number 0..6; others -1
CUBIE_OF_MASK = np.full(64, -1, dtype=np.int64)
for _k, _place in enumerate(_PLACES):
    CUBIE_OF_MASK[sum(1 << int(SOLVED[i]) for i in CORNER_STICKERS[_k])] = _k
_UD = (FACES.index("U"), FACES.index("D"))
FACTORIAL = np.array([1, 1, 2, 6, 24, 120, 720, 5040], dtype=np.int64)
TABLE_SIZE = 5040 * 3 ** 7
_VERSION = 1                   # bump when the indexing changes: the cached file's name has it


@numba.njit(cache=True)
def _index_one(state, corner_stickers, cubie_of_mask, factorial):
    perm = np.empty(7, dtype=np.int64)
    twist = 0
    for k in range(7):
        mask = 0
        o = 0
        for j in range(3):
            colour = state[corner_stickers[k, j]]
            mask |= 1 << colour
            if colour == 0 or colour == 3:      # U or D
                o = j
        perm[k] = cubie_of_mask[mask & 63]
        if perm[k] < 0:
            return -1
        twist = twist * 3 + o
    rank = 0
    for k in range(7):
        smaller = 0
        for j in range(k + 1, 7):
            if perm[j] < perm[k]:
                smaller += 1
        rank += smaller * factorial[6 - k]
    return rank * 2187 + twist


@numba.njit(cache=True)
def _index_batch(states, corner_stickers, cubie_of_mask, factorial):
    out = np.empty(states.shape[0], dtype=np.int64)
    for b in range(states.shape[0]):
        out[b] = _index_one(states[b], corner_stickers, cubie_of_mask, factorial)
    return out


@numba.njit(cache=True)
def _bfs(solved, moves, corner_stickers, cubie_of_mask, factorial, table_size, n_states):
    dist = np.full(table_size, -1, dtype=np.int8)
    queue = np.empty((n_states, 24), dtype=np.uint8)
    queue[0] = solved
    dist[_index_one(solved, corner_stickers, cubie_of_mask, factorial)] = 0
    head, tail = 0, 1
    child = np.empty(24, dtype=np.uint8)
    while head < tail:
        state = queue[head]
        d = dist[_index_one(state, corner_stickers, cubie_of_mask, factorial)]
        head += 1
        for m in range(moves.shape[0]):
            for i in range(24):
                child[i] = state[moves[m, i]]
            k = _index_one(child, corner_stickers, cubie_of_mask, factorial)
            if dist[k] < 0:
                if tail == n_states:
                    return dist, -1             # more states than the group has: a bug
                dist[k] = d + 1
                queue[tail] = child
                tail += 1
    return dist, tail


def index(states) -> np.ndarray:
    """Table index (int64) of each state in a batch (B, 24); a single state (24,) gives a 0-d array."""
    states = np.ascontiguousarray(states, dtype=np.uint8)
    flat = states.reshape(-1, 24)
    out = _index_batch(flat, CORNER_STICKERS, CUBIE_OF_MASK, FACTORIAL)
    if np.any(out < 0):
        raise ValueError("not a pocket-cube state: a corner shows colours no cubie has")
    return out.reshape(states.shape[:-1])


last_build_seconds: float | None = None     # how long the last build took (None: loaded from disk)


def build() -> np.ndarray:
    """Run the BFS now (a few seconds): the int8 distance table of TABLE_SIZE slots."""
    global last_build_seconds
    start = time.perf_counter()
    dist, reached = _bfs(SOLVED.copy(), MOVES, CORNER_STICKERS, CUBIE_OF_MASK, FACTORIAL,
                         TABLE_SIZE, N_STATES)
    if reached != N_STATES:
        raise RuntimeError(f"BFS reached {reached} states, expected {N_STATES}")
    last_build_seconds = time.perf_counter() - start
    return dist


def table_path() -> Path:
    """Where the table is cached: `<cache>/rl/pocket_cube_distances_v1.npy` (11 MB)."""
    return cache_root() / "rl" / f"pocket_cube_distances_v{_VERSION}.npy"


_TABLE: np.ndarray | None = None


def distances(use_disk: bool = True) -> np.ndarray:
    """The distance table (read-only int8 array): from memory, else from the disk cache,
    else built by `build()` and saved there (atomically; a cache that cannot be written
    is skipped). A cached file of the wrong size or content is rebuilt."""
    global _TABLE
    if _TABLE is not None:
        return _TABLE
    path = table_path()
    table = None
    if use_disk and path.exists():
        try:
            table = np.load(path, allow_pickle=False)
            if table.shape != (TABLE_SIZE,) or table.dtype != np.int8 or table[index(SOLVED)] != 0:
                table = None
        except (OSError, ValueError):
            table = None
    if table is None:
        table = build()
        if use_disk:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
                with os.fdopen(fd, "wb") as f:
                    np.save(f, table, allow_pickle=False)
                os.replace(tmp, path)
            except OSError:
                pass
    table.setflags(write=False)
    _TABLE = table
    return table


def distance(table, states) -> np.ndarray:
    """Optimal number of quarter turns (int) to solve each state of a batch (B, 24)."""
    d = table[index(states)].astype(np.int64)
    if np.any(d < 0):
        raise ValueError("not a reachable pocket-cube state (a corner twisted or two stickers "
                         "swapped by hand): it has no distance")
    return d


def histogram(table) -> np.ndarray:
    """Number of states at each distance 0..max (int64): sums to 3,674,160."""
    reached = table[table >= 0]
    return np.bincount(reached.astype(np.int64))


def optimal_moves(table, state) -> list[int]:
    """One shortest solution of `state` (24,): at each step a move to a state one closer."""
    state = np.asarray(state, dtype=np.uint8)
    path = []
    d = int(distance(table, state[None])[0])
    while d > 0:
        children = state[MOVES]                         # (6, 24): every move's result
        child_d = distance(table, children)
        m = int(np.argmax(child_d == d - 1))
        path.append(m)
        state, d = children[m], d - 1
    return path


def states_at_distance(table, d: int, n: int, rng) -> np.ndarray:
    """`n` states (n, 24) drawn uniformly from those at distance exactly `d` (all of them,
    in table order, when there are at most n)."""
    slots = np.flatnonzero(table == d)
    if len(slots) > n:
        slots = np.sort(rng.choice(slots, n, replace=False))
    return _decode(slots)


def _rotations() -> np.ndarray:
    """The 24 rotations of the cube: signed permutation matrices with determinant +1."""
    out = []
    for perm in permutations(range(3)):
        for signs in np.ndindex(2, 2, 2):
            r = np.zeros((3, 3), dtype=np.int64)
            r[range(3), perm] = 2 * np.array(signs) - 1
            if round(np.linalg.det(r)) == 1:
                out.append(r)
    return np.array(out)


def _decode_table() -> np.ndarray:
    """(7 places, 7 cubies, 3 twists, 3 slots) -> colour: what the stickers of corner place k
    show when cubie q sits there with its U/D colour in slot o. Found geometrically: the
    rotation of the cube that carries q's home corner to place k and its U/D sticker's
    normal to slot o's normal carries each of its stickers to its slot."""
    normal = {i: np.array(NORMALS[f]) for i, (f, _) in enumerate(_STICKERS)}
    table = np.full((7, 7, 3, 3), 255, dtype=np.uint8)
    for k, slots in enumerate(CORNER_STICKERS):
        for q, home in enumerate(CORNER_STICKERS):
            ud = next(i for i in home if SOLVED[i] in _UD)
            for o in range(3):
                for r in _rotations():
                    if (r @ np.array(_PLACES[q]) == np.array(_PLACES[k])).all() and \
                            (r @ normal[ud] == normal[slots[o]]).all():
                        for i in home:
                            j = next(j for j in range(3) if (normal[slots[j]] == r @ normal[i]).all())
                            table[k, q, o, j] = SOLVED[i]
    return table


def _decode(slots) -> np.ndarray:
    """States (k, 24) of table indices: the inverse of `index` on reachable slots."""
    slots = np.asarray(slots, dtype=np.int64)
    perms = np.array(list(permutations(range(7))))          # in rank order (lexicographic)
    rank, twist = np.divmod(slots, 2187)
    colours = _decode_table()
    out = np.broadcast_to(SOLVED, (len(slots), 24)).copy()
    for k in range(6, -1, -1):
        twist, o = np.divmod(twist, 3)
        out[:, CORNER_STICKERS[k]] = colours[k, perms[rank, k], o]
    return out
