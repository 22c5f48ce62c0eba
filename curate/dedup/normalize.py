"""Text normalisation shared by every dedup stage (exact, line, MinHash).

``normalize_bytes`` maps a text to the canonical form that the dedup hashes see: lowercase, diacritics
stripped (NFKD, combining marks removed), punctuation and symbols turned into spaces (apostrophes removed, so
"don't" and "dont" agree), every run of digits folded to one ``0`` (so "2023" and "17" agree — page
counters and dates should not hide a duplicate) and whitespace folded to single spaces, no leading or trailing
space. It returns UTF-8 bytes because the MinHash shingler works on a byte array.

The ASCII fast path is one ``bytes.translate`` plus two regex folds; non-ASCII text first goes through
Unicode decomposition and a regex over non-word characters.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import xxhash

# ASCII table: letters lowercased, digits -> "0", everything else that is not a letter or digit -> space.
_ASCII_TABLE = bytearray(range(256))
for _c in range(128):
    ch = chr(_c)
    if ch.isalpha():
        _ASCII_TABLE[_c] = ord(ch.lower())
    elif ch.isdigit():
        _ASCII_TABLE[_c] = ord("0")
    else:
        _ASCII_TABLE[_c] = ord(" ")
_ASCII_TABLE = bytes(_ASCII_TABLE)
_APOSTROPHES = b"'`"

_DIGIT_RUN = re.compile(rb"0{2,}")
_DELETED = {"\u2018", "\u2019", "\u02bc", "\u2032"}  # typographic apostrophes, like "'"
_RUN_CACHE: dict[str, str] = {}


def _fix_run(run: str) -> str:
    """Normalise one run of non-ASCII characters (cached: the same few runs recur across documents)."""
    out = _RUN_CACHE.get(run)
    if out is None:
        chars = []
        for c in unicodedata.normalize("NFKD", run).lower():
            if unicodedata.combining(c) or c in _DELETED:
                continue  # accents are stripped
            if c.isdigit():
                chars.append("0")
            elif c.isalnum() or c.isascii():  # ASCII ones go through the byte table afterwards
                chars.append(c)
            else:
                chars.append(" ")
        out = "".join(chars)
        if len(_RUN_CACHE) > 200_000:
            _RUN_CACHE.clear()
        _RUN_CACHE[run] = out
    return out


def _encode_run(exc: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return _fix_run(exc.object[exc.start : exc.end]).encode("utf-8"), exc.end


_ERRORS = "curate_dedup_normalize"
codecs.register_error(_ERRORS, _encode_run)


def translate_bytes(text: str) -> bytes:
    """Lowercased, accent-stripped UTF-8 bytes with punctuation as spaces and digits as ``0``, not yet folded.

    The MinHash shingler folds digit runs and spaces itself, vectorised over a whole batch.
    """
    # Only the non-ASCII runs need Unicode work: the ASCII codec finds them in C and hands each run to
    # ``_encode_run``; the whole result then goes through one byte-table translate.
    return text.encode("ascii", _ERRORS).translate(_ASCII_TABLE, _APOSTROPHES)


def normalize_bytes(text: str) -> bytes:
    """The canonical UTF-8 bytes of ``text`` for dedup hashing (see the module docstring)."""
    b = translate_bytes(text)
    if b"00" in b:
        b = _DIGIT_RUN.sub(b"0", b)
    return b" ".join(b.split())


def normalize_text(text: str) -> str:
    """``normalize_bytes`` as a string (for display and for the simple API)."""
    return normalize_bytes(text).decode("utf-8")


def content_hash(text: str) -> str:
    """xxh3-128 hex digest of the normalised text: the exact-dedup key."""
    return xxhash.xxh3_128_hexdigest(normalize_bytes(text))


def line_hashes(text: str, normalize: bool = True) -> list[tuple[int, int]]:
    """``(line_index, xxh3-64 of the line)`` for each line that is not blank.

    ``normalize``: hash the normalised form (CCNet: case, accents, punctuation and digits folded), so lines
    that differ only in a number or in case are the same line; else hash the line exactly as written (only
    its trailing whitespace stripped).
    """
    out = []
    h = xxhash.xxh3_64_intdigest
    for i, line in enumerate(text.split("\n")):
        nb = normalize_bytes(line) if normalize else line.rstrip().encode("utf-8", "surrogatepass")
        if nb.strip():
            out.append((i, h(nb)))
    return out
