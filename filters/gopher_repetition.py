"""Gopher repetition filters (Rae et al. 2021, table A1) with DCLM's counting rules, vectorised."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import partial

import numpy as np

from curate.measure import Getter, MeasuredFilter
from curate.schema import Document
from curate.stage import register
from filters import gopher_datatrove
from filters import text as T

_PARA = re.compile("\n\n")


def _segments(text: str, para: bool) -> list[str]:
    parts = _PARA.split(text) if para else text.split("\n")
    return [s for p in parts if (s := p.strip())]


def segment_repetition(segs: list[str]) -> tuple[float, float]:
    """(share of segments, share of characters) in segments that occur more than once, counting every
    occurrence of a repeated segment (DCLM), over non-empty stripped segments."""
    counts = Counter(segs)
    rep = [(s, c) for s, c in counts.items() if c > 1]
    if not rep:
        return 0.0, 0.0
    total_chars = sum(map(len, segs))
    return sum(c for _, c in rep) / len(segs), sum(len(s) * c for s, c in rep) / total_chars


def _groups(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, start of each run of equal hashes in sorted order, run lengths): ``np.unique`` with
    ``return_inverse`` and ``return_counts``, without its overhead."""
    order = np.argsort(g)
    sg = g[order]
    starts = np.flatnonzero(np.concatenate(([True], sg[1:] != sg[:-1])))
    return order, starts, np.diff(np.append(starts, len(g)))


def _top_ngram(h: np.ndarray, cum: np.ndarray, n: int, total: int) -> tuple[int, float]:
    """(count of the most frequent n-gram, its character share: see :func:`top_ngram_char_share`)."""
    g = T.ngram_hashes(h, n)
    if len(g) == 0:
        return 0, 0.0
    order, _, counts = _groups(g)
    top = int(counts.max())
    if top == 1:
        return 1, 0.0
    chars = cum[n:] - cum[:-n]  # characters of each n-gram's words
    best = chars[order[np.repeat(counts == top, counts)]].max()
    return top, float(best) * float(top) / total


def top_ngram_char_share(h: np.ndarray, cum: np.ndarray, n: int, total: int) -> float:
    """Characters in the most frequent n-gram × its count / characters in words (ties: the longest)."""
    return _top_ngram(h, cum, n, total)[1]


def dup_ngram_char_share(h: np.ndarray, lens: np.ndarray, n: int, total: int) -> float:
    """Characters of the words covered by any n-gram that occurs more than once / characters in words."""
    g = T.ngram_hashes(h, n)
    if len(g) == 0:
        return 0.0
    order, _, counts = _groups(g)
    rep = counts > 1
    if not rep.any():
        return 0.0
    starts = np.zeros(len(h) + 1, dtype=np.int32)  # 1 where a repeated n-gram starts
    starts[order[np.repeat(rep, counts)]] = 1
    c = np.cumsum(starts)
    # word j is covered when a repeated n-gram starts in j-n+1 .. j
    covered = c[: len(h)] - np.concatenate((np.zeros(n, dtype=c.dtype), c[: len(h) - n])) > 0
    return float(lens[covered].sum()) / total


class Page:
    """A page as DCLM's measures see it, for one decision (kept here, not on the document: a batch of word
    arrays would hold megabytes): its line and paragraph shares, its repetition words as arrays (built when
    the first n-gram measure asks), and what the n-gram measures learned for the next one's bound."""

    __slots__ = ("doc", "shares", "h", "lens", "cum", "total", "top", "dup")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.shares: dict[str, tuple[float, float]] = {}
        self.h: np.ndarray | None = None
        self.top = (0, 0)  # (n, count of the most frequent n-gram) of the last top n-gram counted
        self.dup = (0, 1.0)  # (n, its repeated n-gram share, or an upper bound of it) of the last one

    def segments(self, kind: str) -> tuple[float, float]:
        """:func:`segment_repetition` of the lines or paragraphs (0 for a single one)."""
        if kind not in self.shares:
            segs = T.stripped_lines(self.doc) if kind == "line" else _segments(self.doc["text"], True)
            self.shares[kind] = segment_repetition(segs) if len(segs) > 1 else (0.0, 0.0)
        return self.shares[kind]

    def words(self) -> int:
        """How many repetition words (the arrays are built on the first call)."""
        if self.h is None:
            ws = T.rep_words(self.doc)
            self.h = T.word_hashes(ws)
            self.lens = np.fromiter(map(len, ws), dtype=np.int64, count=len(ws))
            self.cum = np.concatenate(([0], np.cumsum(self.lens)))
            self.total = int(self.cum[-1])
        return len(self.h)


