"""The reduce jobs of ``paragraph_dedup`` (:mod:`curate.dedup.paragraph` has the rules they implement), one
module-level function per Ray task, and the files they share.

Layout (``global/PP-paragraph_dedup/``)::

    collect/part-NNNNN.parquet          id, ngram_count, para_ngrams (per paragraph), para_hashes (how many
                                        of the paragraph's n-grams ngrams lists), ngrams (uint64)
    partitions.json                     the partition count P (files of another count are not reused)
    buckets/pPPPPP/part-NNNNN.parquet   hash, pos: shard NNNNN's n-grams of partition P (pos = shard<<40 | para)
    buckets/done/part-NNNNN.json        shard NNNNN is scattered (written after its P files)
    dups/part-PPPPP.parquet (+ .json)   hash, pos, count: occurrences of hashes in >= 2 paragraphs, sorted
    seen/rKK/pPPPPP/part-QQQQQ.parquet  pos, seen: seen n-grams per paragraph of decide bucket Q (shard % P)
    removed/rKK/part-QQQQQ.parquet      pos of the paragraphs removed in round K, bucket Q
    decided/rKK/part-NNNNN.parquet      id, removed (paragraph indices), seen, ngrams, drop: per document
    rounds/rKK-QQQQQ.json               bucket Q finished round K (changed / removed counts)
    summary.json                        the final round and the counts (what ``apply`` reads first)
    shared/pPPPPP/part-QQQQQ.parquet    pos, hash, count: partition P's repeated occurrences in the shards of
                                        bucket Q, sorted by pos (``mode: annotate`` only: what it stores)

``ngrams`` may list only some of a paragraph's n-grams (``para_hashes`` of its ``para_ngrams``): an annotated
run stores only the n-grams that two or more of its paragraphs hold (:func:`shared_split`), since one that a
single paragraph holds is never seen, in any subset of those documents. ``para_ngrams``, the denominators, are
always complete.
"""

from __future__ import annotations

import resource
from typing import Any

import numpy as np
import pyarrow as pa

from curate.dedup.workfiles import uint64_column
from curate.rundir import StageDir

SHARD_SHIFT = 40  # pos = shard << 40 | paragraph ordinal within the shard
_ORDINAL = np.uint64((1 << SHARD_SHIFT) - 1)
_NONE = np.uint64(2**64 - 1)

COLLECT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("ngram_count", pa.int32()),
        pa.field("para_ngrams", pa.list_(pa.int32())),
        pa.field("para_hashes", pa.list_(pa.int32())),
        pa.field("ngrams", pa.list_(pa.uint64())),
    ]
)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def flat(col: pa.ChunkedArray, dtype: Any) -> np.ndarray:
    arr = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    return arr.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def collected(sdir: StageDir, shard: int, columns: list[str]) -> pa.Table:
    """A shard's collected rows (none when the map pass kept no document of it and wrote no file)."""
    rel = sdir.collect_file(shard)
    if sdir.exists(rel):
        return sdir.read_table(rel, columns=columns)
    return COLLECT_SCHEMA.empty_table().select(columns)


def _positions(t: pa.Table, shard: int) -> tuple[np.ndarray, np.ndarray]:
    """A shard's listed n-grams and their positions (shard << 40 | paragraph ordinal in the shard)."""
    per_para = flat(t.column("para_hashes"), np.int64)
    h = flat(t.column("ngrams"), np.uint64)
    pos = (np.uint64(shard) << np.uint64(SHARD_SHIFT)) | np.repeat(
        np.arange(len(per_para), dtype=np.uint64), per_para
    )
    return h, pos


