"""fastgrad.datasets: the packaged Tiny Shakespeare, the character tokenizer and the 90/10 split."""
import hashlib
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fastgrad.datasets import (TINYSHAKESPEARE_SHA256, CharTokenizer, load_tinyshakespeare, shakespeare_char,
                               split, tinyshakespeare_path)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def text():
    return load_tinyshakespeare()


def test_the_corpus_is_packaged_and_intact(text):
    path = tinyshakespeare_path()
    assert path.is_file() and path.parent.name == "datasets"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == TINYSHAKESPEARE_SHA256
    assert len(text) == 1_115_394 and text.startswith("First Citizen:\nBefore we proceed any further")


def test_the_corpus_is_declared_as_package_data():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "tinyshakespeare.txt" in tool["package-data"]["fastgrad.datasets"]


def test_tokenizer_vocabulary_is_every_character_sorted(text):
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == 65 == len(set(text))
    assert list(tok.vocab) == sorted(tok.vocab)
    assert tok.vocab[0] == "\n" and tok.vocab[1] == " "


def test_encode_decode_round_trip(text):
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == 64
    assert tok.decode(ids) == text
    assert tok.decode(tok.encode("ROMEO:")) == "ROMEO:"
    assert list(tok.encode("ab")) == [tok.vocab.index("a"), tok.vocab.index("b")]
    assert tok.decode([]) == "" and tok.encode("").shape == (0,)


def test_tokenizer_errors_name_the_problem():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"\['z'\]"):
        tok.encode("abz")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(TypeError, match="integers"):
        tok.decode(np.array([0.5]))
    with pytest.raises(ValueError, match="repeats"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer("")


def test_vocabulary_travels_as_code_points(text):
    tok = CharTokenizer.from_text(text)
    codes = tok.to_array()
    assert codes.dtype == np.int32 and codes.shape == (65,)
    back = CharTokenizer.from_array(codes)
    assert back == tok and back.encode("KING") .tolist() == tok.encode("KING").tolist()
    assert CharTokenizer.from_array(CharTokenizer("é\n ").to_array()).vocab == "é\n "
    with pytest.raises(ValueError, match="1-D integer"):
        CharTokenizer.from_array(np.array([[65]]))


def test_split_is_first_90_percent_then_the_rest(text):
    train, val = split(text)
    assert len(train) == int(len(text) * 0.9) == 1_003_854 and len(val) == 111_540
    assert train + val == text
    ids = np.arange(10)
    a, b = split(ids, 0.7)
    assert a.tolist() == list(range(7)) and b.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="between 0 and 1"):
        split(ids, 1.0)


def test_shakespeare_char_is_the_encoded_split(text):
    train, val, tok = shakespeare_char()
    assert tok == CharTokenizer.from_text(text)
    assert tok.decode(train) == text[:1_003_854] and tok.decode(val) == text[1_003_854:]