def top_share(page: Page, bound: float | None, n: int) -> float:
    """:func:`top_ngram_char_share` of the page (0 under 2 words). With ``bound``: the count of a shorter top
    n-gram bounds this one's (each occurrence of an n-gram starts one of its prefix), so ``count × the
    longest n-gram`` is an upper bound of the share; when it is ``<= bound`` it is returned without sorting."""
    if page.words() < 2:
        return 0.0
    m, count = page.top
    if bound is not None and 0 < m < n <= len(page.h):  # type: ignore[arg-type]
        upper = count * float((page.cum[n:] - page.cum[:-n]).max()) / page.total
        if upper <= bound:
            return upper
    count, share = _top_ngram(page.h, page.cum, n, page.total)  # type: ignore[arg-type]
    page.top = (n, count)
    return share


def dup_share(page: Page, bound: float | None, n: int) -> float:
    """:func:`dup_ngram_char_share` of the page (0 under 2 words). A repeated (n+1)-gram implies repeated
    n-grams over the same words, so the share only falls as n grows: with ``bound``, a shorter n-gram's share
    (or its bound) that is ``<= bound`` is returned without counting."""
    if page.words() < 2:
        return 0.0
    m, upper = page.dup
    if bound is not None and 0 < m < n and upper <= bound:
        share = upper
    else:
        share = dup_ngram_char_share(page.h, page.lens, n, page.total)  # type: ignore[arg-type]
    page.dup = (n, share)
    return share


def _segment_share(page: Page, bound: float | None, kind: str, i: int) -> float:
    return page.segments(kind)[i]


def _document(doc: Document) -> Document:
    return doc


def dclm_measures(top: list[int], dup: list[int]) -> dict[str, Callable[[Page, float | None], float]]:
    """DCLM's counting: measure name -> fn(page, bound), for the n-gram sizes ``top`` and ``dup``."""
    out: dict[str, Callable[[Page, float | None], float]] = {
        "gopher_rep_lines": lambda p, b: len(T.stripped_lines(p.doc)),
    }
    for kind in ("line", "para"):
        out[f"gopher_rep_dup_{kind}_frac"] = partial(_segment_share, kind=kind, i=0)
        out[f"gopher_rep_dup_{kind}_char_frac"] = partial(_segment_share, kind=kind, i=1)
    for n in top:
        out[f"gopher_rep_top_{n}gram"] = partial(top_share, n=n)
    for n in dup:
        out[f"gopher_rep_dup_{n}gram"] = partial(dup_share, n=n)
    return out


