"""Vectorised MinHash signatures: word n-gram hashes from one array pass, one-permutation hashing.

Per batch of documents:

1. Each text is normalised (``normalize.translate_bytes``) and all of them are joined into one byte array,
   separated by a byte (0x01) that normalisation never produces; digit runs and spaces are folded there
   with array operations (the same canonical form as ``normalize.normalize_bytes``).
2. **N-gram hashes without a Python loop per word**: a polynomial prefix hash over the byte array,
   ``S[k] = sum_{j<k} c_j * P^j (mod 2^64)``, gives the hash of any substring ``[s, e)`` as
   ``(S[e] - S[s]) * P^-s`` (P is odd, so it is invertible mod 2^64). An n-gram is the substring from the
   start of word i to the end of word i+n-1 (whitespace is folded, so the same words give the same bytes),
   so every n-gram hash of the batch is three gathers and a multiply. A murmur3 finaliser then spreads the
   bits. (Polynomial hashes mod 2^64 have known adversarial collisions, e.g. Thue–Morse strings; natural text
   does not hit them, and a collision merely adds one shared shingle.)
3. **One-permutation hashing** (Li, Owen & Zhang 2012): the high 32 bits of a shingle hash pick one of
   ``num_perm`` bins, the low 32 bits are its value, and each bin keeps its minimum (``np.minimum.at``).
   Empty bins are filled by **optimal densification** (Shrivastava 2017): bin j borrows the value of the first
   non-empty bin in a fixed pseudo-random sequence of bins for j, the same for every document, so identical
   shingle sets still give identical signatures and ``P[sig_a[j] == sig_b[j]]`` stays close to Jaccard.

Documents with fewer than n words get one shingle (all their words); documents with no word get no
signature (``valid`` is False).
"""

from __future__ import annotations

import numpy as np

from curate.dedup.normalize import translate_bytes

_P = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so invertible mod 2^64
_SEP = 1
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_DENSIFY_ROUNDS = 64
_CHUNK_CHARS = 8_000_000

_pow_cache: dict[str, np.ndarray] = {}


def fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, elementwise (uint64 arithmetic wraps, as intended)."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^k and P^-k (mod 2^64) for k < n, cached per process and grown geometrically."""
    have = _pow_cache.get("pow")
    if have is None or len(have) < n:
        size = max(n, 2 * (0 if have is None else len(have)), 1 << 16)
        inv = np.uint64(pow(int(_P), -1, 1 << 64))
        with np.errstate(over="ignore"):
            pw = np.empty(size, dtype=np.uint64)
            pw[0] = 1
            pw[1:] = _P
            np.cumprod(pw, out=pw)
            iv = np.empty(size, dtype=np.uint64)
            iv[0] = 1
            iv[1:] = inv
            np.cumprod(iv, out=iv)
        _pow_cache["pow"], _pow_cache["inv"] = pw, iv
    return _pow_cache["pow"][:n], _pow_cache["inv"][:n]


