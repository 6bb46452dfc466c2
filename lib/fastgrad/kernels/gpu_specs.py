"""What named GPUs can do, on paper (chapter 11): their published figures, the occupancy
of a launch, the memory traffic and FLOPs of the `fastgrad.kernels.cuda` kernels, and the
roofline time those give.

    from fastgrad.kernels import gpu_specs as gs
    gs.occupancy(gs.T4, threads_per_block=256, registers_per_thread=64)
    moved, flops = gs.kernel_traffic("matmul", m=4096, k=4096, n=4096)
    gs.roofline_seconds(moved, flops, gs.A100.bandwidth_bytes_per_s, gs.A100.flops_per_s)

The figures are NVIDIA's published values: the datasheets of the T4 and of the A100
(SM count, FP32 peak without tensor cores, memory bandwidth) and the CUDA C++ Programming
Guide's table of features and technical specifications per compute capability (threads,
warps, blocks, registers and shared memory per SM and per block). They are peaks: a real
kernel reaches some fraction of them, so every time computed here is a lower bound, a
prediction, never a measurement. Nothing here needs a GPU or the simulator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

KB = 1024
REGISTER_ALLOCATION_UNIT = 256      # registers are given to a warp in chunks of 256 (cc 7.x and 8.x)
MAX_REGISTERS_PER_THREAD = 255


@dataclass(frozen=True)
class GPUSpec:
    """One GPU's published figures (see the module docstring for the sources).

    Per device: `sms` streaming multiprocessors, FP32 peak `fp32_tflops` (TFLOP/s, CUDA
    cores, no tensor cores) and memory bandwidth `bandwidth_gbs` (GB/s, 1e9 bytes).
    Per SM: the resident threads, warps and blocks, 32-bit registers and shared memory
    (bytes) it holds at most. Per block: 1024 threads, 48 KB of static shared memory
    (`static_shared_per_block`; more only as dynamic shared memory, up to
    `max_shared_per_block`), and `reserved_shared_per_block` bytes the system keeps for
    itself out of the SM's shared memory (1 KB from compute capability 8.0 on)."""

    name: str
    architecture: str
    compute_capability: tuple[int, int]
    sms: int
    fp32_tflops: float
    bandwidth_gbs: float
    max_threads_per_sm: int
    max_warps_per_sm: int
    max_blocks_per_sm: int
    registers_per_sm: int
    shared_per_sm: int
    max_shared_per_block: int
    static_shared_per_block: int = 48 * KB
    reserved_shared_per_block: int = 0
    max_threads_per_block: int = 1024
    warp_size: int = 32

    @property
    def flops_per_s(self) -> float:
        """FP32 peak in FLOP/s (an FMA counts as 2 FLOPs, as NVIDIA counts it)."""
        return self.fp32_tflops * 1e12

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Memory bandwidth in bytes/s."""
        return self.bandwidth_gbs * 1e9

    @property
    def ridge_point(self) -> float:
        """Arithmetic intensity (FLOP/byte) above which a kernel is compute-bound."""
        return self.flops_per_s / self.bandwidth_bytes_per_s


T4 = GPUSpec(
    name="NVIDIA T4", architecture="Turing", compute_capability=(7, 5), sms=40, fp32_tflops=8.1,
    bandwidth_gbs=320.0, max_threads_per_sm=1024, max_warps_per_sm=32, max_blocks_per_sm=16,
    registers_per_sm=65536, shared_per_sm=64 * KB, max_shared_per_block=64 * KB)

A100 = GPUSpec(
    name="NVIDIA A100 40GB SXM", architecture="Ampere", compute_capability=(8, 0), sms=108, fp32_tflops=19.5,
    bandwidth_gbs=1555.0, max_threads_per_sm=2048, max_warps_per_sm=64, max_blocks_per_sm=32,
    registers_per_sm=65536, shared_per_sm=164 * KB, max_shared_per_block=163 * KB,
    reserved_shared_per_block=1 * KB)

OCCUPANCY_LIMITS = ("threads", "warps", "blocks", "registers", "shared memory")


def occupancy(spec: GPUSpec, threads_per_block: int, shared_bytes_per_block: int = 0,
              registers_per_thread: int = 32) -> dict:
    """How many blocks of this launch fit on one SM at once, and why not more.

    Each SM holds at most `max_threads_per_sm` threads, `max_warps_per_sm` warps (a block
    of t threads takes ceil(t / 32) warps), `max_blocks_per_sm` blocks, `registers_per_sm`
    registers (given per warp, rounded up to 256) and `shared_per_sm` bytes of shared
    memory (plus the system's per-block reserve). The resident blocks are the smallest of
    the five quotients; occupancy = resident warps / max warps per SM. High occupancy lets
    the SM switch to another warp while one waits for memory: that is how a GPU hides
    its latency.

    Returns {"blocks_per_sm", "warps_per_sm", "occupancy" (0..1), "limited_by" (tuple of
    the limits that bind, in the order of OCCUPANCY_LIMITS), "limits" (limit -> blocks;
    without shared memory its limit is the block limit, and it never binds)}.
    Raises ValueError for a launch the GPU refuses (too many threads, shared bytes or
    registers for one block)."""
    if not 1 <= threads_per_block <= spec.max_threads_per_block:
        raise ValueError(f"threads_per_block = {threads_per_block}; a block of the {spec.name} holds "
                         f"1..{spec.max_threads_per_block} threads")
    if not 0 <= shared_bytes_per_block <= spec.max_shared_per_block:
        raise ValueError(f"shared_bytes_per_block = {shared_bytes_per_block}; a block of the {spec.name} can "
                         f"have 0..{spec.max_shared_per_block} bytes ({spec.static_shared_per_block} static)")
    if not 1 <= registers_per_thread <= MAX_REGISTERS_PER_THREAD:
        raise ValueError(f"registers_per_thread = {registers_per_thread}; a thread has 1..{MAX_REGISTERS_PER_THREAD}")
    warps = math.ceil(threads_per_block / spec.warp_size)
    per_warp = math.ceil(registers_per_thread * spec.warp_size / REGISTER_ALLOCATION_UNIT) * REGISTER_ALLOCATION_UNIT
    shared = shared_bytes_per_block + spec.reserved_shared_per_block if shared_bytes_per_block else 0
    limits = {
        "threads": spec.max_threads_per_sm // threads_per_block,
        "warps": spec.max_warps_per_sm // warps,
        "blocks": spec.max_blocks_per_sm,
        "registers": spec.registers_per_sm // (per_warp * warps),
        "shared memory": spec.shared_per_sm // shared if shared else spec.max_blocks_per_sm,
    }
    blocks = min(limits.values())
    if blocks == 0:
        raise ValueError(f"a block of {threads_per_block} threads x {registers_per_thread} registers needs "
                         f"{per_warp * warps} registers; an SM of the {spec.name} has {spec.registers_per_sm}: "
                         "the launch fails (too many resources requested)")
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps,
            "occupancy": blocks * warps / spec.max_warps_per_sm,
            "limited_by": tuple(k for k in OCCUPANCY_LIMITS if limits[k] == blocks and (k != "shared memory" or shared)),
            "limits": limits}


# (required sizes, bytes moved, flops, what is counted)
_TRAFFIC = {
    "add": (("n",), lambda n: 12 * n, lambda n: n,
            "read a and b, write out: 3 x 4 bytes per element; 1 add"),
    "fma": (("n",), lambda n: 16 * n, lambda n: 2 * n,
            "read a, b, c, write out: 4 x 4 bytes; a multiply and an add"),
    "block_sum": (("n",), lambda n: 4 * n, lambda n: n,
                  "read x once; 1 add per element (the per-block partial sums are negligible)"),
    "softmax_rows": (("rows", "n"), lambda rows, n: 8 * rows * n, lambda rows, n: 5 * rows * n,
                     "read x and write out once (the kernel reads x three times, but a row stays in cache); "
                     "per element a compare (max), a subtract, an exp (counted as 1), an add (sum), a divide"),
    "matmul": (("m", "k", "n"), lambda m, k, n: 4 * (m * k + k * n + m * n), lambda m, k, n: 2 * m * k * n,
               "ideal: A, B and C cross the memory bus once (what tiling in shared memory and the caches "
               "approach); a multiply and an add per (i, j, k)"),
    "attention_decode": (("heads", "length", "d"), lambda heads, length, d: 2 * heads * length * d * 4,
                         lambda heads, length, d: 4 * heads * length * d,
                         "read K and V once (q and out are negligible); q.k and weight x v: 2 + 2 FLOPs per "
                         "cached number"),
}
_ALIASES = {"matmul_naive": "matmul", "matmul_tiled": "matmul"}
KERNELS = tuple(_TRAFFIC)


def traffic_note(name: str) -> str:
    """What `kernel_traffic(name, ...)` counts, in words."""
    return _TRAFFIC[_kernel(name)][3]


def _kernel(name):
    key = _ALIASES.get(name, name)
    if key not in _TRAFFIC:
        raise ValueError(f"unknown kernel {name!r}; known: {', '.join(KERNELS + tuple(_ALIASES))}")
    return key


def kernel_traffic(name: str, **sizes: int) -> tuple[int, int]:
    """(bytes moved to and from memory, FLOPs) of one call of a `fastgrad.kernels.cuda`
    kernel on float32 data: add(n), fma(n), block_sum(n), softmax_rows(rows, n),
    matmul(m, k, n) (also as matmul_naive / matmul_tiled: the ideal traffic, each
    matrix once), attention_decode(heads, length, d). `traffic_note(name)` says what
    is counted.

    Their ratio is the kernel's arithmetic intensity, FLOP/byte. Below a machine's ridge
    point (peak FLOP/s / bandwidth; about 25 FLOP/byte for a T4) the kernel is
    memory-bound: its time is bytes / bandwidth, whatever the FLOP/s. add does 1 FLOP
    per 12 bytes (1/12 FLOP/byte) and is memory-bound everywhere; a 4096^3 matmul does
    ~680 FLOP/byte and is compute-bound."""
    key = _kernel(name)
    required, moved, flops, _ = _TRAFFIC[key]
    if set(sizes) != set(required):
        raise ValueError(f"kernel_traffic({name!r}) needs the sizes {', '.join(required)}, got "
                         f"{', '.join(sizes) or 'none'}")
    for size, value in sizes.items():
        if int(value) != value or value < 0:
            raise ValueError(f"size {size} = {value!r} must be a non-negative integer")
    args = [int(sizes[r]) for r in required]
    return moved(*args), flops(*args)


def _roofs(machine) -> tuple[float, float]:
    if isinstance(machine, GPUSpec):
        return machine.bandwidth_bytes_per_s, machine.flops_per_s
    bandwidth, peak = machine
    return float(bandwidth), float(peak)


def roofline_seconds(bytes_moved: float, flops: float, bandwidth_bytes_per_s: float, flops_per_s: float) -> float:
    """The roofline's lower bound on a kernel's time: max(bytes / bandwidth, flops / peak).
    Memory and arithmetic overlap, so the slower of the two sets the pace."""
    if not (bandwidth_bytes_per_s > 0 and flops_per_s > 0):
        raise ValueError(f"bandwidth and peak must be positive, got {bandwidth_bytes_per_s} bytes/s, "
                         f"{flops_per_s} FLOP/s")
    if bytes_moved < 0 or flops < 0:
        raise ValueError(f"bytes and flops must be >= 0, got {bytes_moved}, {flops}")
    return max(bytes_moved / bandwidth_bytes_per_s, flops / flops_per_s)


def predicted_speedup(bytes_moved: float, flops: float, baseline, target) -> float:
    """How many times faster `target` runs the kernel than `baseline` by the roofline:
    roofline time on baseline / on target. Each machine is a GPUSpec or a
    (bandwidth bytes/s, FLOP/s) pair (e.g. this CPU's measured roofs). A memory-bound
    kernel gains the bandwidth ratio, a compute-bound one the FLOP/s ratio."""
    return roofline_seconds(bytes_moved, flops, *_roofs(baseline)) / roofline_seconds(bytes_moved, flops,
                                                                                      *_roofs(target))
