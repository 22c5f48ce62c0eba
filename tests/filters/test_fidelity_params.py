"""The semantics selectors that make a recipe follow its reference (issue 12), pinned on real pages.

Each parameter names a place where DCLM's code and datatrove's code count differently; the values are
checked here against the rule as each reference states it (benchmarks/bench_fidelity.py runs the references
themselves on the bench crawl).
"""

from __future__ import annotations

import pytest

from curate.stage import build_stage, ensure_setup
from filters import gopher_datatrove as G
from filters import text as T
from filters.language import default_model_path, load_fasttext
from filters.refinedweb import _load_tlds
from filters.words import ends_sentence, is_symbol_word, spacy_sentence_count, spacy_words


def d(text: str, url: str = "") -> dict:
    return {"id": "t", "text": text, "url": url}


def run(name: str, params: dict, doc: dict) -> str | None:
    st = build_stage(name, params)
    ensure_setup(st)
    return st.process_batch([doc])[0]


# --- url_filter host ----------------------------------------------------------------------------------


def test_url_host_dclm_netloc(tmp_path):
    """DCLM removes every "www" from the netloc before its exact match: www. hosts never match a domain."""
    lst = tmp_path / "domains"
    lst.write_text("example.com\naards.com\n")
    base = {"domain_lists": [str(lst)], "url_lists": [], "strict_words": None, "hard_words": None,
            "soft_words": None}
    dclm = {**base, "host": "dclm_netloc"}
    assert run("url_filter", base, d("", "https://www.example.com/a")) == "url_blocklisted_domain"
    assert run("url_filter", dclm, d("", "https://www.example.com/a")) is None
    assert run("url_filter", dclm, d("", "https://example.com/a")) == "url_blocklisted_domain"
    assert run("url_filter", dclm, d("", "http://awwwards.com/")) == "url_blocklisted_domain"  # a-www-ards
    with pytest.raises(ValueError):
        build_stage("url_filter", {"host": "netloc"})


# --- refinedweb_preclean url_rule ---------------------------------------------------------------------


def test_preclean_dclm_gate_on_real_pages(dclm_docs):
    """url_rule: dclm removes TLD URLs only on pages that start with an IANA TLD (case-insensitive), and
    only lower-case TLDs; everywhere removes them on every page."""
    tlds = _load_tlds()
    for doc in dclm_docs.values():
        text = doc["text"] + "\nMore at example.com/page and at EXAMPLE.ORG today."
        head = text[:24].lower()
        gate = any(head[:k] in tlds for k in range(1, len(head) + 1))
        a, b = d(text), d(text)
        assert run("refinedweb_preclean", {"url_rule": "dclm"}, a) is None
        assert run("refinedweb_preclean", {}, b) is None
        assert "example.com/page" not in b["text"] and "EXAMPLE.ORG" not in b["text"]
        assert ("example.com/page" in a["text"]) is not gate, doc["id"]
        assert "EXAMPLE.ORG" in a["text"]
    # "The ..." passes the gate through "th"; "Efficiency ..." does not ("ef" is no TLD)
    assert dclm_docs["dclm-2"]["text"].startswith("The") and dclm_docs["dclm-3"]["text"].startswith("Eff")


def test_preclean_dclm_keeps_blank_page():
    assert run("refinedweb_preclean", {"url_rule": "dclm"}, d(" \n ")) is None
    assert run("refinedweb_preclean", {}, d(" \n ")) == "refinedweb_empty"
    assert run("refinedweb_preclean", {"url_rule": "dclm"}, d("8.8.8.8")) == "refinedweb_empty"


# --- language newlines --------------------------------------------------------------------------------


def test_language_newlines(udhr):
    model = load_fasttext(default_model_path())
    for text in udhr.values():
        for mode, sep in (("space", " "), ("delete", "")):
            doc = d(text)
            run("language", {"languages": None, "threshold": 0.0, "newlines": mode}, doc)
            labels, probs = model.predict([text.replace("\n", sep)], k=1)
            assert doc["language_score"] == pytest.approx(float(probs[0][0]))


# --- word splitters -----------------------------------------------------------------------------------


