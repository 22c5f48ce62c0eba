"""The fast paths of the filters give exactly what the plain (slow) formulations give, on real pages and
on edge cases built from them: URL removal, repetition words, boilerplate hint, per-line statistics and the
whole line-modifier pass (against DCLM's per-line loop, kept here as the reference)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import regex

from curate.stage import ensure_setup
from filters import refinedweb as R
from filters import text as T
from filters.gopher_quality import _ALPHA_TOKEN, GopherQuality

EDGE = [
    "See https://example.com/a?b=1 or www.foo.org now.\n\n\n\nNext.The end at 10.0.0.1 ok",
    "  \n\n   a.com b.com  x.comz y.co.uk/..  http://1.2.3.4/x (see e.g. www.x.de) and 192.168.0.1:80",
    "x" * 300 + ".com and " + "y" * 250 + ".org",
    " " * 15 + "a.com" + " " * 12 + "b.org\t\tc.net\u00a0d.io",
    "file.txt foo.com ftp://x.y.museum/p?q=(1) mail@host.com",
    "BIG HEADER\n3 likes\n1.2K Comments!\nShares\n   \n\nYou have 3 items in cart now\nA teaser Read more...",
    "\u0130TEMS IN CART here\n\u017fign-in please now\nSign-In to continue\nread  more... x",
    "one\ttwo\u2003three\n\u00a0\nfour five\u3000six ٣٤٥ ²³",
]


@pytest.fixture(scope="module")
def pages(dclm_docs, udhr) -> list[str]:
    base = [d["text"] for d in dclm_docs.values()] + list(udhr.values()) + EDGE
    out = list(base)
    for t in base:  # the same pages with repeated, upper-cased and boilerplate lines mixed in
        lines = t.split("\n")
        out.append("\n".join(lines + lines[: len(lines) // 2]))
        out.append(t[:300].upper() + "\n42 views\nRead more...\n" + t + "\n\nSign-in now\n")
    return out


def test_remove_urls_equals_dclm_regexes(pages):
    tlds = R._load_tlds()
    for t in pages:
        ref = R._IPV4.sub("", R._URL.sub(lambda m: "" if m.group(1).lower() in tlds else m.group(0), t))
        assert R.remove_urls(t, tlds) == ref, t[:80]


def uax29_plain(t: str) -> list[str]:
    """The plain twin of ``uax29_words``: the regex module's UAX #29 boundaries over the whole page."""
    cuts = sorted({0, len(t), *(m.start() for m in regex.finditer(r"(?w)\b", t))})
    return [w for a, b in zip(cuts, cuts[1:]) if (w := t[a:b]) and w[0].isalnum()]


def test_rep_words_equal_uax29_on_page(pages):
    extra = ["Don't 11:15 U.S. e.g. a,b 3,000.5 _x a_b x_ Gemu\u0308se ’tis l’homme 中文字 ｶﾀｶﾅ 3a a3 a:b",
             "Som unge\u202fi dag, 10\u202f000 kr"]  # U+202F joins like "_" (ExtendNumLet)
    for t in pages + extra:
        assert T.rep_words({"text": t}) == uax29_plain(t), t[:80]


def test_fasttext_word_count_on_page(pages):
    """DCLM counts words as fastText splits them (only " \\n\\r\\t\\v\\f\\0" separate tokens)."""
    for t in pages + ["\u00a0Home\u00a0News a\u2009b c\x1cd e\x00f"]:
        toks = [w for w in re.split("[ \n\r\t\v\f\x00]+", t) if w]
        expect = sum(w[0].isalnum() for w in toks)
        assert T.count_words(t) == expect and T.word_count({"text": t}) == expect, t[:80]


def test_boilerplate_hint_equals_regex(pages):
    for t in pages:
        assert R.has_boilerplate(t) == (R._BOILER_HINT.search(t) is not None), t[:80]


