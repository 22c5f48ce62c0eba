"""LSH banding: parameters, band hashes, and the two reduce passes that produce verified candidate pairs.

* ``optimal_params(threshold, num_perm)`` picks ``bands × rows`` minimising the weighted false-positive
  plus false-negative probability mass of the S-curve ``1 - (1 - s^r)^b`` around the threshold (the same
  criterion as datasketch's ``_optimal_param``; integrated here with the trapezoid rule on a grid).
* ``band_hashes(sig, bands, rows)``: one 64-bit hash per band per document (vectorised).
* ``band_pass``: one task per band reads that band's column from every shard's collect file, sorts by bucket
  and emits, for each bucket of two or more documents, a star of pairs (smallest global row, other member).
  Star edges keep the pair count linear in bucket size and give the same connected components as a clique.
* ``verify_pass``: one task per partition (pairs hashed to partitions) reads the pairs of its partition from
  every band file, removes repeats, gathers only the signatures it needs shard by shard, and writes each
  pair with its estimated Jaccard.

Global rows: shard files are concatenated in shard order, so a document's global row is
``offset[shard] + row within its collect file``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate.dedup.signature import fmix64
from curate.dedup.workfiles import uint64_column
from curate.rundir import StageDir

PAIR_SCHEMA = pa.schema([pa.field("a", pa.uint64()), pa.field("b", pa.uint64())])
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz

VERIFIED_SCHEMA = pa.schema(
    [pa.field("a", pa.uint64()), pa.field("b", pa.uint64()), pa.field("jaccard", pa.float32())]
)


def optimal_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising fp_weight*FP + fn_weight*FN."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    lo = np.linspace(0.0, threshold, 513)
    hi = np.linspace(threshold, 1.0, 513)
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _trapezoid(1.0 - (1.0 - lo**r) ** b, lo)
            fn = _trapezoid((1.0 - hi**r) ** b, hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def band_column(band: int) -> str:
    return f"b{band:03d}"


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 (n, bands): a hash of each band's ``rows`` signature values."""
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(n, np.uint64(0x9E3779B97F4A7C15) * np.uint64(b + 1), dtype=np.uint64)
            for r in range(rows):
                h = fmix64(h ^ sig[:, b * rows + r].astype(np.uint64)) + np.uint64(r)
            out[:, b] = h
    return out


def band_pairs_file(band: int) -> str:
    return f"bands/band-{band:03d}.parquet"


def band_pass(sdir: StageDir, shards: list[int], offsets: list[int], band: int) -> int:
    """Candidate pairs of one band → ``bands/band-BBB.parquet``; returns the pair count. Resumable."""
    out = band_pairs_file(band)
    if sdir.exists(out):
        return sdir.num_rows(out)
    hs, rows = [], []
    for s, off in zip(shards, offsets, strict=False):
        p = sdir.collect_file(s)
        if not sdir.exists(p):
            continue
        h = uint64_column(sdir.read_table(p, columns=[band_column(band)]), band_column(band))
        hs.append(h)
        rows.append(np.arange(off, off + len(h), dtype=np.uint64))
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    g = np.concatenate(rows) if rows else np.zeros(0, np.uint64)
    order = np.lexsort((g, h))
    h, g = h[order], g[order]
    new = np.concatenate([[True], h[1:] != h[:-1]]) if len(h) else np.zeros(0, bool)
    head = g[np.flatnonzero(new)[np.cumsum(new) - 1]] if len(h) else g
    member = ~new
    table = pa.table({"a": head[member], "b": g[member]}, schema=PAIR_SCHEMA)
    sdir.write_table(out, table)
    return table.num_rows


def verified_file(sdir: StageDir, part: int) -> str:
    return sdir.shard_file("verified", part)


def _partition_of(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (fmix64(a * np.uint64(0x100000001B3) ^ b) % np.uint64(parts)).astype(np.int64)


def read_signatures(sdir: StageDir, shards: list[int], offsets: list[int], need: np.ndarray) -> np.ndarray:
    """Signatures of the sorted global rows ``need``, read shard by shard (only one shard's column at once)."""
    out: list[np.ndarray] = []
    for s, lo, hi in zip(shards, offsets[:-1], offsets[1:], strict=True):
        i, j = np.searchsorted(need, [lo, hi])
        if i == j:
            continue
        col = sdir.read_table(sdir.collect_file(s), columns=["sig"]).column("sig").combine_chunks()
        k = col.type.list_size
        sig = col.flatten().to_numpy().reshape(-1, k)
        out.append(sig[(need[i:j] - lo).astype(np.int64)])
    return np.concatenate(out) if out else np.zeros((0, 1), np.uint32)


def verify_pass(
    sdir: StageDir, shards: list[int], offsets: list[int], bands: int, part: int, parts: int, verify: bool
) -> tuple[int, int]:
    """Unique candidate pairs of one partition with their estimated Jaccard → ``verified/part-PPPPP``.

    Returns (candidate pairs, pairs written). Every candidate is written with its estimate; the threshold is
    applied by the clustering pass, so the report can show what verification rejected. Resumable.
    """
    out = verified_file(sdir, part)
    if sdir.exists(out):
        n = sdir.num_rows(out)
        return n, n
    aa, bb = [], []
    for band in range(bands):
        t = sdir.read_table(band_pairs_file(band))
        a, b = uint64_column(t, "a"), uint64_column(t, "b")
        keep = _partition_of(a, b, parts) == part
        aa.append(a[keep])
        bb.append(b[keep])
    a = np.concatenate(aa) if aa else np.zeros(0, np.uint64)
    b = np.concatenate(bb) if bb else np.zeros(0, np.uint64)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.zeros((0, 2), np.uint64)
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    jac = np.full(len(a), np.nan, dtype=np.float32)
    if verify and len(a):
        need = np.unique(np.concatenate([a, b]))
        sig = read_signatures(sdir, shards, list(offsets), need)
        ia, ib = np.searchsorted(need, a), np.searchsorted(need, b)
        for lo in range(0, len(a), 200_000):  # chunks bound the (pairs, num_perm) comparison array
            sl = slice(lo, lo + 200_000)
            jac[sl] = (sig[ia[sl]] == sig[ib[sl]]).mean(axis=1)
    sdir.write_table(out, pa.table({"a": a, "b": b, "jaccard": jac}, schema=VERIFIED_SCHEMA))
    return len(a), len(a)
