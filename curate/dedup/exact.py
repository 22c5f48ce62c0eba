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

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.dedup.minhash import domain_of
from curate.dedup.normalize import content_hash, line_hashes
from curate.dedup.workfiles import (
    ShardCache,
    collect_file,
    load_remove_list,
    remove_file,
    shard_file,
    uint64_column,
    write_json_atomic,
    write_table_atomic,
)
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


def _exact_group_pass(workdir: str, shards: list[int], part: int, parts: int) -> int:
    """Groups of identical hashes in one hash partition → ``groups/part-PPPPP.parquet``; returns members."""
    out = shard_file(Path(workdir) / "groups", part)
    if out.exists():
        return pq.ParquetFile(out).metadata.num_rows
    tables = []
    for s in shards:
        p = collect_file(Path(workdir), s)
        if not p.exists():
            continue
        t = pq.read_table(p, columns=["id", "content_hash", "hkey"])
        t = t.filter(pa.array(t.column("hkey").to_numpy() % parts == part))
        tables.append(t.append_column("shard", pa.array(np.full(t.num_rows, s, dtype=np.int64))))
    if not tables:
        write_table_atomic(GROUP_SCHEMA.empty_table(), out)
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
    write_table_atomic(res, out)
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

    def reduce(self, workdir: Path, shards: list[int], runner: Any) -> dict[str, Any]:
        wd = Path(workdir)
        shards = sorted(shards)
        parts = _partitions(wd, runner, "groups")
        runner.map(_exact_group_pass, [(str(wd), shards, p, parts) for p in range(parts)])
        groups = pa.concat_tables([pq.read_table(shard_file(wd / "groups", p)) for p in range(parts)])
        shard_col = groups.column("shard").to_numpy()
        for s in shards:
            path = remove_file(wd, s)
            if path.exists():
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
            write_table_atomic(t, path)
        ids = groups.column("id").to_numpy(zero_copy_only=False)
        kept = groups.column("kept_id").to_numpy(zero_copy_only=False)
        removed = int(np.sum(ids != kept))
        n_docs = sum(
            pq.ParquetFile(collect_file(wd, s)).metadata.num_rows
            for s in shards
            if collect_file(wd, s).exists()
        )
        summary = {
            "stage": self.name,
            "documents": n_docs,
            "duplicate_groups": int(len(np.unique(kept))),
            "grouped_documents": int(groups.num_rows),
            "removed": removed,
        }
        write_json_atomic(summary, wd / "summary.json")
        return summary

    def apply(self, docs: list[Document], shard: int, workdir: Path) -> list[str | None]:
        groups = _CACHE.get((str(workdir), shard), lambda: load_remove_list(Path(workdir), shard, self.name))
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


def _partitions(wd: Path, runner: Any, folder: str) -> int:
    """Partition count = runner.num_workers, pinned by the first run so a resumed reduce reuses outputs."""
    meta = wd / folder / "partitions.json"
    parts = max(1, int(getattr(runner, "num_workers", 1)))
    if meta.exists():
        prev = json.loads(meta.read_text()).get("parts")
        if prev != parts:
            for f in (wd / folder).glob("part-*.parquet"):
                f.unlink()
    write_json_atomic({"parts": parts}, meta)
    return parts


# --- line-level -----------------------------------------------------------------------------------------

LINE_COLLECT = pa.schema([pa.field("line_hash", pa.uint64())])


def _line_dup_pass(workdir: str, shards: list[int], part: int, parts: int) -> int:
    """Line hashes of one partition seen in >= 2 documents → ``dups/part-PPPPP`` as (shard, hash) rows."""
    out = shard_file(Path(workdir) / "dups", part)
    if out.exists():
        return pq.ParquetFile(out).metadata.num_rows
    hs, ss = [], []
    for s in shards:
        p = collect_file(Path(workdir), s)
        if not p.exists():
            continue
        h = uint64_column(pq.read_table(p), "line_hash")
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
    write_table_atomic(t, out)
    return t.num_rows


@register("line_dedup")
class LineDedup(GlobalStage):
    """Remove lines that occur in more than one document of the corpus (CCNet-style), in place.

    Lines are compared by their normalised form; blank lines are kept; repeats inside one document alone do
    not count. A document left with no non-blank line is dropped with reason ``line_dedup_empty``.
    """

    def collect(self, docs: list[Document]) -> pa.Table:
        hashes: list[int] = []
        for d in docs:
            hashes.extend({h for _, h in line_hashes(d["text"])})
        return pa.table({"line_hash": pa.array(hashes, pa.uint64())}, schema=LINE_COLLECT)

    def reduce(self, workdir: Path, shards: list[int], runner: Any) -> dict[str, Any]:
        wd = Path(workdir)
        shards = sorted(shards)
        parts = _partitions(wd, runner, "dups")
        runner.map(_line_dup_pass, [(str(wd), shards, p, parts) for p in range(parts)])
        dups = pa.concat_tables([pq.read_table(shard_file(wd / "dups", p)) for p in range(parts)])
        shard_col = dups.column("shard").to_numpy()
        hashes = uint64_column(dups, "line_hash")
        for s in shards:
            path = remove_file(wd, s)
            if not path.exists():
                write_table_atomic(pa.table({"line_hash": np.sort(hashes[shard_col == s])}), path)
        summary = {"stage": self.name, "duplicated_lines": int(len(np.unique(hashes)))}
        write_json_atomic(summary, wd / "summary.json")
        return summary

    def apply(self, docs: list[Document], shard: int, workdir: Path) -> list[str | None]:
        def load() -> set[int]:
            path = remove_file(Path(workdir), shard)
            if not path.exists():
                raise FileNotFoundError(f"{self.name}: {path} is missing; the reduce step has not finished")
            return set(uint64_column(pq.read_table(path), "line_hash").tolist())

        dup = _CACHE.get((str(workdir), shard, "lines"), load)
        out: list[str | None] = []
        for d in docs:
            hits = {i for i, h in line_hashes(d["text"]) if h in dup}
            if hits:
                lines = d["text"].split("\n")
                d["text"] = "\n".join(line for i, line in enumerate(lines) if i not in hits)
            out.append("line_dedup_empty" if hits and not d["text"].strip() else None)
        return out
