"""fastgrad.buffers.BufferPool: reuse by (shape, dtype), never an alias of a live buffer
(random get/release/step sequences that write a distinct value into every live buffer
and check all of them after each action), clear errors for foreign, view, double and
still-referenced releases; and the scratch benchmark's smoke run."""
import numpy as np
import pytest

from fastgrad.buffers import BufferPool


def _overlaps(a, b):
    return np.shares_memory(a, b)


def test_get_returns_requested_shape_and_dtype():
    pool = BufferPool()
    for shape, dtype in [((3, 4), np.float32), (5, np.float64), ((), np.int64), ((0, 7), np.float32),
                         ([2, 3], "float32")]:
        a = pool.get(shape, dtype)
        want = (shape,) if isinstance(shape, int) else tuple(shape)
        assert a.shape == want and a.dtype == np.dtype(dtype) and a.flags.c_contiguous and a.flags.writeable


def test_released_buffer_is_reused_only_for_its_key():
    pool = BufferPool()
    a = pool.get((3, 4), np.float32)
    first = id(a)
    pool.release(a)
    del a
    assert id(pool.get((4, 3), np.float32)) != first       # another shape: not that buffer
    assert pool.get((3, 4), np.float64).dtype == np.float64
    b = pool.get((3, 4), np.float32)
    assert id(b) == first
    s = pool.stats()
    assert (s.hits, s.misses, s.out) == (1, 3, 3)


def test_two_live_buffers_never_share_memory():
    pool = BufferPool()
    a = pool.get(10)
    b = pool.get(10)
    assert not _overlaps(a, b)


def test_release_errors():
    pool = BufferPool()
    with pytest.raises(ValueError, match="did not hand out"):
        pool.release(np.empty(3, np.float32))                 # foreign
    a = pool.get(6)
    with pytest.raises(ValueError, match="view"):
        pool.release(a[1:])                                   # a view of a pooled buffer
    v = a[::2]
    with pytest.raises(ValueError, match="still referenced"):
        pool.release(a)                                       # its view is alive
    del v
    b = a
    with pytest.raises(ValueError, match="still referenced"):
        pool.release(a)                                       # a second name
    del b
    pool.release(a)
    with pytest.raises(ValueError, match="released twice"):
        pool.release(a)
    with pytest.raises(TypeError, match="NumPy array"):
        pool.release([1, 2])


def test_release_through_a_helper_with_names():
    pool = BufferPool()

    def done(arr):
        pool.release(arr, names=2)                            # the caller's name and `arr`
    a = pool.get(4)
    done(a)
    del a
    assert pool.stats().free == 1


def test_bad_shapes_and_dtypes():
    pool = BufferPool()
    with pytest.raises(ValueError, match="negative"):
        pool.get((2, -1))
    with pytest.raises(TypeError, match="shape"):
        pool.get((2.5, 3))
    with pytest.raises(TypeError, match="dtype"):
        pool.get(3, "not-a-dtype")
    with pytest.raises(TypeError, match="object"):
        pool.get(3, object)


def _work(pool, n):
    bufs = [pool.get((n,)) for _ in range(3)]
    for k, b in enumerate(bufs):
        b[:] = k
    return [float(b.sum()) for b in bufs]


def test_step_recycles_dead_buffers():
    pool = BufferPool()
    for _ in range(3):
        with pool.step():
            assert _work(pool, 8) == [0.0, 8.0, 16.0]
    s = pool.stats()
    assert (s.misses, s.hits, s.out, s.free, s.escaped) == (3, 6, 0, 3, 0)


def test_step_keeps_buffers_that_are_still_referenced():
    pool = BufferPool()
    kept = []
    with pool.step():
        kept.append(pool.get(5))                              # an activation kept past the step
        kept[0][:] = 7
        view_holder = pool.get(5)[1:]                         # only a view survives
        view_holder[:] = 3
        pool.get(5)                                           # dead: recycled
    assert pool.stats().escaped == 2 and pool.stats().free == 1
    with pool.step():
        for _ in range(4):
            pool.get(5)[:] = -1
    assert (kept[0] == 7).all() and (view_holder == 3).all()


def test_step_releases_after_an_exception():
    pool = BufferPool()
    with pytest.raises(RuntimeError):
        with pool.step():
            pool.get(3)
            raise RuntimeError("boom")
    assert pool.stats().out == 0 and pool.stats().free == 1


@pytest.mark.parametrize("seed", range(8))
def test_random_sequences_never_alias_live_buffers(seed):
    """Random get / release / nested step / clear; every live buffer holds its own tag,
    written at get time; after every action each live buffer must still hold its tag and
    no two live buffers may share memory."""
    rng = np.random.default_rng(seed)
    pool = BufferPool()
    shapes = [(3,), (2, 3), (6,), (4, 4), (0,)]
    dtypes = [np.float32, np.float64]
    live = []            # [(array, tag)] handed out explicitly, released explicitly
    tag = [0]

    def take(where):
        tag[0] += 1
        a = pool.get(shapes[rng.integers(len(shapes))], dtypes[rng.integers(len(dtypes))])
        a[...] = tag[0]
        where.append((a, tag[0]))

    def check(groups):
        alls = [x for g in groups for x in g]
        for a, t in alls:
            assert (a == t).all(), "a live buffer was overwritten: aliasing"
        for i in range(len(alls)):
            for j in range(i):
                if alls[i][0].size and alls[j][0].size:
                    assert not _overlaps(alls[i][0], alls[j][0]), "two live buffers share memory"

    def run_step(depth):
        inner = []
        with pool.step():
            for _ in range(int(rng.integers(1, 12))):
                r = rng.random()
                if r < 0.45:
                    take(inner)
                elif r < 0.6:
                    take(live)
                elif r < 0.75 and live:
                    a, _ = live.pop(int(rng.integers(len(live))))
                    pool.release(a)
                    del a
                elif r < 0.85 and depth < 2:
                    run_step(depth + 1)
                elif r < 0.9:
                    pool.clear()
                check([live, inner])
            keep = inner[: int(rng.integers(len(inner) + 1))]   # some survive the step
            inner.clear()                                       # the rest are dead at its end
        survivors.extend(keep)
        del keep
        check([live, survivors])

    survivors = []
    for _ in range(30):
        run_step(0)
        if survivors and rng.random() < 0.5:
            survivors.pop(int(rng.integers(len(survivors))))
    check([live, survivors])
    assert pool.stats().hits > 20                 # buffers really were reused
    while live:                                   # every explicit buffer can still be released
        a, _ = live.pop()
        pool.release(a)
        del a
    while survivors:                              # and so can those that outlived their step
        a, _ = survivors.pop()
        pool.release(a)
        del a
    assert pool.stats().out == 0


def test_scratch_benchmark_quick_runs(capsys):
    from fastgrad.bench import scratch

    assert scratch.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "verdict:" in out and "load" in out and "matmul backward" in out