def scatter(sdir: StageDir, shard: int, parts: int) -> float:
    """Shard NNNNN's n-grams → one file per hash partition, with their position in the fixed order."""
    done = f"buckets/done/part-{shard:05d}.json"  # written after the shard's P files: one look-up to skip
    if sdir.exists(done):
        return peak_mb()
    outs = [sdir.shard_file(f"buckets/p{p:05d}", shard) for p in range(parts)]
    h, pos = _positions(collected(sdir, shard, ["para_hashes", "ngrams"]), shard)
    part = (h % np.uint64(parts)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    for p in range(parts):
        sel = order[bounds[p] : bounds[p + 1]]
        sdir.write_table(outs[p], pa.table({"hash": h[sel], "pos": pos[sel]}))
    sdir.write_json(done, {"ngrams": int(len(h))})
    return peak_mb()


def repeated(sdir: StageDir, shards: list[int], part: int) -> dict[str, Any]:
    """Partition P's hashes that occur in >= 2 paragraphs: (hash, pos, count) sorted by hash, then pos."""
    meta = f"dups/part-{part:05d}.json"
    if sdir.exists(meta):
        return sdir.read_json(meta)
    hs, ps = [], []
    for s in shards:
        rel = sdir.shard_file(f"buckets/p{part:05d}", s)
        t = sdir.read_table(rel)
        hs.append(uint64_column(t, "hash"))
        ps.append(uint64_column(t, "pos"))
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    pos = np.concatenate(ps) if ps else np.zeros(0, np.uint64)
    del hs, ps
    h, pos, count, stats = _repeated(h, pos)
    sdir.write_table(sdir.shard_file("dups", part), pa.table({"hash": h, "pos": pos, "count": count}))
    stats["peak_rss_mb"] = peak_mb()
    sdir.write_json(meta, stats)
    return stats


def _repeated(h: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The occurrences of the hashes found in >= 2 paragraphs: (hash, pos, count in the paragraph), sorted by
    hash then position, and counts."""
    order = np.lexsort((pos, h))
    h, pos = h[order], pos[order]
    del order
    n = len(h)
    new = np.ones(n, bool)
    new[1:] = (h[1:] != h[:-1]) | (pos[1:] != pos[:-1])
    starts = np.flatnonzero(new)
    count = np.diff(np.append(starts, n)).astype(np.int32)
    h, pos = h[starts], pos[starts]
    first = np.ones(len(h), bool)
    first[1:] = h[1:] != h[:-1]
    gid = np.cumsum(first) - 1
    keep = np.bincount(gid)[gid] >= 2 if len(h) else np.zeros(0, bool)
    stats = {"ngrams": int(n), "distinct": int(first.sum()), "dup_rows": int(keep.sum())}
    return h[keep], pos[keep], count[keep], stats


def shared_split(sdir: StageDir, part: int, parts: int) -> dict[str, Any]:
    """Partition P's repeated occurrences, split by the decide bucket of their shard (shard % P) and sorted by
    position: what an annotating run's apply pass stores per document (:func:`load_shared`)."""
    done = f"shared/p{part:05d}/done.json"
    if sdir.exists(done):
        return sdir.read_json(done)
    t = sdir.read_table(sdir.shard_file("dups", part))
    h, pos = uint64_column(t, "hash"), uint64_column(t, "pos")
    count = t.column("count").to_numpy(zero_copy_only=False).astype(np.int32)
    order = np.argsort(pos, kind="stable")
    h, pos, count = h[order], pos[order], count[order]
    bucket = ((pos >> np.uint64(SHARD_SHIFT)) % np.uint64(parts)).astype(np.int64)
    for q in range(parts):
        sel = bucket == q
        sdir.write_table(
            f"shared/p{part:05d}/part-{q:05d}.parquet", pa.table({"pos": pos[sel], "hash": h[sel], "count": count[sel]})
        )
    stats = {"occurrences": int(count.sum()), "peak_rss_mb": peak_mb()}
    sdir.write_json(done, stats)
    return stats


def load_shared(sdir: StageDir, shard: int, parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shard NNNNN's repeated occurrences: (paragraph ordinal, hash, count), sorted by ordinal."""
    q = shard % parts
    ps, hs, cs = [], [], []
    for p in range(parts):
        t = sdir.read_table(f"shared/p{p:05d}/part-{q:05d}.parquet")
        pos = uint64_column(t, "pos")
        sel = (pos >> np.uint64(SHARD_SHIFT)) == np.uint64(shard)
        ps.append(pos[sel] & _ORDINAL)
        hs.append(uint64_column(t, "hash")[sel])
        cs.append(t.column("count").to_numpy(zero_copy_only=False)[sel])
    pos, h, c = np.concatenate(ps), np.concatenate(hs), np.concatenate(cs).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    return pos[order].astype(np.int64), h[order], c[order]


def removed_positions(sdir: StageDir, rnd: int) -> np.ndarray:
    """Sorted positions of the paragraphs removed in round ``rnd`` (none before round 0)."""
    if rnd < 0:
        return np.zeros(0, np.uint64)
    arrs = [uint64_column(sdir.read_table(f), "pos") for f in sdir.glob(f"removed/r{rnd:02d}/part-*.parquet")]
    return np.sort(np.concatenate(arrs)) if arrs else np.zeros(0, np.uint64)


def _seen(
    h: np.ndarray, pos: np.ndarray, count: np.ndarray, removed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seen n-grams per paragraph (positions, counts) from repeated occurrences sorted by hash then position:
    an occurrence is seen when a paragraph before it that is not in ``removed`` (sorted) holds the hash."""
    count = count.astype(np.int64)
    cand = pos  # positions an occurrence can be seen from: the kept paragraphs'
    if len(removed):
        gone = removed[np.minimum(np.searchsorted(removed, pos), len(removed) - 1)] == pos
        cand = np.where(gone, _NONE, pos)
    first = np.ones(len(h), bool)
    first[1:] = h[1:] != h[:-1]
    starts = np.flatnonzero(first)
    first_kept = np.minimum.reduceat(cand, starts) if len(starts) else np.zeros(0, np.uint64)
    seen = pos > first_kept[np.cumsum(first) - 1]
    upos, inv = np.unique(pos[seen], return_inverse=True)
    return upos, np.bincount(inv, weights=count[seen], minlength=len(upos)).astype(np.int64)


def seen_counts(sdir: StageDir, part: int, parts: int, rnd: int) -> float:
    """Seen n-grams per paragraph from partition P in round K: an occurrence is seen when a kept paragraph
    before it (round K-1's removals) holds the same hash."""
    done = f"seen/r{rnd:02d}/p{part:05d}/done.json"
    if sdir.exists(done):
        return peak_mb()
    t = sdir.read_table(sdir.shard_file("dups", part))
    h, pos = uint64_column(t, "hash"), uint64_column(t, "pos")
    count = t.column("count").to_numpy(zero_copy_only=False)
    upos, useen = _seen(h, pos, count, removed_positions(sdir, rnd - 1))
    bucket = ((upos >> np.uint64(SHARD_SHIFT)) % np.uint64(parts)).astype(np.int64)
    for q in range(parts):
        sel = bucket == q
        sdir.write_table(
            f"seen/r{rnd:02d}/p{part:05d}/part-{q:05d}.parquet",
            pa.table({"pos": upos[sel], "seen": useen[sel].astype(np.int32)}),
        )
    sdir.write_json(done, {"paragraphs": int(len(upos))})
    return peak_mb()


def paragraph_counts(t: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Collected rows' n-gram counts of every paragraph, flat, and each document's first paragraph in them
    (one offset more than documents)."""
    lists = t.column("para_ngrams").combine_chunks() if t.num_rows else pa.array([], pa.list_(pa.int32()))
    offsets = lists.offsets.to_numpy().astype(np.int64)
    return flat(t.column("para_ngrams"), np.int64), offsets - (offsets[0] if len(offsets) else 0)


_TOTALS = ("documents", "paragraphs", "ngrams", "seen_ngrams", "removed_paragraphs", "dropped")


def _decide_shard(
    t: pa.Table, shard: int, upos: np.ndarray, useen: np.ndarray, threshold: float
) -> tuple[pa.Table, np.ndarray, dict[str, int]]:
    """One shard's decisions from the seen counts (``upos`` sorted, any shards): its ``decided`` rows (id,
    removed paragraph indices, seen, ngrams, drop), the ordinals of the paragraphs it removes, and counts."""
    per_para, offsets = paragraph_counts(t)
    seen = np.zeros(len(per_para), np.int64)
    lo, hi = np.searchsorted(upos, np.array([shard, shard + 1], np.uint64) << np.uint64(SHARD_SHIFT))
    seen[(upos[lo:hi] & _ORDINAL).astype(np.int64)] = useen[lo:hi]
    with np.errstate(divide="ignore", invalid="ignore"):
        gone = (per_para > 0) & (seen / per_para > threshold)
    doc_n = np.add.reduceat(per_para, offsets[:-1]) if t.num_rows else np.zeros(0, np.int64)
    doc_seen = np.add.reduceat(seen, offsets[:-1]) if t.num_rows else np.zeros(0, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = (doc_n > 0) & (doc_seen / doc_n > threshold)
    idx = np.flatnonzero(gone)
    doc_of = np.searchsorted(offsets, idx, side="right") - 1
    rem_offsets = np.searchsorted(idx, offsets)  # removed paragraphs per document, as list offsets
    removed = pa.ListArray.from_arrays(
        pa.array(rem_offsets, pa.int32()), pa.array(idx - offsets[doc_of], pa.int32())
    )
    decided = pa.table(
        {"id": t.column("id"), "removed": removed, "seen": doc_seen.astype(np.int32),
         "ngrams": doc_n.astype(np.int32), "drop": drop}
    )
    counts = {"documents": t.num_rows, "paragraphs": len(per_para), "ngrams": int(per_para.sum()),
              "seen_ngrams": int(seen.sum()), "removed_paragraphs": len(idx), "dropped": int(drop.sum())}
    return decided, idx, counts


def reduce_in_memory(sdir: StageDir, shards: list[int], threshold: float, max_rounds: int) -> dict[str, Any]:
    """The whole reduce in this process, for a small one: the same rules and decisions as the jobs above
    (one partition), but only ``decided/rKK/`` of the final round is written (then ``summary.json``)."""
    tables = {s: collected(sdir, s, ["id", "para_ngrams", "para_hashes", "ngrams"]) for s in shards}
    pairs = [_positions(tables[s], s) for s in shards]
    h = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.uint64)
    pos = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.uint64)
    h, pos, count, rep = _repeated(h, pos)
    removed = np.zeros(0, np.uint64)
    rnd = 0
    while True:  # round K counts only the occurrences outside round K-1's removed paragraphs
        upos, useen = _seen(h, pos, count, removed)
        out = {s: _decide_shard(tables[s], s, upos, useen, threshold) for s in shards}
        now = [(np.uint64(s) << np.uint64(SHARD_SHIFT)) | out[s][1].astype(np.uint64) for s in shards]
        now = np.sort(np.concatenate(now)) if now else removed
        converged = bool(np.array_equal(now, removed))
        if converged or rnd + 1 == max_rounds:
            break
        removed, rnd = now, rnd + 1
    for s in shards:
        sdir.write_table(f"decided/r{rnd:02d}/part-{s:05d}.parquet", out[s][0])
    return {
        "round": rnd,
        "rounds": rnd + 1,
        "converged": converged,
        "partitions": 1,
        **{k: sum(out[s][2][k] for s in shards) for k in _TOTALS},
        "distinct_ngrams": rep["distinct"],
        "repeated_ngram_rows": rep["dup_rows"],
        "reduce_peak_rss_mb": round(peak_mb(), 1),
    }


def decide_round(
    sdir: StageDir, shards: list[int], q: int, parts: int, rnd: int, threshold: float
) -> dict[str, Any]:
    """Round K's decisions for the shards of bucket Q: removed paragraphs and dropped documents."""
    marker = f"rounds/r{rnd:02d}-{q:05d}.json"
    if sdir.exists(marker):
        return sdir.read_json(marker)
    ps, ss = [], []
    for p in range(parts):
        t = sdir.read_table(f"seen/r{rnd:02d}/p{p:05d}/part-{q:05d}.parquet")
        ps.append(uint64_column(t, "pos"))
        ss.append(t.column("seen").to_numpy(zero_copy_only=False).astype(np.int64))
    upos, inv = np.unique(np.concatenate(ps), return_inverse=True)
    useen = np.bincount(inv, weights=np.concatenate(ss), minlength=len(upos)).astype(np.int64)
    removed_pos = []
    tot = dict.fromkeys(_TOTALS, 0)
    for s in shards:
        t = collected(sdir, s, ["id", "para_ngrams"])
        decided, idx, counts = _decide_shard(t, s, upos, useen, threshold)
        sdir.write_table(f"decided/r{rnd:02d}/part-{s:05d}.parquet", decided)
        removed_pos.append((np.uint64(s) << np.uint64(SHARD_SHIFT)) | idx.astype(np.uint64))
        for k in _TOTALS:
            tot[k] += counts[k]
    now = np.sort(np.concatenate(removed_pos)) if removed_pos else np.zeros(0, np.uint64)
    sdir.write_table(f"removed/r{rnd:02d}/part-{q:05d}.parquet", pa.table({"pos": now}))
    before = np.zeros(0, np.uint64)
    if rnd > 0:
        before = uint64_column(sdir.read_table(f"removed/r{rnd - 1:02d}/part-{q:05d}.parquet"), "pos")
    result = {**tot, "changed": int(len(np.setxor1d(now, before))), "peak_rss_mb": peak_mb()}
    sdir.write_json(marker, result)
    return result


def load_decisions(sdir: StageDir, shard: int) -> dict[str, tuple[list[int], bool]]:
    if not sdir.exists("summary.json"):
        raise FileNotFoundError(
            f"paragraph_dedup: {sdir.uri('summary.json')} is missing; the reduce has not finished"
        )
    rnd = sdir.read_json("summary.json")["round"]
    t = sdir.read_table(f"decided/r{rnd:02d}/part-{shard:05d}.parquet", columns=["id", "removed", "drop"])
    return dict(
        zip(t.column("id").to_pylist(), zip(t.column("removed").to_pylist(), t.column("drop").to_pylist()))
    )


_DERIVED = ("buckets", "dups", "seen", "removed", "decided", "rounds", "shared")


def check_partitions(sdir: StageDir, parts: int) -> None:
    """Files written with another partition count cannot be reused: remove them."""
    meta = "partitions.json"
    if sdir.exists(meta) and sdir.read_json(meta).get("parts") != parts:
        for folder in _DERIVED:
            sdir.rm(folder, recursive=True)
        sdir.rm("summary.json")
    sdir.write_json(meta, {"parts": parts})
