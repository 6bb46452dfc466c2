"""`python -m fastgrad.bench generate`: the PyTorch twin of the GPT (skipped without torch)
computes what fastgrad computes, the check refuses rows that differ, and `--quick` runs
and prints every expected line (with and without torch). No speed assertions: speed
targets are reported by the benchmark, not tested."""
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

from fastgrad.bench import generate as bench
from fastgrad.models.gpt import GPT, GPTConfig, generate, load_gpt

HAS_TORCH = importlib.util.find_spec("torch") is not None
VERDICT = r"(met|NOT met)"
TIMING = r"[\d.]+ [mµ]?s"


@pytest.fixture(scope="module")
def shipped():
    return load_gpt()


@pytest.fixture(scope="module")
def shipped_twin(shipped):
    pytest.importorskip("torch")
    from fastgrad.bench.torch_gpt import TorchGPT

    return TorchGPT.from_fastgrad(shipped.model)


# ------------------------------------------------------------------ the torch twin
@pytest.mark.parametrize("prompt", bench.PROMPTS)
def test_twin_generates_fastgrads_greedy_tokens_with_the_shipped_weights(shipped, shipped_twin, prompt):
    from fastgrad.bench.torch_gpt import generate as torch_generate

    ids = shipped.tokenizer.encode(prompt)
    ours = generate(shipped.model, ids, 100, temperature=0, cache=True, return_logits=True)
    for cache in (True, False):
        theirs = torch_generate(shipped_twin, ids, 100, temperature=0, cache=cache, return_logits=True)
        np.testing.assert_array_equal(theirs.tokens, ours.tokens)
        np.testing.assert_allclose(theirs.logits, ours.logits, rtol=0, atol=bench.LOGIT_ATOL)
    assert len(set(ours.tokens.tolist())) >= 5                 # real text, not one token repeated
    assert np.abs(ours.logits).max() > 1                       # trained logits, not ~0


def test_twin_samples_the_same_tokens_with_temperature_and_top_k(shipped, shipped_twin):
    from fastgrad.bench.torch_gpt import generate as torch_generate

    ids = shipped.tokenizer.encode("KING HENRY VI:\n")
    ours = generate(shipped.model, ids, 60, temperature=0.8, top_k=20, seed=3)
    theirs = torch_generate(shipped_twin, ids, 60, temperature=0.8, top_k=20, seed=3)
    np.testing.assert_array_equal(theirs.tokens, ours.tokens)
    greedy = generate(shipped.model, ids, 60, temperature=0).tokens
    assert not np.array_equal(ours.tokens, greedy)             # sampling really sampled


def test_twin_holds_a_copy_of_every_weight(shipped, shipped_twin):
    assert sum(p.numel() for p in shipped_twin.parameters()) == shipped.model.num_parameters()
    np.testing.assert_array_equal(shipped_twin.blocks[2].attn.qkv.weight.detach().numpy(),
                                  shipped.model.blocks[2].attn.qkv.weight.data)
    np.testing.assert_array_equal(shipped_twin.blocks[0].norm2.detach().numpy(),
                                  shipped.model.blocks[0].norm2.weight.data)


@pytest.mark.parametrize("tie", [False, True])
def test_twin_logits_whole_sequence_and_in_chunks_after_a_cache(tie):
    # sharper weights than the initialisation, a tied head, and a step of 3 tokens after 4
    # cached positions (the masked branch of the twin's attention)
    torch = pytest.importorskip("torch")
    from fastgrad.bench.torch_gpt import TorchGPT

    model = GPT(GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, d_model=16, tie_weights=tie), seed=1)
    for p in model.parameters():
        p.data[...] = np.random.default_rng(p.size).normal(0, 0.3, p.shape)
    twin = TorchGPT.from_fastgrad(model)
    ids = np.random.default_rng(0).integers(0, 13, 12)
    want = model.logits_numpy(ids)
    with torch.inference_mode():
        np.testing.assert_allclose(twin.logits(ids).numpy(), want, rtol=1e-4, atol=1e-5)
        cache = twin.new_cache(12)
        chunks = [twin.step(ids[a:b], cache).numpy() for a, b in ((0, 4), (4, 7), (7, 8), (8, 12))]
    assert cache.length == 12
    np.testing.assert_allclose(np.concatenate(chunks), want, rtol=1e-4, atol=1e-5)


