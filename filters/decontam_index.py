"""The n-gram index of evaluation sets behind the ``decontaminate`` stage: normalisation, hashing, eval files.

**Normalisation.** The dedup normaliser's (:mod:`curate.dedup.normalize`: lowercase, accents stripped,
punctuation and symbols turned into spaces, apostrophes removed, whitespace folded), with one difference:
**digits are kept**. Dedup folds every digit run to ``0`` so page counters do not hide a duplicate; here that
would make any run of 13 numbers (a table, a score sheet) match any other, and a GSM8K item with other
numbers is another item. Non-ASCII text goes through the dedup normaliser's own codec handler, so both
stages agree on every letter.

**Hashing.** Every word n-gram of a batch of texts is hashed in one vectorised pass, as the MinHash shingler
does (:mod:`curate.dedup.signature`): a polynomial prefix hash over the joined normalised bytes gives the
hash of the bytes from the start of word i to the end of word i+n-1, and murmur3's finaliser spreads it to
64 bits. Exact 64-bit keys in a sorted array, not a Bloom filter: with 10^6 keys, a document n-gram matches a
key it is not equal to with probability 10^6 / 2^64 ≈ 5·10^-14.

**Short items.** An item with fewer than ``ngram`` words but at least ``min_item_words`` is indexed whole
(its full word sequence, as one key) and matches a document that contains that whole sequence; shorter items
are not indexed (counted as ``items_too_short``): "Paris" or "True" would match everything.
"""

from __future__ import annotations

import glob as _glob
import io
import json
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np

from curate.dedup import normalize
from curate.dedup.signature import fmix64

_P = np.uint64(0x100000001B3)  # odd, so invertible mod 2^64
_SEP = b"\x01"  # never produced by the normaliser: separates texts in a batch
_CHUNK_BYTES = 4_000_000  # bounds the prefix arrays (8 bytes per text byte each)
_TABLE = bytearray(normalize._ASCII_TABLE)
for _d in range(10):
    _TABLE[48 + _d] = 48 + _d  # keep digits (see the module docstring)
_TABLE = bytes(_TABLE)
_POW: dict[str, np.ndarray] = {}


def normalize_words(text: str) -> bytes:
    """The normalised UTF-8 words of ``text`` joined by single spaces (see the module docstring)."""
    return b" ".join(text.encode("ascii", normalize._ERRORS).translate(_TABLE, normalize._APOSTROPHES).split())


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^k and P^-k (mod 2^64) for k < n, cached per process and grown geometrically."""
    if "pow" not in _POW or len(_POW["pow"]) < n:
        size = max(n, 2 * len(_POW.get("pow", ())), 1 << 16)
        with np.errstate(over="ignore"):
            for key, base in (("pow", _P), ("inv", np.uint64(pow(int(_P), -1, 1 << 64)))):
                a = np.full(size, base, dtype=np.uint64)
                a[0] = 1
                _POW[key] = np.cumprod(a)
    return _POW["pow"][:n], _POW["inv"][:n]


@dataclass
class Grams:
    """Word n-grams of a batch of texts: the text, the first word's index in it, length in words, hash."""

    doc: np.ndarray
    first: np.ndarray
    words: np.ndarray
    hash: np.ndarray

    @staticmethod
    def concat(parts: list[Grams]) -> Grams:
        if not parts:
            z = np.zeros(0, np.int64)
            return Grams(z, z, z, np.zeros(0, np.uint64))
        return Grams(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("doc", "first", "words", "hash")))