def test_spacy_words_and_sentences(dclm_docs):
    text = dclm_docs["dclm-3"]["text"]
    ws = spacy_words(text)
    assert "," in ws and "." in ws  # punctuation marks are words of their own
    assert all(w == w.strip() and w for w in ws)
    assert spacy_words("Don't stop, e-mail x@y.com.") == ["Do", "n't", "stop", ",", "e", "-", "mail", "x@y.com", "."]
    assert spacy_sentence_count("Mr. Smith went to Washington. He said hi.") == 2
    assert spacy_sentence_count("no end here") == 1


def test_datatrove_punctuation_set():
    assert is_symbol_word("...") and is_symbol_word("—") and is_symbol_word("«»") and is_symbol_word("\x07")
    assert not is_symbol_word("a.") and not is_symbol_word("©") and not is_symbol_word("42")
    assert ends_sentence("Fin.") and ends_sentence("終わり。") and ends_sentence("Why?")
    assert not ends_sentence("quote'") and not ends_sentence("")


# --- gopher_quality rules -----------------------------------------------------------------------------


def test_gopher_quality_datatrove_counts_stop_words_once(dclm_docs):
    """DCLM counts every stop-word token, datatrove each stop word once (and case-sensitively)."""
    words = [w for w in dclm_docs["dclm-3"]["text"].split() if w.lower() not in G_STOP]
    text = " ".join(words[:200]) + " the cat and the dog."
    assert run("gopher_quality", {}, d(text)) is None
    assert run("gopher_quality", {"rules": "datatrove"}, d(text)) is None  # "the", "and"
    text = " ".join(words[:200]) + " the cat, the dog, The end."
    assert run("gopher_quality", {}, d(text)) is None  # three stop-word tokens
    assert run("gopher_quality", {"rules": "datatrove"}, d(text)) == "gopher_stop_words"  # one: "the"


G_STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}


def test_gopher_quality_datatrove_punctuation_is_words(dclm_docs):
    """Commas glued to words: whitespace tokens keep their letter, spaCy splits the comma off as a word
    with no letter, which halves the alphabetic share."""
    words = dclm_docs["dclm-3"]["text"].split()[:300]
    text = " ".join(w.strip(".,;:!?") + "," for w in words) + " the end of it."
    assert run("gopher_quality", {}, d(text)) is None
    assert run("gopher_quality", {"rules": "datatrove"}, d(text)) == "gopher_alpha_ratio"


# --- gopher_repetition rules --------------------------------------------------------------------------


def test_datatrove_repetition_helpers():
    ws = ["a", "b", "c", "a", "b", "c", "a", "b", "c"]
    # greedy: "abc" at 0, "bca" at 1, "cab" at 2, then "abc" again at 3 (repeat: +3, jump to 6), "abc" at 6
    assert G.greedy_dup_ngram_chars(ws, 3) == 6
    assert G.duplicates(["x", "y", "x", "x"]) == (2, 2)
    # top 2-gram: ties are broken by the first seen, not the longest; joined with a space
    assert G.top_ngram_chars(["ab", "c", "dddd", "e", "ab", "c", "dddd", "e"], 2) == len("ab c") * 2


def test_gopher_repetition_datatrove_on_real_page(dclm_docs):
    text = dclm_docs["dclm-3"]["text"]
    paras = text.split("\n")
    assert run("gopher_repetition", {"rules": "datatrove"}, d(text)) is None
    doubled = "\n\n".join(paras + paras)
    assert run("gopher_repetition", {"rules": "datatrove"}, d(doubled)) == "gopher_rep_dup_para_frac"
    # characters are shared over len(text) with newlines, words via spaCy
    st = build_stage("gopher_repetition", {"rules": "datatrove"})
    doc = d(text)
    st.process(doc)
    assert T.spacy_tokens(doc) == spacy_words(text)


# --- c4 sentence_split --------------------------------------------------------------------------------


def test_c4_sentence_split_spacy(dclm_docs):
    line = "Mr. Smith went to Washington. He said hi."
    text = "\n".join([line] * 2)  # regex: 3 + 3 sentences; spaCy: 2 + 2
    assert run("c4", {"filter_no_terminal_punct": False, "min_num_sentences": 5}, d(text)) is None
    assert run("c4", {"filter_no_terminal_punct": False, "min_num_sentences": 5, "sentence_split": "spacy"},
               d(text)) == "c4_too_few_sentences"
    page = d(dclm_docs["dclm-3"]["text"])
    assert run("c4", {"filter_no_terminal_punct": False, "sentence_split": "spacy"}, page) is None


# --- fineweb_quality rules ----------------------------------------------------------------------------


