"""`one_thread(torch)`: run a comparison with every thread pool held to one thread.

Two libraries with their own thread pools (NumPy's BLAS, Numba's workers, PyTorch's
intra-op pool) slow each other down when they are interleaved in one process, and on a
shared machine a threaded figure depends on what else runs. Holding all of them to one
thread compares the code, not the thread pools.
"""
from __future__ import annotations

from contextlib import contextmanager


def optional_torch():
    """torch held to one thread (`torch.set_num_threads(1)`), or None when it is not installed:
    the benchmarks' torch rows are skipped then."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


@contextmanager
def one_thread(torch=None):
    """Within the block: BLAS and OpenMP pools at one thread (threadpoolctl), Numba at
    one thread (`numba.set_num_threads(1)`) and, when `torch` (the module) is given,
    `torch.set_num_threads(1)`. The previous settings are restored on exit, also after
    an exception.

        with one_thread(torch):
            result = compare({...})
    """
    import numba
    from threadpoolctl import threadpool_limits

    numba_threads = numba.get_num_threads()
    torch_threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        try:
            numba.set_num_threads(1)
            if torch is not None:
                torch.set_num_threads(1)
            yield
        finally:
            numba.set_num_threads(numba_threads)
            if torch is not None:
                torch.set_num_threads(torch_threads)
