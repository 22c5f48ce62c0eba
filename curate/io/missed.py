"""Records fastwarc passes over without a word: read them leniently, or count them.

fastwarc skips a record whose header it does not accept (no ``WARC/1.0`` line, a mangled version, a header
block without its blank line) and goes on at the next one, so the record vanished uncounted. In a gzip WARC
(Common Crawl's layout: one member per record) :class:`MemberTap` sits between the file and fastwarc and
notes every member whose first inflated bytes are a WARC header of a document type (``response``,
``conversion``). A noted member that fastwarc never yields was passed over: :func:`read_member` reads it
again (local files: ``os.pread``, which leaves fastwarc's position alone) and :func:`lenient_record` parses
it with duplicate or missing lines tolerated. A member that cannot be read back is a counted skip.
In an uncompressed local WARC, :class:`PlainGaps` checks that each record starts where the one before ended
(its header block plus ``Content-Length``); bytes left between them are parsed the same way. A forward-only
uncompressed stream has neither check: a record fastwarc passes over there stays uncounted.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zlib

from curate.io.payload import ForwardOnly
from curate.io.resync import GZIP_MAGIC

_PROBE = 4096
_TYPE_RE = re.compile(rb"(?:\A|\n)WARC-Type:[ \t]*([A-Za-z]+)", re.IGNORECASE)
_DOC_TYPES = (b"response", b"conversion")


def _member_type(probe: bytes) -> bytes | None:
    """The WARC-Type of the gzip member starting ``probe``, if it starts with a WARC header at all."""
    try:
        head = zlib.decompressobj(31).decompress(probe, 1024)
    except zlib.error:
        return None
    if not head.lstrip().startswith(b"WARC"):
        return None
    m = _TYPE_RE.search(head)
    return m.group(1).lower() if m else None


class MemberTap(ForwardOnly):
    """A pass-through stream that notes where document-type gzip members start (absolute offsets).

    fastwarc is asked for every record type, so nearly every member is yielded and needs no check; with
    ``probe`` (reads PROBE bytes at an offset: local files) only the members it did not yield are inflated
    to learn their type. Without it (a forward-only stream) each member is checked as it streams past.
    """

    def __init__(self, f, pos: int, probe=None):  # noqa: ANN001 - the stream fastwarc would have read
        self.f, self.pos, self.probe = f, pos, probe
        self.buf, self.buf_pos = b"", pos  # bytes not yet scanned (with PROBE bytes of look-ahead)
        self.members: list[int] = []
        self.seen: set[int] = set()  # offsets fastwarc yielded that the scan may not have reached yet

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.pos += len(data)
        self._scan(data)
        return data


    def _scan(self, data: bytes, upto: int | None = None) -> None:
        """Note the members that start before ``upto`` (absolute; default: all but the last PROBE bytes,
        whose members may not be inflatable yet, or everything at the end of the stream)."""
        buf = self.buf + data
        if upto is not None:
            end = max(0, min(len(buf), upto - self.buf_pos))
        else:
            end = len(buf) if not data else max(0, len(buf) - _PROBE)
        i = buf.find(GZIP_MAGIC, 0, end + 2)
        while 0 <= i < end:
            if self.probe is not None:
                if i + 3 >= len(buf) or not buf[i + 3] & 0xE0:  # FLG's reserved bits are zero in gzip
                    self.members.append(self.buf_pos + i)
            elif _member_type(buf[i : i + _PROBE]) in _DOC_TYPES:
                self.members.append(self.buf_pos + i)
            i = buf.find(GZIP_MAGIC, i + 1, end + 2)
        self.buf, self.buf_pos = buf[end:], self.buf_pos + end

    def passed_over(self, below: float, yielded: int | None = None) -> list[int]:
        """Noted members before offset ``below`` that fastwarc did not yield (``yielded``: the offset of the
        record it just yielded). Each is returned once."""
        if yielded is not None:
            self.seen.add(yielded)
        if below > self.buf_pos and below != float("inf"):
            self._scan(b"", upto=int(below))  # a member before a yielded record is whole: it can be probed
        out = [m for m in self.members if m < below and m not in self.seen]
        if self.probe is not None and out:
            out = [m for m in out if _member_type(self.probe(m)) in _DOC_TYPES]
        self.members = [m for m in self.members if m >= below and m not in self.seen]
        self.seen = {s for s in self.seen if s >= self.buf_pos}  # members before buf_pos are noted already
        return out


def local_probe(f):  # noqa: ANN001, ANN201
    """A function reading PROBE bytes at an offset of a local file without moving it, or None."""
    try:
        fd = f.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return lambda pos: os.pread(fd, _PROBE, pos)


class PlainGaps:
    """Finds the bytes fastwarc stepped over between consecutive records of an uncompressed local file."""

    def __init__(self, fd: int, cap: int):
        self.fd, self.cap, self.end = fd, cap, None  # end: where the last record's block ends

    def before(self, pos: int, content_length: str | None) -> tuple[int, bytes] | None:
        """Called with each record fastwarc yields: the bytes between the previous record and this one, with
        their offset, when they hold a WARC header (stray bytes are not a record), or None."""
        gap = self._gap(pos) if self.end is not None and pos > self.end else None
        self.end = None
        if content_length and content_length.strip().isdigit():
            head = os.pread(self.fd, 8192, pos)
            crlf, lf = head.find(b"\r\n\r\n"), head.find(b"\n\n")
            if crlf >= 0 or lf >= 0:
                header_end = lf + 2 if crlf < 0 or (0 <= lf < crlf) else crlf + 4
                self.end = pos + header_end + int(content_length)
        return gap

    def tail(self) -> tuple[int, bytes] | None:
        """The bytes after the last record, when they hold a WARC header."""
        size = os.fstat(self.fd).st_size
        return self._gap(size) if self.end is not None and size > self.end else None

    def _gap(self, until: int) -> tuple[int, bytes] | None:
        n = min(until - self.end, self.cap)
        if not _TYPE_RE.search(os.pread(self.fd, min(n, 65536), self.end)):
            return None
        return self.end, os.pread(self.fd, n, self.end)


def plain_gaps(f, cap: int) -> PlainGaps | None:  # noqa: ANN001
    try:
        return PlainGaps(f.fileno(), cap)
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def read_member(f, pos: int, cap: int) -> bytes | None:  # noqa: ANN001
    """The inflated gzip member at ``pos`` of a local file (at most ``cap`` bytes), or None if unreadable."""
    try:
        fd = f.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    d, out, off = zlib.decompressobj(31), [], pos
    size = 0
    try:
        while not d.eof and size <= cap:
            chunk = os.pread(fd, 1 << 20, off)
            if not chunk:
                return None
            off += len(chunk)
            piece = d.decompress(chunk, cap + 1 - size)
            out.append(piece)
            size += len(piece)
    except (OSError, zlib.error):
        return None
    return b"".join(out)


def lenient_record(data: bytes) -> tuple[dict[str, str], bytes] | None:
    """Parse one WARC record tolerantly: the version line may be missing, header lines repeated or
    malformed (skipped), the length wrong or absent (the record then runs to the end of its member).
    Returns ``(headers with lower-case keys, block)``, or None when there is no header block at all."""
    data = data.lstrip()
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return None
    end, sep = (lf, 2) if crlf < 0 or (0 <= lf < crlf) else (crlf, 4)
    headers: dict[str, str] = {}
    lengths: list[int] = []
    for raw in data[:end].split(b"\n"):
        line = raw.strip().decode("utf-8", "replace")
        if not line or line.startswith("WARC/"):
            continue
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "content-length":
            if value.isdigit():
                lengths.append(int(value))
            continue
        headers.setdefault(key, value)
    if "warc-type" not in headers:
        return None
    rest = data[end + sep :]
    fitting = [n for n in lengths if n <= len(rest)]
    exact = [n for n in fitting if not rest[n:].strip()]
    if exact:
        block = rest[: exact[0]]
    elif fitting:
        block = rest[: max(fitting)]
    else:
        block = rest[:-4] if rest.endswith(b"\r\n\r\n") else rest
    return headers, block


def record_id(headers: dict[str, str], source: str, pos: int) -> str:
    rid = headers.get("warc-record-id")
    return rid or "warc:" + hashlib.sha1(f"{source} {pos}".encode()).hexdigest()
