"""Gopher quality and repetition: DCLM defaults, exact reasons, threshold boundaries, on real pages."""

from __future__ import annotations

from collections import Counter

import pytest

from filters import text as T
from filters.gopher_quality import GopherQuality
from filters.gopher_repetition import GopherRepetition


def d(text: str) -> dict:
    return {"id": "t", "text": text}


def run(stage, text: str) -> str | None:
    return stage(d(text))


@pytest.mark.parametrize(
    "doc_id, reason",
    [
        ("dclm-2", None),
        ("dclm-3", None),
        ("dclm-1", "gopher_short_doc"),
        ("dclm-7", "gopher_bullet_lines"),
        ("dclm-44", "gopher_ellipsis_lines"),
        ("dclm-89", "gopher_alpha_ratio"),
    ],
)
def test_quality_real_pages(dclm_docs, doc_id, reason):
    assert run(GopherQuality(), dclm_docs[doc_id]["text"]) == reason


def test_quality_word_count_boundaries(prose):
    words = [w for w in prose if w[0].isalnum()]
    g = GopherQuality()
    doc = d(" ".join(words[:50]))
    assert g(doc) is None and doc["word_count"] == 50
    assert run(g, " ".join(words[:49])) == "gopher_short_doc"
    # punctuation tokens do not count as words
    assert run(g, " ".join(words[:49]) + " — ;") == "gopher_short_doc"
    g = GopherQuality(max_words=60)
    assert run(g, " ".join(words[:60])) is None
    assert run(g, " ".join(words[:61])) == "gopher_long_doc"


def test_quality_mean_word_length_boundaries(prose):
    text = " ".join(prose[:80])
    mean = sum(map(len, prose[:80])) / 80
    assert run(GopherQuality(min_avg_word_length=mean), text) is None
    assert run(GopherQuality(min_avg_word_length=mean + 1e-6), text) == "gopher_short_words"
    assert run(GopherQuality(max_avg_word_length=mean), text) is None
    assert run(GopherQuality(max_avg_word_length=mean - 1e-6), text) == "gopher_long_words"
    # defaults 3..10: 60 words of exactly 3 characters keep; one 2-character word more drops
    three = " ".join(["the", "and", "cat"] * 20)
    assert run(GopherQuality(), three) is None
    assert run(GopherQuality(), "to " + three + " to") == "gopher_short_words"


def test_quality_symbol_ratio_boundary(prose):
    words = prose[:100]
    ok = " ".join(words[:90] + ["#"] * 10)  # 10 symbols / 100 tokens = 0.1: kept (<=)
    assert run(GopherQuality(), ok) is None
    bad = " ".join(words[:89] + ["#"] * 11)
    assert run(GopherQuality(), bad) == "gopher_symbol_ratio"
    # "..." and "…" count as symbols too
    assert run(GopherQuality(), " ".join(words[:89]) + " #" * 9 + " ... …") == "gopher_symbol_ratio"


def test_quality_bullet_and_ellipsis_boundaries(prose):
    lines = [" ".join(prose[i * 8 : i * 8 + 8]) for i in range(10)]
    nine = "\n".join(["• " + ln for ln in lines[:9]] + [lines[9]])  # 0.9 of lines: kept
    assert run(GopherQuality(), nine) is None
    assert run(GopherQuality(), "\n".join("- " + ln for ln in lines)) == "gopher_bullet_lines"
    three = "\n".join([ln + " ..." for ln in lines[:3]] + lines[3:])  # 0.3: kept
    assert run(GopherQuality(), three) is None
    four = "\n".join([ln + "…" for ln in lines[:4]] + lines[4:])
    assert run(GopherQuality(), four) == "gopher_ellipsis_lines"


def test_quality_alpha_and_stop_word_boundaries(prose):
    words = [w for w in prose if any(c.isalpha() for c in w)][:80]
    assert run(GopherQuality(), " ".join(words + ["1999"] * 20)) is None  # 80 % alphabetic: kept
    assert run(GopherQuality(), " ".join(words[:79] + ["1999"] * 21)) == "gopher_alpha_ratio"
    no_stop = [w for w in words if w.lower() not in {"the", "be", "to", "of", "and", "that", "have", "with"}]
    assert run(GopherQuality(), " ".join(no_stop[:60] + ["The", "of"])) is None
    assert run(GopherQuality(), " ".join(no_stop[:60] + ["The"])) == "gopher_stop_words"


def test_quality_rejects_bad_config():
    with pytest.raises(ValueError, match="max_words"):
        GopherQuality(min_words=10, max_words=10)


