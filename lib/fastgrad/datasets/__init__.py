"""Text data shipped with the course (chapter 07): Tiny Shakespeare and a character tokenizer.

    text = load_tinyshakespeare()                 # 1,115,394 characters, from the package
    tok = CharTokenizer.from_text(text)           # 65 characters, sorted by code point
    ids = tok.encode("ROMEO:")                    # np.int64 array of token ids
    tok.decode(ids)                               # 'ROMEO:'
    train, val = split(tok.encode(text))          # first 90% / last 10%

or all at once: `train, val, tok = shakespeare_char()`.

`tinyshakespeare.txt` (about 40,000 lines of Shakespeare's plays, public domain) is the
character-level corpus popularised by the char-rnn project. It lives next to this file as
package data (`fastgrad.data` is a module, so it cannot hold data files), so nothing is
downloaded at run time.

The vocabulary is saved with a model's weights as an int32 array of Unicode code points
(`CharTokenizer.to_array` / `from_array`): `.npz` files load with `allow_pickle=False`,
which refuses Python strings in object arrays, and `fastgrad.io` stores numbers only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["CharTokenizer", "load_tinyshakespeare", "tinyshakespeare_path", "split", "shakespeare_char",
           "TINYSHAKESPEARE_SHA256"]

TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def tinyshakespeare_path() -> Path:
    """Where the packaged `tinyshakespeare.txt` is (next to this module)."""
    return Path(__file__).resolve().parent / "tinyshakespeare.txt"


def load_tinyshakespeare() -> str:
    """The whole Tiny Shakespeare text as one string (1,115,394 characters, UTF-8)."""
    path = tinyshakespeare_path()
    if not path.is_file():
        raise FileNotFoundError(f"the packaged corpus {str(path)!r} is missing: reinstall fastgrad "
                                "(it ships as package data of fastgrad.datasets)")
    return path.read_text(encoding="utf-8")


class CharTokenizer:
    """One token per character: id i is the i-th character of `vocab` (a string of distinct
    characters, usually sorted).

    encode(text) -> np.int64 array of ids (ValueError naming any character not in the
    vocabulary); decode(ids) -> str. `vocab_size` is len(vocab).
    """

    def __init__(self, vocab: str):
        vocab = str(vocab)
        if not vocab:
            raise ValueError("CharTokenizer: the vocabulary is empty")
        if len(set(vocab)) != len(vocab):
            repeated = sorted({c for c in vocab if vocab.count(c) > 1})
            raise ValueError(f"CharTokenizer: the vocabulary repeats characters {repeated!r}")
        self.vocab = vocab
        self._ids = {c: i for i, c in enumerate(vocab)}
        self._chars = np.array(list(vocab))

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer of every distinct character of `text`, sorted by code point."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`, an np.int64 array of len(text)."""
        try:
            return np.fromiter((self._ids[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            unknown = sorted({c for c in text if c not in self._ids})
            raise ValueError(f"CharTokenizer.encode: characters {unknown!r} are not in the "
                             f"vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids) -> str:
        """The text of token ids (any integer sequence or array)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu":
            raise TypeError(f"CharTokenizer.decode: ids must be integers, got dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"CharTokenizer.decode: ids must lie in [0, {self.vocab_size}), got values "
                             f"from {ids.min()} to {ids.max()}")
        return "".join(self._chars[ids.reshape(-1)])

    def to_array(self) -> np.ndarray:
        """The vocabulary as an int32 array of code points (what a weight file stores)."""
        return np.array([ord(c) for c in self.vocab], dtype=np.int32)

    @classmethod
    def from_array(cls, codes) -> "CharTokenizer":
        """The tokenizer whose vocabulary is the code points `codes` (from `to_array`)."""
        codes = np.asarray(codes)
        if codes.ndim != 1 or codes.dtype.kind not in "iu":
            raise ValueError(f"CharTokenizer.from_array: expected a 1-D integer array of code points, "
                             f"got shape {codes.shape} dtype {codes.dtype}")
        return cls("".join(chr(int(c)) for c in codes))

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.vocab == self.vocab

    def __hash__(self) -> int:
        return hash(self.vocab)

    def __repr__(self) -> str:
        return f"CharTokenizer({self.vocab_size} characters: {self.vocab[:20]!r}{'...' if self.vocab_size > 20 else ''})"


def split(data, train_fraction: float = 0.9):
    """(first train_fraction, the rest) of a sequence: text or an id array, not shuffled
    (neighbouring characters are not independent samples; a contiguous validation part is
    text the model has never seen). The boundary is int(len(data) * train_fraction)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"split: train_fraction must be strictly between 0 and 1, got {train_fraction!r}")
    n = int(len(data) * train_fraction)
    return data[:n], data[n:]


def shakespeare_char(train_fraction: float = 0.9):
    """(train_ids, val_ids, tokenizer): Tiny Shakespeare encoded character by character
    (vocabulary of the whole text, 65 characters), split first 90% / last 10%."""
    text = load_tinyshakespeare()
    tok = CharTokenizer.from_text(text)
    train, val = split(tok.encode(text), train_fraction)
    return train, val, tok
