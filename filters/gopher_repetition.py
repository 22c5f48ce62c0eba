"""Gopher repetition filters (Rae et al. 2021, table A1) with DCLM's counting rules, vectorised."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from curate.schema import Document
from curate.stage import Stage, register
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


@register("gopher_repetition")
class GopherRepetition(Stage):
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
    spaCy words: see :mod:`filters.gopher_datatrove`).

    Reasons: ``gopher_rep_empty``, ``gopher_rep_dup_line_frac``, ``gopher_rep_dup_para_frac``,
    ``gopher_rep_dup_line_char_frac``, ``gopher_rep_dup_para_char_frac``, ``gopher_rep_top_{n}gram``,
    ``gopher_rep_dup_{n}gram``.
    """

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
            if int(n) < 1:
                raise ValueError("n-gram sizes must be >= 1")
        self.top = sorted((int(n), float(f)) for n, f in top.items())
        self.dup = sorted((int(n), float(f)) for n, f in dup.items())

    def process(self, doc: Document) -> str | None:
        text = doc["text"]
        if self.rules == "datatrove":
            return gopher_datatrove.repetition_reason(doc, self.line, self.para, self.top, self.dup)
        if not text:
            return "gopher_rep_empty"
        shares = {}
        for name, (frac, char_frac) in (("line", self.line), ("para", self.para)):
            if frac is None and char_frac is None:
                continue
            segs = T.stripped_lines(doc) if name == "line" else _segments(text, True)
            if not segs:
                return "gopher_rep_empty"
            shares[name] = segment_repetition(segs) if len(segs) > 1 else (0.0, 0.0)
        # DCLM order: line count, paragraph count, line chars, paragraph chars
        for i, suffix in ((0, "frac"), (1, "char_frac")):
            for name, limits in (("line", self.line), ("para", self.para)):
                if limits[i] is not None and name in shares and shares[name][i] > limits[i]:
                    return f"gopher_rep_dup_{name}_{suffix}"
        ws = T.rep_words(doc)
        if len(ws) < 2:
            return None
        h = T.word_hashes(ws)
        lens = np.fromiter(map(len, ws), dtype=np.int64, count=len(ws))
        cum = np.concatenate(([0], np.cumsum(lens)))
        total = int(cum[-1])
        top = 0  # count of the most frequent shorter n-gram: a bound on this one's (each occurrence of
        prev = 0  # an n-gram starts one of its prefix), so a cheap bound often clears the check unsorted
        for n, limit in self.top:
            if top and n > prev and len(h) >= n:
                if top * float((cum[n:] - cum[:-n]).max()) / total <= limit:
                    continue
            top, share = _top_ngram(h, cum, n, total)
            prev = n
            if share > limit:
                return f"gopher_rep_top_{n}gram"
        for i, (n, limit) in enumerate(self.dup):
            share = dup_ngram_char_share(h, lens, n, total)
            if share > limit:
                return f"gopher_rep_dup_{n}gram"
            # a repeated (n+1)-gram implies repeated n-grams over the same words, so the share only falls
            # as n grows: once it is under every remaining threshold, no later check can fail
            if all(share <= lim for _, lim in self.dup[i + 1 :]):
                break
        return None
