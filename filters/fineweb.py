"""FineWeb's own quality filter (Penedo et al. 2024), with datatrove's defaults."""

from __future__ import annotations

import re
from collections import Counter

from curate.schema import Document
from curate.stage import Stage, register
from filters import text as T
from filters.words import ends_sentence

_STOP_CHARS = (".", "'", '"', "!", "?")
# nltk word_tokenize splits punctuation into tokens of its own; words plus single punctuation marks is
# the same count on ordinary text without loading nltk.
_TOKEN = re.compile(r"\w+|[^\w\s]")


def duplicate_line_chars(lines: list[str]) -> int:
    """Characters in lines seen before in the page (every occurrence after the first), as datatrove."""
    return sum(len(s) * (c - 1) for s, c in Counter(lines).items() if c > 1)


@register("fineweb_quality")
class FineWebQuality(Stage):
    """Drop pages whose lines look like lists, menus or repeated boilerplate.

    On ``\\n``-lines: the share of lines ending in ``. ' " ! ?`` must be ``> line_punct_thr`` (when
    ``line_punct_exclude_zero``, a share of exactly 0 passes); the share of lines of at most
    ``short_line_length`` characters must be ``< short_line_thr``; characters in repeated non-empty lines
    over all non-newline characters must be ``< char_duplicates_ratio``; newlines per word token must be
    ``<= new_line_ratio``.

    ``rules: datatrove`` counts as datatrove 0.10.1: on the non-blank lines only, a line "ends with
    punctuation" when its last character is a Unicode sentence terminal, the thresholds are strict (drop
    when the punctuation share is ``< line_punct_thr``, the short-line share ``> short_line_thr``, the
    duplicate share ``> char_duplicates_ratio``), and word tokens are spaCy's. ``rules: fast`` (default)
    is the rule set above: the five stop characters, inclusive thresholds and regex tokens (``\\w+`` or one
    punctuation mark), no spaCy.

    Reasons: ``fineweb_empty``, ``fineweb_line_punct_ratio``, ``fineweb_short_line_ratio``,
    ``fineweb_char_dup_ratio``, ``fineweb_list_ratio``.
    """

    def __init__(
        self,
        line_punct_thr: float = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float = 0.01,
        new_line_ratio: float = 0.3,
        rules: str = "fast",
    ) -> None:
        if rules not in ("fast", "datatrove"):
            raise ValueError("rules must be 'fast' or 'datatrove'")
        self.rules = rules
        self.line_punct_thr = line_punct_thr
        self.exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_dup = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def _datatrove(self, doc: Document) -> str | None:
        text = doc["text"]
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return "fineweb_empty"
        if sum(map(ends_sentence, lines)) / len(lines) < self.line_punct_thr:
            if not (self.exclude_zero and not any(map(ends_sentence, lines))):
                return "fineweb_line_punct_ratio"
        if sum(len(ln) <= self.short_line_length for ln in lines) / len(lines) > self.short_line_thr:
            return "fineweb_short_line_ratio"
        if duplicate_line_chars(lines) / len(text.replace("\n", "")) > self.char_dup:
            return "fineweb_char_dup_ratio"
        if text.count("\n") / len(T.spacy_tokens(doc)) > self.new_line_ratio:
            return "fineweb_list_ratio"
        return None

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        if self.rules == "datatrove":
            return self._datatrove(doc)
        n_chars = len(text) - text.count("\n")
        if n_chars == 0:
            return "fineweb_empty"
        lines = T.lines(doc)
        ratio = sum(1 for ln in lines if ln.endswith(_STOP_CHARS)) / len(lines)
        if ratio <= self.line_punct_thr and not (ratio == 0 and self.exclude_zero):
            return "fineweb_line_punct_ratio"
        if sum(1 for ln in lines if len(ln) <= self.short_line_length) / len(lines) >= self.short_line_thr:
            return "fineweb_short_line_ratio"
        if duplicate_line_chars([ln for ln in lines if ln.strip()]) / n_chars >= self.char_dup:
            return "fineweb_char_dup_ratio"
        n_tokens = len(_TOKEN.findall(text))
        if n_tokens == 0 or text.count("\n") / n_tokens > self.new_line_ratio:
            return "fineweb_list_ratio"
        return None
