"""Read documents out of WARC, WET and ARC files (gzip or plain; local paths or fsspec URLs).

``read_warc`` yields one dict per *candidate document*: a response (WARC/ARC) or a conversion record (WET).
Each is either a document (``_html`` bytes or, for WET, ``text``) or a skip with a stable ``_skip`` reason
(``SKIP_REASONS``) so the runner can count it. Records that are not documents at all (request, metadata,
warcinfo, revisit, resource, DNS responses) yield nothing. Bad data inside a file never raises; a file that
cannot be opened raises :class:`~curate.errors.ShardError` (transient remote failures: ``RetryableError``).

Policy choices:

- Only 2xx responses are documents; 3xx/4xx/5xx bodies are redirect stubs and error pages (``read_http_status``).
  DCLM keeps every response record; we skip these because their text is boilerplate, not content.
- fastwarc does the parsing. Its own HTTP decoding (``auto_decode``) is *not* used: a response that says
  ``Transfer-Encoding: chunked`` but was stored de-chunked (common) makes it fail the record and the rest of
  the file. We undo transfer/content encodings here instead, only for the few records that declare them
  (Common Crawl renames them to ``X-Crawler-*``), and inflate incrementally with a hard output cap.
- ARC is parsed by hand: fastwarc reads only WARC, and no maintained ARC reader is among our dependencies.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import brotli
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curate.errors import RetryableError, ShardError
from curate.io.charset import canonical_charset
from curate.io.remote import open_with_retries

NON_HTML = "read_non_html"
TOO_LARGE = "read_payload_too_large"
BOMB = "read_decompression_bomb"
BAD_ENCODING = "read_bad_content_encoding"
EMPTY = "read_empty_payload"
BINARY = "read_binary_payload"
MALFORMED = "read_malformed_record"
TRUNCATED = "read_truncated_file"
HTTP_STATUS = "read_http_status"
SKIP_REASONS = (NON_HTML, TOO_LARGE, BOMB, BAD_ENCODING, EMPTY, BINARY, MALFORMED, TRUNCATED, HTTP_STATUS)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"})
_DOC_TYPES = WarcRecordType.response | WarcRecordType.conversion
_CONVERSION = WarcRecordType.conversion
_HEAD_BYTES = 64 * 1024
_NO_ENCODING = frozenset({"", "identity", "none", "binary", "7bit", "8bit", "utf-8", "text", "plain"})
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\xd0\xcf\x11\xe0",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x7fELF",
    b"\x00\x00\x01\x00",
    b"FWS",
    b"CWS",
)
# C0 controls that never occur in text (tab, LF, VT, FF, CR and ESC, used by ISO-2022, do)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_ARC_HEADER_RE = re.compile(rb"^\S+ \S+ \d{14}\d* \S+ -?\w+\r?\n")


@dataclass
class ReadLimits:
    """Resource caps applied to every record.

    ``max_payload_bytes``: a stored body larger than this is skipped (``read_payload_too_large``) without
    being read. ``max_decoded_bytes``: output cap when undoing HTTP Content-Encoding; a body inflating past it
    is a ``read_decompression_bomb``. ``html_only``: skip non-HTML content types (``read_non_html``).
    """

    max_payload_bytes: int = 20 * 2**20
    max_decoded_bytes: int = 50 * 2**20
    html_only: bool = True


def read_warc(path: str, source: str | None = None, limits: ReadLimits | None = None) -> Iterator[dict]:
    """Stream documents from one WARC / ARC / WET file (gzip or plain, local path or fsspec URL incl. http(s)://).

    The format is detected from the first bytes (gzip magic, ``WARC/``, ARC header), not the extension.
    ``source`` defaults to the file's base name. A file ending mid-record yields one ``read_truncated_file``
    skip after the documents before the cut; a file that is not an archive at all yields one
    ``read_malformed_record`` skip.
    """
    limits = limits or ReadLimits()
    source = source or posixpath.basename(path.rstrip("/"))
    try:
        f = open_with_retries(path)
    except RetryableError:
        raise
    except (OSError, ValueError) as exc:
        raise ShardError(f"{path}: cannot open: {exc!r}") from exc
    with f:
        head = f.read(_HEAD_BYTES)
        seekable = f.seekable()
        if seekable:
            f.seek(0)
            stream = f
        else:
            stream = _Prefixed(head, f)
        kind = _sniff(head)
        if kind == "warc":
            yield from _read_warc(stream, source, limits, seekable)
        elif kind == "arc":
            yield from _read_arc(stream, source, limits, gz=head[:2] == b"\x1f\x8b")
        elif kind == "garbage":
            yield _skip(None, None, None, source, MALFORMED)


def _skip(rid: str | None, url: str | None, date: str | None, source: str, reason: str) -> dict:
    return {"id": rid, "url": url, "date": date, "source": source, "_skip": reason}


def _sniff(head: bytes) -> str:
    """'warc', 'arc', 'empty' or 'garbage', from the first (decompressed) bytes."""
    start = head
    if head[:2] == b"\x1f\x8b":
        try:
            start = zlib.decompressobj(31).decompress(head, 4096)
        except zlib.error:
            return "garbage"
    elif head[:4] in (b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"):  # zstd, lz4: fastwarc reads these itself
        return "warc"
    start = start.lstrip()
    if not start:
        return "empty"
    if start.startswith(b"WARC/"):
        return "warc"
    if start.startswith(b"filedesc://") or _ARC_HEADER_RE.match(start):
        return "arc"
    return "garbage"


# ---------------------------------------------------------------------------------------------- WARC / WET


def _read_warc(stream, source: str, limits: ReadLimits, seekable: bool) -> Iterator[dict]:  # noqa: ANN001
    # quirks_mode accepts LF-only headers and status lines without a reason phrase (real crawler output)
    it = ArchiveIterator(stream, record_types=_DOC_TYPES, parse_http=True, quirks_mode=True)
    last_pos = 0
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except RetryableError:
            raise
        except Exception as exc:  # noqa: BLE001 - fastwarc cannot resynchronise after a broken record
            reason = TRUNCATED if _says_truncated(exc) else MALFORMED
            yield _skip(None, None, None, source, reason)
            return
        last_pos = rec.stream_pos
        doc = _warc_record(rec, source, limits)
        if doc is not None:
            yield doc
            if doc.get("_skip") == TRUNCATED:
                return
    # fastwarc silently drops a last record whose headers or gzip member are cut: check the tail ourselves
    if seekable and not _tail_is_complete(stream, last_pos):
        yield _skip(None, None, None, source, TRUNCATED)


def _says_truncated(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, EOFError) or "truncat" in text or "end of" in text or "eof" in text


def _warc_record(rec, source: str, limits: ReadLimits) -> dict | None:  # noqa: ANN001 - fastwarc WarcRecord
    h = rec.headers
    url = h.get("WARC-Target-URI")
    if url and url[0] == "<":  # WARC 1.1 drafts wrote <uri>
        url = url.strip("<>")
    date = h.get("WARC-Date")
    n = rec.content_length
    if rec.record_type == _CONVERSION:  # WET: pre-extracted UTF-8 text
        if n > limits.max_payload_bytes:
            return _skip(rec.record_id, url, date, source, TOO_LARGE)
        body = rec.reader.read(n)
        if len(body) < n:
            return _skip(rec.record_id, url, date, source, TRUNCATED)
        if not body.strip():
            return _skip(rec.record_id, url, date, source, EMPTY)
        return {
            "id": rec.record_id,
            "url": url,
            "date": date,
            "source": source,
            "content_type": "text/plain",
            "charset": None,
            "text": body.decode("utf-8", "replace"),
        }
    http = rec.http_headers
    if http is None:  # dns:, whois: and other non-HTTP responses are not web documents
        return None
    ctype = rec.http_content_type
    ctype = ctype.strip().lower() if ctype else (h.get("WARC-Identified-Payload-Type") or "").lower() or None
    reason = _precheck(http.status_code, ctype, n, limits)
    if reason:
        return _skip(rec.record_id, url, date, source, reason)
    body = rec.reader.read(n)
    if len(body) < n:
        return _skip(rec.record_id, url, date, source, TRUNCATED)
    doc = {"id": rec.record_id, "url": url, "date": date, "source": source}
    return _payload_doc(
        doc,
        ctype,
        rec.http_charset,
        body,
        http.get("Transfer-Encoding"),
        http.get("Content-Encoding"),
        limits,
    )


def _tail_is_complete(f, pos: int) -> bool:  # noqa: ANN001 - seekable binary file
    """Walk the records from ``pos`` to the end: False if the file ends inside one (or inside a gzip member)."""
    try:
        f.seek(pos)
        gz = f.read(2) == b"\x1f\x8b"
        f.seek(pos)
        src = gzip.GzipFile(fileobj=f) if gz else io.BufferedReader(_Unclosing(f))
        while True:
            line = src.readline(65536)
            if not line:
                return True
            if not line.strip():
                continue
            if not line.startswith(b"WARC/"):
                return True  # not a record boundary we understand: not evidence of truncation
            length = None
            while (line := src.readline(65536)).strip():
                if not line:
                    return False
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length is None:
                return True
            while length > 0:
                chunk = src.read(min(length, 2**20))
                if not chunk:
                    return False
                length -= len(chunk)
    except EOFError:
        return False
    except (OSError, ValueError, zlib.error):
        return True


# ---------------------------------------------------------------------------------------------- ARC


def _read_arc(stream, source: str, limits: ReadLimits, gz: bool) -> Iterator[dict]:  # noqa: ANN001
    """ARC v1 (``URL IP date content-type length``) and v2 (10 fields, length last) records."""
    src = gzip.GzipFile(fileobj=stream) if gz else io.BufferedReader(_Unclosing(stream))
    offset, resyncing = 0, False
    try:
        while True:
            line = src.readline(65536)
            if not line:
                return
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            fields = line.decode("latin-1").split()
            if len(fields) >= 5 and fields[0].startswith("filedesc://"):
                if not fields[-1].isdigit():
                    resyncing = True
                    continue
                offset += _discard(src, int(fields[-1]))
                continue
            parsed = _arc_header(fields)
            if parsed is None:  # garbage line or bad length: one skip, then look for the next header
                if not resyncing:
                    yield _skip(None, None, None, source, MALFORMED)
                resyncing = True
                continue
            resyncing = False
            url, date, arc_type, length = parsed
            rid = "arc:" + hashlib.sha1(f"{url} {date} {start}".encode()).hexdigest()
            if length > limits.max_payload_bytes:
                offset += _discard(src, length)
                yield _skip(rid, url, date, source, TOO_LARGE)
                continue
            block = src.read(length)
            offset += len(block)
            if len(block) < length:
                yield _skip(rid, url, date, source, TRUNCATED)
                return
            if not url.startswith(("http:", "https:")):
                continue  # dns: and friends
            doc = _arc_record(rid, url, date, source, arc_type, block, limits)
            if doc is not None:
                yield doc
    except EOFError:
        yield _skip(None, None, None, source, TRUNCATED)
    except (OSError, zlib.error):
        yield _skip(None, None, None, source, MALFORMED)


def _arc_header(fields: list[str]) -> tuple[str, str, str, int] | None:
    if len(fields) < 5 or not fields[-1].isdigit():
        return None
    if (
        len(fields) == 10 and fields[4].isdigit()
    ):  # ARC v2: URL IP date type status checksum loc offset file len
        url, date, ctype = fields[0], fields[2], fields[3]
    else:  # v1; a URL with spaces in it leaves more than five fields
        url, date, ctype = " ".join(fields[:-4]), fields[-3], fields[-2]
    if len(date) < 14 or not date[:14].isdigit():
        return None
    d = date[:14]
    iso = f"{d[0:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}Z"
    return url, iso, ctype.lower(), int(fields[-1])


def _arc_record(
    rid: str, url: str, date: str, source: str, arc_type: str, block: bytes, limits: ReadLimits
) -> dict:
    end = block.find(b"\r\n\r\n")
    lf_end = block.find(b"\n\n")
    if end < 0 or (0 <= lf_end < end):
        end, sep = lf_end, 2
    else:
        sep = 4
    lines = block[: max(end, 0)].decode("latin-1").splitlines()
    status_line = lines[0].split() if lines else []
    if (
        end < 0
        or len(status_line) < 2
        or not status_line[0].startswith("HTTP/")
        or not status_line[1].isdigit()
    ):
        return _skip(rid, url, date, source, MALFORMED)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    ctype, _, params = headers.get("content-type", arc_type).partition(";")
    ctype = ctype.strip().lower() or None
    charset = None
    if "charset=" in params.lower():
        charset = canonical_charset(params.lower().split("charset=", 1)[1].split(";")[0])
    body = block[end + sep :]
    reason = _precheck(int(status_line[1]), ctype, len(body), limits)
    if reason:
        return _skip(rid, url, date, source, reason)
    doc = {"id": rid, "url": url, "date": date, "source": source}
    return _payload_doc(
        doc, ctype, charset, body, headers.get("transfer-encoding"), headers.get("content-encoding"), limits
    )


def _discard(src, n: int) -> int:  # noqa: ANN001
    done = 0
    while done < n:
        chunk = src.read(min(n - done, 2**20))
        if not chunk:
            break
        done += len(chunk)
    return done


# ---------------------------------------------------------------------------------------------- payloads


def _precheck(status: int | None, ctype: str | None, n: int, limits: ReadLimits) -> str | None:
    """The skip reason decidable before the body is read, or None."""
    if status is None:
        return MALFORMED
    if not 200 <= status < 300:
        return HTTP_STATUS
    if limits.html_only and ctype is not None and ctype not in HTML_TYPES:
        return NON_HTML
    if n > limits.max_payload_bytes:
        return TOO_LARGE
    return None


def _payload_doc(
    doc: dict,
    ctype: str | None,
    charset: str | None,
    body: bytes,
    te: str | None,
    ce: str | None,
    limits: ReadLimits,
) -> dict:
    """Finish a document from its stored body: undo encodings, sniff a missing type, reject empty/binary."""
    if te or ce:
        body, reason = decode_http_body(body, te, ce, limits.max_decoded_bytes)
        if reason:
            doc["_skip"] = reason
            return doc
    if not body or (len(body) < 4096 and not body.strip()):
        doc["_skip"] = EMPTY
        return doc
    if ctype is None:  # no Content-Type at all: sniff like a browser would
        ctype = "text/html" if _looks_like_markup(body) else "application/octet-stream"
        if limits.html_only and ctype not in HTML_TYPES:
            doc["_skip"] = NON_HTML
            return doc
    if (ctype in HTML_TYPES or ctype.startswith("text/")) and _looks_binary(body):
        doc["_skip"] = BINARY
        return doc
    doc["content_type"] = ctype
    doc["charset"] = charset
    doc["_html"] = body
    return doc


def _looks_like_markup(body: bytes) -> bool:
    return body[:1024].lstrip()[:1] == b"<"


def _looks_binary(body: bytes) -> bool:
    """Binary bytes behind a text label: a known binary signature, or > 10 % control bytes in the first 4 KB.
    A UTF-16/32 BOM is text (its NUL bytes are not binary)."""
    head = body[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    if head.startswith(_BINARY_MAGIC):
        return True
    return len(head) - len(head.translate(None, _CONTROL)) > len(head) // 10


def decode_http_body(body: bytes, te: str | None, ce: str | None, cap: int) -> tuple[bytes, str | None]:
    """Undo Transfer-Encoding: chunked and Content-Encoding (gzip, deflate, br, zstd; stacked in reverse).

    Returns ``(body, None)`` or ``(b"", reason)`` with ``read_decompression_bomb`` when the output would pass
    ``cap`` bytes (inflation stops there), ``read_bad_content_encoding`` for a corrupt or unknown coding.
    A body labelled compressed that is plainly markup was stored decoded by the crawler and is kept as is.
    """
    if te and "chunked" in te.lower():
        body = _dechunk(body)
    if not ce:
        return body, None
    for enc in reversed([e.strip().lower() for e in ce.split(",")]):
        if enc in _NO_ENCODING or not body:
            continue
        if _looks_like_markup(body) and not body.startswith(b"\x1f\x8b"):
            return body, None
        try:
            if enc in ("gzip", "x-gzip", "deflate", "x-deflate"):
                body = _inflate_zlib(body, cap)
            elif enc in ("br", "brotli"):
                body = _inflate_brotli(body, cap)
            elif enc in ("zstd", "x-zstd"):
                body = _inflate_zstd(body, cap)
            else:
                return b"", BAD_ENCODING
        except _Bomb:
            return b"", BOMB
        except (zlib.error, brotli.error, zstandard.ZstdError, ValueError):
            return b"", BAD_ENCODING
    return body, None


class _Bomb(Exception):
    pass


def _inflate_zlib(body: bytes, cap: int) -> bytes:
    try:
        d = zlib.decompressobj(47)  # gzip or zlib header, detected
        out = d.decompress(body, cap + 1)
    except zlib.error:  # "deflate" often means a raw deflate stream without the zlib header
        d = zlib.decompressobj(-15)
        out = d.decompress(body, cap + 1)
    if len(out) > cap:
        raise _Bomb
    if not out:
        raise zlib.error("no output")
    return out  # a body cut mid-stream keeps what inflated, as browsers show it


def _inflate_brotli(body: bytes, cap: int) -> bytes:
    d = brotli.Decompressor()
    out = d.process(body, output_buffer_limit=cap + 1)  # brotli >= 1.2: the output never grows past the cap
    if len(out) > cap:
        raise _Bomb
    if not out:
        raise ValueError("no output")
    return out


def _inflate_zstd(body: bytes, cap: int) -> bytes:
    parts, size = [], 0
    with zstandard.ZstdDecompressor().stream_reader(body) as r:
        while chunk := r.read(2**20):
            size += len(chunk)
            if size > cap:
                raise _Bomb
            parts.append(chunk)
    return b"".join(parts)


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP chunking; a body that does not start with a chunk-size line was stored de-chunked: kept."""
    parts, pos = [], 0
    while True:
        nl = body.find(b"\n", pos, pos + 80)
        if nl < 0:
            break
        size_field = body[pos:nl].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            if pos == 0:
                return body
            break
        if size == 0:
            break
        parts.append(body[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size
        pos += 2 if body.startswith(b"\r\n", pos) else 1 if body.startswith(b"\n", pos) else 0
    return b"".join(parts) if parts else body


# ---------------------------------------------------------------------------------------------- streams


class _Prefixed(io.RawIOBase):
    """Replays the bytes already read for format detection, then continues from a forward-only stream.
    fastwarc asks every stream for its position with ``seek(0, SEEK_CUR)``: answered without seeking."""

    def __init__(self, head: bytes, rest):  # noqa: ANN001
        self.head, self.rest, self.pos = head, rest, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            out = self.rest.read(size)
        elif size < 0:
            out, self.head = self.head + self.rest.read(), b""
        else:
            out, self.head = self.head[:size], self.head[size:]
        self.pos += len(out)
        return out

    def readinto(self, b) -> int:  # noqa: ANN001
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (whence == io.SEEK_CUR and offset == 0) or (whence == io.SEEK_SET and offset == self.pos):
            return self.pos
        raise io.UnsupportedOperation("forward-only stream")


class _Unclosing(io.RawIOBase):
    """Lets io.BufferedReader wrap a stream that its owner closes."""

    def __init__(self, f):  # noqa: ANN001
        self.f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        data = self.f.read(len(b))
        b[: len(data)] = data
        return len(data)
