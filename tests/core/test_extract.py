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
