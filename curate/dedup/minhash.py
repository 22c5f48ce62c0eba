"""``minhash``: MinHash LSH fuzzy deduplication as a global stage (see ``signature``, ``lsh``, ``unionfind``).

Passes (each resumable: outputs are written under a temporary name and renamed; existing ones are skipped)::

    per-shard map   process_batch: signatures (vectorised, one-permutation hashing)
                    collect -> collect/part-NNNNN.parquet: id, len, source, domain, sig, b000..bBBB
    reduce 1        one task per band   -> bands/band-BBB.parquet      candidate pairs (star per bucket)
    reduce 2        one task per part   -> verified/part-PPPPP.parquet pairs + estimated Jaccard
    reduce 3        connected components (in process; across tasks above ``max_pairs_in_memory``)
                                        -> components.parquet         (row, label)
    reduce 4        representatives     -> remove/part-NNNNN.parquet  (id, kept_id, cluster, cluster_size)
                                        -> summary.json
    per-shard map   apply: drop non-representatives (reason ``minhash_duplicate``, ``_duplicate_of``)

**Representative rule**: in each cluster the document with the longest text (characters) is kept; ties go
to the smallest id (string order). It depends only on the members, not on shard, worker or partition counts.

**Columns on kept rows**: ``dup_cluster`` (string: the kept id of the document's cluster — its own id, as
it is the representative; null for documents in no cluster) and ``dup_cluster_size`` (int32: documents in
the cluster before removal; 1 for singletons). Ids must be unique within a shard.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from curate.dedup import lsh, unionfind
from curate.dedup.signature import minhash_signatures
from curate.dedup.workfiles import (
    ShardCache,
    cluster_representatives,
    load_remove_list,
    shard_offsets,
    uint64_column,
    write_remove_lists,
)
from curate.rundir import StageDir
from curate.schema import Document
from curate.stage import GlobalStage, register

_SIG = "_minhash_sig"
_CACHE = ShardCache()


def domain_of(url: str | None) -> str | None:
    """Host of a URL without ``www.`` (for the per-domain audit)."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return host[4:] if host.startswith("www.") else host or None


