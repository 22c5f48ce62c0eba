"""ARC files (v1 and v2), parsed by hand: fastwarc reads only WARC, and no maintained ARC reader is among
our dependencies. Same document and skip dicts as :func:`curate.io.warc.read_warc`."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator

from curate.io.charset import canonical_charset
from curate.io.payload import (
    MALFORMED,
    TOO_LARGE,
    TRUNCATED,
    ReadLimits,
    _payload_doc,
    _precheck,
    _skip,
    _Unclosing,
)

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

