"""Shared pieces of the dedup stages' reduce passes: shard offsets, removal lists, representatives.

Every file goes through the stage's :class:`~curate.rundir.StageDir` (atomic, on any filesystem); every
pass skips outputs that exist, so a reduce that dies half-way resumes where it stopped. Layout
(``global/PP-<stage>/``)::

    collect/part-NNNNN.parquet   rows from each shard (written by the engine)
    <pass>/...                   intermediate outputs of each reduce pass
    remove/part-NNNNN.parquet    per-shard list read by ``apply``
    summary.json                 counts and histograms for the report
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from curate.rundir import StageDir


def shard_row_counts(sdir: StageDir, shards: list[int]) -> np.ndarray:
    """Rows in each shard's collect file (0 when the file is absent), from Parquet metadata only."""
    counts = []
    for s in shards:
        rel = sdir.collect_file(s)
        counts.append(sdir.num_rows(rel) if sdir.exists(rel) else 0)
    return np.asarray(counts, dtype=np.int64)


def shard_offsets(sdir: StageDir, shards: list[int]) -> np.ndarray:
    """Global row index of each shard's first row: the dense id space of the reduce passes (len = shards+1)."""
    return np.concatenate([[0], np.cumsum(shard_row_counts(sdir, shards))]).astype(np.int64)


def uint64_column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if col.num_chunks == 0:
        return np.zeros(0, dtype=np.uint64)
    return col.combine_chunks().to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)


class ShardCache:
    """A small per-process cache of per-shard lists: ``apply`` is called once per batch of a shard."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = factory()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def load_remove_list(sdir: StageDir, shard: int, stage: str) -> dict[str, tuple[str, int]]:
    """``id -> (kept_id, cluster_size)`` for a shard's rows that belong to a duplicate cluster."""
    rel = sdir.remove_file(shard)
    if not sdir.exists(rel):
        raise FileNotFoundError(f"{stage}: {sdir.uri(rel)} is missing; the reduce step has not finished")
    t = sdir.read_table(rel, columns=["id", "kept_id", "cluster_size"])
    return dict(
        zip(
            t.column("id").to_pylist(),
            zip(t.column("kept_id").to_pylist(), t.column("cluster_size").to_pylist(), strict=True),
            strict=True,
        )
    )


REMOVE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("kept_id", pa.string()),  # the representative of the cluster (== id on the kept row)
        pa.field("cluster", pa.string()),  # cluster id = the representative's id
        pa.field("cluster_size", pa.int32()),
    ]
)


def write_remove_lists(
    sdir: StageDir,
    shards: list[int],
    shard_of: np.ndarray,
    ids: np.ndarray,
    kept: np.ndarray,
    size: np.ndarray,
) -> None:
    """Split cluster membership rows by shard into ``remove/part-NNNNN.parquet`` (one file per shard, even
    empty, so ``apply`` can tell "no duplicates" from "reduce not run")."""
    order = np.argsort(shard_of, kind="stable")
    shard_of, ids, kept, size = shard_of[order], ids[order], kept[order], size[order]
    bounds = np.searchsorted(shard_of, np.asarray(shards), side="left")
    ends = np.searchsorted(shard_of, np.asarray(shards), side="right")
    for s, lo, hi in zip(shards, bounds, ends, strict=True):
        rel = sdir.remove_file(s)
        if sdir.exists(rel):
            continue
        t = pa.table(
            {
                "id": pa.array(ids[lo:hi].tolist(), pa.string()),
                "kept_id": pa.array(kept[lo:hi].tolist(), pa.string()),
                "cluster": pa.array(kept[lo:hi].tolist(), pa.string()),
                "cluster_size": pa.array(size[lo:hi], pa.int32()),
            },
            schema=REMOVE_SCHEMA,
        )
        sdir.write_table(rel, t)


def cluster_representatives(
    labels: np.ndarray, lengths: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For members grouped by ``labels``: each member's kept id and its cluster's size.

    The rule (documented in the stages): keep the member with the longest text; ties go to the smallest id
    (string order). It depends only on the members' ids and lengths, so it is the same whatever the number of
    shards, workers or partitions.
    """
    if len(labels) == 0:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int32)
    ids_u = np.asarray(ids, dtype=str)
    order = np.lexsort((ids_u, -np.asarray(lengths, dtype=np.int64), labels))
    sl = labels[order]
    first = np.concatenate([[True], sl[1:] != sl[:-1]])
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    sizes = np.diff(np.concatenate([starts, [len(sl)]]))
    kept_sorted = ids_u[order][starts][group]
    kept = np.empty(len(labels), dtype=object)
    size = np.empty(len(labels), dtype=np.int32)
    kept[order] = kept_sorted
    size[order] = sizes[group]
    return kept, size
