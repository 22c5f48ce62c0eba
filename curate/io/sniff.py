"""Tell an input's kind from its first bytes, for files whose name does not say (issue 14)."""

from __future__ import annotations

import re
import zlib

import zstandard

_ARC_HEADER_RE = re.compile(rb"^\S+ \S+ \d{14}\d* \S+ -?\w+\r?\n")
_JSON_LINE_RE = re.compile(rb"\s*\{\s*(\"|\})")


def _inflate_head(head: bytes) -> bytes | None:
    """The first decompressed bytes of gzip / zstd / bzip2 data, the bytes themselves if not compressed."""
    try:
        if head[:2] == b"\x1f\x8b":
            return zlib.decompressobj(31).decompress(head, 4096)
        if head[:4] == b"\x28\xb5\x2f\xfd":
            return zstandard.ZstdDecompressor().decompressobj().decompress(head)[:4096]
        if head[:3] == b"BZh":
            import bz2

            return bz2.BZ2Decompressor().decompress(head, 4096)
    except (zlib.error, zstandard.ZstdError, OSError, ValueError, EOFError):
        return None
    return head


def sniff_kind(head: bytes) -> str | None:
    """'warc' (WARC, WET or ARC), 'parquet', 'jsonl', or None, from a file's first bytes (64 KB is plenty)."""
    if head[:4] == b"PAR1":
        return "parquet"
    start = _inflate_head(head)
    if not start:
        return None
    start = start.removeprefix(b"\xef\xbb\xbf").lstrip()
    if start.startswith(b"WARC/") or start.startswith(b"filedesc://") or _ARC_HEADER_RE.match(start):
        return "warc"
    if _JSON_LINE_RE.match(start):
        return "jsonl"
    return None
