"""C4, FineWeb quality and PII masking on real text, with threshold boundaries."""

from __future__ import annotations

from filters import text as T
from filters.c4 import C4Filter
from filters.fineweb import FineWebQuality
from filters.pii import PiiMasker


def d(text: str) -> dict:
    return {"id": "t", "text": text}


def bare(prose: list[str]) -> list[str]:
    """The page's words without punctuation, so that each built line is exactly one sentence."""
    return [c for w in prose if (c := w.strip(".,;:!?\"'()"))]


def sentences(prose: list[str], n: int, words: int = 8) -> list[str]:
    ws = bare(prose)
    return [" ".join(ws[i * words : (i + 1) * words]) + "." for i in range(n)]


def test_c4_real_pages(dclm_docs):
    assert C4Filter()(d(dclm_docs["dclm-3"]["text"])) is None
    assert C4Filter()(d(dclm_docs["dclm-410"]["text"])) == "c4_curly_bracket"
    assert C4Filter()(d(dclm_docs["dclm-1"]["text"])) == "c4_too_few_sentences"


def test_c4_sentence_boundary_and_line_rules(prose):
    five = sentences(prose, 5)
    doc = d("\n".join(five + ["Enable JavaScript to view this page properly.", "Menu", "Read our privacy policy now."]))
    assert C4Filter()(doc) is None and doc["text"] == "\n".join(five)  # js, short and policy lines removed
    assert C4Filter()(d("\n".join(five[:4]))) == "c4_too_few_sentences"
    assert C4Filter()(d("\n".join(five + ["Lorem ipsum dolor sit amet."]))) == "c4_lorem_ipsum"
    # without the terminal-punctuation rule (FineWeb), lines without a period stay
    unpunct = [s.rstrip(".") for s in five]
    assert C4Filter()(d("\n".join(unpunct))) == "c4_too_few_sentences"
    doc = d("\n".join(unpunct + ["A citation goes here.[12]"]))
    assert C4Filter(filter_no_terminal_punct=False)(doc) is None and doc["text"].endswith("A citation goes here.")
    assert C4Filter(min_words_per_line=9)(d("\n".join(five))) == "c4_too_few_sentences"  # 8-word lines


def test_c4_bad_words(prose):
    text = "\n".join(sentences(prose, 5))
    assert C4Filter(filter_bad_words=True)(d(text)) is None
    assert C4Filter(filter_bad_words=True)(d(text + "\nThis page has porn in it.")) == "c4_bad_words"


def test_fineweb_real_pages(dclm_docs):
    fw = FineWebQuality()
    assert fw(d(dclm_docs["dclm-3"]["text"])) is None
    assert fw(d(dclm_docs["dclm-6"]["text"])) == "fineweb_line_punct_ratio"
    assert fw(d(dclm_docs["dclm-55"]["text"])) == "fineweb_short_line_ratio"
    assert fw(d(dclm_docs["dclm-56"]["text"])) == "fineweb_char_dup_ratio"


def test_fineweb_boundaries(prose):
    ws = bare(prose) * 2
    long = [ln for i in range(200) if len(ln := " ".join(ws[i * 7 : i * 7 + 7])) > 30][:100]
    assert len(long) == 100  # > 30 chars, no period
    # 12 of 100 lines end with punctuation: 0.12 is dropped (<=), 13 passes
    text12 = "\n".join([ln + "." for ln in long[:12]] + long[12:])
    assert FineWebQuality(new_line_ratio=1.0)(d(text12)) == "fineweb_line_punct_ratio"
    text13 = "\n".join([ln + "." for ln in long[:13]] + long[13:])
    assert FineWebQuality(new_line_ratio=1.0)(d(text13)) is None
    assert FineWebQuality(line_punct_exclude_zero=True, new_line_ratio=1.0)(d("\n".join(long))) is None
    # short lines: share >= 0.67 drops
    fw = FineWebQuality(line_punct_thr=-1, new_line_ratio=1.0)
    assert fw(d("\n".join([f"Item {i}." for i in range(67)] + long[:33]))) == "fineweb_short_line_ratio"
    assert fw(d("\n".join([f"Item {i}." for i in range(66)] + long[:34]))) is None
    # list ratio: newlines per word token > 0.3 drops
    lines = [f"{w} {w}." for w in prose[:30]]  # 3 tokens a line + newline
    assert FineWebQuality(short_line_thr=2, char_duplicates_ratio=1)(d("\n".join(lines))) == "fineweb_list_ratio"


def test_fineweb_char_dup_boundary(prose):
    lines = [" ".join(prose[i * 6 : i * 6 + 6]) + "." for i in range(40)]
    text = "\n".join(lines + [lines[0]])
    dup = len(lines[0]) / (len(text) - text.count("\n"))
    assert FineWebQuality(char_duplicates_ratio=dup)(d(text)) == "fineweb_char_dup_ratio"  # >= drops
    assert FineWebQuality(char_duplicates_ratio=dup + 1e-9)(d(text)) is None


def test_pii_masks_and_counts():
    p = PiiMasker()
    doc = d(
        "Mail john.doe@example.com or call (555) 123-4567, +44 20 7946 0958 or 555.123.4567, "
        "server 192.168.1.1 / 8.8.8.8 / 2001:db8::1. At 12:30:45, order 1234567890, version 1.2.3."
    )
    assert p(doc) is None and doc["pii_count"] == 7
    t = doc["text"]
    assert "john.doe" not in t and "123-4567" not in t and "7946" not in t and "8.8.8.8" not in t
    assert "12:30:45" in t and "1234567890" in t and "1.2.3" in t and "|||EMAIL_ADDRESS|||" in t
    fw = PiiMasker(phone=None, email="<email>", ip="<ip>", public_ips_only=True)
    doc = d("Write to a@b.org from 10.0.0.1 or 8.8.8.8, tel (555) 123-4567.")
    fw(doc)
    assert doc["text"] == "Write to <email> from 10.0.0.1 or <ip>, tel (555) 123-4567." and doc["pii_count"] == 2
    clean = d("No personal data here.")
    assert p(clean) is None and clean["pii_count"] == 0


def test_text_cache_invalidation():
    doc = d("one two three")
    assert T.words(doc) == ["one", "two", "three"] and T.word_count(doc) == 3
    doc["text"] = "four five"
    assert T.words(doc) == ["four", "five"] and T.word_count(doc) == 2
    assert T.count_words("Hello , world — 42 !") == 3
