"""Gopher quality heuristics (Rae et al. 2021) with DCLM-Baseline's thresholds and counting rules."""

from __future__ import annotations

import re
from operator import itemgetter, methodcaller

from curate.measure import Getter, MeasuredFilter
from curate.schema import Document
from curate.stage import register
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




def _per_token(doc: Document, count: float) -> float:
    toks = T.words(doc)
    return count / len(toks) if toks else 0.0


def _alpha_words_ratio(doc: Document, bound: float | None) -> float:
    # tokens starting with a letter are a lower bound of those containing one: when that bound already
    # reaches the rule's minimum, the rule keeps the page and the regex scan is not needed
    lower = _per_token(doc, sum(map(str.isalpha, map(_first, T.words(doc)))))
    if bound is not None and lower >= bound:
        return lower
    return _per_token(doc, len(_ALPHA_TOKEN.findall(doc["text"])))


def _stop_words(stop: re.Pattern, doc: Document, bound: float | None) -> int:
    """Stop-word tokens, counting repeats; with ``bound``, counting stops when it is reached."""
    found = 0
    for _ in stop.finditer(doc["text"]):
        found += 1
        if found == bound:
            break
    return found


# DCLM's counting (rules: dclm): measure name -> fn(stage, doc, bound)
DCLM_MEASURES = {
    "gopher_word_count": lambda st, doc, b: T.word_count(doc),
    "gopher_mean_word_length": lambda st, doc, b: _per_token(doc, sum(map(len, T.words(doc)))),
    "gopher_symbol_ratio": lambda st, doc, b: _per_token(doc, sum(map(doc["text"].count, _SYMBOLS))),
    "gopher_lines": lambda st, doc, b: len(T.stripped_lines(doc)),
    "gopher_bullet_lines": lambda st, doc, b: sum(map(_starts_bullet, T.stripped_lines(doc))),
    "gopher_ellipsis_lines": lambda st, doc, b: sum(map(_ends_ellipsis, T.stripped_lines(doc))),
    "gopher_alpha_words_ratio": lambda st, doc, b: _alpha_words_ratio(doc, b),
    "gopher_stop_words": lambda st, doc, b: _stop_words(st._stop, doc, b),
}


@register("gopher_quality")
class GopherQuality(MeasuredFilter):
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

    Measures (``mode: annotate``; each rule's number, in the rule set's counting): ``gopher_word_count``,
    ``gopher_mean_word_length`` (0 for a page without a word: it is short), ``gopher_symbol_ratio``
    (datatrove: the larger of the ``#`` and ellipsis ratios), ``gopher_lines``, ``gopher_bullet_lines``,
    ``gopher_ellipsis_lines`` (counts: the ratios are count / lines, compared as each reference does),
    ``gopher_alpha_words_ratio``, ``gopher_stop_words``. ``select`` may change every parameter but
    ``stop_words`` and ``rules``.
    """

    columns = ("word_count",)
    measures = tuple(DCLM_MEASURES)
    decided_by = (
        "min_words", "max_words", "min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio",
        "max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio", "min_stop_words",
    )

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
        self._measure = DCLM_MEASURES if rules == "dclm" else gopher_datatrove.QUALITY_MEASURES
        self.stop_word_set = frozenset(stop_words)
        alt = "|".join(sorted(map(re.escape, {w.lower() for w in stop_words})))
        self._stop = re.compile(rf"(?<!\S)(?:{alt})(?!\S)", re.IGNORECASE)

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        return self._measure[name](self, doc, bound)

    def process(self, doc: Document) -> str | None:
        if self.rules == "dclm":
            doc["word_count"] = T.word_count(doc)
        return super().process(doc)

    def annotate(self, doc: Document) -> str | None:
        if self.rules == "dclm":
            doc["word_count"] = T.word_count(doc)
        return super().annotate(doc)

    def _over(self, count: int, lines: int, ratio: float) -> bool:
        """count / lines > ratio, as each reference compares it (DCLM: count > ratio * lines)."""
        if self.rules == "dclm":
            return count > ratio * lines
        return lines > 0 and count / lines > ratio

    def decision(self, get: Getter) -> str | None:
        n = get("gopher_word_count")
        if self.min_words is not None and n < self.min_words:
            return "gopher_short_doc"
        if self.max_words is not None and n > self.max_words:
            return "gopher_long_doc"
        mean = get("gopher_mean_word_length")
        if mean == 0:  # not a single word
            return "gopher_short_doc"
        if self.min_avg_word_length is not None and mean < self.min_avg_word_length:
            return "gopher_short_words"
        if self.max_avg_word_length is not None and mean > self.max_avg_word_length:
            return "gopher_long_words"
        if self.max_symbol_word_ratio is not None:
            if get("gopher_symbol_ratio") > self.max_symbol_word_ratio:
                return "gopher_symbol_ratio"
        if self.max_bullet_lines_ratio is not None or self.max_ellipsis_lines_ratio is not None:
            lines = get("gopher_lines")
            if self.max_bullet_lines_ratio is not None:
                if self._over(get("gopher_bullet_lines"), lines, self.max_bullet_lines_ratio):
                    return "gopher_bullet_lines"
            if self.max_ellipsis_lines_ratio is not None:
                if self._over(get("gopher_ellipsis_lines"), lines, self.max_ellipsis_lines_ratio):
                    return "gopher_ellipsis_lines"
        if self.min_alpha_words_ratio is not None:
            if get("gopher_alpha_words_ratio", self.min_alpha_words_ratio) < self.min_alpha_words_ratio:
                return "gopher_alpha_ratio"
        if self.min_stop_words:
            if get("gopher_stop_words", self.min_stop_words) < self.min_stop_words:
                return "gopher_stop_words"
        return None