def test_twin_rope_table_is_fastgrads():
    pytest.importorskip("torch")
    from fastgrad.bench.torch_gpt import rope_tables
    from fastgrad.ops.attention import rope_tables as fastgrad_tables

    cos, sin = rope_tables(300, 32, 10000.0)
    want_cos, want_sin = fastgrad_tables(0, 300, 32, 10000.0, np.float32)
    np.testing.assert_array_equal(cos.numpy(), np.concatenate([want_cos, want_cos], axis=1))
    np.testing.assert_array_equal(sin.numpy(), np.concatenate([want_sin, want_sin], axis=1))


# ------------------------------------------------------------- check before timing
def _rows_with(shipped, twin):
    return bench.generators(shipped.model, twin)


def test_check_passes_and_reports_the_errors(shipped, shipped_twin):
    prompts = {p: shipped.tokenizer.encode(p) for p in bench.PROMPTS}
    check = bench.check_agree(_rows_with(shipped, shipped_twin), prompts, 30)
    assert set(check["errors"]) == {"fastgrad cached", "torch cached", "torch recompute"}
    assert all(0 <= e <= bench.LOGIT_ATOL for e in check["errors"].values())
    assert check["scale"] > 1 and set(check["tokens"]) == set(bench.PROMPTS)


def test_check_refuses_a_twin_with_slightly_different_weights(shipped):
    torch = pytest.importorskip("torch")
    from fastgrad.bench.torch_gpt import TorchGPT

    twin = TorchGPT.from_fastgrad(shipped.model)
    with torch.no_grad():
        twin.head.weight.mul_(1.001)          # logits 0.1% off: the same tokens, different logits
    prompts = {"ROMEO:": shipped.tokenizer.encode("ROMEO:")}
    with pytest.raises(AssertionError, match=r"torch cached's logits after 'ROMEO:' differ from fastgrad "
                                             r"recompute's by .* so nothing is timed"):
        bench.check_agree(_rows_with(shipped, twin), prompts, 20)


def test_check_refuses_a_twin_with_positions_wrong(shipped):
    # the classic cache bug: every new token rotated as if it stood at position 0
    pytest.importorskip("torch")
    from fastgrad.bench.torch_gpt import TorchGPT

    class RopeAtZero(TorchGPT):
        def _run(self, ids, pos, cache, last_only):
            t = ids.shape[0]
            cos, sin = self.cos[:t], self.sin[:t]
            x = self.embedding(ids)
            for layer, block in enumerate(self.blocks):
                x = block(x, cos, sin, pos, cache, layer)
            return self._head(x[-1:] if last_only else x)

    twin = RopeAtZero.from_fastgrad(shipped.model)
    prompts = {"ROMEO:": shipped.tokenizer.encode("ROMEO:")}
    with pytest.raises(AssertionError, match=r"torch cached after 'ROMEO:' chose token \d+ at step \d+, fastgrad "
                                             r"recompute \d+; .* nothing is timed"):
        bench.check_agree(_rows_with(shipped, twin), prompts, 60)


def test_each_length_is_checked_before_it_is_timed(shipped, monkeypatch):
    def no_timing(*args, **kwargs):
        raise RuntimeError("timed rows that disagree")

    rows = bench.generators(shipped.model, None)
    real = rows["fastgrad cached"]
    rows["fastgrad cached"] = lambda p, n, logits=False: real(p[:-1], n, logits)       # the prompt cut short
    monkeypatch.setattr(bench, "compare", no_timing)
    with pytest.raises(AssertionError, match=r"fastgrad cached's 20 greedy tokens differ .* nothing is timed"):
        bench.bench_length(rows, shipped.tokenizer.encode("ROMEO:"), 20, 1)


