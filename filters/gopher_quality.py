"""Gopher quality heuristics (Rae et al. 2021) with DCLM-Baseline's thresholds and counting rules."""

from __future__ import annotations

import re
from operator import itemgetter, methodcaller

from curate.schema import Document
from curate.stage import Stage, register
from filters import gopher_datatrove
from filters import text as T

# A whitespace token containing a letter. Anchored at token starts, so the look-ahead stays linear.
_ALPHA_TOKEN = re.compile(r"(?<!\S)(?=\S*?[^\W\d_])\S+")
_BULLETS = ("●", "•", "*", "-")
_ELLIPSES = ("...", ". . .", "\u2026")
_SYMBOLS = ("#", "...", ". . .", "\u2026")
_first = itemgetter(0)
_starts_bullet = methodcaller("startswith", _BULLETS)  # C-level calls in map(), no Python-level loop
_ends_ellipsis = methodcaller("endswith", _ELLIPSES)
DEFAULT_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


@register("gopher_quality")
class GopherQuality(Stage):
    """Drop pages that fail Gopher's quality rules, checked in DCLM's order. Writes ``word_count``.

    Counting follows DCLM's code: page length counts whitespace tokens starting with an alphanumeric
    (punctuation tokens not counted); mean word length, symbol ratio, alphabetic ratio and stop words use
    plain whitespace tokens; bullet and ellipsis ratios use the non-empty stripped lines. A ``null``
    parameter disables its rule.

    Parameters (DCLM-Baseline defaults):
        min_words / max_words: page length bounds, inclusive (50, 100,000).
        min_avg_word_length / max_avg_word_length: mean characters per token, inclusive (3, 10).
        max_symbol_word_ratio: (``#`` + ellipses) per token, keeps ``<=`` (0.1).
        max_bullet_lines_ratio: share of lines starting with ● • * -, keeps ``<=`` (0.9).
        max_ellipsis_lines_ratio: share of lines ending with ... / . . . / …, keeps ``<=`` (0.3).
        min_alpha_words_ratio: share of tokens with a letter, keeps ``>=`` (0.8).
        min_stop_words: stop-word tokens needed (2, counting repeats).
        stop_words: the list (Gopher's eight).
        rules: ``dclm`` (the counting above) or ``datatrove`` (FineWeb's: spaCy words, stop words counted
            once each; see :mod:`filters.gopher_datatrove`).

    Reasons: ``gopher_short_doc``, ``gopher_long_doc``, ``gopher_short_words``, ``gopher_long_words``,
    ``gopher_symbol_ratio``, ``gopher_bullet_lines``, ``gopher_ellipsis_lines``, ``gopher_alpha_ratio``,
    ``gopher_stop_words``.
    """

    columns = ("word_count",)

    def __init__(
        self,
        min_words: int | None = 50,
        max_words: int | None = 100_000,
        min_avg_word_length: float | None = 3,
        max_avg_word_length: float | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        min_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: list[str] = DEFAULT_STOP_WORDS,  # noqa: B006 - never mutated
        rules: str = "dclm",
    ) -> None:
        if rules not in ("dclm", "datatrove"):
            raise ValueError("rules must be 'dclm' or 'datatrove'")
        if min_words is not None and max_words is not None and max_words <= min_words:
            raise ValueError("max_words must be > min_words")
        if min_avg_word_length is not None and max_avg_word_length is not None:
            if max_avg_word_length < min_avg_word_length:
                raise ValueError("max_avg_word_length must be >= min_avg_word_length")
        self.min_words, self.max_words = min_words, max_words
        self.min_avg_word_length, self.max_avg_word_length = min_avg_word_length, max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.rules = rules
        self.stop_word_set = frozenset(stop_words)
        alt = "|".join(sorted(map(re.escape, {w.lower() for w in stop_words})))
        self._stop = re.compile(rf"(?<!\S)(?:{alt})(?!\S)", re.IGNORECASE)

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        if self.rules == "datatrove":
            return gopher_datatrove.quality_reason(self, doc)
        n = T.word_count(doc)
        doc["word_count"] = n
        if self.min_words is not None and n < self.min_words:
            return "gopher_short_doc"
        if self.max_words is not None and n > self.max_words:
            return "gopher_long_doc"
        toks = T.words(doc)
        ntok = len(toks)
        if ntok == 0:
            return "gopher_short_doc"
        if self.min_avg_word_length is not None or self.max_avg_word_length is not None:
            mean = sum(map(len, toks)) / ntok
            if self.min_avg_word_length is not None and mean < self.min_avg_word_length:
                return "gopher_short_words"
            if self.max_avg_word_length is not None and mean > self.max_avg_word_length:
                return "gopher_long_words"
        if self.max_symbol_word_ratio is not None:
            if sum(text.count(s) for s in _SYMBOLS) / ntok > self.max_symbol_word_ratio:
                return "gopher_symbol_ratio"
        if self.max_bullet_lines_ratio is not None or self.max_ellipsis_lines_ratio is not None:
            lines = T.stripped_lines(doc)
            if self.max_bullet_lines_ratio is not None:
                if sum(map(_starts_bullet, lines)) > self.max_bullet_lines_ratio * len(lines):
                    return "gopher_bullet_lines"
            if self.max_ellipsis_lines_ratio is not None:
                if sum(map(_ends_ellipsis, lines)) > self.max_ellipsis_lines_ratio * len(lines):
                    return "gopher_ellipsis_lines"
        if self.min_alpha_words_ratio is not None:
            # tokens starting with a letter are a lower bound of those containing one: the regex scan is
            # only needed when that bound alone misses the threshold
            if sum(map(str.isalpha, map(_first, toks))) / ntok < self.min_alpha_words_ratio:
                if len(_ALPHA_TOKEN.findall(text)) / ntok < self.min_alpha_words_ratio:
                    return "gopher_alpha_ratio"
        if self.min_stop_words:
            found = 0
            for _ in self._stop.finditer(text):
                found += 1
                if found >= self.min_stop_words:
                    break
            else:
                return "gopher_stop_words"
        return None