# --- repetition -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc_id, reason",
    [
        ("dclm-2", None),
        ("dclm-3", None),
        ("dclm-343", "gopher_rep_dup_line_frac"),
        ("dclm-483", "gopher_rep_top_2gram"),
        ("dclm-25", "gopher_rep_dup_5gram"),
        ("dclm-163", None),
        ("dclm-301", "gopher_rep_dup_9gram"),
    ],
)
def test_repetition_real_pages(dclm_docs, doc_id, reason):
    assert run(GopherRepetition(), dclm_docs[doc_id]["text"]) == reason


def test_repetition_after_preclean(dclm_docs):
    from filters.refinedweb import RefinedWebPreclean

    # a mailing-list page: once DCLM's URL removal deletes the host names, its headers repeat 6-grams
    doc = d(dclm_docs["dclm-163"]["text"])
    assert RefinedWebPreclean()(doc) is None
    assert GopherRepetition()(doc) == "gopher_rep_dup_6gram"


def _naive_top(words: list[str], n: int) -> float:
    """DCLM's reference computation: Counter over n-gram tuples, ties broken by the longest n-gram."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams).most_common()
    if not counts or counts[0][1] == 1:
        return 0.0
    top = counts[0][1]
    best = max(sum(map(len, g)) for g, c in counts if c == top)
    return best * top / sum(map(len, words))


def _naive_dup(words: list[str], n: int) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    idx = set()
    for i, g in enumerate(grams):
        if counts[g] > 1:
            idx.update(range(i, i + n))
    return sum(len(words[i]) for i in idx) / sum(map(len, words))


def test_ngram_shares_equal_reference(dclm_docs):
    import numpy as np

    from filters.gopher_repetition import dup_ngram_char_share, top_ngram_char_share

    for doc in dclm_docs.values():
        ws = T.rep_words(d(doc["text"]))
        if len(ws) < 12:
            continue
        h = T.word_hashes(ws)
        lens = np.array([len(w) for w in ws])
        cum = np.concatenate(([0], np.cumsum(lens)))
        for n in (2, 3, 4):
            assert top_ngram_char_share(h, cum, n, int(cum[-1])) == pytest.approx(_naive_top(ws, n))
        for n in (5, 7, 10):
            assert dup_ngram_char_share(h, lens, n, int(cum[-1])) == pytest.approx(_naive_dup(ws, n))


def test_repetition_line_boundaries(prose):
    lines = [" ".join(prose[i * 12 : i * 12 + 12]) for i in range(10)]
    off = {"top_ngrams": {}, "dup_ngrams": {}}
    # 3 of 10 lines are copies of one short line: count share 0.3 (every occurrence counts): kept
    short = "Thanks for reading."
    ok = "\n".join(lines[:7] + [short] * 3)
    assert GopherRepetition(**off)(d(ok)) is None
    bad = "\n".join(lines[:6] + [short] * 4)
    assert GopherRepetition(**off)(d(bad)) == "gopher_rep_dup_line_frac"
    # character share: one long line twice among others, threshold set on the measured share
    text = "\n".join(lines[:8] + [lines[0]])
    segs = [s.strip() for s in text.split("\n") if s.strip()]
    share = 2 * len(lines[0]) / sum(map(len, segs))
    assert GopherRepetition(dup_line_char_frac=share, dup_para_char_frac=None, **off)(d(text)) is None
    r = GopherRepetition(dup_line_char_frac=share - 1e-9, dup_para_char_frac=None, **off)
    assert r(d(text)) == "gopher_rep_dup_line_char_frac"


def test_repetition_paragraphs_and_ngram_boundary(dclm_docs, prose):
    paras = [" ".join(prose[i * 15 : i * 15 + 15]) for i in range(6)]
    text = "\n\n".join(paras + paras[:3])  # 6 of 9 paragraphs are repeats
    assert GopherRepetition(dup_line_frac=None, dup_line_char_frac=None)(d(text)) == "gopher_rep_dup_para_frac"
    assert GopherRepetition(skip_paragraph=True, dup_line_frac=None, dup_line_char_frac=None,
                            dup_ngrams={})(d(text)) is None
    page = dclm_docs["dclm-483"]["text"]
    ws = T.rep_words(d(page))
    share = _naive_top(ws, 2)
    assert GopherRepetition(top_ngrams={2: share}, dup_ngrams={})(d(page)) is None
    assert GopherRepetition(top_ngrams={2: share - 1e-9}, dup_ngrams={})(d(page)) == "gopher_rep_top_2gram"


def test_repetition_empty_and_single_line():
    assert GopherRepetition()(d("")) == "gopher_rep_empty"
    assert GopherRepetition()(d("  \n \n")) == "gopher_rep_empty"
    assert GopherRepetition()(d("One single line of text here.")) is None