@register("gopher_repetition")
class GopherRepetition(MeasuredFilter):
    """Drop pages with too much repeated content, checked in DCLM's ``massive_web_repetition_filters`` order.

    Lines split on ``\\n`` and paragraphs on ``\\n\\n``, stripped, empty ones dropped; a page with a single
    line (paragraph) passes that check. Line and paragraph shares count every occurrence of a repeated
    segment. N-grams are over words with punctuation removed; characters are counted in words (no spaces).
    ``top_ngrams``: share of characters in the most frequent n-gram (times its count). ``dup_ngrams``:
    share of characters in words covered by any repeated n-gram. Each drops when the share is ``>`` its
    threshold; ``null`` disables a check. Word n-grams are computed from one pass of word hashes.

    Parameters (DCLM / Gopher defaults): dup_line_frac 0.3, dup_para_frac 0.3, dup_line_char_frac 0.2,
    dup_para_char_frac 0.2, top_ngrams {2: 0.2, 3: 0.18, 4: 0.16},
    dup_ngrams {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}, skip_paragraph false,
    rules ``dclm`` (the counting above; words as uniseg splits them) or ``datatrove`` (FineWeb's counting,
    spaCy words: see :mod:`filters.gopher_datatrove`). N-gram sizes are 1 to 20.

    Reasons: ``gopher_rep_empty``, ``gopher_rep_dup_line_frac``, ``gopher_rep_dup_para_frac``,
    ``gopher_rep_dup_line_char_frac``, ``gopher_rep_dup_para_char_frac``, ``gopher_rep_top_{n}gram``,
    ``gopher_rep_dup_{n}gram``.

    A page without a non-blank line (datatrove: an empty page) is ``gopher_rep_empty``.

    Measures (``mode: annotate``; in the rule set's counting): ``gopher_rep_lines`` (0: an empty page),
    ``gopher_rep_dup_line_frac``, ``gopher_rep_dup_para_frac``, ``gopher_rep_dup_line_char_frac``,
    ``gopher_rep_dup_para_char_frac``, ``gopher_rep_top_{n}gram`` and ``gopher_rep_dup_{n}gram`` (each share
    its rule compares; n: the configured sizes and the defaults). ``select`` may change every parameter
    but ``rules``, and the n-gram sizes only to measured ones.
    """

    decided_by = (
        "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac", "top_ngrams",
        "dup_ngrams", "skip_paragraph",
    )

    def __init__(
        self,
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_ngrams: dict[int, float] | None = None,
        dup_ngrams: dict[int, float] | None = None,
        skip_paragraph: bool = False,
        rules: str = "dclm",
    ) -> None:
        if rules not in ("dclm", "datatrove"):
            raise ValueError("rules must be 'dclm' or 'datatrove'")
        self.rules = rules
        self.line = (dup_line_frac, dup_line_char_frac)
        self.para = (None, None) if skip_paragraph else (dup_para_frac, dup_para_char_frac)
        top = {2: 0.2, 3: 0.18, 4: 0.16} if top_ngrams is None else top_ngrams
        dup = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10} if dup_ngrams is None else dup_ngrams
        for n in [*top, *dup]:
            if not 1 <= int(n) <= 20:
                raise ValueError("n-gram sizes must be 1 to 20")
        self.top = sorted((int(n), float(f)) for n, f in top.items())
        self.dup = sorted((int(n), float(f)) for n, f in dup.items())
        (line_frac, line_chars), (para_frac, para_chars) = self.line, self.para
        segments = {
            "line_frac": ("gopher_rep_dup_line_frac", line_frac),
            "para_frac": ("gopher_rep_dup_para_frac", para_frac),
            "line_char_frac": ("gopher_rep_dup_line_char_frac", line_chars),
            "para_char_frac": ("gopher_rep_dup_para_char_frac", para_chars),
        }
        # DCLM: line count, paragraph count, line chars, paragraph chars; datatrove: paragraphs, then lines
        order = ("line_frac", "para_frac", "line_char_frac", "para_char_frac") if rules == "dclm" else (
            "para_frac", "para_char_frac", "line_frac", "line_char_frac")
        self._segment_rules = [segments[k] for k in order if segments[k][1] is not None]
        self._ngram_rules = [(f"gopher_rep_top_{n}gram", f) for n, f in self.top]
        self._ngram_rules += [(f"gopher_rep_dup_{n}gram", f) for n, f in self.dup]
        top_n = sorted({2, 3, 4} | {n for n, _ in self.top})
        dup_n = sorted({5, 6, 7, 8, 9, 10} | {n for n, _ in self.dup})
        if rules == "dclm":
            self._measure, self._page = dclm_measures(top_n, dup_n), Page
        else:
            self._measure, self._page = gopher_datatrove.repetition_measures(top_n, dup_n), _document
        self.measures = tuple(self._measure)

    def measurer(self, doc: Document) -> Getter:
        page, fns = self._page(doc), self._measure
        return lambda name, bound=None: fns[name](page, bound)

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        return self.measurer(doc)(name, bound)

    def decision(self, get: Getter) -> str | None:
        if get("gopher_rep_lines") == 0:
            return "gopher_rep_empty"
        for name, limit in self._segment_rules:
            if get(name) > limit:
                return name  # the reason is the measure's name
        for name, limit in self._ngram_rules:
            if get(name, limit) > limit:
                return name
        return None
