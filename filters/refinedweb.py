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
_BOILER_WORDS = ("items in cart", "read more", "sign-in")
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f")  # İ ı ſ: the non-ASCII characters re.I matches to the above
_UPPER, _DIGIT, _SPACE = 1, 2, 4


def _char_flags() -> np.ndarray:
    """uint8 flags over all code points: isupper, isdigit, isspace (built once per worker, ~0.2 s)."""
    flags = np.zeros(0x110000, dtype=np.uint8)
    cps = np.arange(0x110000, dtype=np.uint32)
    for c in cps[:0xD800].tolist() + cps[0xE000:0x20000].tolist():  # later planes: no cased/digit/space chars
        ch = chr(c)
        flags[c] = ch.isupper() * _UPPER | ch.isdigit() * _DIGIT | ch.isspace() * _SPACE
    return flags


def has_boilerplate(text: str) -> bool:
    """Whether ``_BOILER_HINT`` (case-insensitive) can match: a substring test on the lower-cased page,
    the regex only when the page holds one of the three characters case folding maps onto ASCII letters."""
    if not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII):
        return _BOILER_HINT.search(text) is not None
    low = text.lower()
    return any(w in low for w in _BOILER_WORDS)


def line_stats(text: str, n_lines: int, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ``\n``-line (uppercase characters, digit characters, whitespace tokens), from one vectorised pass
    over the page's code points."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    f = flags[cp]
    line_id = np.cumsum(cp == 10)
    upper = np.bincount(line_id, weights=f & _UPPER, minlength=n_lines)
    digit = np.bincount(line_id, weights=f & _DIGIT, minlength=n_lines) / _DIGIT
    space = (f & _SPACE).astype(bool)
    start = ~space  # a token starts at a non-space character after a space ("\n" is one) or at the start
    start[1:] &= space[:-1]
    return upper, digit, np.bincount(line_id, weights=start, minlength=n_lines)


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

    The per-line character and word counts are vectorised over the page; only the few lines with digits
    (counter check), lines of boilerplate pages and removed lines (their words) are looked at in Python.

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
        self._flags = worker_cache("unicode_upper_digit_space_flags", _char_flags)

    def _boilerplate(self, line: str) -> str | None:
        """DCLM's three substring removals on one line; None when nothing but whitespace is left."""
        for pat in (_CART, _READ_MORE, _SIGN_IN):
            if len(line.split()) <= self.boiler_max:  # type: ignore[operator]
                new = pat.sub("", line)
                if line and (not new or new.isspace()):
                    return None
                line = new
        return line

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        before = T.word_count(doc)
        lines = T.lines(doc)
        n = len(lines)
        lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
        upper, digits, ntok = line_stats(text, n, self._flags)
        nz = np.maximum(lens, 1)
        drop = np.zeros(n, dtype=bool)
        if self.max_upper is not None:
            drop |= upper / nz > self.max_upper
        if self.max_numeric is not None:
            drop |= digits / nz > self.max_numeric
        drop |= ntok < self.min_words  # an empty line has 0 tokens: kept below (it separates paragraphs)
        drop &= lens > 0
        if self.counter:
            for i in np.flatnonzero(~drop & (digits > 0)).tolist():
                if _COUNTER.search(lines[i].lower()):
                    drop[i] = True
        removed = sum(T.count_words(lines[i]) for i in np.flatnonzero(drop).tolist())
        keep = np.flatnonzero(~drop).tolist()
        kept = [lines[i] for i in keep]
        if self.boiler_max is not None and has_boilerplate(text):
            short = (ntok <= self.boiler_max).tolist()
            out = []
            for i, line in zip(keep, kept):
                new = self._boilerplate(line) if short[i] else line
                if new is not line:
                    removed += T.count_words(line) - (T.count_words(new) if new is not None else 0)
                if new is not None:
                    out.append(new)
            kept = out
        new_text = "\n".join(kept).strip()
        if not new_text:
            return "refinedweb_empty"
        after = before - removed  # tokens never span a "\n", so a page's words are the sum of its lines'
        if new_text != text:
            doc["text"] = new_text
            doc["_word_count"] = (new_text, after)
        ratio = (before - after) / before if before else 1.0
        doc["words_removed_ratio"] = ratio
        if self.max_removed is not None and ratio > self.max_removed:
            return "refinedweb_words_removed"
        return None


# DCLM's url_removal_modifier regexes. Each starts with ``\s{0,10}``, which makes ``re`` try a match at every
# position of the page; remove_urls finds the same matches from the few places where they can occur.
_URL_CHARS = "-a-zA-Z0-9@:%._+~#="
_URL = re.compile(
    rf"\s{{0,10}}(?<![{_URL_CHARS}/])(?:(?:https?|ftp)://)?[{_URL_CHARS}]{{1,256}}\.([a-zA-Z]{{2,63}})\b"
    r"[-a-zA-Z0-9()@:%_+.~#?&/=]*"
)
_IPV4 = re.compile(r"\s{0,10}\b((https?|ftp)://)?(?:[0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}[-a-zA-Z0-9()@:%_+.~#?&/=]*")
# _URL without its leading whitespace can only match where a run of URL characters starts (the look-behind),
# and the run holds its "." + two letters. So: find such a dot, walk back to its run's start, match there,
# then widen the match back over up to 10 whitespace characters (not before the previous match's end):
# exactly where the ``\s{0,10}`` scan would have started it.
_URL_CORE = re.compile(_URL.pattern.removeprefix(r"\s{0,10}"))
_URL_RUN_CHARS = frozenset("-@:%._+~#=/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_URL_RUN = re.compile(rf"[{_URL_CHARS}/]*")
_DOT_ALPHA = re.compile(r"\.[a-zA-Z]{2}")
_IPV4_HINT = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")  # every _IPV4 match holds this; rare on pages


def remove_urls(text: str, tlds: frozenset[str]) -> str:
    """``_URL.sub`` removing the matches whose TLD is in ``tlds`` (keeping the others), then ``_IPV4.sub``:
    the same result as the plain regexes, ~10x faster on web pages."""
    out: list[str] = []
    done = 0  # text[:done] is settled: copied to out or removed
    end = 0  # end of the previous match; the scan never starts before it
    pos = 0
    find = _DOT_ALPHA.search
    while (c := find(text, pos)) is not None:
        q = c.start()
        while q > end and text[q - 1] in _URL_RUN_CHARS:
            q -= 1
        m = _URL_CORE.match(text, q)
        if m is None:  # no other start inside this run: skip past it
            pos = _URL_RUN.match(text, c.start()).end()  # type: ignore[union-attr]
            continue
        pos = m.end()
        if m.group(1).lower() in tlds:
            p, lo = q, max(end, q - 10)
            while p > lo and text[p - 1].isspace():
                p -= 1
            out.append(text[done:p])
            done = pos
        end = pos
    if done:
        out.append(text[done:])
        text = "".join(out)
    if _IPV4_HINT.search(text) is not None:
        text = _IPV4.sub("", text)
    return text


def trie_pattern(words: list[str]) -> str:
    """A regex alternation of ``words`` factored as a prefix trie (``com|co|org`` -> ``co(?:m)?|org``), so
    matching costs one branch per character instead of one try per word."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:
        ends = "" in node
        alts = [re.escape(ch) + walk(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if ends else body

    return walk(trie)


def _dclm_url_regex(tlds: frozenset[str]) -> re.Pattern:
    """DCLM's TLD URL regex: its TLD alternative is case-sensitive (the IANA list is lower-case)."""
    return re.compile(
        rf"\s{{0,10}}(?:((https?|ftp)://))?[{_URL_CHARS}]{{1,256}}\.({trie_pattern(sorted(tlds))})\b"
        r"([-a-zA-Z0-9()@:%_\+.~#?&//=]*)"
    )


def _load_tlds() -> frozenset[str]:
    return frozenset(t.strip().lower() for t in data_path("iana_tlds.txt").read_text().split() if t.strip())


@register("refinedweb_preclean")
class RefinedWebPreclean(Stage):
    """DCLM's modifiers before language ID: remove URLs and IPv4 addresses from the text
    (``url_removal_modifier``: a URL is a run ending in ``.<IANA TLD>`` plus its path), then collapse runs
    of more than ``max_consecutive_newlines`` newlines.

    ``url_rule`` says where TLD-based URLs are removed:

    * ``everywhere``: every URL whose TLD (any case) is an IANA TLD, wherever it is in the page;
    * ``dclm``: DCLM's ``url_removal_modifier`` as published: only on pages whose first characters spell
      an IANA TLD, case-insensitively (its gate is ``re.match`` of the TLD list at the start of the page:
      "The ..." passes through "th", "Copyright ..." through "co"), and only lower-case TLDs; IPv4
      addresses are removed on every page; only an empty page (not a blank one) is dropped.

    Reasons: ``refinedweb_empty`` (nothing left).
    """

    def __init__(
        self, remove_urls: bool = True, max_consecutive_newlines: int | None = 2, url_rule: str = "everywhere"
    ) -> None:
        if url_rule not in ("everywhere", "dclm"):
            raise ValueError("url_rule must be 'everywhere' or 'dclm'")
        if max_consecutive_newlines is not None and max_consecutive_newlines < 1:
            raise ValueError("max_consecutive_newlines must be >= 1")
        self.url_rule = url_rule
        self.remove_urls = remove_urls
        self.max_nl = max_consecutive_newlines
        self._nl = re.compile(f"\n{{{max_consecutive_newlines + 1},}}") if max_consecutive_newlines else None

    def setup(self) -> None:
        self._tlds = worker_cache("iana_tlds", _load_tlds)
        if self.url_rule == "dclm":
            self._dclm_url = worker_cache("dclm_url_regex", lambda: _dclm_url_regex(self._tlds))
            self._tld_len = max(map(len, self._tlds))

    def _dclm_remove_urls(self, text: str) -> str:
        head = text[: self._tld_len].lower()
        if any(head[:k] in self._tlds for k in range(1, len(head) + 1)):
            text = self._dclm_url.sub("", text)
        return _IPV4.sub("", text) if _IPV4_HINT.search(text) is not None else text

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        if self.remove_urls:
            text = self._dclm_remove_urls(text) if self.url_rule == "dclm" else remove_urls(text, self._tlds)
        if self._nl is not None and "\n" * (self.max_nl + 1) in text:
            text = self._nl.sub("\n" * self.max_nl, text)
        if not text if self.url_rule == "dclm" else (not text or text.isspace()):  # isspace: no strip copy
            return "refinedweb_empty"
        if text != doc["text"]:
            doc["text"] = text
        return None