@register("minhash")
class MinHashDedup(GlobalStage):
    """Near-duplicate removal with MinHash LSH (word n-grams, one-permutation hashing, banded LSH).

    Parameters:
        ngram: words per shingle (FineWeb and DCLM: 5).
        bands, rows: LSH bands × rows per band (FineWeb: 14 × 8; DCLM ablation: 93 × 15). Set both to null to
            derive them from ``threshold`` and ``num_perm`` (minimum weighted FP + FN probability).
        num_perm: signature length; default ``bands * rows`` (must be at least that).
        threshold: the Jaccard similarity that counts as a duplicate; used to derive bands/rows.
        verify: check each candidate pair's estimated Jaccard before joining it (default on).
        verify_threshold: estimated Jaccard a candidate pair must reach. Below ``threshold`` on purpose: with
            112 permutations the estimate's standard error is about 0.04 at J = 0.8, so 0.7 keeps true pairs
            at the threshold while rejecting chance band collisions (shared boilerplate, J ≈ 0.1–0.4).
        max_pairs_in_memory: above this many verified pairs, connected components run across tasks.
    Drop reason: ``minhash_duplicate`` (``_duplicate_of`` = kept id).
    """

    columns = ("dup_cluster", "dup_cluster_size")

    def __init__(
        self,
        ngram: int = 5,
        bands: int | None = 14,
        rows: int | None = 8,
        num_perm: int | None = None,
        threshold: float = 0.8,
        verify: bool = True,
        verify_threshold: float = 0.7,
        max_pairs_in_memory: int = 50_000_000,
    ) -> None:
        if ngram < 1:
            raise ValueError("ngram must be >= 1")
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be in (0, 1)")
        if not 0.0 <= verify_threshold <= 1.0:
            raise ValueError("verify_threshold must be in [0, 1]")
        if (bands is None) != (rows is None):
            raise ValueError("give both bands and rows, or neither (derived from threshold and num_perm)")
        if bands is None or rows is None:
            num_perm = num_perm or 112
            bands, rows = lsh.optimal_params(threshold, num_perm)
        if bands < 1 or rows < 1:
            raise ValueError("bands and rows must be >= 1")
        num_perm = num_perm or bands * rows
        if num_perm < bands * rows:
            raise ValueError(f"num_perm ({num_perm}) must be >= bands * rows ({bands * rows})")
        self.ngram, self.bands, self.rows, self.num_perm = ngram, bands, rows, num_perm
        self.threshold, self.verify, self.verify_threshold = threshold, verify, verify_threshold
        self.max_pairs_in_memory = max_pairs_in_memory

    # --- per-shard map ---------------------------------------------------------------------------------

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        if docs:
            sig, valid = minhash_signatures([d["text"] for d in docs], self.num_perm, self.ngram)
            for d, s, v in zip(docs, sig, valid, strict=True):
                d[_SIG] = s if v else None
        return [None] * len(docs)

    def collect_schema(self) -> pa.Schema:
        fields = [
            pa.field("id", pa.string()),
            pa.field("len", pa.int64()),
            pa.field("source", pa.string()),
            pa.field("domain", pa.string()),
            pa.field("sig", pa.list_(pa.uint32(), self.num_perm)),
        ]
        fields += [pa.field(lsh.band_column(b), pa.uint64()) for b in range(self.bands)]
        return pa.schema(fields)

    def collect(self, docs: list[Document]) -> pa.Table:
        """One row per document with at least one word (empty documents never match anything here)."""
        missing = [d for d in docs if _SIG not in d]
        if missing:  # collect called without process_batch (e.g. by the simple API)
            self.process_batch(missing)
        rows = [d for d in docs if d.get(_SIG) is not None]
        sig = np.stack([d[_SIG] for d in rows]) if rows else np.zeros((0, self.num_perm), np.uint32)
        bh = lsh.band_hashes(sig, self.bands, self.rows)
        cols: dict[str, Any] = {
            "id": [str(d["id"]) for d in rows],
            "len": [len(d["text"]) for d in rows],
            "source": [d.get("source") for d in rows],
            "domain": [domain_of(d.get("url")) for d in rows],
            "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), self.num_perm),
        }
        for b in range(self.bands):
            cols[lsh.band_column(b)] = bh[:, b]
        return pa.table(cols, schema=self.collect_schema())

    # --- reduce ----------------------------------------------------------------------------------------

    reduce_jobs = (
        "candidate pairs (one job per band) → verified pairs (one job per partition) → connected "
        "components → per-shard removal lists"
    )

    def reduce(self, sdir: StageDir, shards: list[int], runner: Any) -> dict[str, Any]:
        wd = sdir
        shards = sorted(shards)
        offsets = shard_offsets(wd, shards)
        n_docs = int(offsets[-1])
        off = [int(x) for x in offsets]
        # 1. candidate pairs, one task per band
        cand_per_band = runner.map(lsh.band_pass, [(wd, shards, off, b) for b in range(self.bands)])
        # 2. verification, one task per partition of the pairs
        parts = max(1, int(getattr(runner, "num_workers", 1)))
        self._clear_stale_partitions(wd, parts)
        counts = runner.map(
            lsh.verify_pass,
            [(wd, shards, off, self.bands, p, parts, self.verify) for p in range(parts)],
        )
        candidates = sum(c for c, _ in counts)
        # 3. connected components
        comp_path = "components.parquet"
        vt = self.verify_threshold if self.verify else -1.0
        if not wd.exists(comp_path):
            files = [lsh.verified_file(wd, p) for p in range(parts)]
            if candidates > self.max_pairs_in_memory:
                nodes, labels = unionfind.distributed_components(files, n_docs, wd, runner, vt)
            else:
                a, b = _read_kept_pairs(wd, files, vt)
                nodes, labels = unionfind.components(a, b)
            wd.write_table(
                comp_path, pa.table({"row": nodes.astype(np.uint64), "label": labels.astype(np.uint64)})
            )
        comp = wd.read_table(comp_path)
        nodes, labels = (
            uint64_column(comp, "row").astype(np.int64),
            uint64_column(comp, "label").astype(np.int64),
        )
        verified = _count_kept_pairs(wd, [lsh.verified_file(wd, p) for p in range(parts)], vt)
        # 4. representatives and per-shard removal lists
        shard_idx = np.searchsorted(offsets, nodes, side="right") - 1
        ids, lengths = _member_ids(wd, shards, offsets, nodes, shard_idx)
        kept, size = cluster_representatives(labels, lengths, ids)
        if not all(wd.exists(wd.remove_file(s)) for s in shards):
            write_remove_lists(wd, shards, np.asarray(shards)[shard_idx], ids, kept, size)
        removed = int(np.sum(kept != np.asarray(ids, dtype=object))) if len(ids) else 0
        summary = {
            "stage": self.name,
            "documents": n_docs,
            "bands": self.bands,
            "rows": self.rows,
            "num_perm": self.num_perm,
            "ngram": self.ngram,
            "candidate_pairs_per_band": [int(c) for c in cand_per_band],
            "candidate_pairs": int(candidates),
            "verified_pairs": int(verified),
            "clustered_documents": int(len(nodes)),
            "clusters": int(len(np.unique(labels))),
            "removed": removed,
            "cluster_size_histogram": _histogram(labels),
        }
        wd.write_json("summary.json", summary)
        return summary

    @staticmethod
    def _clear_stale_partitions(wd: StageDir, parts: int) -> None:
        """Verified partitions from a run with another partition count cannot be reused."""
        meta = "verified/partitions.json"
        if wd.exists(meta) and wd.read_json(meta).get("parts") != parts:
            for f in wd.glob("verified/part-*.parquet"):
                wd.rm(f)
        wd.write_json(meta, {"parts": parts})

    # --- per-shard apply -------------------------------------------------------------------------------

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        clusters = _CACHE.get((sdir.url, shard), lambda: load_remove_list(sdir, shard, self.name))
        out: list[str | None] = []
        for d in docs:
            hit = clusters.get(str(d["id"]))
            if hit is None:
                d["dup_cluster"], d["dup_cluster_size"] = None, 1
                out.append(None)
            elif hit[0] != str(d["id"]):
                d["_duplicate_of"] = hit[0]
                out.append("minhash_duplicate")
            else:
                d["dup_cluster"], d["dup_cluster_size"] = hit[0], int(hit[1])
                out.append(None)
        return out


