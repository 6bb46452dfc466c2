"""fastgrad.kernels.gpu_specs: occupancy worked out by hand, the traffic formulas, the
roofline's max() and the errors for bad input. Plain arithmetic: no GPU, no simulator."""
import dataclasses

import pytest

from fastgrad.kernels import gpu_specs as gs


def test_published_figures():
    assert (gs.T4.sms, gs.T4.compute_capability, gs.T4.fp32_tflops, gs.T4.bandwidth_gbs) == (40, (7, 5), 8.1, 320.0)
    assert (gs.A100.sms, gs.A100.compute_capability, gs.A100.fp32_tflops, gs.A100.bandwidth_gbs) == \
        (108, (8, 0), 19.5, 1555.0)
    assert gs.T4.max_warps_per_sm * 32 == gs.T4.max_threads_per_sm
    assert gs.A100.max_warps_per_sm * 32 == gs.A100.max_threads_per_sm
    assert gs.T4.ridge_point == pytest.approx(8.1e12 / 320e9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        gs.T4.sms = 80


def test_full_blocks_of_1024_threads():
    occ = gs.occupancy(gs.T4, 1024)
    assert occ["blocks_per_sm"] == 1 and occ["warps_per_sm"] == 32 and occ["occupancy"] == 1.0
    assert occ["limited_by"] == ("threads", "warps")
    occ = gs.occupancy(gs.A100, 1024)
    assert occ["blocks_per_sm"] == 2 and occ["occupancy"] == 1.0


def test_shared_memory_limit():
    occ = gs.occupancy(gs.T4, 256, shared_bytes_per_block=48 * 1024)
    assert occ["blocks_per_sm"] == 1 and occ["limited_by"] == ("shared memory",)
    assert occ["occupancy"] == 8 / 32
    # A100: 164 KB / (48 KB + the 1 KB system reserve) = 3 blocks
    occ = gs.occupancy(gs.A100, 256, shared_bytes_per_block=48 * 1024)
    assert occ["blocks_per_sm"] == 3 and occ["limited_by"] == ("shared memory",)


def test_register_limit():
    # A100: 256 threads x 64 registers = 16384 per block, 65536 / 16384 = 4 blocks (threads would allow 8)
    occ = gs.occupancy(gs.A100, 256, registers_per_thread=64)
    assert occ["blocks_per_sm"] == 4 and occ["limited_by"] == ("registers",) and occ["occupancy"] == 0.5
    occ = gs.occupancy(gs.T4, 256, registers_per_thread=128)
    assert occ["blocks_per_sm"] == 2 and occ["limited_by"] == ("registers",) and occ["occupancy"] == 0.5
    # registers go to a warp in units of 256: 33 registers x 32 threads = 1056 -> 1280 per warp
    occ = gs.occupancy(gs.T4, 1024, registers_per_thread=33)
    assert occ["limits"]["registers"] == 65536 // (1280 * 32) == 1


def test_block_limit_and_partial_warps():
    occ = gs.occupancy(gs.T4, 32)
    assert occ["blocks_per_sm"] == 16 and occ["limited_by"] == ("blocks",) and occ["occupancy"] == 0.5
    occ = gs.occupancy(gs.T4, 48)                       # 48 threads take 2 warps
    assert occ["limits"]["warps"] == 16 and occ["warps_per_sm"] == 32


def test_bad_launches():
    with pytest.raises(ValueError, match="1025"):
        gs.occupancy(gs.T4, 1025)
    with pytest.raises(ValueError, match="threads_per_block = 0"):
        gs.occupancy(gs.T4, 0)
    with pytest.raises(ValueError, match="shared_bytes_per_block"):
        gs.occupancy(gs.T4, 256, shared_bytes_per_block=65 * 1024)
    with pytest.raises(ValueError, match="registers_per_thread = 256"):
        gs.occupancy(gs.T4, 256, registers_per_thread=256)
    with pytest.raises(ValueError, match="too many resources"):
        gs.occupancy(gs.T4, 1024, registers_per_thread=255)


@pytest.mark.parametrize("name, sizes, expected", [
    ("add", dict(n=1000), (12_000, 1000)),
    ("fma", dict(n=1000), (16_000, 2000)),
    ("block_sum", dict(n=1000), (4000, 1000)),
    ("softmax_rows", dict(rows=3, n=10), (240, 150)),
    ("matmul", dict(m=2, k=3, n=4), (4 * (6 + 12 + 8), 48)),
    ("matmul_tiled", dict(m=2, k=3, n=4), (4 * (6 + 12 + 8), 48)),
    ("attention_decode", dict(heads=2, length=5, d=8), (2 * 2 * 5 * 8 * 4, 4 * 2 * 5 * 8)),
])
def test_traffic_formulas(name, sizes, expected):
    assert gs.kernel_traffic(name, **sizes) == expected
    assert gs.traffic_note(name)


def test_traffic_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown kernel 'conv2d'"):
        gs.kernel_traffic("conv2d", n=4)
    with pytest.raises(ValueError, match="needs the sizes m, k, n"):
        gs.kernel_traffic("matmul", n=4)
    with pytest.raises(ValueError, match="size n"):
        gs.kernel_traffic("add", n=-1)


def test_roofline_is_the_slower_of_memory_and_arithmetic():
    assert gs.roofline_seconds(100, 10, 10.0, 100.0) == 10.0        # memory-bound
    assert gs.roofline_seconds(10, 1000, 10.0, 100.0) == 10.0       # compute-bound
    assert gs.roofline_seconds(0, 0, 1.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        gs.roofline_seconds(1, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        gs.roofline_seconds(-1, 1, 1.0, 1.0)


def test_predicted_speedup_is_the_bandwidth_or_the_flop_ratio():
    moved, flops = gs.kernel_traffic("add", n=1 << 24)
    assert gs.predicted_speedup(moved, flops, gs.T4, gs.A100) == pytest.approx(1555 / 320)
    moved, flops = gs.kernel_traffic("matmul", m=4096, k=4096, n=4096)
    assert gs.predicted_speedup(moved, flops, gs.T4, gs.A100) == pytest.approx(19.5 / 8.1)
    cpu = (20e9, 200e9)                                              # a (bandwidth, FLOP/s) pair
    assert gs.predicted_speedup(moved, flops, cpu, gs.T4) == pytest.approx(8.1e12 / 200e9)
    assert gs.predicted_speedup(moved, flops, gs.T4, gs.T4) == 1.0
