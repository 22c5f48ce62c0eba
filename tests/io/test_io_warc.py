"""read_warc on real captures (tests/data/warc, see tests/data/README.md) and generated edge cases."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import zlib
from collections import Counter

import brotli
import pytest
import zstandard
from _warcgen import DATA, gz, http_response, page, warc_record, write
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curate.errors import ShardError
from curate.io.warc import SKIP_REASONS, ReadLimits, read_warc

CC = str(DATA / "cc-main-2020-34-excerpt.warc.gz")


def reasons(docs: list[dict]) -> Counter:
    return Counter(d.get("_skip", "doc") for d in docs)


def html_docs(docs: list[dict]) -> list[dict]:
    return [d for d in docs if "_skip" not in d]


# ------------------------------------------------------------------------------------------ real captures


def test_common_crawl_excerpt():
    docs = list(read_warc(CC))
    assert reasons(docs) == {"doc": 16}
    expected = [
        (r.record_id, r.headers["WARC-Target-URI"], r.headers["WARC-Date"])
        for r in ArchiveIterator(open(CC, "rb"), record_types=WarcRecordType.response)
    ]
    assert [(d["id"], d["url"], d["date"]) for d in docs] == expected
    for d in docs:
        assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", d["id"])
        assert d["source"] == "cc-main-2020-34-excerpt.warc.gz"
        assert d["content_type"] == "text/html"
        assert b"<" in d["_html"][:2000] and isinstance(d["_html"], bytes)
    assert docs[0]["url"] == "http://003338.cn/l41/481397.html"
    assert docs[0]["date"] == "2020-08-08T17:27:41Z"
    assert list(read_warc(CC, source="shard-7"))[0]["source"] == "shard-7"


def test_wet_conversion_records():
    [doc] = read_warc(str(DATA / "cc-main-2024-22-whirlwind.warc.wet.gz"))
    [page_doc] = read_warc(str(DATA / "cc-main-2024-22-whirlwind.warc.gz"))
    assert doc["url"] == page_doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc["content_type"] == "text/plain" and "_html" not in doc
    assert doc["text"].startswith("Escopete") and len(doc["text"]) > 1000
    assert doc["id"].startswith("<urn:uuid:") and doc["id"] != page_doc["id"]
    assert page_doc["charset"] == "utf-8"


def test_arc_and_warc_of_the_same_crawl_agree():
    arc = list(read_warc(str(DATA / "ia-2008-crawl-excerpt.arc.gz")))
    warc = list(read_warc(str(DATA / "ia-2008-crawl-excerpt.warc.gz")))
    assert reasons(arc) == reasons(warc)
    assert reasons(arc)["doc"] == 10
    assert [(d["url"], d.get("_skip")) for d in arc] == [(d["url"], d.get("_skip")) for d in warc]
    for a, w in zip(html_docs(arc), html_docs(warc)):
        assert a["_html"] == w["_html"] and a["content_type"] == w["content_type"]
        assert a["date"] == w["date"]  # both ISO 8601
        assert a["id"].startswith("arc:") and w["id"].startswith("<urn:uuid:")
    assert len({d["id"] for d in arc}) == len(arc)  # ARC ids are unique and stable
    assert [d["id"] for d in arc] == [d["id"] for d in read_warc(str(DATA / "ia-2008-crawl-excerpt.arc.gz"))]


def test_office_documents_are_non_html():
    path = str(DATA / "ia-docs.warc.gz")
    assert reasons(list(read_warc(path))) == {"read_non_html": 9}
    docs = list(read_warc(path, limits=ReadLimits(html_only=False)))
    types = {d["content_type"] for d in docs if "_skip" not in d}
    assert any("word" in t or "excel" in t or "powerpoint" in t or "officedocument" in t for t in types)


def test_pdf_and_image_are_non_html(tmp_path):
    pdf = page(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", headers={"Content-Type": "application/pdf"})
    png = page(b"\x89PNG\r\n\x1a\n" + bytes(100), headers={"Content-Type": "image/png"})
    docs = list(read_warc(write(tmp_path, "x.warc.gz", gz(pdf, png))))
    assert reasons(docs) == {"read_non_html": 2}


# ------------------------------------------------------------------------------------------ edge files

EDGE_EXPECTED = {
    "block-sized-records.warc.gz": {},
    "clipped-record.warc.gz": {"read_truncated_file": 1},
    "warcio-bad.arc": {"read_malformed_record": 2},
    "warcio-example-bad-non-chunked.warc.gz": {"doc": 1},
    "warcio-example-bad.warc.gz.bad": {"doc": 1, "read_http_status": 1},  # gzip found by magic, not name
    "warcio-example-iana.org-chunked.warc": {"doc": 1},
    "warcio-example-resource.warc.gz": {},
    "warcio-example-space-in-target-uri.warc.gz": {},
    "warcio-example-trunc.warc": {"doc": 1},  # gzip body cut short: the inflated part is kept
    "warcio-example-wget-bad-target-uri.warc.gz": {"doc": 1},
    "warcio-example-wrong-chunks.warc.gz": {"doc": 1},
    "warcio-example.warc": {"doc": 1},  # its revisit record is not a document
}


@pytest.mark.parametrize("name", sorted(EDGE_EXPECTED))
def test_edge_files(name):
    docs = list(read_warc(str(DATA / name)))
    assert reasons(docs) == EDGE_EXPECTED[name]
    for d in docs:
        assert d.get("_skip", "read_ok") in SKIP_REASONS + ("read_ok",)
        if "_skip" not in d:
            assert d["_html"].lstrip()[:1] == b"<", d["_html"][:40]


def test_chunked_body_is_dechunked():
    [doc] = read_warc(str(DATA / "warcio-example-iana.org-chunked.warc"))
    assert doc["_html"].startswith(b"<!doctype html>") and doc["_html"].rstrip().endswith(b"</html>")
    assert not re.search(rb"\r\n[0-9a-f]{1,6}\r\n", doc["_html"])
    assert doc["charset"] == "utf-8"


def test_clueweb_style_old_version_and_broken_dates(tmp_path):
    # the ClueWeb09 quirk file cannot be committed (CMU licence): same quirks, generated
    recs = [
        page(
            b"<html>\xe6\x97\xa5\xe6\x9c\xac</html>",
            url=f"http://ja.example/{i}",
            version="WARC/0.18",
            date="2009-03-84T25:61:00-0800",
            extra={"WARC-TREC-ID": f"clueweb09-ja0000-00-{i:05d}"},
        )
        for i in range(3)
    ]
    docs = list(read_warc(write(tmp_path, "clueweb.warc.gz", gz(*recs))))
    assert reasons(docs) == {"doc": 3}
    assert docs[0]["date"] == "2009-03-84T25:61:00-0800"


def test_missing_status_text_and_cr_cr_lf(tmp_path):
    # pywb's missing-status-text.warc (GPL, not committed): "HTTP/1.0 302 " and CR CR LF line ends
    block = b"HTTP/1.0 302 \r\r\nLocation: http://www.iana.org/badst\r\r\nContent-Length: 0\r\r\n\r\r\n"
    rec = warc_record(block, url="http://iana.org/bads", eol=b"\r\r\n")
    assert reasons(list(read_warc(write(tmp_path, "x.warc", rec)))) == {"read_http_status": 1}


def test_revisit_request_metadata_records_are_not_documents(tmp_path):
    body = b"<html><body>first capture</body></html>"
    resp = page(body, rid="<urn:uuid:00000000-0000-0000-0000-000000000001>")
    revisit = warc_record(
        http_response(b""),
        rtype="revisit",
        extra={
            "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
            "WARC-Refers-To": "<urn:uuid:00000000-0000-0000-0000-000000000001>",
        },
    )
    request = warc_record(
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        rtype="request",
        ctype="application/http; msgtype=request",
    )
    meta = warc_record(b"fetchTimeMs: 12\r\n", rtype="metadata", ctype="application/warc-fields")
    info = warc_record(b"software: test\r\n", rtype="warcinfo", ctype="application/warc-fields")
    docs = list(read_warc(write(tmp_path, "r.warc.gz", gz(info, request, resp, meta, revisit, revisit))))
    assert [d["_html"] for d in docs] == [body]
    assert docs[0]["id"] == "<urn:uuid:00000000-0000-0000-0000-000000000001>"


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "zstd", "none"])
def test_content_encodings_are_undone(tmp_path, encoding):
    # the UKWA transfer_compression_* files (GPL) hold one page gzip-, brotli- and un-encoded: same here
    html = b"<html><head><title>Simple page</title></head><body>" + b"<p>Hello</p>" * 200 + b"</body></html>"
    body = {
        "gzip": lambda b: gzip.compress(b),
        "br": brotli.compress,
        "deflate": zlib.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "none": lambda b: b,
    }[encoding](html)
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding}
    [doc] = read_warc(write(tmp_path, "c.warc.gz", gz(page(body, headers=headers))))
    assert doc["_html"] == html and doc["charset"] == "utf-8"


def test_raw_deflate_and_chunked_gzip(tmp_path):
    html = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    co = zlib.compressobj(wbits=-15)
    raw = co.compress(html) + co.flush()
    gzipped = gzip.compress(html)
    chunked = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(gzipped[i : i + 100]), gzipped[i : i + 100])
            for i in range(0, len(gzipped), 100)
        )
        + b"0\r\n\r\n"
    )
    recs = [
        page(raw, headers={"Content-Type": "text/html", "Content-Encoding": "deflate"}),
        page(
            chunked,
            headers={"Content-Type": "text/html", "Content-Encoding": "gzip", "Transfer-Encoding": "chunked"},
        ),
    ]
    docs = list(read_warc(write(tmp_path, "d.warc", b"".join(recs))))
    assert [d["_html"] for d in docs] == [html, html]


def test_bad_content_encoding(tmp_path):
    corrupt = gzip.compress(b"<html>" + bytes(range(256)) * 40)
    corrupt = corrupt[:20] + bytes(200) + corrupt[220:]
    recs = [
        page(corrupt, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}),
        page(b"\x01\x02garbage\xff", headers={"Content-Type": "text/html", "Content-Encoding": "br"}),
        page(b"\x01\x02\x03compressed", headers={"Content-Type": "text/html", "Content-Encoding": "lzw-x"}),
    ]
    assert reasons(list(read_warc(write(tmp_path, "b.warc.gz", gz(*recs))))) == {
        "read_bad_content_encoding": 3
    }


def _gzip_bomb(size: int) -> bytes:
    """``size`` zeros gzipped in ~0.1 s: once the window holds only zeros, each sync-flushed MB of zeros
    compresses to the same bytes, so the middle of the stream is one piece repeated."""
    co, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(2**20)
    first = co.compress(zeros) + co.flush(zlib.Z_SYNC_FLUSH)
    piece = co.compress(zeros) + co.flush(zlib.Z_SYNC_FLUSH)
    assert piece == co.compress(zeros) + co.flush(zlib.Z_SYNC_FLUSH)
    n = size // 2**20
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(zeros, crc)
    trailer = b"\x03\x00" + crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return first + piece * (n - 1) + trailer


def _brotli_bomb(size: int) -> bytes:
    c, zeros = brotli.Compressor(quality=3), bytes(2**20)
    return b"".join(c.process(zeros) for _ in range(size // 2**20)) + c.finish()


def test_decompression_bombs_are_counted_not_inflated(tmp_path):
    # 1 GB / 256 MB of zeros, ~1 MB / ~1 KB compressed
    gz_bomb, br_bomb = _gzip_bomb(2**30), _brotli_bomb(2**28)
    assert len(gz_bomb) < 1.5 * 2**20
    recs = [
        page(gz_bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}),
        page(br_bomb, headers={"Content-Type": "text/html", "Content-Encoding": "br"}),
        page(b"<html>ok</html>"),
    ]
    path = write(tmp_path, "bomb.warc.gz", gz(*recs))
    del gz_bomb, br_bomb, recs
    tracemalloc.start()
    docs = list(read_warc(path, limits=ReadLimits(max_decoded_bytes=8 * 2**20)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert reasons(docs) == {"read_decompression_bomb": 2, "doc": 1}
    assert peak < 64 * 2**20  # the cap (8 MB) plus buffers, nowhere near 1 GB


def test_fifty_megabyte_page_is_skipped_without_reading_it(tmp_path):
    path = tmp_path / "big.warc"
    size = 50 * 2**20
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    with open(path, "wb") as f:
        rec = warc_record(head + b"<html>", url="http://big.example/")  # rewrite its length below
        rec = rec.replace(b"Content-Length: %d" % (len(head) + 6), b"Content-Length: %d" % (len(head) + size))
        f.write(rec[: -(4 + 6)])
        chunk = b"<p>" + b"a" * 1021
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(b"\r\n\r\n")
        f.write(page(b"<html>small</html>", url="http://small.example/"))
    tracemalloc.start()
    docs = list(read_warc(str(path)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(d["url"], d.get("_skip")) for d in docs] == [
        ("http://big.example/", "read_payload_too_large"),
        ("http://small.example/", None),
    ]
    assert peak < 8 * 2**20


def test_binary_empty_status_and_missing_type(tmp_path):
    recs = [
        page(bytes(range(256)) * 20, url="http://a/binary"),
        page(b"GIF89a" + bytes(300), url="http://a/gif-as-html"),
        page(b"", url="http://a/empty"),
        page(b"  \r\n ", url="http://a/blank"),
        page(b"<html>gone</html>", url="http://a/404", status="404 Not Found"),
        page(b"", url="http://a/301", status="301 Moved Permanently", headers={"Location": "/"}),
        page(b"<!DOCTYPE html><html>no type</html>", url="http://a/untyped", headers={}),
        page(b"\x00\x01\x02\x03" * 100, url="http://a/untyped-bin", headers={}),
        page("<html>ütf-16</html>".encode("utf-16"), url="http://a/utf16"),
    ]
    docs = {d["url"]: d.get("_skip") for d in read_warc(write(tmp_path, "m.warc.gz", gz(*recs)))}
    assert docs == {
        "http://a/binary": "read_binary_payload",
        "http://a/gif-as-html": "read_binary_payload",
        "http://a/empty": "read_empty_payload",
        "http://a/blank": "read_empty_payload",
        "http://a/404": "read_http_status",
        "http://a/301": "read_http_status",
        "http://a/untyped": None,
        "http://a/untyped-bin": "read_non_html",
        "http://a/utf16": None,
    }


# ------------------------------------------------------------------------------------------ truncation


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.77, 0.999])
def test_truncated_warc_gz(tmp_path, fraction):
    data = open(CC, "rb").read()
    full = list(read_warc(CC, source="s"))
    cut = list(read_warc(write(tmp_path, "cut.warc.gz", data[: int(len(data) * fraction)]), source="s"))
    assert cut[-1]["_skip"] == "read_truncated_file"
    assert sum(d.get("_skip") == "read_truncated_file" for d in cut) == 1
    good = [d for d in cut if "_skip" not in d]
    assert good == full[: len(good)]  # every document before the cut, unchanged


def test_trailer_cut_off_the_last_member(tmp_path):
    data = open(CC, "rb").read()
    docs = list(read_warc(write(tmp_path, "t.warc.gz", data[:-10])))
    assert reasons(docs) == {"doc": 16, "read_truncated_file": 1}


def test_truncated_plain_warc(tmp_path):
    data = gzip.decompress(open(CC, "rb").read())
    docs = list(read_warc(write(tmp_path, "t.warc", data[: len(data) // 2])))
    assert docs[-1]["_skip"] == "read_truncated_file" and 5 <= reasons(docs)["doc"] < 16


def test_truncated_arc(tmp_path):
    data = (DATA / "ia-2008-crawl-excerpt.arc.gz").read_bytes()
    docs = list(read_warc(write(tmp_path, "t.arc.gz", data[: len(data) // 2])))
    assert docs[-1]["_skip"] == "read_truncated_file" and reasons(docs)["read_truncated_file"] == 1
    assert reasons(docs)["doc"] >= 3


# ------------------------------------------------------------------------------------------ not archives


def test_garbage_missing_and_empty_files(tmp_path):
    assert [d["_skip"] for d in read_warc(write(tmp_path, "x.warc.gz", b"<html>not a warc</html>" * 50))] == [
        "read_malformed_record"
    ]
    assert [d["_skip"] for d in read_warc(write(tmp_path, "y.warc.gz", b"\x1f\x8b\x08\x00junk" * 50))] == [
        "read_malformed_record"
    ]
    assert list(read_warc(write(tmp_path, "empty.warc.gz", b""))) == []
    with pytest.raises(ShardError):
        list(read_warc(str(tmp_path / "missing.warc.gz")))


def test_garbage_between_records(tmp_path):
    data = page(b"<html>one</html>") + b"\x00garbage line\r\n" * 3 + page(b"<html>two</html>")
    docs = list(read_warc(write(tmp_path, "g.warc", data)))
    assert docs[0]["_html"] == b"<html>one</html>"
    assert docs[-1].get("_skip") in (None, "read_malformed_record")
