"""FineWeb's own quality filter (Penedo et al. 2024), with datatrove's defaults."""

from __future__ import annotations

import re
from collections import Counter

from curate.measure import Getter, MeasuredFilter
from curate.schema import Document
from curate.stage import register
from filters import text as T
from filters.words import ends_sentence

_STOP_CHARS = (".", "'", '"', "!", "?")
# nltk word_tokenize splits punctuation into tokens of its own; words plus single punctuation marks is
# the same count on ordinary text without loading nltk.
_TOKEN = re.compile(r"\w+|[^\w\s]")


def duplicate_line_chars(lines: list[str]) -> int:
    """Characters in lines seen before in the page (every occurrence after the first), as datatrove."""
    return sum(len(s) * (c - 1) for s, c in Counter(lines).items() if c > 1)


def _nonblank_lines(doc: Document) -> list[str]:
    return T.cached(doc, "_fw_nonblank_lines", lambda t: [ln for ln in t.split("\n") if ln.strip()])


def _share(lines: list[str], hits: int) -> float:
    return hits / len(lines) if lines else 0.0


def _per_token(doc: Document, n_tokens: int) -> float:
    return doc["text"].count("\n") / n_tokens if n_tokens else float("inf")


def _fast_dup_ratio(doc: Document) -> float:
    n_chars = len(doc["text"]) - doc["text"].count("\n")
    return duplicate_line_chars([ln for ln in T.lines(doc) if ln.strip()]) / n_chars if n_chars else 0.0


def _datatrove_dup_ratio(doc: Document) -> float:
    n_chars = len(doc["text"]) - doc["text"].count("\n")
    return duplicate_line_chars(_nonblank_lines(doc)) / n_chars if n_chars else 0.0


# rules: fast, on every \n-line: measure name -> fn(stage, doc)
FAST_MEASURES = {
    "fineweb_chars": lambda st, doc: len(doc["text"]) - doc["text"].count("\n"),
    "fineweb_line_punct_ratio": lambda st, doc: _share(
        T.lines(doc), sum(1 for ln in T.lines(doc) if ln.endswith(_STOP_CHARS))
    ),
    "fineweb_short_line_ratio": lambda st, doc: _share(
        T.lines(doc), sum(1 for ln in T.lines(doc) if len(ln) <= st.short_line_length)
    ),
    "fineweb_char_dup_ratio": lambda st, doc: _fast_dup_ratio(doc),
    "fineweb_list_ratio": lambda st, doc: _per_token(doc, len(_TOKEN.findall(doc["text"]))),
}
# rules: datatrove, on the non-blank lines
DATATROVE_MEASURES = {
    "fineweb_chars": lambda st, doc: sum(map(len, _nonblank_lines(doc))),
    "fineweb_line_punct_ratio": lambda st, doc: _share(
        _nonblank_lines(doc), sum(map(ends_sentence, _nonblank_lines(doc)))
    ),
    "fineweb_short_line_ratio": lambda st, doc: _share(
        _nonblank_lines(doc), sum(len(ln) <= st.short_line_length for ln in _nonblank_lines(doc))
    ),
    "fineweb_char_dup_ratio": lambda st, doc: _datatrove_dup_ratio(doc),
    "fineweb_list_ratio": lambda st, doc: _per_token(doc, len(T.spacy_tokens(doc))),
}


@register("fineweb_quality")
class FineWebQuality(MeasuredFilter):
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

    Measures (``mode: annotate``; in the rule set's counting): ``fineweb_chars`` (characters other than
    newlines; datatrove: in the non-blank lines; 0: empty), ``fineweb_line_punct_ratio``,
    ``fineweb_short_line_ratio`` (lines of at most ``short_line_length``), ``fineweb_char_dup_ratio``,
    ``fineweb_list_ratio`` (newlines per token; infinite without a token). ``select`` may change every
    parameter but ``short_line_length`` and ``rules``.
    """

    measures = tuple(FAST_MEASURES)
    decided_by = ("line_punct_thr", "line_punct_exclude_zero", "short_line_thr", "char_duplicates_ratio",
                  "new_line_ratio")

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
        self._measure = FAST_MEASURES if rules == "fast" else DATATROVE_MEASURES

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        return self._measure[name](self, doc)

    def _over(self, value: float, limit: float) -> bool:
        """Past a maximum: datatrove's thresholds are strict, the fast rules' inclusive."""
        return value > limit if self.rules == "datatrove" else value >= limit

    def decision(self, get: Getter) -> str | None:
        if get("fineweb_chars") == 0:
            return "fineweb_empty"
        punct = get("fineweb_line_punct_ratio")
        low = punct < self.line_punct_thr if self.rules == "datatrove" else punct <= self.line_punct_thr
        if low and not (self.exclude_zero and punct == 0):
            return "fineweb_line_punct_ratio"
        if self._over(get("fineweb_short_line_ratio"), self.short_line_thr):
            return "fineweb_short_line_ratio"
        if self._over(get("fineweb_char_dup_ratio"), self.char_dup):
            return "fineweb_char_dup_ratio"
        if get("fineweb_list_ratio") > self.new_line_ratio:
            return "fineweb_list_ratio"
        return None
