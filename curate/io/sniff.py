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


def archive_kind(head: bytes) -> str:
    """'warc', 'arc', 'empty' or 'garbage': what the WARC reader makes of a file's first bytes."""
    if head[:4] in (b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18") and not _looks_like_json(head):
        return "warc"  # zstd (unless it holds JSON lines), lz4: fastwarc reads these itself
    start = _inflate_head(head)
    if start is None:
        return "garbage"
    start = start.lstrip()
    if not start:
        return "empty"
    if start.startswith(b"WARC/"):
        return "warc"
    if start.startswith(b"filedesc://") or _ARC_HEADER_RE.match(start):
        return "arc"
    return "garbage"


def _looks_like_json(head: bytes) -> bool:
    start = _inflate_head(head)
    return bool(start) and _JSON_LINE_RE.match(start.removeprefix(b"\xef\xbb\xbf")) is not None


def sniff_kind(head: bytes) -> str | None:
    """'warc' (WARC, WET or ARC), 'parquet', 'jsonl', or None, from a file's first bytes (64 KB is plenty)."""
    if head[:4] == b"PAR1":
        return "parquet"
    if _looks_like_json(head):
        return "jsonl"
    if archive_kind(head) in ("warc", "arc") and head[:4] != b"\x04\x22\x4d\x18":
        return "warc"
    return None
