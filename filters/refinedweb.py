"""RefinedWeb / DCLM line-wise modifiers and DCLM's pre-clean (newline collapse, URL removal)."""

from __future__ import annotations

import re

import numpy as np

from curate.schema import Document
from curate.stage import Stage, register, worker_cache
from filters import text as T
from filters.url import data_path

_COUNTER = re.compile(
    r"^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|shares|comments|retweets|reposts|quotes|bookmarks|"
    r"upvotes|downvotes|downloads|views|followers)\W*$"
)
# DCLM builds these from its banlist strings without escaping them, so "." in "Read more..." matches any
# character; kept as published.
_CART = re.compile(r"\s?(?:items in cart)", re.I)
_READ_MORE = re.compile(r"\s?(?:read more...)$", re.I)
_SIGN_IN = re.compile(r"^(?:sign-in)\s?", re.I)
_BOILER_HINT = re.compile(r"items in cart|read more|sign-in", re.I)


def _char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Boolean tables over all code points: isupper, isdigit (built once per worker, ~0.2 s)."""
    cps = np.arange(0x110000, dtype=np.uint32)
    upper = np.zeros(0x110000, dtype=np.int32)
    digit = np.zeros(0x110000, dtype=np.int32)
    for c in cps[: 0xD800].tolist() + cps[0xE000:0x20000].tolist():  # later planes: no cased/digit chars
        ch = chr(c)
        if ch.isupper():
            upper[c] = 1
        if ch.isdigit():
            digit[c] = 1
    return upper, digit


def line_char_counts(text: str, n_lines: int, table: np.ndarray) -> np.ndarray:
    """Per ``\\n``-line count of characters flagged in ``table``, vectorised over the whole page."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    line_id = np.cumsum(cp == 10)
    return np.bincount(line_id, weights=table[cp], minlength=n_lines)


@register("refinedweb_line_modifiers")
class RefinedWebLineModifiers(Stage):
    """DCLM's RefinedWeb line-wise corrections, then drop the page if too many of its words went.

    On each ``\\n``-line, in DCLM's order: remove lines with uppercase share ``> max_uppercase_ratio``,
    lines with digit share ``> max_numeric_ratio`` (RefinedWeb: all digits), counter lines ("3 likes",
    "12 comments"), lines with fewer than ``min_words_per_line`` words; on lines of at most
    ``boilerplate_max_words`` words remove "items in cart" (anywhere), "Read more..." (suffix) and "Sign-in"
    (prefix), removing the line when nothing else is left. Then strip the page and drop it when more than
    ``max_words_removed_ratio`` of its words were removed (words counted as DCLM counts page length).
    One pass over the lines; DCLM strips the page between steps, which only differs when the first or
    last line has leading/trailing whitespace. Writes ``words_removed_ratio``.

    Reasons: ``refinedweb_empty`` (nothing left), ``refinedweb_words_removed``.
    """

    columns = ("words_removed_ratio",)

    def __init__(
        self,
        max_uppercase_ratio: float | None = 0.5,
        max_numeric_ratio: float | None = 0.999999,
        remove_counter_lines: bool = True,
        min_words_per_line: int = 2,
        boilerplate_max_words: int | None = 10,
        max_words_removed_ratio: float | None = 0.05,
    ) -> None:
        self.max_upper = max_uppercase_ratio
        self.max_numeric = max_numeric_ratio
        self.counter = remove_counter_lines
        self.min_words = min_words_per_line
        self.boiler_max = boilerplate_max_words
        self.max_removed = max_words_removed_ratio

    def setup(self) -> None:
        self._upper, self._digit = worker_cache("unicode_upper_digit_tables", _char_tables)

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        before = T.word_count(doc)
        lines = T.lines(doc)
        n = len(lines)
        lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
        nz = np.maximum(lens, 1)
        drop = np.zeros(n, dtype=bool)
        if self.max_upper is not None:
            drop |= line_char_counts(text, n, self._upper) / nz > self.max_upper
        digits = line_char_counts(text, n, self._digit)
        if self.max_numeric is not None:
            drop |= digits / nz > self.max_numeric
        drop &= lens > 0  # empty lines are kept (they separate paragraphs)
        boiler = self.boiler_max is not None and _BOILER_HINT.search(text) is not None
        kept = []
        for i, line in enumerate(lines):
            if drop[i]:
                continue
            if self.counter and digits[i] and _COUNTER.search(line.lower()):
                continue
            if line and len(line.split()) < self.min_words:
                continue
            if boiler:
                for pat in (_CART, _READ_MORE, _SIGN_IN):
                    if len(line.split()) <= self.boiler_max:
                        new = pat.sub("", line)
                        if line and (not new or new.isspace()):
                            line = None
                            break
                        line = new
                if line is None:
                    continue
            kept.append(line)
        new_text = "\n".join(kept).strip()
        if not new_text:
            return "refinedweb_empty"
        if new_text != text:
            doc["text"] = new_text
        after = T.word_count(doc)
        ratio = (before - after) / before if before else 1.0
        doc["words_removed_ratio"] = ratio
        if self.max_removed is not None and ratio > self.max_removed:
            return "refinedweb_words_removed"
        return None


# The look-behind makes a URL start only where a run of URL characters starts, so the scan stays linear
# (without it every position inside every word restarts the 256-character run).
_URL = re.compile(
    r"\s{0,10}(?<![-a-zA-Z0-9@:%._+~#=/])(?:(?:https?|ftp)://)?[-a-zA-Z0-9@:%._+~#=]{1,256}\.([a-zA-Z]{2,63})\b[-a-zA-Z0-9()@:%_+.~#?&/=]*"
)
_IPV4 = re.compile(r"\s{0,10}\b((https?|ftp)://)?(?:[0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}[-a-zA-Z0-9()@:%_+.~#?&/=]*")


def _load_tlds() -> frozenset[str]:
    return frozenset(t.strip().lower() for t in data_path("iana_tlds.txt").read_text().split() if t.strip())


@register("refinedweb_preclean")
class RefinedWebPreclean(Stage):
    """DCLM's modifiers before language ID: remove URLs and IPv4 addresses from the text
    (``url_removal_modifier``: a URL is a run ending in ``.<IANA TLD>`` plus its path), then collapse runs
    of more than ``max_consecutive_newlines`` newlines. DCLM only removes TLD-based URLs when its TLD
    pattern matches at the very start of the page (``re.match``); we always do.

    Reasons: ``refinedweb_empty`` (nothing left).
    """

    def __init__(self, remove_urls: bool = True, max_consecutive_newlines: int | None = 2) -> None:
        if max_consecutive_newlines is not None and max_consecutive_newlines < 1:
            raise ValueError("max_consecutive_newlines must be >= 1")
        self.remove_urls = remove_urls
        self.max_nl = max_consecutive_newlines
        self._nl = re.compile(f"\n{{{max_consecutive_newlines + 1},}}") if max_consecutive_newlines else None

    def setup(self) -> None:
        self._tlds = worker_cache("iana_tlds", _load_tlds)

    def _url_sub(self, m: re.Match) -> str:
        return "" if m.group(1).lower() in self._tlds else m.group(0)

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        if self.remove_urls:
            text = _URL.sub(self._url_sub, text)
            text = _IPV4.sub("", text)
        if self._nl is not None:
            text = self._nl.sub("\n" * self.max_nl, text)
        if not text.strip():
            return "refinedweb_empty"
        if text != doc["text"]:
            doc["text"] = text
        return None
