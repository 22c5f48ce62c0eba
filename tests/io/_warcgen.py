"""Build WARC bytes by hand for edge cases that no committed real file covers (or whose licence forbids it)."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

DATA = Path(__file__).parent.parent / "data" / "warc"


def http_response(
    body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None, eol: bytes = b"\r\n"
) -> bytes:
    head = [f"HTTP/1.1 {status}".encode()]
    for key, value in (headers if headers is not None else {"Content-Type": "text/html"}).items():
        head.append(f"{key}: {value}".encode())
    return eol.join(head) + eol + eol + body


def warc_record(
    block: bytes,
    url: str = "http://example.com/",
    rtype: str = "response",
    ctype: str = "application/http; msgtype=response",
    date: str = "2024-05-18T00:00:01Z",
    version: str = "WARC/1.0",
    rid: str | None = None,
    extra: dict[str, str] | None = None,
    eol: bytes = b"\r\n",
) -> bytes:
    rid = rid or f"<urn:uuid:{uuid.uuid4()}>"
    fields = {
        "WARC-Type": rtype,
        "WARC-Record-ID": rid,
        "WARC-Date": date,
        "WARC-Target-URI": url,
        "Content-Type": ctype,
        **(extra or {}),
        "Content-Length": str(len(block)),
    }
    head = [version.encode()] + [f"{k}: {v}".encode() for k, v in fields.items()]
    return eol.join(head) + eol + eol + block + eol + eol


def page(
    body: bytes,
    url: str = "http://example.com/",
    headers: dict[str, str] | None = None,
    status: str = "200 OK",
    **kw,
) -> bytes:
    """One response record holding an HTTP response with ``body``."""
    return warc_record(http_response(body, status, headers), url=url, **kw)


def gz(*records: bytes) -> bytes:
    """One gzip member per record, the Common Crawl layout."""
    return b"".join(gzip.compress(r, mtime=0) for r in records)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)