def _read_kept_pairs(wd: StageDir, files: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    aa, bb = [], []
    for f in files:
        t = wd.read_table(f)
        keep = ~(t.column("jaccard").to_numpy(zero_copy_only=False) < threshold)  # NaN (no verify) keeps
        aa.append(uint64_column(t, "a")[keep])
        bb.append(uint64_column(t, "b")[keep])
    return np.concatenate(aa).astype(np.int64), np.concatenate(bb).astype(np.int64)


def _count_kept_pairs(wd: StageDir, files: list[str], threshold: float) -> int:
    n = 0
    for f in files:
        j = wd.read_table(f, columns=["jaccard"]).column("jaccard").to_numpy(zero_copy_only=False)
        n += int(np.sum(~(j < threshold)))
    return n


def _member_ids(
    wd: StageDir, shards: list[int], offsets: np.ndarray, nodes: np.ndarray, shard_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and text lengths of the clustered rows, reading only ``id``/``len`` of each shard."""
    ids = np.empty(len(nodes), dtype=object)
    lengths = np.zeros(len(nodes), dtype=np.int64)
    for k, s in enumerate(shards):
        sel = np.flatnonzero(shard_idx == k)
        if not len(sel):
            continue
        t = wd.read_table(wd.collect_file(s), columns=["id", "len"])
        rows = nodes[sel] - offsets[k]
        ids[sel] = np.asarray(t.column("id").to_pylist(), dtype=object)[rows]
        lengths[sel] = t.column("len").to_numpy()[rows]
    return ids, lengths


def _histogram(labels: np.ndarray) -> dict[str, int]:
    """Clusters by size bucket: 2, 3, 4, 5-9, 10-99, 100-999, 1000+."""
    if not len(labels):
        return {}
    sizes = np.unique(labels, return_counts=True)[1]
    edges = [(2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, 999), (1000, None)]
    out = {}
    for lo, hi in edges:
        n = int(np.sum((sizes >= lo) & ((sizes <= hi) if hi else True)))
        if n:
            out[f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")] = n
    return out
