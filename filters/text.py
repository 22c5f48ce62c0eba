"""Shared text helpers: split a page once, share the pieces across filters, hash words for n-gram counts.

Filters run fused on the same document dict, so the expensive splits are cached on the document under
transient keys (``_words``, ``_lines``, ``_rep_words``; fields starting with ``_`` are never written). Each
cache entry remembers the exact ``str`` object it was computed from, so a stage that rewrites
``doc["text"]`` (a line modifier) invalidates it for free: the next lookup sees a different object.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from curate.schema import Document
from filters.words import spacy_words, uax29_words

# DCLM counts page length with fastText's tokenizer and ignore_punctuation=True: a token counts when its
# first character is alphanumeric. fastText splits only at " \n\r\t\v\f\0" (so "\xa0Home" is one token,
# not counted); one C-level regex scan finds the starts of the counted tokens.
_WORD_START = re.compile(r"(?<![^ \n\r\t\v\f\x00])[^\W_]")
# ASCII text without these splits the same under str.split() and fastText's tokenizer
_SPLITS_DIFFER = re.compile(r"[\x00\x1c-\x1f]")
_first = itemgetter(0)


def cached(doc: Document, key: str, fn: Callable[[str], Any]) -> Any:
    """``fn(text)``, cached on ``doc`` under the transient ``key`` while ``doc["text"]`` is the same object."""
    text = doc["text"]
    hit = doc.get(key)
    if hit is not None and hit[0] is text:
        return hit[1]
    value = fn(text)
    doc[key] = (text, value)
    return value


def words(doc: Document) -> list[str]:
    """Whitespace tokens of the page (``text.split()``), cached on the document."""
    return cached(doc, "_words", str.split)


def lines(doc: Document) -> list[str]:
    """``text.split("\\n")`` (empty lines included), cached on the document."""
    return cached(doc, "_lines", lambda t: t.split("\n"))


def stripped_lines(doc: Document) -> list[str]:
    """Non-empty stripped lines, as DCLM's ``split_paragraphs(text, "\\n")``, cached on the document."""
    return cached(doc, "_slines", lambda t: [s for p in t.split("\n") if (s := p.strip())])


def rep_words(doc: Document) -> list[str]:
    """DCLM's repetition words (UAX #29 segments starting with a letter or digit, as uniseg splits them;
    see :func:`filters.words.uax29_words`), cached on the document, from the cached whitespace split."""
    return cached(doc, "_rep_words", lambda t: uax29_words(t, words(doc)))


def spacy_tokens(doc: Document) -> list[str]:
    """datatrove's words of the page (:func:`filters.words.spacy_words`), cached on the document."""
    return cached(doc, "_spacy_words", spacy_words)


def count_words(text: str) -> int:
    """DCLM's page word count: fastText tokens whose first character is alphanumeric."""
    return len(_WORD_START.findall(text))


def _count_tokens(toks: list[str]) -> int:
    return sum(map(str.isalnum, map(_first, toks)))


def word_count(doc: Document) -> int:
    """:func:`count_words` of the page, from the cached whitespace tokens (C-level maps, no regex scan) when
    the page is ASCII without the characters where the two splits differ."""
    text = doc["text"]
    hit = doc.get("_word_count")
    if hit is not None and hit[0] is text:
        return hit[1]
    if text.isascii() and _SPLITS_DIFFER.search(text) is None:
        n = _count_tokens(words(doc))
    else:
        n = count_words(text)
    doc["_word_count"] = (text, n)
    return n


_P = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier for the rolling n-gram combination


def word_hashes(ws: list[str]) -> np.ndarray:
    """64-bit hashes of words (Python's str hash: cached on the str, stable within a process)."""
    return np.fromiter(map(hash, ws), dtype=np.int64, count=len(ws)).view(np.uint64)


def ngram_hashes(h: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-gram (len(h) - n + 1 of them) by combining word hashes; 64 bits make collisions
    within one page vanishingly rare."""
    m = len(h) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    out = h[:m].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            out = out * _P + h[k : k + m]
    return out
