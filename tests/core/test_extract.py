"""The extract stage gives exactly what the libraries give, and guards size and time."""

from __future__ import annotations

import time
from pathlib import Path

import trafilatura
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text

from curate.extract import Extract, html_to_str
from curate.stage import build_stage

WARC = Path(__file__).resolve().parents[1] / "data" / "warc" / "cc-main-2020-34-excerpt.warc.gz"


def pages(n: int = 6) -> list[tuple[bytes, str | None]]:
    out = []
    with open(WARC, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            if "html" in (rec.http_content_type or ""):
                out.append((rec.reader.read(), rec.http_charset))
            if len(out) == n:
                break
    return out


def test_resiliparse_and_trafilatura_text_is_the_libraries_text():
    res = build_stage("extract")
    # deduplicate=False on both sides: trafilatura's dedup keeps a process-wide cache of seen segments, so a
    # second call on the same page would differ from the first by design.
    tra = build_stage("extract", {"method": "trafilatura", "deduplicate": False})
    for payload, charset in pages():
        html, _ = html_to_str(payload, charset)
        d1 = {"id": "a", "_html": payload, "charset": charset}
        d2 = dict(d1)
        r1, r2 = res(d1), tra(d2)
        expected = extract_plain_text(html, main_content=True)
        assert (r1 is None and d1["text"] == expected) or (r1 == "extract_empty" and not expected.strip())
        want = trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=False) or ""
        assert (r2 is None and d2["text"] == want) or (r2 == "extract_empty" and not want.strip())
        assert "_html" not in d1


def test_documents_with_text_pass_through():
    doc = {"id": "w", "text": "already extracted (WET, Parquet, JSONL)"}
    assert build_stage("extract")(doc) is None and doc["text"].startswith("already")


def test_too_large_and_empty_pages_are_counted_drops():
    stage = build_stage("extract", {"max_html_bytes": 1000})
    assert stage({"id": "big", "_html": b"<p>" + b"x" * 5000 + b"</p>"}) == "extract_too_large"
    assert build_stage("extract")({"id": "e", "_html": b"<html><body></body></html>"}) == "extract_empty"


class SlowExtract(Extract):
    """The real stage with an extractor that stalls, to exercise the time guard."""

    def extract(self, html: str) -> str:
        time.sleep(5)
        return "never"


def test_a_stalling_page_is_dropped_at_the_time_limit():
    stage = SlowExtract(timeout_s=0.2)
    t = time.perf_counter()
    assert stage({"id": "slow", "_html": b"<p>hello</p>"}) == "extract_timeout"
    assert time.perf_counter() - t < 4
    # and the guard leaves no alarm behind
    assert build_stage("extract")({"id": "ok", "_html": b"<html><body><p>" + b"word " * 50 + b"</p></body></html>"}) is None
    time.sleep(0.3)


def test_charset_from_meta_tag_when_header_is_silent():
    html = '<html><head><meta charset="koi8-r"></head><body><p>Привет, мир. Это тест кодировки.</p></body></html>'
    doc = {"id": "k", "_html": html.encode("koi8-r"), "charset": None}
    assert build_stage("extract", {"main_content": False})(doc) is None
    assert "Привет, мир" in doc["text"] and doc["charset"] == "koi8-r"


def _plain_nesting_depth(html: str) -> int:
    """The oracle for ``nesting_depth``: one tag at a time, with a plain stack counter."""
    import re

    from curate.extract import _NO_NESTING

    html = re.sub(r"(?is)<(script|style|textarea|title)\b.*?</\1\s*>", "", html)
    depth = best = 0
    for m in re.finditer(r"<(/?)([A-Za-z][A-Za-z0-9-]*)", html):
        tail = html[m.end() : m.end() + 1]
        if m.group(2).lower() in _NO_NESTING and (not tail or tail in " \t\n\r\f/>"):
            continue
        depth = max(0, depth - 1) if m.group(1) else depth + 1
        best = max(best, depth)
    return best


def test_nesting_depth_matches_the_plain_count_on_real_pages():
    from curate.extract import exceeds_nesting_depth, nesting_depth

    cases = [html_to_str(p, c)[0] for p, c in pages(16)]
    cases += [
        "",
        "</div></div><div><div>x</div>",  # stray end tags cannot make the depth negative
        "<p><p><p><br><img src=x><li><li>",  # implied end tags and void elements do not nest
        "<script>for (i=0;i<n;i++) if (a<b) x='<div>'</script><div>ok</div>",
        "<DIV><Span><a href=x>y</a></Span></DIV>",
    ]
    for html in cases:
        assert nesting_depth(html) == _plain_nesting_depth(html)
        for limit in (1, 2, 50, 2000):
            assert exceeds_nesting_depth(html, limit) == (nesting_depth(html) > limit)
    assert nesting_depth("<div>" * 3000) == 3000


def test_a_deeply_nested_page_times_out_on_time_and_a_deep_fast_one_is_kept():
    # resiliparse's main-content pass is quadratic in depth and ignores the alarm signal: 100 k nested <div>s
    # ran for minutes. Such a page is extracted in a child process that is killed at the limit.
    n = 100_000
    bomb = ("<html><body>" + "<div>" * n + "<p>deep text</p>" + "</div>" * n + "</body></html>").encode()
    assert build_stage("extract", {"timeout_s": 1})({"id": "bomb", "_html": bomb}) == "extract_timeout"
    # deeper than max_nesting_depth but quick: the child's text is the library's text
    deep = "<html><body>" + "<div>" * 300 + "<p>" + "a deep page of words " * 20 + "</p>" + "</div>" * 300
    doc = {"id": "deep", "_html": deep.encode()}
    assert build_stage("extract", {"max_nesting_depth": 100})(doc) is None
    assert doc["text"] == extract_plain_text(deep, main_content=True)
