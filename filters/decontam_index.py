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
key it is not equal to with probability about 10^6 / 2^64 ≈ 5·10^-14 (polynomial hashes mod 2^64 have known
adversarial collisions, e.g. Thue–Morse strings; natural text does not hit them). The tests check the counts
against plain Python sets of word tuples.

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


class _Chunk:
    """A batch of texts, normalised and joined: word spans, the text of each word, a prefix hash of the bytes."""

    def __init__(self, texts: list[str]) -> None:
        buf = np.frombuffer(_SEP.join([normalize_words(t) for t in texts]) + _SEP, dtype=np.uint8)
        word = buf > 32  # normalised text holds only word bytes, single spaces and the separators
        edge = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        self.starts, self.ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        self.wdoc = np.searchsorted(np.flatnonzero(buf == _SEP[0]), self.starts)
        self.nwords = np.bincount(self.wdoc, minlength=len(texts))
        self.doc_first = np.concatenate([[0], np.cumsum(self.nwords)[:-1]]).astype(np.int64)
        pw, self.iv = _powers(len(buf) + 1)
        with np.errstate(over="ignore"):
            self.pref = np.zeros(len(buf) + 1, dtype=np.uint64)
            np.cumsum(buf.astype(np.uint64) * pw[: len(buf)], out=self.pref[1:])

    def span_hash(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The hash of words ``i..j`` (chunk word indices): the same bytes give the same hash anywhere."""
        s, e = self.starts[i], self.ends[j]
        with np.errstate(over="ignore"):
            return fmix64((self.pref[e] - self.pref[s]) * self.iv[s])

    def grams(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(first word, hash) of every ``k``-gram that lies inside one text."""
        m = len(self.starts) - k + 1
        if m <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        i = np.flatnonzero(self.wdoc[:m] == self.wdoc[k - 1 :])
        return i, self.span_hash(i, i + k - 1)


def _chunks(texts: list[str]) -> list[tuple[int, _Chunk]]:
    """(offset, chunk) over ``texts`` in chunks of about ``_CHUNK_BYTES`` characters (bounds the arrays)."""
    out, i = [], 0
    while i < len(texts):
        j, size = i, 0
        while j < len(texts) and (j == i or size + len(texts[j]) <= _CHUNK_BYTES):
            size += len(texts[j])
            j += 1
        out.append((i, _Chunk(texts[i:j])))
        i = j
    return out


@dataclass
class Matches:
    """Matched grams of a batch of texts: the text, its first word's index there, words, benchmark mask."""

    doc: np.ndarray
    first: np.ndarray
    words: np.ndarray
    mask: np.ndarray


def _sorted_keys(h: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys of ``h``, each with the OR of its benchmark masks ``m``."""
    order = np.argsort(h, kind="stable")
    h, m = h[order], m[order]
    if not len(h):
        return h, m
    first = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    return h[first], np.bitwise_or.reduceat(m, first)


def _find(keys: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(which of ``h`` are in the sorted ``keys``, their positions there)."""
    if not len(keys) or not len(h):
        return np.zeros(len(h), bool), np.zeros(0, np.int64)
    pos = np.searchsorted(keys, h)
    pos[pos == len(keys)] = 0
    hit = keys[pos] == h
    return hit, pos[hit]


class NgramIndex:
    """The keys of every benchmark, each with a bitmask of the benchmarks that hold it.

    ``keys``/``masks``: sorted 64-bit hashes of the n-grams of items of at least ``ngram`` words.
    ``short_keys``/``short_masks``: hashes of whole short items; ``short_prefixes``: hashes of their first
    ``min_item_words`` words. A document is hashed at two lengths only: ``ngram`` (looked up in ``keys``) and
    ``min_item_words`` (looked up in the small ``short_prefixes``; a hit is then checked at each short length).
    A bitmap of the keys' top bits (about 32 bits per key, so ~3% of a document's n-grams pass) answers most
    lookups with one read before the exact binary search.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.arrays, self.meta = arrays, meta
        self.keys, self.masks = arrays["keys"], arrays["masks"]
        self.benchmarks: list[str] = meta["benchmarks"]
        self.ngram: int = meta["ngram"]
        self.min_item_words: int = meta["min_item_words"]
        self.short_lengths: list[int] = meta["short_lengths"]
        self.bits = max(16, int(np.ceil(np.log2(max(1, 32 * len(self.keys))))))
        top = (self.keys >> np.uint64(64 - self.bits)).astype(np.int64)
        self.bitmap = np.zeros(1 << (self.bits - 3), np.uint8)
        np.bitwise_or.at(self.bitmap, top >> 3, (1 << (top & 7)).astype(np.uint8))

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()) + self.bitmap.nbytes)

    def _lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = (h >> np.uint64(64 - self.bits)).astype(np.int64)
        cand = np.flatnonzero((self.bitmap[top >> 3] >> (top & 7)) & 1)
        hit, pos = _find(self.keys, h[cand])
        return cand[hit], self.masks[pos]

    def match(self, texts: list[str]) -> Matches:
        """Every gram of ``texts`` that is a key (see the class docstring)."""
        parts: list[tuple[np.ndarray, ...]] = []
        for off, c in _chunks(texts):
            found = []
            i, h = c.grams(self.ngram)
            sel, m = self._lookup(h)
            found.append((i[sel], np.full(len(sel), self.ngram), m))
            if self.short_lengths:
                i, h = c.grams(self.min_item_words)
                cand = i[_find(self.arrays["short_prefixes"], h)[0]]
                for k in self.short_lengths:
                    ii = cand[cand + k - 1 < len(c.wdoc)]
                    ii = ii[c.wdoc[ii] == c.wdoc[ii + k - 1]]
                    hit, pos = _find(self.arrays["short_keys"], c.span_hash(ii, ii + k - 1))
                    found.append((ii[hit], np.full(len(pos), k), self.arrays["short_masks"][pos]))
            for i, k, m in found:
                d = c.wdoc[i]
                parts.append((d + off, i - c.doc_first[d], k, m))
        if not parts:
            z = np.zeros(0, np.int64)
            return Matches(z, z, z, z.astype(np.uint64))
        return Matches(*(np.concatenate([p[f] for p in parts]).astype(t) for f, t in enumerate(
            (np.int64, np.int64, np.int64, np.uint64))))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = np.frombuffer(json.dumps(self.meta).encode(), np.uint8)
        np.savez(buf, meta=meta, **self.arrays)
        return buf.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> NgramIndex:
        z = np.load(io.BytesIO(data))
        arrays = {k: z[k] for k in z.files if k != "meta"}
        return NgramIndex(arrays, json.loads(z["meta"].tobytes()))


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


def item_keys(items: list[str], ngram: int, min_item_words: int) -> dict[str, np.ndarray]:
    """The keys of evaluation items: n-grams of the long ones, whole hashes and prefixes of the short ones."""
    out: dict[str, list[np.ndarray]] = {"ngrams": [], "short": [], "prefixes": [], "lengths": [], "nwords": []}
    for _, c in _chunks(items):
        out["ngrams"].append(c.grams(ngram)[1])  # only items of at least ngram words have any
        out["nwords"].append(c.nwords)
        d = np.flatnonzero((c.nwords >= min_item_words) & (c.nwords < ngram))
        i, k = c.doc_first[d], c.nwords[d]
        out["short"].append(c.span_hash(i, i + k - 1))
        out["prefixes"].append(c.span_hash(i, i + min_item_words - 1))
        out["lengths"].append(k)
    return {name: np.concatenate(v) if v else np.zeros(0, np.uint64) for name, v in out.items()}


def build_index(benchmarks: dict[str, tuple[str, list[str]]], ngram: int, min_item_words: int
                ) -> tuple[NgramIndex, dict[str, Any]]:
    """Read every benchmark's items and hash them (see the module docstring); return the index and a summary."""
    names = list(benchmarks)
    long_h, long_m, short_h, short_m, prefixes, lengths = [], [], [], [], [], []
    summary: dict[str, Any] = {"benchmarks": {}}
    for b, name in enumerate(names):
        path, fields = benchmarks[name]
        items = read_items(path, fields, f"benchmarks.{name}")
        keys = item_keys(items, ngram, min_item_words)
        h, sh = np.unique(keys["ngrams"]), np.unique(keys["short"])
        long_h.append(h)
        long_m.append(np.full(len(h), 1 << b, dtype=np.uint64))
        short_h.append(sh)
        short_m.append(np.full(len(sh), 1 << b, dtype=np.uint64))
        prefixes.append(keys["prefixes"])
        lengths.append(keys["lengths"])
        summary["benchmarks"][name] = {
            "items": len(items),
            "items_whole": len(keys["short"]),
            "items_too_short": int((keys["nwords"] < min(min_item_words, ngram)).sum()),
            "ngrams": len(h) + len(sh),
        }
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if len(names) <= np.iinfo(t).bits)
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.uint64)  # noqa: E731
    keys, masks = _sorted_keys(cat(long_h), cat(long_m))
    skeys, smasks = _sorted_keys(cat(short_h), cat(short_m))
    arrays = {"keys": keys, "masks": masks.astype(dtype), "short_keys": skeys, "short_masks": smasks.astype(dtype),
              "short_prefixes": np.unique(cat(prefixes))}
    short_lengths = sorted({int(k) for k in cat(lengths).tolist()})
    meta = {"benchmarks": names, "ngram": ngram, "min_item_words": min_item_words, "short_lengths": short_lengths}
    index = NgramIndex(arrays, meta)
    summary.update(keys=len(keys) + len(skeys), index_bytes=index.nbytes, short_lengths=short_lengths)
    return index, summary
