"""Gopher's rules as datatrove (FineWeb) counts them: ``rules: datatrove`` of ``gopher_quality`` and
``gopher_repetition``.

Where datatrove 0.10.1 differs from DCLM (``rules: dclm``, the default):

* words are spaCy's blank-English tokens (punctuation marks are words of their own), not whitespace tokens;
* page length and mean word length count the words that are not all punctuation; the symbol ratio checks
  ``#`` and ellipses separately; bullets are ``•`` or ``-`` after leading spaces; lines are
  ``str.splitlines()`` with empty lines included; stop words are counted once each, case-sensitively;
* paragraphs split at runs of 2+ newlines of the stripped page, lines at runs of newlines (not stripped);
  a repeated segment counts from its second occurrence; every share is over ``len(text)``;
* the top n-gram is the first most frequent one (its words joined by spaces); repeated n-gram characters
  are counted by one greedy left-to-right pass that jumps over each repeat.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from curate.schema import Document
from filters.text import cached, spacy_tokens
from filters.words import is_symbol_word

_PARAS = re.compile(r"\n{2,}")
_BULLETS = ("•", "-")
_ELLIPSES = ("...", "…")
_LINES = re.compile("\n+")


def duplicates(segments: list[str]) -> tuple[int, int]:
    """(segments seen before, their characters): every occurrence after the first counts."""
    seen: set[str] = set()
    n = chars = 0
    for s in segments:
        if s in seen:
            n += 1
            chars += len(s)
        else:
            seen.add(s)
    return n, chars


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters of the most frequent n-gram (words joined by one space; ties: the first seen) × count."""
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def greedy_dup_ngram_chars(words: list[str], n: int) -> int:
    """Characters in repeated n-grams (words joined without spaces), one pass that skips past a repeat."""
    seen: set[str] = set()
    chars = i = 0
    while i < len(words) - n + 1:
        gram = "".join(words[i : i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def _segment_dups(doc: Document, kind: str) -> tuple[int, int, int]:
    """(segments, repeated segments, their characters) of the paragraphs or lines, cached on the page."""
    split = (lambda t: _PARAS.split(t.strip())) if kind == "para" else _LINES.split
    return cached(doc, f"_dt_{kind}_dups", lambda t: (len(parts := split(t)), *duplicates(parts)))


def _seg_frac(doc: Document, kind: str) -> float:
    segs, n, _ = _segment_dups(doc, kind)
    return n / segs


def _seg_char_frac(doc: Document, kind: str) -> float:
    return _segment_dups(doc, kind)[2] / len(doc["text"]) if doc["text"] else 0.0


def _per_char(doc: Document, chars: int) -> float:
    return chars / len(doc["text"]) if doc["text"] else 0.0


Measure = Callable[[Document, float | None], float]


def repetition_measures(top: list[int], dup: list[int]) -> dict[str, Measure]:
    """datatrove's ``GopherRepetitionFilter`` counting: measure name -> fn(doc, bound), for the n-gram sizes
    ``top`` and ``dup`` (every share is over ``len(text)``; an empty page has 0 lines)."""
    out: dict[str, Measure] = {
        "gopher_rep_lines": lambda doc, b: len(_LINES.split(doc["text"])) if doc["text"] else 0,
    }
    for kind in ("line", "para"):
        out[f"gopher_rep_dup_{kind}_frac"] = lambda doc, b, k=kind: _seg_frac(doc, k)
        out[f"gopher_rep_dup_{kind}_char_frac"] = lambda doc, b, k=kind: _seg_char_frac(doc, k)
    for n in top:
        out[f"gopher_rep_top_{n}gram"] = lambda doc, b, n=n: _per_char(doc, top_ngram_chars(spacy_tokens(doc), n))
    for n in dup:
        out[f"gopher_rep_dup_{n}gram"] = lambda doc, b, n=n: _per_char(
            doc, greedy_dup_ngram_chars(spacy_tokens(doc), n)
        )
    return out


def _real_words(doc: Document) -> list[str]:
    """The words that are not all punctuation, cached on the page."""
    return cached(doc, "_dt_real_words", lambda t: [w for w in spacy_tokens(doc) if not is_symbol_word(w)])


def _per_word(doc: Document, count: float) -> float:
    words = spacy_tokens(doc)
    return count / len(words) if words else 0.0


def _mean_real_length(doc: Document) -> float:
    real = _real_words(doc)
    return sum(map(len, real)) / len(real) if real else 0.0


def _symbol_ratio(doc: Document) -> float:
    text = doc["text"]
    return _per_word(doc, max(text.count("#"), text.count("...") + text.count("…")))


# datatrove's ``GopherQualityFilter`` counting: measure name -> fn(stage, doc, bound); lines are
# ``str.splitlines()``, empty ones included
QUALITY_MEASURES: dict[str, Callable[[Any, Document, float | None], float]] = {
    "gopher_word_count": lambda st, doc, b: len(_real_words(doc)),
    "gopher_mean_word_length": lambda st, doc, b: _mean_real_length(doc),
    "gopher_symbol_ratio": lambda st, doc, b: _symbol_ratio(doc),
    "gopher_lines": lambda st, doc, b: len(_split_lines(doc)),
    "gopher_bullet_lines": lambda st, doc, b: sum(s.lstrip().startswith(_BULLETS) for s in _split_lines(doc)),
    "gopher_ellipsis_lines": lambda st, doc, b: sum(s.rstrip().endswith(_ELLIPSES) for s in _split_lines(doc)),
    "gopher_alpha_words_ratio": lambda st, doc, b: _per_word(
        doc, sum(any(c.isalpha() for c in w) for w in spacy_tokens(doc))
    ),
    "gopher_stop_words": lambda st, doc, b: len(st.stop_word_set & set(spacy_tokens(doc))),
}


def _split_lines(doc: Document) -> list[str]:
    return cached(doc, "_dt_splitlines", str.splitlines)
