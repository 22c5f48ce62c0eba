"""Files of a dedup stage's workdir: names, atomic writes, shard offsets, the per-shard removal lists.

Every pass writes its outputs to a temporary name and renames it, and skips outputs that exist, so a reduce
that dies half-way resumes where it stopped. Layout (``workdir = <run>/global/NN-<stage>/``)::

    collect/part-NNNNN.parquet   rows from each shard (written by the engine)
    <pass>/...                   intermediate outputs of each reduce pass
    remove/part-NNNNN.parquet    per-shard list read by ``apply``
    summary.json                 counts and histograms for the report
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def shard_file(folder: Path, shard: int) -> Path:
    return Path(folder) / f"part-{shard:05d}.parquet"


def collect_file(workdir: Path, shard: int) -> Path:
    return shard_file(Path(workdir) / "collect", shard)


def remove_file(workdir: Path, shard: int) -> Path:
    return shard_file(Path(workdir) / "remove", shard)


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write Parquet to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_json_atomic(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_columns(path: Path, columns: list[str]) -> pa.Table:
    """Read some columns of a collect file (a missing file means the shard had no rows)."""
    return pq.read_table(path, columns=columns)


def shard_row_counts(workdir: Path, shards: list[int]) -> np.ndarray:
    """Rows in each shard's collect file (0 when the file is absent), from Parquet metadata only."""
    counts = []
    for s in shards:
        p = collect_file(workdir, s)
        counts.append(pq.ParquetFile(p).metadata.num_rows if p.exists() else 0)
    return np.asarray(counts, dtype=np.int64)


def shard_offsets(workdir: Path, shards: list[int]) -> np.ndarray:
    """Global row index of each shard's first row: the dense id space of the reduce passes (len = shards+1)."""
    return np.concatenate([[0], np.cumsum(shard_row_counts(workdir, shards))]).astype(np.int64)


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


def load_remove_list(workdir: Path, shard: int, stage: str) -> dict[str, tuple[str, int]]:
    """``id -> (kept_id, cluster_size)`` for a shard's rows that belong to a duplicate cluster."""
    path = remove_file(workdir, shard)
    if not path.exists():
        raise FileNotFoundError(f"{stage}: {path} is missing; the reduce step has not finished")
    t = pq.read_table(path, columns=["id", "kept_id", "cluster_size"])
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
    workdir: Path,
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
        path = remove_file(workdir, s)
        if path.exists():
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
        write_table_atomic(t, path)


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
