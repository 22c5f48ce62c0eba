"""Reading curated shards: local paths or fsspec URLs with globs → the ``id`` and ``text`` columns.

The trainer depends on the Parquet row contract (DESIGN.md) and nothing else: it reads only ``id`` and
``text``, never a filter's column, so any curated run (or any Parquet with those two columns) can feed it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq


def expand_inputs(patterns: str | Sequence[str]) -> list[str]:
    """Expand paths, directories and globs (local or ``s3://…``) into a sorted list of Parquet files.

    A directory stands for the ``*.parquet`` files directly inside it. Sorting makes the list, and so
    every shard's name and position, the same on each rerun. Raises FileNotFoundError when nothing matches:
    an empty glob is a configuration error, not an empty dataset.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    found: set[str] = set()
    for pattern in patterns:
        fs, _, _ = fsspec.get_fs_token_paths(pattern)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        paths = fs.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
        for p in paths:
            if fs.isdir(p):
                paths_in = fs.glob(p.rstrip("/") + "/*.parquet")
            elif fs.exists(p):
                paths_in = [p]
            else:
                paths_in = []
            for q in paths_in:
                # Keep local files as plain paths; give remote ones back their protocol.
                found.add(q if protocol in ("file", "local") else f"{protocol}://{q}")
    if not found:
        raise FileNotFoundError(f"no Parquet input matches {list(patterns)!r}")
    return sorted(found)


def read_shard(path: str, columns: Sequence[str] = ("id", "text")) -> pa.Table:
    """Read the given columns of one Parquet shard (local path or fsspec URL)."""
    with fsspec.open(path, "rb") as f:
        return pq.read_table(f, columns=list(columns))


def iter_texts(paths: Sequence[str], max_docs: int | None = None, batch_rows: int = 4096) -> Iterator[str]:
    """Yield the non-empty ``text`` values of the shards in order, stopping after ``max_docs`` documents.

    Streams record batches, so a large shard is never held in memory whole.
    """
    n = 0
    for path in paths:
        with fsspec.open(path, "rb") as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=["text"]):
                for text in batch.column(0).to_pylist():
                    if not text:
                        continue
                    yield text
                    n += 1
                    if max_docs is not None and n >= max_docs:
                        return