def shingle_hashes(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, 64-bit hash) of every word n-gram of every text, via one vectorised pass."""
    parts = [translate_bytes(t) for t in texts]
    raw = np.frombuffer(b"\x01".join(parts) + b"\x01", dtype=np.uint8)
    if len(raw) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    # Fold runs of digits to one "0" and runs of spaces to one space (as normalize_bytes does).
    prev = np.concatenate([[_SEP], raw[:-1]])
    drop = ((raw == 48) & (prev == 48)) | ((raw == 32) & ((prev == 32) | (prev == _SEP)))
    buf = raw[~drop]
    word = (buf != 32) & (buf != _SEP)
    edge = np.diff(np.concatenate([[False], word, [False]]).astype(np.int8))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)
    # the separator after document i is the i-th separator: words before it belong to document i
    wdoc = np.searchsorted(np.flatnonzero(buf == _SEP), starts)
    n_docs = len(texts)
    nwords = np.bincount(wdoc, minlength=n_docs)
    # n-gram i spans words i .. i+ngram-1 of the same document
    m = len(starts) - ngram + 1
    if m > 0:
        same = wdoc[:m] == wdoc[ngram - 1 :]
        g_start = starts[:m][same]
        g_end = ends[ngram - 1 :][same]
        g_doc = wdoc[:m][same]
    else:
        g_start = g_end = g_doc = np.zeros(0, np.int64)
    short = np.flatnonzero((nwords > 0) & (nwords < ngram))
    if len(short):  # one shingle made of all the words of a short document
        first = np.searchsorted(wdoc, short, side="left")
        last = np.searchsorted(wdoc, short, side="right") - 1
        g_start = np.concatenate([g_start, starts[first]])
        g_end = np.concatenate([g_end, ends[last]])
        g_doc = np.concatenate([g_doc, short])
    pw, iv = _powers(len(buf) + 1)
    with np.errstate(over="ignore"):
        pref = np.empty(len(buf) + 1, dtype=np.uint64)
        pref[0] = 0
        np.cumsum(buf.astype(np.uint64) * pw[: len(buf)], out=pref[1:])
        h = (pref[g_end] - pref[g_start]) * iv[g_start]
        h = fmix64(h + np.uint64(ngram))
    return g_doc.astype(np.int64), h


def _densify_table(num_perm: int) -> np.ndarray:
    """For each bin, a fixed pseudo-random sequence of bins to borrow from (seeded: same on every worker)."""
    key = f"dens{num_perm}"
    if key not in _pow_cache:
        rng = np.random.default_rng(0x5EED + num_perm)
        _pow_cache[key] = rng.integers(0, num_perm, size=(num_perm, _DENSIFY_ROUNDS), dtype=np.int64)
    return _pow_cache[key]


def oph_signatures(
    doc: np.ndarray, h: np.ndarray, n_docs: int, num_perm: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-permutation hashing with optimal densification: (signatures uint32 (n_docs, num_perm), valid)."""
    k = num_perm
    with np.errstate(over="ignore"):
        bins = (((h >> _S32) * np.uint64(k)) >> _S32).astype(np.int64)
    vals = (h & _LOW32).astype(np.uint32)
    flat = doc * k + bins
    sig = np.full(n_docs * k, 0xFFFFFFFF, dtype=np.uint32)
    np.minimum.at(sig, flat, vals)
    filled = np.zeros(n_docs * k, dtype=bool)
    filled[flat] = True
    nfilled = filled.reshape(n_docs, k).sum(axis=1)
    valid = nfilled > 0
    empty = np.flatnonzero(~filled & np.repeat(valid, k))
    if len(empty):
        table = _densify_table(k)
        out = sig.copy()
        e_doc, e_bin = np.divmod(empty, k)
        for t in range(_DENSIFY_ROUNDS):
            src = e_doc * k + table[e_bin, t]
            ok = filled[src]
            out[empty[ok]] = sig[src[ok]]
            keep = ~ok
            empty, e_doc, e_bin = empty[keep], e_doc[keep], e_bin[keep]
            if not len(empty):
                break
        # Rare (documents with one or two shingles): borrow from the next non-empty bin to the right.
        for pos, d, j in zip(empty.tolist(), e_doc.tolist(), e_bin.tolist(), strict=True):
            row = filled[d * k : (d + 1) * k]
            nz = np.flatnonzero(np.concatenate([row[j:], row[:j]]))
            out[pos] = sig[d * k + (j + int(nz[0])) % k]
        sig = out
    return sig.reshape(n_docs, k), valid


def minhash_signatures(
    texts: list[str], num_perm: int = 112, ngram: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures (uint32, shape (len(texts), num_perm)) and a validity mask (False: no words)."""
    sigs, valid = [], []
    i = 0
    while i < len(texts) or not sigs:
        # Chunks of about 8 MB of text bound the prefix-hash arrays (8 bytes per text byte each).
        j, size = i, 0
        while j < len(texts) and (j == i or size + len(texts[j]) <= _CHUNK_CHARS):
            size += len(texts[j])
            j += 1
        doc, h = shingle_hashes(texts[i:j], ngram)
        s, v = oph_signatures(doc, h, j - i, num_perm)
        sigs.append(s)
        valid.append(v)
        i = j
        if i >= len(texts):
            break
    return np.concatenate(sigs), np.concatenate(valid)


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of signature rows: the share of equal bins."""
    return (np.asarray(a) == np.asarray(b)).mean(axis=-1)