def _grams_chunk(texts: list[str], lengths: list[int], whole_below: int, offset: int) -> Grams:
    parts = [normalize_words(t) for t in texts]
    buf = np.frombuffer(_SEP.join(parts) + _SEP, dtype=np.uint8)
    word = buf > 32  # normalised text holds only word bytes, single spaces and the separators
    edge = np.diff(np.concatenate([[0], word.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    wdoc = np.searchsorted(np.flatnonzero(buf == _SEP[0]), starts)
    nwords = np.bincount(wdoc, minlength=len(texts))
    doc_first = np.concatenate([[0], np.cumsum(nwords)[:-1]])
    pw, iv = _powers(len(buf) + 1)
    with np.errstate(over="ignore"):
        pref = np.zeros(len(buf) + 1, dtype=np.uint64)
        np.cumsum(buf.astype(np.uint64) * pw[: len(buf)], out=pref[1:])
    out = []
    spans = []
    for k in lengths:  # every k-gram inside one text
        m = len(starts) - k + 1
        if m > 0:
            i = np.flatnonzero(wdoc[:m] == wdoc[k - 1 :])
            spans.append((i, i + k - 1, np.full(len(i), k)))
    if whole_below:  # texts shorter than whole_below words: one key, all their words
        d = np.flatnonzero((nwords > 0) & (nwords < whole_below))
        spans.append((doc_first[d], doc_first[d] + nwords[d] - 1, nwords[d]))
    for i, j, k in spans:
        s, e = starts[i], ends[j]
        with np.errstate(over="ignore"):
            h = fmix64((pref[e] - pref[s]) * iv[s])
        out.append(Grams(wdoc[i] + offset, i - doc_first[wdoc[i]], k.astype(np.int64), h))
    return Grams.concat(out)


def text_grams(texts: list[str], lengths: list[int], whole_below: int = 0) -> Grams:
    """Hashes of every ``k``-gram (``k`` in ``lengths``) of every text; with ``whole_below``, also one hash of
    the whole word sequence of each text with fewer words than that. Chunked to bound memory."""
    out, i = [], 0
    while i < len(texts):
        j, size = i, 0
        while j < len(texts) and (j == i or size + len(texts[j]) <= _CHUNK_BYTES):
            size += len(texts[j])
            j += 1
        out.append(_grams_chunk(texts[i:j], lengths, whole_below, i))
        i = j
    return Grams.concat(out)


class NgramIndex:
    """Sorted unique 64-bit keys and, per key, a bitmask of the benchmarks that hold it."""

    def __init__(self, keys: np.ndarray, masks: np.ndarray, meta: dict[str, Any]) -> None:
        self.keys, self.masks, self.meta = keys, masks, meta
        self.benchmarks: list[str] = meta["benchmarks"]
        self.lengths: list[int] = meta["lengths"]  # gram lengths a document is hashed at

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.masks.nbytes)

    def lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of ``h`` are keys, their benchmark masks)."""
        if not len(self.keys) or not len(h):
            return np.zeros(len(h), bool), np.zeros(0, self.masks.dtype)
        pos = np.searchsorted(self.keys, h)
        pos[pos == len(self.keys)] = 0
        hit = self.keys[pos] == h
        return hit, self.masks[pos[hit]]

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, keys=self.keys, masks=self.masks, meta=np.frombuffer(json.dumps(self.meta).encode(), np.uint8))
        return buf.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> NgramIndex:
        z = np.load(io.BytesIO(data))
        return NgramIndex(z["keys"], z["masks"], json.loads(z["meta"].tobytes()))


def _values(v: Any) -> list[str]:
    """The text of a field value: strings as is, numbers as text, lists and mappings flattened."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        v = v["text"] if "text" in v else list(v.values())
    if isinstance(v, (list, tuple)):
        return [s for x in v for s in _values(x)]
    return [str(v)]


def _rows(fs: Any, path: str, fields: list[str]) -> list[dict[str, Any]] | list[str]:
    """Rows of a JSONL or Parquet file (dicts), or the non-empty lines of any other file (strings)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            return pf.read(columns=[c for c in fields if c in pf.schema_arrow.names]).to_pylist()
    comp = fsspec.utils.infer_compression(path)
    with fs.open(path, "rb", compression=comp) as fh:
        lines = [ln for ln in fh.read().decode("utf-8").split("\n") if ln.strip()]
    stem = path[: -len(path.rsplit(".", 1)[-1]) - 1] if comp else path
    return [json.loads(ln) for ln in lines] if stem.endswith((".jsonl", ".json")) else lines


def read_items(path: str, fields: list[str], where: str) -> list[str]:
    """One text per evaluation item of the files at ``path`` (a path, glob or fsspec URL): JSONL or Parquet
    rows (``fields`` joined in order), or the non-empty lines of any other file. Raises ValueError, naming
    ``where``, when nothing matches or a field is in no row."""
    fs, root = fsspec.core.url_to_fs(path)
    files = sorted(fs.glob(root)) if _glob.has_magic(root) else ([root] if fs.exists(root) else [])
    if not files:
        raise ValueError(f"{where}.path: no file matches {path!r}")
    items: list[str] = []
    found: set[str] = set()
    for f in files:
        try:
            rows = _rows(fs, f, fields)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{where}.path: {f} cannot be read: {e}") from e
        for row in rows:
            if isinstance(row, str):
                items.append(row)
                found.update(fields)
                continue
            parts = [s for c in fields if c in row for s in _values(row[c])]
            found.update(c for c in fields if row.get(c) is not None)
            if parts:
                items.append(" ".join(parts))
    missing = [c for c in fields if c not in found]
    if missing:
        raise ValueError(f"{where}.fields: {', '.join(missing)} in no row of {path!r}")
    return items


def build_index(benchmarks: dict[str, tuple[str, list[str]]], ngram: int, min_item_words: int
                ) -> tuple[NgramIndex, dict[str, Any]]:
    """Read every benchmark's items and hash them (see the module docstring); return the index and a summary."""
    names = list(benchmarks)
    all_h, all_m, short_lengths = [], [], set()
    summary: dict[str, Any] = {"benchmarks": {}}
    for b, name in enumerate(names):
        path, fields = benchmarks[name]
        items = read_items(path, fields, f"benchmarks.{name}")
        whole = ngram if min_item_words < ngram else 0
        g = text_grams(items, [ngram], whole_below=whole)
        nwords = np.array([len(normalize_words(t).split()) for t in items], dtype=np.int64)
        short = g.words < ngram
        keep = ~short | (g.words >= min_item_words)
        short_lengths.update(np.unique(g.words[short & keep]).tolist())
        h = np.unique(g.hash[keep])
        all_h.append(h)
        all_m.append(np.full(len(h), 1 << b, dtype=np.uint64))
        summary["benchmarks"][name] = {
            "items": len(items),
            "items_whole": int(((nwords >= min_item_words) & (nwords < ngram)).sum()),
            "items_too_short": int((nwords < min(min_item_words, ngram)).sum()),
            "ngrams": len(h),
        }
    h = np.concatenate(all_h) if all_h else np.zeros(0, np.uint64)
    m = np.concatenate(all_m) if all_m else np.zeros(0, np.uint64)
    order = np.argsort(h, kind="stable")
    h, m = h[order], m[order]
    first = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]])) if len(h) else np.zeros(0, np.int64)
    keys = h[first]
    masks = np.bitwise_or.reduceat(m, first) if len(h) else m
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if len(names) <= np.iinfo(t).bits)
    meta = {"benchmarks": names, "ngram": ngram, "lengths": sorted({ngram, *short_lengths})}
    index = NgramIndex(keys, masks.astype(dtype), meta)
    summary.update(keys=len(keys), index_bytes=index.nbytes, lengths=meta["lengths"])
    return index, summary
