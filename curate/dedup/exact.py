"""Exact deduplication: whole documents (``exact_dedup``) and repeated lines across documents (``line_dedup``).

Both hash the normalised text (``normalize``: case, accents, punctuation, digits and whitespace folded),
partition the hashes into ``runner.num_workers`` parallel reduce tasks, and write per-shard lists that
``apply`` reads. Each pass is resumable (temporary name + rename; existing outputs are skipped).

``exact_dedup`` workdir::

    collect/part-NNNNN.parquet   id, content_hash, hkey, len, source, domain
    groups/part-PPPPP.parquet    shard, id, kept_id, cluster_size for every member of a group of >= 2
    remove/part-NNNNN.parquet    id, kept_id, cluster, cluster_size (rows of that shard)

**Representative rule** (exact): the smallest id (string order) of each group of identical normalised
texts — independent of shard and worker counts. Kept rows carry ``content_hash`` (xxh3-128 hex).

``line_dedup`` (CCNet): a line whose normalised form occurs in more than one document of the corpus is
removed from every document (repeats inside one document do not count); blank lines are kept. Documents left
with no non-blank line are dropped with reason ``line_dedup_empty``. Workdir::

    collect/part-NNNNN.parquet   line_hash (uint64), one row per distinct line per document
    dups/part-PPPPP.parquet      shard, line_hash: duplicated hashes of hash partition P, per shard
    remove/part-NNNNN.parquet    line_hash: the duplicated lines present in that shard
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from curate.dedup.minhash import domain_of
from curate.dedup.normalize import content_hash, line_hashes
from curate.dedup.workfiles import ShardCache, load_remove_list, uint64_column
from curate.rundir import StageDir
from curate.schema import Document
from curate.stage import GlobalStage, register

_CACHE = ShardCache()

EXACT_COLLECT = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("hkey", pa.uint32()),  # first 8 hex digits: picks the reduce partition
        pa.field("len", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("domain", pa.string()),
    ]
)
GROUP_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.int64()),
        pa.field("id", pa.string()),
        pa.field("kept_id", pa.string()),
        pa.field("cluster_size", pa.int32()),
    ]
)


def _exact_group_pass(sdir: StageDir, shards: list[int], part: int, parts: int) -> int:
    """Groups of identical hashes in one hash partition → ``groups/part-PPPPP.parquet``; returns members."""
    out = sdir.shard_file("groups", part)
    if sdir.exists(out):
        return sdir.num_rows(out)
    tables = []
    for s in shards:
        p = sdir.collect_file(s)
        if not sdir.exists(p):
            continue
        t = sdir.read_table(p, columns=["id", "content_hash", "hkey"])
        t = t.filter(pa.array(t.column("hkey").to_numpy() % parts == part))
        tables.append(t.append_column("shard", pa.array(np.full(t.num_rows, s, dtype=np.int64))))
    if not tables:
        sdir.write_table(out, GROUP_SCHEMA.empty_table())
        return 0
    t = pa.concat_tables(tables)
    hashes = np.asarray(t.column("content_hash").to_pylist(), dtype=str) if t.num_rows else np.zeros(0, str)
    ids = np.asarray(t.column("id").to_pylist(), dtype=str) if t.num_rows else np.zeros(0, str)
    order = np.lexsort((ids, hashes))
    hs = hashes[order]
    first = np.concatenate([[True], hs[1:] != hs[:-1]]) if len(hs) else np.zeros(0, bool)
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    sizes = np.diff(np.concatenate([starts, [len(hs)]]))
    member = sizes[group] >= 2 if len(hs) else np.zeros(0, bool)
    sel = order[member]
    kept = ids[order][starts][group][member]
    shard = t.column("shard").to_numpy()[sel] if len(sel) else np.zeros(0, np.int64)
    res = pa.table(
        {
            "shard": shard,
            "id": ids[sel].tolist(),
            "kept_id": kept.tolist(),
            "cluster_size": sizes[group][member],
        },
        schema=GROUP_SCHEMA,
    )
    sdir.write_table(out, res)
    return res.num_rows


@register("exact_dedup")
class ExactDedup(GlobalStage):
    """Drop documents whose normalised text is identical to another's, keeping the smallest id.

    Writes ``content_hash`` (xxh3-128 hex of the normalised text) on kept rows. Drop reason:
    ``exact_duplicate`` (``_duplicate_of`` = kept id).
    """

    columns = ("content_hash",)

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        for d in docs:
            d["content_hash"] = content_hash(d["text"])
        return [None] * len(docs)

    def collect(self, docs: list[Document]) -> pa.Table:
        hashes = [d.get("content_hash") or content_hash(d["text"]) for d in docs]
        return pa.table(
            {
                "id": [str(d["id"]) for d in docs],
                "content_hash": hashes,
                "hkey": [int(h[:8], 16) for h in hashes],
                "len": [len(d["text"]) for d in docs],
                "source": [d.get("source") for d in docs],
                "domain": [domain_of(d.get("url")) for d in docs],
            },
            schema=EXACT_COLLECT,
        )

    reduce_jobs = "group identical hashes (one job per hash partition) → per-shard removal lists"

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        shards = sorted(shards)
        parts = _partitions(sdir, executor, "groups")
        executor.map(_exact_group_pass, [(sdir, shards, p, parts) for p in range(parts)])
        groups = pa.concat_tables([sdir.read_table(sdir.shard_file("groups", p)) for p in range(parts)])
        shard_col = groups.column("shard").to_numpy()
        for s in shards:
            path = sdir.remove_file(s)
            if sdir.exists(path):
                continue
            g = groups.filter(pa.array(shard_col == s))
            t = pa.table(
                {
                    "id": g.column("id"),
                    "kept_id": g.column("kept_id"),
                    "cluster": g.column("kept_id"),
                    "cluster_size": g.column("cluster_size"),
                }
            )
            sdir.write_table(path, t)
        ids = groups.column("id").to_numpy(zero_copy_only=False)
        kept = groups.column("kept_id").to_numpy(zero_copy_only=False)
        removed = int(np.sum(ids != kept))
        n_docs = sum(sdir.num_rows(sdir.collect_file(s)) for s in shards if sdir.exists(sdir.collect_file(s)))
        summary = {
            "stage": self.name,
            "documents": n_docs,
            "duplicate_groups": int(len(np.unique(kept))),
            "grouped_documents": int(groups.num_rows),
            "removed": removed,
        }
        sdir.write_json("summary.json", summary)
        return summary

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        groups = _CACHE.get((sdir.url, shard), lambda: load_remove_list(sdir, shard, self.name))
        out: list[str | None] = []
        for d in docs:
            hit = groups.get(str(d["id"]))
            if hit is not None and hit[0] != str(d["id"]):
                d["_duplicate_of"] = hit[0]
                out.append("exact_duplicate")
            else:
                if "content_hash" not in d:
                    d["content_hash"] = content_hash(d["text"])
                out.append(None)
        return out


def _partitions(sdir: StageDir, executor: Any, folder: str) -> int:
    """Partition count = executor.num_workers; outputs of a run with another count are not reused."""
    meta = f"{folder}/partitions.json"
    parts = max(1, int(getattr(executor, "num_workers", 1)))
    if sdir.exists(meta) and sdir.read_json(meta).get("parts") != parts:
        for f in sdir.glob(f"{folder}/part-*.parquet"):
            sdir.rm(f)
    sdir.write_json(meta, {"parts": parts})
    return parts


# --- line-level -----------------------------------------------------------------------------------------

LINE_COLLECT = pa.schema([pa.field("line_hash", pa.uint64())])


def _line_dup_pass(sdir: StageDir, shards: list[int], part: int, parts: int) -> int:
    """Line hashes of one partition seen in >= 2 documents → ``dups/part-PPPPP`` as (shard, hash) rows."""
    out = sdir.shard_file("dups", part)
    if sdir.exists(out):
        return sdir.num_rows(out)
    hs, ss = [], []
    for s in shards:
        p = sdir.collect_file(s)
        if not sdir.exists(p):
            continue
        h = uint64_column(sdir.read_table(p), "line_hash")
        h = h[(h % np.uint64(parts)) == np.uint64(part)]
        hs.append(h)
        ss.append(np.full(len(h), s, dtype=np.int64))
    h = np.concatenate(hs) if hs else np.zeros(0, np.uint64)
    s = np.concatenate(ss) if ss else np.zeros(0, np.int64)
    uniq, counts = np.unique(h, return_counts=True)  # one row per (document, distinct line): count = docs
    dup = np.isin(h, uniq[counts >= 2])
    pairs = (
        np.unique(np.stack([s[dup].astype(np.uint64), h[dup]], axis=1), axis=0)
        if dup.any()
        else np.zeros((0, 2), np.uint64)
    )
    t = pa.table({"shard": pairs[:, 0].astype(np.int64), "line_hash": pairs[:, 1]})
    sdir.write_table(out, t)
    return t.num_rows


@register("line_dedup")
class LineDedup(GlobalStage):
    """Remove lines that occur in more than one document of the corpus (CCNet-style), in place.

    Parameters:
        normalize: compare lines by their normalised form (CCNet, the default: case, accents, punctuation
            folded and every number folded to 0, so "Page 3 of 10" and "Page 4 of 10" are one line), or
            exactly as written (``false``: lines that differ in one digit are different lines).
        drop_empty: drop a document left with no non-blank line (reason ``line_dedup_empty``; CCNet drops
            them), or keep it with its remaining blank text (``false``).

    Blank lines are kept; repeats inside one document alone do not count.
    """

    reduce_jobs = "line hashes seen in >= 2 documents (one job per hash partition) → per-shard lists"

    def __init__(self, normalize: bool = True, drop_empty: bool = True) -> None:
        self.normalize = normalize
        self.drop_empty = drop_empty

    def collect(self, docs: list[Document]) -> pa.Table:
        hashes: list[int] = []
        for d in docs:
            hashes.extend({h for _, h in line_hashes(d["text"], self.normalize)})
        return pa.table({"line_hash": pa.array(hashes, pa.uint64())}, schema=LINE_COLLECT)

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        shards = sorted(shards)
        parts = _partitions(sdir, executor, "dups")
        executor.map(_line_dup_pass, [(sdir, shards, p, parts) for p in range(parts)])
        dups = pa.concat_tables([sdir.read_table(sdir.shard_file("dups", p)) for p in range(parts)])
        shard_col = dups.column("shard").to_numpy()
        hashes = uint64_column(dups, "line_hash")
        for s in shards:
            rel = sdir.remove_file(s)
            if not sdir.exists(rel):
                sdir.write_table(rel, pa.table({"line_hash": np.sort(hashes[shard_col == s])}))
        summary = {"stage": self.name, "duplicated_lines": int(len(np.unique(hashes)))}
        sdir.write_json("summary.json", summary)
        return summary

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        def load() -> set[int]:
            rel = sdir.remove_file(shard)
            if not sdir.exists(rel):
                raise FileNotFoundError(f"{self.name}: {sdir.uri(rel)} is missing; the reduce step has not finished")
            return set(uint64_column(sdir.read_table(rel), "line_hash").tolist())

        dup = _CACHE.get((sdir.url, shard, "lines"), load)
        out: list[str | None] = []
        for d in docs:
            hits = {i for i, h in line_hashes(d["text"], self.normalize) if h in dup}
            if hits:
                lines = d["text"].split("\n")
                d["text"] = "\n".join(line for i, line in enumerate(lines) if i not in hits)
            emptied = hits and not d["text"].strip()
            out.append("line_dedup_empty" if emptied and self.drop_empty else None)
        return out