def test_fineweb_quality_datatrove_thresholds(dclm_docs):
    # 1 of 3 non-blank lines is short (<= 30 chars): share 1/3 drops with short_line_thr=1/3 only when
    # thresholds are inclusive (fast); datatrove drops when the share is > the threshold
    long = dclm_docs["dclm-3"]["text"].split("\n")[0]
    text = f"{long}\n\n{long[::-1]}.\nA short line."
    params = {"short_line_thr": 1 / 3, "char_duplicates_ratio": 1.0, "new_line_ratio": 1.0}
    assert run("fineweb_quality", params, d(text)) == "fineweb_short_line_ratio"
    assert run("fineweb_quality", {**params, "rules": "datatrove"}, d(text)) is None


def test_fineweb_quality_datatrove_sentence_terminals():
    text = "\n".join(["これは日本語の長い文章の一行目です。ここまで。"] * 1 + ["二行目もとても長い文章で書かれています、はい。"])
    params = {"short_line_length": 5, "char_duplicates_ratio": 1.0, "new_line_ratio": 1.0}
    assert run("fineweb_quality", params, d(text)) == "fineweb_line_punct_ratio"  # "。" is not in . ' " ! ?
    assert run("fineweb_quality", {**params, "rules": "datatrove"}, d(text)) is None


# --- pii ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["(283)-182-3829", "(283)182-3829", "(283) 182-3829", "283-182-3829", "283.182.3829", "+1 283 182 3829",
     "1-800-555-0199", "+44 20 7946 0958", "+49 (0)30 1234567", "+33 1 23 45 67 89", "+91-98765-43210",
     "0049 30 1234 5678", "+86 (10) 1234 5678", "+45 12345678"],
)
def test_pii_phone_formats(phone):
    doc = d(f"Call {phone} today.")
    run("pii", {}, doc)
    assert doc["text"] == "Call |||PHONE_NUMBER||| today." and doc["pii_phone"] == 1


@pytest.mark.parametrize("text", ["order 1234567890", "on 2024-01-15 at 12:30:45", "score +3 2", "ISBN 978-3-16-148410-0",
                                  "v1.2.3.4.5", "pi 3.14159265"])
def test_pii_leaves_numbers(text):
    doc = d(text)
    run("pii", {}, doc)
    assert doc["text"] == text and doc["pii_count"] == 0


def test_pii_counts_per_kind(dclm_docs):
    page = dclm_docs["dclm-3"]["text"]
    doc = d(page + "\nMail a@b.org or c@d.com, call (283)-182-3829, host 8.8.8.8 and 2001:4860::8888.")
    run("pii", {}, doc)
    assert (doc["pii_email"], doc["pii_phone"], doc["pii_ip"], doc["pii_count"]) == (2, 1, 2, 5)
    assert doc["text"].startswith(page)


def test_pii_datatrove_rules_and_cycled_placeholders():
    params = {"email": ["e1@x.org", "e2@x.org"], "ip": ["1.1.1.1", "2.2.2.2", "3.3.3.3"], "phone": None,
              "public_ips_only": True, "rules": "datatrove"}
    st = build_stage("pii", params)

    def masked(doc_id: str, text: str) -> dict:
        doc = {"id": doc_id, "text": text}
        st.process(doc)
        return doc

    a = masked("a", "a@b.com c@d.org 8.8.8.8 10.0.0.1")
    b = masked("b", "x@y.io 1234.5.6.7 9.9.9.9")
    emails = a["text"].split()[:2]
    assert sorted(emails) == ["e1@x.org", "e2@x.org"]  # the placeholders in turn inside a document
    assert a["text"].split()[3] == "10.0.0.1" and a["text"].split()[2] in params["ip"]
    ips = b["text"].split()[1:]
    assert ips[0][0] == "1" and ips[0][1:] in params["ip"]  # no boundaries: "234.5.6.7" inside "1234.5.6.7"
    assert params["ip"].index(ips[1]) == (params["ip"].index(ips[0][1:]) + 1) % 3
    assert (b["pii_email"], b["pii_ip"]) == (1, 2)
    # the same document gets the same placeholders whatever was masked before it (reproducible runs)
    assert masked("b", "x@y.io 1234.5.6.7 9.9.9.9")["text"] == b["text"]
    with pytest.raises(ValueError):
        build_stage("pii", {"rules": "presidio"})
