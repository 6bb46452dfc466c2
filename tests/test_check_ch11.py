"""Chapter 11 checkers as graders. They run learners' kernels on Numba's CUDA simulator,
which must be switched on before numba is first imported, and this test process imported
numba long ago: so the cases live in tests/simulator_check_ch11.py (a name pytest does not
collect by itself), run here in a fresh interpreter with NUMBA_ENABLE_CUDASIM=1."""
from simulator_run import assert_passes_on_simulator


def test_checkers_on_the_simulator():
    assert_passes_on_simulator("simulator_check_ch11.py")


def test_checkers_say_when_the_simulator_is_off():
    from fastgrad.check import ch11
    result = ch11.add_2d(lambda a, b, out: None, show=False)
    assert result.status == "fail" and "NUMBA_ENABLE_CUDASIM=1" in result.message, result