def test_line_stats_equal_per_line_counts(pages):
    flags = R._char_flags()
    for t in pages:
        lines = t.split("\n")
        upper, digit, ntok = R.line_stats(t, len(lines), flags)
        assert ntok.tolist() == [len(ln.split()) for ln in lines]
        assert upper.tolist() == [sum(c.isupper() for c in ln) for ln in lines]
        assert digit.tolist() == [sum(c.isdigit() for c in ln) for ln in lines]


def _reference_line_modifiers(stage: R.RefinedWebLineModifiers, text: str) -> tuple[str | None, str, float]:
    """The per-line loop as DCLM writes it (one pass), with Python's str methods per line."""
    before = T.count_words(text)
    boiler = stage.boiler_max is not None and R._BOILER_HINT.search(text) is not None  # as the stage always did
    kept = []
    for line in text.split("\n"):
        if line:
            if stage.max_upper is not None and sum(c.isupper() for c in line) / len(line) > stage.max_upper:
                continue
            if stage.max_numeric is not None and sum(c.isdigit() for c in line) / len(line) > stage.max_numeric:
                continue
        if stage.counter and R._COUNTER.search(line.lower()):
            continue
        if line and len(line.split()) < stage.min_words:
            continue
        if boiler:
            line = stage._boilerplate(line)
            if line is None:
                continue
        kept.append(line)
    new = "\n".join(kept).strip()
    if not new:
        return "refinedweb_empty", text, 0.0
    ratio = (before - T.count_words(new)) / before if before else 1.0
    drop = stage.max_removed is not None and ratio > stage.max_removed
    return ("refinedweb_words_removed" if drop else None), new, ratio


@pytest.mark.parametrize("params", [{}, {"min_words_per_line": 0, "max_words_removed_ratio": None},
                                    {"min_words_per_line": 4, "boilerplate_max_words": 3}])
def test_line_modifiers_equal_reference_loop(pages, params):
    stage = R.RefinedWebLineModifiers(**params)
    ensure_setup(stage)
    for t in pages:
        d = {"id": "t", "text": t}
        reason = stage(d)
        ref_reason, ref_text, ref_ratio = _reference_line_modifiers(stage, t)
        assert reason == ref_reason, t[:80]
        if reason != "refinedweb_empty":
            assert d["text"] == ref_text and d["words_removed_ratio"] == pytest.approx(ref_ratio, abs=1e-15)
            assert T.word_count(d) == T.count_words(d["text"])  # the cached count left for later stages


def test_alpha_ratio_fast_path(pages):
    # the stage's reason only depends on whether the regex ratio passes; the bound never flips it
    for t in pages:
        for min_alpha in (0.5, 0.8, 0.95):
            stage = GopherQuality(min_words=1, min_avg_word_length=None, max_avg_word_length=None,
                                  max_symbol_word_ratio=None, max_bullet_lines_ratio=None,
                                  max_ellipsis_lines_ratio=None, min_alpha_words_ratio=min_alpha, min_stop_words=None)
            toks = t.split()
            if T.count_words(t) < 1 or not toks:
                continue
            fails = len(_ALPHA_TOKEN.findall(t)) / len(toks) < min_alpha
            assert (stage({"id": "t", "text": t}) == "gopher_alpha_ratio") == fails


def test_ngram_bounds_keep_reasons(pages):
    from filters.gopher_repetition import GopherRepetition, top_ngram_char_share

    stage = GopherRepetition(dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None,
                             dup_para_char_frac=None, dup_ngrams={})
    for t in pages:
        ws = uax29_plain(t)
        if len(ws) < 2:
            continue
        h = T.word_hashes(ws)
        cum = np.concatenate(([0], np.cumsum([len(w) for w in ws])))
        expect = None
        for n, lim in stage.top:
            if top_ngram_char_share(h, cum, n, int(cum[-1])) > lim:
                expect = f"gopher_rep_top_{n}gram"
                break
        assert stage({"id": "t", "text": t}) == expect
