"""Decode HTML bytes to text: BOM, then UTF-8 if the bytes are valid UTF-8, then the declared charset
(HTTP header, else ``<meta>``), then detection.

Why UTF-8 comes before the declaration: on the real web (and in our benchmark set, see
``data/warc/bench/SOURCE.md``) many pages were converted to UTF-8 while the header or ``<meta>`` still names
the old single-byte charset; a legacy-encoded page that is *also* valid UTF-8 is vanishingly rare once it
holds a few non-ASCII bytes. The exceptions are 7-bit and 16-bit encodings (ISO-2022-*, UTF-16/32),
which are valid UTF-8 byte-wise but mean something else: a declaration of those is trusted first.

resiliparse does the heavy lifting (``map_encoding_to_html5`` validates and canonicalises labels, including
junk such as ``x-user-defined``; ``detect_encoding`` runs uchardet; ``bytes_to_str`` decodes with fallbacks).
The ``<meta>`` scan is hand-written because resiliparse's ``from_html_meta`` only looks at the first 1024
bytes, while real pages often put the tag after long ``<head>`` scripts; we scan the first 4 KB.
"""

from __future__ import annotations

import codecs
import re

from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

META_SCAN_BYTES = 4096
# A page whose declared charset leaves more than this share of U+FFFD was mislabelled: detect instead.
MAX_REPLACEMENT_RATIO = 0.01

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings whose bytes can pass as UTF-8 but do not mean UTF-8: a declaration of these wins.
_NOT_UTF8_COMPATIBLE = ("iso2022", "utf-16", "utf-32", "utf_16", "utf_32", "utf-7", "hz")

_META_RE = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{1,40})""", re.IGNORECASE)


def canonical_charset(label: str | None) -> str | None:
    """A charset label (header or ``<meta>``) as a Python codec name, or None for junk/unknown labels."""
    if not label:
        return None
    label = label.strip().strip("\"'").strip()
    if not label:
        return None
    return map_encoding_to_html5(label, fallback_utf8=False)


def meta_charset(payload: bytes) -> str | None:
    """The charset named by a ``<meta charset>`` or ``http-equiv`` tag in the first 4 KB, if valid."""
    m = _META_RE.search(payload, 0, META_SCAN_BYTES)
    return canonical_charset(m.group(1).decode("ascii")) if m else None


def _decode(payload: bytes, charset: str) -> str:
    return bytes_to_str(payload, charset, errors="replace", fallback_encodings=(), strip_bom=True)


def _bytes_fit(payload: bytes, declared: str) -> bool:
    """Whether the bytes can be in a declared 7-/16-bit charset: UTF-16/32 markup is full of NUL bytes,
    ISO-2022 / UTF-7 / HZ are 7-bit. A UTF-8 page declared ``utf-16`` fails this and is read as UTF-8."""
    head = payload[:4096]
    if declared.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
        return head.count(0) * 8 >= len(head)
    return head.isascii()


def decode_html(payload: bytes, http_charset: str | None) -> tuple[str, str]:
    """Decode an HTML body; returns ``(text, charset_used)``. Never raises: undecodable bytes become U+FFFD.

    Order: byte-order mark; a declared 7-/16-bit charset that the bytes fit (NUL bytes for UTF-16/32, no
    8-bit bytes for ISO-2022 and friends); valid UTF-8; the charset declared by the HTTP
    header (``http_charset``), else by ``<meta>`` in the first 4 KB; uchardet detection. A declared charset
    that leaves more than 1 % replacement characters is taken as a mislabel and detection decides.
    """
    for bom, enc in _BOMS:
        if payload.startswith(bom):
            return payload[len(bom) :].decode(enc, "replace"), enc

    declared = canonical_charset(http_charset) or meta_charset(payload)
    if declared and declared.startswith(_NOT_UTF8_COMPATIBLE) and _bytes_fit(payload, declared):
        return _decode(payload, declared), declared
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    if declared:
        text = _decode(payload, declared)
        if text.count("\ufffd") <= MAX_REPLACEMENT_RATIO * len(text):
            return text, declared
    try:
        detected = detect_encoding(payload) or "cp1252"
        return _decode(payload, detected), detected
    except (LookupError, UnicodeError):  # a codec uchardet names but Python lacks: bytes survive as cp1252
        return payload.decode("cp1252", "replace"), "cp1252"
