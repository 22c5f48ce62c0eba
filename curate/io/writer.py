"""Atomic, size-rotated Parquet writing.

Every file is written under a temporary name and renamed when complete, so a reader (or a rerun) never sees
half a file. A shard's documents go to ``part-NNNNN.parquet``; past ``max_shard_bytes`` of text the writer
rotates to ``part-NNNNN-1.parquet``, ``-2``… Row groups hold ``row_group_rows`` rows, zstd-compressed.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import Document, docs_to_table, schema_for


@dataclass
class OutputOptions:
    """The recipe's ``output:`` section."""

    compression: str = "zstd"
    compression_level: int = 3
    row_group_rows: int = 2000
    max_shard_bytes: int = 512 * 2**20  # of text, before compression
    rejected_text_chars: int = 300  # snippet of each dropped document kept in rejected/ (0: none)

    def __post_init__(self) -> None:
        if self.compression not in ("zstd", "snappy", "gzip", "lz4", "brotli", "none"):
            raise ValueError(f"output.compression: unknown codec {self.compression!r}")
        if self.row_group_rows <= 0 or self.max_shard_bytes <= 0:
            raise ValueError("output.row_group_rows and output.max_shard_bytes must be positive")


def _fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url)


def atomic_write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` through a temporary name and a rename."""
    fs, path = _fs(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as f:
        f.write(data)
    fs.mv(tmp, path)


class ParquetShardWriter:
    """Write documents of one shard to ``<folder>/<stem>.parquet`` (rotating by size), atomically.

    ``schema`` may be given; else it is fixed from the first batch (base columns first).
    ``close()`` renames the finished files into place and returns their names.
    """

    def __init__(
        self, folder: str, stem: str, options: OutputOptions, schema: pa.Schema | None = None, rotate: bool = True
    ) -> None:
        self.fs, self.folder = _fs(folder)
        self.fs.makedirs(self.folder, exist_ok=True)
        self.stem = stem
        self.options = options
        self.schema = schema
        self.rotate = rotate
        self._writer: pq.ParquetWriter | None = None
        self._file = None
        self._tmp = ""
        self._final = ""
        self._bytes = 0
        self._part = 0
        self._pending: list[tuple[str, str]] = []
        self.rows = 0

    def _open(self) -> None:
        name = f"{self.stem}.parquet" if self._part == 0 else f"{self.stem}-{self._part}.parquet"
        self._final = posixpath.join(self.folder, name)
        self._tmp = f"{self._final}.tmp-{uuid.uuid4().hex[:8]}"
        self._file = self.fs.open(self._tmp, "wb")
        codec = None if self.options.compression == "none" else self.options.compression
        level = self.options.compression_level if codec == "zstd" else None
        self._writer = pq.ParquetWriter(self._file, self.schema, compression=codec, compression_level=level)
        self._bytes = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._file.close()
            self._pending.append((self._tmp, self._final))
            self._writer = None
            self._part += 1

    def write_docs(self, docs: list[Document]) -> None:
        if not docs:
            return
        if self.schema is None:
            cols: dict[str, Any] = {}
            for d in docs:
                for k, v in d.items():
                    if cols.get(k) is None:
                        cols[k] = v
            self.schema = schema_for(cols, cols)
        self.write_table(docs_to_table(docs, self.schema))

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.schema is None:
            self.schema = table.schema
        # Row group by row group, so that a file rotates within a large batch too.
        step = self.options.row_group_rows
        for start in range(0, table.num_rows, step):
            part = table.slice(start, step)
            if self._writer is None:
                self._open()
            self._writer.write_table(part, row_group_size=step)
            self.rows += part.num_rows
            self._bytes += part.nbytes
            if self.rotate and self._bytes >= self.options.max_shard_bytes:
                self._close_current()

    def close(self) -> list[str]:
        """Finish: rename every file into place. With no rows at all, write one empty file (the schema)."""
        if self._writer is None and not self._pending and self.schema is not None:
            self._open()
        self._close_current()
        names = []
        for tmp, final in self._pending:
            self.fs.mv(tmp, final)
            names.append(posixpath.basename(final))
        self._pending = []
        return names

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                self._file.close()
            except Exception:
                pass
            self._pending.append((self._tmp, self._final))
        for tmp, _ in self._pending:
            try:
                self.fs.rm(tmp)
            except Exception:
                pass
        self._pending = []
