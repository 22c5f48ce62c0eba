"""HTTP bodies and the pieces shared by the WARC and ARC readers: skip reasons, limits, body decoding
(transfer and content encodings, inflated incrementally under a hard cap), binary sniffing, stream wrappers."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import brotli
import zstandard
from fastwarc.warc import WarcRecordType

from curate.errors import RecipeError

NON_HTML = "read_non_html"
TOO_LARGE = "read_payload_too_large"
BOMB = "read_decompression_bomb"
BAD_ENCODING = "read_bad_content_encoding"
EMPTY = "read_empty_payload"
BINARY = "read_binary_payload"
MALFORMED = "read_malformed_record"
TRUNCATED = "read_truncated_file"
HTTP_STATUS = "read_http_status"
CORRUPT = "read_corrupt_record"  # bytes inside a record that fastwarc cannot parse or inflate; reading resumes
SKIP_REASONS = (
    NON_HTML, TOO_LARGE, BOMB, BAD_ENCODING, EMPTY, BINARY, MALFORMED, TRUNCATED, HTTP_STATUS, CORRUPT
)

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

    def __post_init__(self) -> None:
        for key in ("max_payload_bytes", "max_decoded_bytes"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise RecipeError(f"read.{key}: must be a positive number of bytes, got {value!r}")
        if not isinstance(self.html_only, bool):
            raise RecipeError(f"read.html_only: must be true or false, got {self.html_only!r}")


def _skip(rid: str | None, url: str | None, date: str | None, source: str, reason: str) -> dict:
    return {"id": rid, "url": url, "date": date, "source": source, "_skip": reason}


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


class ForwardOnly(io.RawIOBase):
    """A read-only stream that counts its position in ``pos`` and can only "seek" to where it is."""

    pos = 0

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


class _Prefixed(ForwardOnly):
    """Replays the bytes already read for format detection, then continues from a forward-only stream.
    fastwarc asks every stream for its position with ``seek(0, SEEK_CUR)``: answered without seeking."""

    def __init__(self, head: bytes, rest, pos: int = 0):  # noqa: ANN001 - pos: the offset of head's first byte
        self.head, self.rest, self.pos = head, rest, pos

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