# ------------------------------------------------------------------- the suite
@pytest.fixture(scope="module")
def quick_output():
    proc = subprocess.run([sys.executable, "-m", "fastgrad.bench", "generate", "--quick", "--repeats", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quick_header_and_check(quick_output):
    assert re.search(r"^fastgrad generate benchmark \(--quick", quick_output, re.M)
    assert re.search(r"^model: a freshly initialised GPT \(--quick\): 2 layers, d_model 32, 2 heads, vocabulary \d+, "
                     r"[\d,]+ parameters, float32$", quick_output, re.M)
    assert re.search(r"^torch: .*, load average: [\d.]+", quick_output, re.M)
    assert "== check before timing: 20 greedy tokens after each of 2 prompts ('ROMEO:', 'First Citizen:\\n') ==" \
        in quick_output
    errors = r"fastgrad cached [\d.e+-]+"
    if HAS_TORCH:
        errors += r", torch cached [\d.e+-]+, torch recompute [\d.e+-]+"
    assert re.search(rf"^max \|logit difference\| from fastgrad recompute: {errors} \(tolerance 0.0001; logits up to",
                     quick_output, re.M)


def test_quick_rows_for_every_length(quick_output):
    rows = ["fastgrad recompute", "fastgrad cached"] + (["torch cached", "torch recompute"] if HAS_TORCH else [])
    for n in bench.QUICK_LENGTHS:
        assert f"== {n} greedy tokens after 'ROMEO:' (6 tokens), one interleaved run, 2 rounds ==" in quick_output
    for row in rows:
        found = re.findall(rf"^{row}\s+{TIMING}\s+{TIMING}\.\.{TIMING}\s+[\d.]+x$", quick_output, re.M)
        assert len(found) == len(bench.QUICK_LENGTHS), row
    assert len(re.findall(r"^tokens/s: fastgrad recompute [\d,]+, fastgrad cached [\d,]+", quick_output, re.M)) == 3
    for n in bench.QUICK_LENGTHS:
        torch_cells = r"\s+[\d.]+x\s+[\d,]+\s+[\d.]+x" if HAS_TORCH else ""
        assert re.search(rf"^\s+{n}\s+[\d.]+x\s+[\d,]+{torch_cells}$", quick_output, re.M), n


def test_quick_summary_and_targets(quick_output):
    assert "== Summary ==" in quick_output
    assert re.search(r"^generate 20: fastgrad cached [\d,]+ tokens/s, recompute [\d,]+ tokens/s: cache [\d.]+x "
                     r"recompute", quick_output, re.M)
    assert re.search(r"^fastgrad cache factor by length: [\d.]+x at 10, [\d.]+x at 20, [\d.]+x at 40", quick_output,
                     re.M)
    assert re.search(rf"^target cache >= 8x recompute at 20 tokens: {VERDICT} \([\d.]+x\)$", quick_output, re.M)
    torch_verdict = rf"{VERDICT} \([\d.]+x\)" if HAS_TORCH else r"skipped \(torch not installed\)"
    assert re.search(rf"^target fastgrad cached tokens/s >= torch cached's at 20 tokens: {torch_verdict}$",
                     quick_output, re.M)
    if HAS_TORCH:
        assert re.search(rf"^stretch fastgrad cached tokens/s >= 2x torch cached's: {VERDICT}", quick_output, re.M)
    assert re.search(r"load average at the end: [\d.]+", quick_output)


def test_torch_rows_skip_cleanly_without_torch(monkeypatch, capsys):
    monkeypatch.setattr(bench, "_torch", lambda: None)
    assert bench.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "torch: not installed (torch rows skipped)" in out
    assert "tokens identical in every row: True (fastgrad recompute, fastgrad cached)" in out
    assert re.search(r"^target fastgrad cached tokens/s >= torch cached's at 20 tokens: skipped "
                     r"\(torch not installed\)$", out, re.M)
    assert not re.search(r"^torch (cached|recompute)", out, re.M)
    assert "torch cached/recompute" not in out and "stretch" not in out


def test_run_returns_the_measured_ratios():
    r = bench.run(quick=True, repeats=1, torch=None, verbose=False)
    assert r["torch"] is None and r["tokens"] == 20 and set(r["lengths"]) == set(bench.QUICK_LENGTHS)
    main = r["main"]
    tps = main["tokens_per_s"]
    assert set(tps) == {"fastgrad recompute", "fastgrad cached"} and all(v > 0 for v in tps.values())
    assert main["cache_factor"] == pytest.approx(tps["fastgrad cached"] / tps["fastgrad recompute"])
    assert main["vs_torch"] is None and main["torch_cache_factor"] is None


def test_listed_by_the_command_line():
    from fastgrad.bench import __main__ as cli

    assert re.search(r"^  generate ", cli.__doc__, re.M)
    assert re.search(r"^    generate ", sys.modules["fastgrad.bench"].__doc__, re.M)


def test_the_library_and_the_suite_import_without_torch():
    # torch_gpt imports torch; nothing else may import it (the library never, the suite lazily)
    code = ("import sys, fastgrad, fastgrad.models.gpt, fastgrad.bench.generate; "
            "print('torch' in sys.modules, 'fastgrad.bench.torch_gpt' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
