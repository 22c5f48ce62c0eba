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

from curate.schema import Document
from filters.text import spacy_tokens
from filters.words import is_symbol_word

_PARAS = re.compile(r"\n{2,}")
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


def repetition_reason(doc: Document, line: tuple, para: tuple, top: list, dup: list) -> str | None:
    """datatrove's ``GopherRepetitionFilter`` order and counting; reasons as curate names them."""
    text = doc["text"]
    if not text:
        return "gopher_rep_empty"
    for name, parts, (frac, char_frac) in (
        ("para", _PARAS.split(text.strip()), para),
        ("line", _LINES.split(text), line),
    ):
        n, chars = duplicates(parts)
        if frac is not None and n / len(parts) > frac:
            return f"gopher_rep_dup_{name}_frac"
        if char_frac is not None and chars / len(text) > char_frac:
            return f"gopher_rep_dup_{name}_char_frac"
    words = spacy_tokens(doc)
    for n, limit in top:
        if len(words) >= n and top_ngram_chars(words, n) / len(text) > limit:
            return f"gopher_rep_top_{n}gram"
    for n, limit in dup:
        if greedy_dup_ngram_chars(words, n) / len(text) > limit:
            return f"gopher_rep_dup_{n}gram"
    return None


def quality_reason(stage, doc: Document) -> str | None:  # noqa: ANN001 - a GopherQuality
    """datatrove's ``GopherQualityFilter`` order and counting, with ``stage``'s thresholds."""
    text = doc["text"]
    words = spacy_tokens(doc)
    n_words = len(words)
    real = [w for w in words if not is_symbol_word(w)]
    n = len(real)
    if stage.min_words is not None and n < stage.min_words:
        return "gopher_short_doc"
    if stage.max_words is not None and n > stage.max_words:
        return "gopher_long_doc"
    if n_words == 0 or n == 0:
        return "gopher_short_doc"
    mean = sum(map(len, real)) / n
    if stage.min_avg_word_length is not None and mean < stage.min_avg_word_length:
        return "gopher_short_words"
    if stage.max_avg_word_length is not None and mean > stage.max_avg_word_length:
        return "gopher_long_words"
    if stage.max_symbol_word_ratio is not None:
        if text.count("#") / n_words > stage.max_symbol_word_ratio:
            return "gopher_symbol_ratio"
        if (text.count("...") + text.count("…")) / n_words > stage.max_symbol_word_ratio:
            return "gopher_symbol_ratio"
    lines = text.splitlines()
    if stage.max_bullet_lines_ratio is not None and lines:
        bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
        if bullets / len(lines) > stage.max_bullet_lines_ratio:
            return "gopher_bullet_lines"
    if stage.max_ellipsis_lines_ratio is not None and lines:
        ends = sum(s.rstrip().endswith(("...", "…")) for s in lines)
        if ends / len(lines) > stage.max_ellipsis_lines_ratio:
            return "gopher_ellipsis_lines"
    if stage.min_alpha_words_ratio is not None:
        if sum(any(c.isalpha() for c in w) for w in words) / n_words < stage.min_alpha_words_ratio:
            return "gopher_alpha_ratio"
    if stage.min_stop_words and len(stage.stop_word_set & set(words)) < stage.min_stop_words:
        return "gopher_stop_words"
    return None
