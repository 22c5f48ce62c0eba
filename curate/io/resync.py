"""Find the next WARC record after damage, so that one bad record costs that record and not the rest of the file.

fastwarc stops at the first record it cannot parse or inflate. Gzip members are independent (Common Crawl
writes one per record), so the reader looks for the next member whose first inflated bytes are a WARC
header and starts a new iterator there; in an uncompressed file it looks for the next ``WARC/x.y`` line.
A candidate is checked by inflating its first bytes, so gzip magic that happens to occur inside compressed
data is not taken for a member.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate
SCAN_BLOCK = 1 << 20
_PROBE = 8192  # bytes after a candidate that are enough to inflate its first header line
_PLAIN_RE = re.compile(rb"(?:\A|\n)(WARC/\d\.\d+\r?\n)")
_PLAIN_START_RE = re.compile(rb"WARC/\d\.\d+\r?\n[A-Za-z][\w-]*\s*:")


def is_record_start(probe: bytes, gz: bool) -> bool:
    """True if ``probe`` (bytes from a candidate offset) starts a gzip member / plain record of WARC."""
    if not gz:
        return _PLAIN_START_RE.match(probe) is not None
    try:
        out = zlib.decompressobj(31).decompress(probe, 64)
    except zlib.error:
        return False
    return out.lstrip().startswith(b"WARC/")


def _candidates(buf: bytes, start: int, end: int, gz: bool):  # noqa: ANN202 - generator of offsets
    if gz:
        i = buf.find(GZIP_MAGIC, start, end + len(GZIP_MAGIC) - 1)
        while 0 <= i < end:
            yield i
            i = buf.find(GZIP_MAGIC, i + 1, end + len(GZIP_MAGIC) - 1)
    else:
        for m in _PLAIN_RE.finditer(buf, start):
            if m.start(1) >= end:
                return
            yield m.start(1)


def _gzip_header(head: bytes) -> bool:
    """A plausible gzip member header: magic, deflate, no reserved flag bits, a known XFL (writers put
    all sorts of values in the OS byte)."""
    return len(head) >= 10 and not head[3] & 0xE0 and head[8] in (0, 2, 4)


def next_record_start(
    read: Callable[[int], bytes], pos: int, gz: bool
) -> tuple[tuple[int, bytes] | None, int]:
    """Scan forward with ``read`` (a stream positioned at absolute offset ``pos``) for the next record start.

    Returns ``(found, passed)``. ``found`` is ``(offset, bytes)``, the absolute offset of the record and the
    bytes already read from there (a forward-only stream continues after them), or None when the file ends
    first; ``passed`` counts the gzip members on the way that have a proper header but do not inflate to a
    WARC record (damaged members: each one a lost record).
    """
    buf, base, eof, passed = b"", pos, False, 0
    while True:
        if not eof:
            chunk = read(SCAN_BLOCK)
            eof = not chunk
            buf += chunk
        end = len(buf) if eof else max(0, len(buf) - _PROBE)  # a candidate needs its probe bytes read
        for i in _candidates(buf, 0, end, gz):
            if is_record_start(buf[i : i + _PROBE], gz):
                return (base + i, buf[i:]), passed
            passed += gz and _gzip_header(buf[i : i + 10])
        if eof:
            return None, passed
        buf, base = buf[end:], base + end
