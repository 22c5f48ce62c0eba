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
- Damage costs the damaged record, not the rest of the file. fastwarc stops at a record it cannot parse or
  inflate; the reader counts one ``read_corrupt_record`` and starts a new iterator at the next gzip member
  (or ``WARC/`` line) that inflates to a WARC header (``resync.py``; a remote file goes back with a range
  request). A record fastwarc steps over without a word (no ``WARC/1.0`` line, a mangled header) is found
  by checking member starts or record extents and read leniently, or counted (``missed.py``).
"""

from __future__ import annotations

import gzip
import io
import posixpath
import zlib
from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from curate.errors import RetryableError, ShardError
from curate.io.arc import _arc_record as _http_block_doc
from curate.io.arc import _read_arc
from curate.io.missed import MemberTap, lenient_record, local_probe, plain_gaps, read_member, record_id
from curate.io.payload import (  # noqa: F401 - SKIP_REASONS, ReadLimits… are part of this module's API
    _CONVERSION,
    _DOC_TYPES,
    _HEAD_BYTES,
    CORRUPT,
    EMPTY,
    HTML_TYPES,
    MALFORMED,
    SKIP_REASONS,
    TOO_LARGE,
    TRUNCATED,
    ReadLimits,
    _payload_doc,
    _precheck,
    _Prefixed,
    _skip,
    _Unclosing,
    decode_http_body,
)
from curate.io.remote import open_with_retries
from curate.io.resync import GZIP_MAGIC, next_record_start
from curate.io.sniff import archive_kind

_ANY = WarcRecordType.any_type

__all__ = ["HTML_TYPES", "SKIP_REASONS", "ReadLimits", "decode_http_body", "read_warc"]

def read_warc(path: str, source: str | None = None, limits: ReadLimits | None = None) -> Iterator[dict]:
    """Stream documents from one WARC / ARC / WET file (gzip or plain, local path or fsspec URL incl. http(s)://).

    The format is detected from the first bytes (gzip magic, ``WARC/``, ARC header), not the extension.
    ``source`` defaults to the file's base name. A record that cannot be parsed or inflated is one
    ``read_corrupt_record`` skip and reading goes on at the next record (the next gzip member); a file ending
    mid-record yields one ``read_truncated_file`` skip after the documents before the cut; a file that is not
    an archive at all yields one ``read_malformed_record`` skip.
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
        try:
            head = f.read(_HEAD_BYTES)
        except OSError as exc:
            raise ShardError(f"{path}: cannot read: {exc!r}") from exc
        seekable = f.seekable()
        if seekable:
            f.seek(0)
            stream = f
        else:
            stream = _Prefixed(head, f)
        kind = archive_kind(head)
        if kind == "warc" or (kind == "garbage" and head[:3] == GZIP_MAGIC):  # first member damaged: resync
            plain = head.lstrip()[:5] == b"WARC/"  # not gzip, zstd or lz4
            yield from _read_warc(f, stream, source, limits, gz=head[:2] == b"\x1f\x8b", plain=plain)
        elif kind == "arc":
            yield from _read_arc(stream, source, limits, gz=head[:2] == b"\x1f\x8b")
        elif kind == "garbage":
            yield _skip(None, None, None, source, MALFORMED)


# ---------------------------------------------------------------------------------------------- WARC / WET


class _Damaged(Exception):
    """A record whose body could not be read: the iterator behind it is lost, resynchronise."""

    def __init__(self, doc: dict):
        self.doc = doc


def _read_warc(f, stream, source: str, limits: ReadLimits, gz: bool, plain: bool) -> Iterator[dict]:  # noqa: ANN001
    """Iterate with fastwarc; after a record it cannot parse or inflate, count it and restart at the next one.

    ``f`` is the opened file, ``stream`` what fastwarc reads first (``f`` itself when seekable). One skip is
    counted per damaged record: after a failure past the last good record, the first restart usually begins
    at the very member that failed, so its failing again adds no second count; any further one does.
    """
    seekable = f.seekable()
    seg_start, last_pos, produced, ever, retry_is_same = 0, 0, True, False, False
    while True:
        # quirks_mode accepts LF-only headers and status lines without a reason phrase (real crawler output)
        tap = MemberTap(stream, seg_start, local_probe(f)) if gz else None
        gaps = plain_gaps(f, _cap(limits)) if plain and seekable else None
        # every record type: each member fastwarc yields is one the tap need not inflate to check
        it = ArchiveIterator(tap or stream, record_types=_ANY, parse_http=True, quirks_mode=True)
        damaged: dict | None = None
        failure: BaseException | None = None
        while True:
            try:
                rec = next(it)
            except StopIteration:
                if tap is not None:  # members after the last record that fastwarc passed over
                    for pos in tap.passed_over(float("inf")):
                        yield _passed_over(read_member(f, pos, _cap(limits)), pos, source, limits)
                break
            except RetryableError:
                raise
            except BaseException as exc:  # noqa: BLE001 - fastwarc raises OSError, or panics (PanicException)
                if not _is_parse_failure(exc):
                    raise
                failure = exc
                break
            last_pos, produced, ever = rec.stream_pos, True, True
            if tap is not None:
                for pos in tap.passed_over(last_pos, yielded=last_pos):
                    yield _passed_over(read_member(f, pos, _cap(limits)), pos, source, limits)
            elif gaps is not None and (gap := gaps.before(last_pos, rec.headers.get("Content-Length"))):
                yield _passed_over(gap[1], gap[0], source, limits)
            if not rec.record_type & _DOC_TYPES:
                continue
            try:
                doc = _warc_record(rec, source, limits)
            except _Damaged as exc:
                damaged = exc.doc
                break
            if doc is not None:
                yield doc
        if failure is None and damaged is None:
            # fastwarc silently drops a last record whose headers or gzip member are cut: check the tail
            if seekable and not _tail_is_complete(f, last_pos):
                yield _skip(None, None, None, source, TRUNCATED)
            elif gaps is not None and (gap := gaps.tail()):
                yield _passed_over(gap[1], gap[0], source, limits)
            return
        found, passed = _resync(f, max(seg_start, last_pos) + 1, gz)
        if damaged is not None:
            damaged["_skip"] = CORRUPT if found else TRUNCATED
            yield damaged
            retry_is_same = False
        elif produced or not retry_is_same:
            if found is None:  # nothing after: a cut file, or (no record at all) not an archive
                reason = TRUNCATED if _says_truncated(failure) else CORRUPT if ever else MALFORMED
            else:
                reason = CORRUPT
            yield _skip(None, None, None, source, reason)
            # the failing member is unknown: probably the first damaged one the scan passed, or the one it found
            passed = max(0, passed - 1) if produced else passed
            retry_is_same = produced and passed == 0
        else:
            retry_is_same = False
        for _ in range(passed):  # damaged members the scan stepped over: one lost record each
            yield _skip(None, None, None, source, CORRUPT)
        if found is None:
            return
        seg_start, rest = found
        if seekable:
            f.seek(seg_start)
            stream = f
        else:
            stream = _Prefixed(rest, f, seg_start)
        produced = False


def _cap(limits: ReadLimits) -> int:
    return limits.max_payload_bytes + 2**20  # the largest body read, plus room for its headers


def _passed_over(data: bytes | None, pos: int, source: str, limits: ReadLimits) -> dict:
    """The bytes of a record at ``pos`` that fastwarc did not yield (its header is damaged): read it
    leniently, or count it (``read_malformed_record``)."""
    parsed = lenient_record(data) if data else None
    if parsed is None:
        return _skip(None, None, None, source, MALFORMED)
    headers, block = parsed
    rid = record_id(headers, source, pos)
    url = headers.get("warc-target-uri", "").strip("<>") or None
    date = headers.get("warc-date")
    if len(block) > limits.max_payload_bytes:
        return _skip(rid, url, date, source, TOO_LARGE)
    if headers["warc-type"].lower() == "conversion":
        doc = {"id": rid, "url": url, "date": date, "source": source, "content_type": "text/plain"}
        return {**doc, "charset": None, "text": block.decode("utf-8", "replace")}
    if not url or not block.startswith(b"HTTP/"):
        return _skip(rid, url, date, source, MALFORMED)
    return _http_block_doc(rid, url, date, source, "", block, limits)


def _is_parse_failure(exc: BaseException) -> bool:
    """fastwarc's errors on bad bytes: OSError / ValueError, or a Rust panic (a BaseException)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _resync(f, pos: int, gz: bool) -> tuple[tuple[int, bytes] | None, int]:  # noqa: ANN001
    """The next record start at or after ``pos`` (None: end of file, or a stream that cannot go back) and
    the number of damaged members passed on the way (see :func:`~curate.io.resync.next_record_start`)."""
    try:
        if f.seekable():
            f.seek(pos)
        elif hasattr(f, "reopen_at"):
            f.reopen_at(pos)
        else:
            return None, 0
        return next_record_start(f.read, pos, gz)
    except RetryableError as exc:
        if isinstance(exc.__cause__, ValueError):  # a server without range requests: no way back
            return None, 0
        raise
    except (OSError, ValueError):
        return None, 0


def _says_truncated(exc: BaseException | None) -> bool:
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
        body = _read_body(rec, n, url, date, source)
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
    body = _read_body(rec, n, url, date, source)
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


def _read_body(rec, n: int, url: str | None, date: str | None, source: str) -> bytes:  # noqa: ANN001
    """The record's ``n`` body bytes; a read that fails or ends short raises :class:`_Damaged`."""
    try:
        body = rec.reader.read(n)
    except Exception:  # noqa: BLE001 - a corrupt gzip member surfaces here or at the next record
        body = None
    if body is None or len(body) < n:
        raise _Damaged(_skip(rec.record_id, url, date, source, CORRUPT))
    return body


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


