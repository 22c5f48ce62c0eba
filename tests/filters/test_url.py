"""URL filter: domain / URL block-lists, allow-lists, RefinedWeb word lists, list formats."""

from __future__ import annotations

import gzip
import tarfile

import pytest

from filters.url import HashSet, UrlFilter, normalize_host, read_list


def check(f: UrlFilter, url: str) -> str | None:
    return f({"id": "t", "text": "x", "url": url})


@pytest.fixture(scope="module")
def default() -> UrlFilter:
    return UrlFilter()


def test_shipped_lists(default):
    # domains and URLs from the shipped UT1 categories (gambling, dating, adult URLs)
    assert check(default, "https://0-casino.info/poker") == "url_blocklisted_domain"
    assert check(default, "http://www.0-casino.info/") == "url_blocklisted_domain"  # www. ignored
    assert check(default, "http://020sextoy.com/sk") == "url_blocklisted_url"
    assert check(default, "https://en.wikipedia.org/wiki/Essex") is None
    assert check(default, "https://www.bbc.co.uk/news/science") is None
    assert default({"id": "t", "text": "x"}) is None  # no URL: nothing to check


def test_word_lists(default):
    assert check(default, "http://example.com/xxx-2girls1cup") == "url_strict_word"
    assert check(default, "http://example.com/2-girls.1-cup") == "url_strict_word"  # - and . ignored
    assert check(default, "http://example.com/porn/page") == "url_hard_word"
    # soft words: one distinct hit keeps, two drop
    assert check(default, "http://example.com/bastard-film-review") is None
    assert check(default, "http://example.com/bastard/bastard") is None  # same word twice = one hit
    assert check(default, "http://example.com/bastard-ass") == "url_soft_words"
    assert check(UrlFilter(soft_min_hits=1), "http://example.com/bastard-film") == "url_soft_words"


def test_parent_domains_and_allow_list(tmp_path):
    lst = tmp_path / "domains.txt"
    lst.write_text("# comment\nexample.com\nbad.org\n")
    exact = UrlFilter(domain_lists=[str(lst)], url_lists=[])
    assert check(exact, "https://example.com/a") == "url_blocklisted_domain"
    assert check(exact, "https://news.example.com/a") is None  # DCLM: exact domain only
    parent = UrlFilter(domain_lists=[str(lst)], url_lists=[], match_parent_domains=True)
    assert check(parent, "https://news.example.com/a") == "url_blocklisted_domain"
    assert check(parent, "https://notexample.com/a") is None
    allow = UrlFilter(domain_lists=[str(lst)], url_lists=[], allow_domains=["www.bad.org"])
    assert check(allow, "http://bad.org/porn") is None  # allow-list beats every block-list


def test_ut1_folder_and_tarball(tmp_path):
    for cat, doms in (("adult", "a.com\nb.com\n"), ("gambling", "c.com\n")):
        (tmp_path / "bl" / cat).mkdir(parents=True)
        (tmp_path / "bl" / cat / "domains").write_text(doms)
    (tmp_path / "bl" / "adult" / "urls").write_text("d.com/x\n")
    assert sorted(read_list(str(tmp_path / "bl"), "domains")) == ["a.com", "b.com", "c.com"]
    tar = tmp_path / "bl.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(tmp_path / "bl", arcname="blacklists")
    assert sorted(read_list(str(tar), "domains")) == ["a.com", "b.com", "c.com"]
    assert read_list(str(tar), "urls") == ["d.com/x"]
    gz = tmp_path / "l.txt.gz"
    gz.write_bytes(gzip.compress(b"E.com\n"))
    assert read_list(str(gz), "domains") == ["e.com"]
    f = UrlFilter(domain_lists=[str(tar)], url_lists=[str(tar)])
    assert check(f, "http://c.com/") == "url_blocklisted_domain"
    assert check(f, "https://www.d.com/x/") == "url_blocklisted_url"


def test_hashset_and_normalize():
    s = HashSet(["a.com", "b.org"])
    assert "a.com" in s and "b.org" in s and "c.net" not in s and len(s) == 2
    assert normalize_host("HTTPS://WWW.Example.com:8080/Path/?q=1") == ("example.com", "example.com/path/?q=1")


def test_missing_list_fails_at_construction():
    with pytest.raises(FileNotFoundError):
        UrlFilter(domain_lists=["/nonexistent/list.txt"])
