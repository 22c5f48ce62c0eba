"""RefinedWeb/DCLM line modifiers and pre-clean: each rule, its boundary, and the word-removal drop."""

from __future__ import annotations

import pytest

from filters.refinedweb import RefinedWebLineModifiers, RefinedWebPreclean


@pytest.fixture(scope="module")
def lm() -> RefinedWebLineModifiers:
    return RefinedWebLineModifiers(max_words_removed_ratio=None)


def after(stage, text: str) -> tuple[str | None, str]:
    d = {"id": "t", "text": text}
    return stage(d), d["text"]


def test_each_line_rule(lm, prose):
    body = " ".join(prose[:40])
    cases = {
        "ABCDE fghij": False,  # 5 of 10 characters... ratio counted over the whole line incl. space
        "BIG HEADER HERE": True,
        "1234567": True,
        "12a4567": False,
        "3 likes": True,
        "1.2K Comments!": True,
        "Shares": True,  # one word
        "": False,
    }
    no_min = RefinedWebLineModifiers(min_words_per_line=0, max_words_removed_ratio=None)
    for line, removed in cases.items():
        stage = lm if line == "Shares" else no_min
        _, text = after(stage, body + "\n" + line + "\n" + body)
        assert (line not in text.split("\n")) == removed or line == "", line


def test_uppercase_boundary(lm, prose):
    body = " ".join(prose[:40])
    half = "ABcd EFgh"  # 4 upper of 9 chars: kept; "ABCd EFgh" 5 of 9 > 0.5: removed
    assert "ABcd EFgh" in after(lm, body + "\nABcd EFgh")[1]
    assert "ABCd EFgh" not in after(lm, body + "\nABCd EFgh")[1]
    exact = "ABcd"  # 2 of 4 = 0.5 exactly: kept (DCLM keeps <=) but one word: removed by the 2-word rule
    assert exact not in after(lm, body + "\n" + exact)[1]
    assert "ABcd EFgh" == half


def test_boilerplate_substrings(lm, prose):
    body = " ".join(prose[:40])
    _, t = after(lm, body + "\nYou have 3 items in cart now")
    assert t.endswith("You have 3 now")
    _, t = after(lm, body + "\nA short teaser here Read more...")
    assert t.endswith("A short teaser here")
    _, t = after(lm, body + "\nSign-in to post a comment")
    assert t.endswith("to post a comment")
    _, t = after(lm, body + "\nRead more...")  # nothing left: line removed
    assert t == body
    long = " ".join(prose[40:52]) + " Read more..."  # more than 10 words: untouched
    assert after(lm, body + "\n" + long)[1].endswith("Read more...")


def test_words_removed_ratio_boundary(prose):
    words = [w for w in prose if w[0].isalnum()]
    body = " ".join(words[:95])
    rw = RefinedWebLineModifiers()
    d = {"id": "t", "text": body + "\nFIVE BIG WORDS IN CAPS"}  # 5 of 100 words removed: 0.05, kept
    assert rw(d) is None and d["words_removed_ratio"] == pytest.approx(0.05) and d["text"] == body
    d = {"id": "t", "text": " ".join(words[:94]) + "\nSIX BIG WORDS IN THE CAPS"}  # 6 of 100
    assert rw(d) == "refinedweb_words_removed"
    assert rw({"id": "t", "text": "ALL CAPS PAGE\n12345"}) == "refinedweb_empty"


def test_real_pages_unchanged(dclm_docs):
    # these pages come from DCLM's pool, which had its line modifiers applied already: nothing to remove
    rw = RefinedWebLineModifiers()
    for page in dclm_docs.values():
        d = {"id": "t", "text": page["text"]}
        assert rw(d) is None and d["words_removed_ratio"] == 0.0 and d["text"] == page["text"].strip()


def test_preclean():
    pc = RefinedWebPreclean()
    d = {"id": "t", "text": "See https://example.com/a?b=1 or www.foo.org now.\n\n\n\n\nNext.The end at 10.0.0.1 ok"}
    assert pc(d) is None
    assert d["text"] == "See or now.\n\nNext.The end at ok"
    assert pc({"id": "t", "text": "https://example.com"}) == "refinedweb_empty"
    keep = {"id": "t", "text": "a\n\n\nb"}
    RefinedWebPreclean(remove_urls=False, max_consecutive_newlines=None)(keep)
    assert keep["text"] == "a\n\n\nb"
