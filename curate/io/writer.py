"""Atomic, size-rotated Parquet writing.

Every file is written under a temporary name and renamed when complete, so a reader (or a rerun) never sees
half a file. A shard's documents go to ``part-NNNNN.parquet``; past ``max_shard_bytes`` of text the writer
rotates to ``part-NNNNN-1.parquet``, ``-2``… Row groups hold ``row_group_rows`` rows, zstd-compressed.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.rundir import Folder
from curate.schema import Document, docs_to_table, schema_for


@dataclass
class OutputOptions:
    """The recipe's ``output:`` section."""

    compression: str = "zstd"
    compression_level: int = 3
    row_group_rows: int = 2000
    max_shard_bytes: int = 512 * 2**20  # of text, before compression
    rejected_text_chars: int = 300  # snippet of each dropped document kept in rejected/ (0: none)
    # files between map passes (Arrow IPC, read once, removed at the end): "auto" = uncompressed on a local
    # disk (compression is most of their writing), zstd level 1 on object storage (their size is transfer
    # time); or none, lz4 or zstd (the codecs of Arrow IPC)
    intermediate_compression: str = "auto"

    def __post_init__(self) -> None:
        if self.compression not in ("zstd", "snappy", "gzip", "lz4", "brotli", "none"):
            raise ValueError(
                f"compression: unknown codec {self.compression!r} (zstd, snappy, gzip, lz4, brotli or none)"
            )
        if self.row_group_rows <= 0 or self.max_shard_bytes <= 0:
            raise ValueError("row_group_rows and max_shard_bytes must be positive")
        if self.rejected_text_chars < 0:
            raise ValueError(f"rejected_text_chars must be >= 0 (0 keeps no snippet), got {self.rejected_text_chars}")
        if self.intermediate_compression not in ("auto", "zstd", "lz4", "none"):
            raise ValueError(
                f"intermediate_compression: unknown codec {self.intermediate_compression!r} (auto, zstd, lz4 or "
                "none: the files between passes are Arrow IPC)"
            )
        if self.compression == "zstd" and not 1 <= self.compression_level <= 22:
            raise ValueError(f"compression_level must be within 1..22 for zstd, got {self.compression_level}")


def intermediate_options(options: OutputOptions, local: bool) -> OutputOptions:
    """How the files between map passes are written (``intermediate_compression``)."""
    codec = options.intermediate_compression
    if codec == "auto":
        codec = "none" if local else "zstd"
    return replace(options, compression=codec, compression_level=1)


class ParquetShardWriter:
    """Write documents of one shard to ``<folder>/<stem>.parquet`` of a run directory (rotating by size).

    ``schema`` may be given; else it is fixed from the first batch (base columns first); ``transient``: a file
    read once by a reduce, written without dictionaries and statistics; ``ipc``: an Arrow IPC file
    (``.arrow``) instead, for the files between map passes (writing and reading it is a copy, where even a
    plain Parquet file is encoded and decoded column by column: ~2 ms less per pass and shard of 200 pages).
    Files are written
    through the run directory's atomic scheme (:meth:`curate.rundir.Folder.temp_path`) and made visible by
    ``close()``, which returns their names.
    """

    def __init__(
        self,
        where: Folder,
        folder: str,
        stem: str,
        options: OutputOptions,
        schema: pa.Schema | None = None,
        rotate: bool = True,
        transient: bool = False,
        ipc: bool = False,
    ) -> None:
        self.where = where
        self.transient = transient
        self.ipc = ipc
        self.folder = folder
        self.stem = stem
        self.options = options
        self.schema = schema
        self.rotate = rotate
        self._writer: pq.ParquetWriter | None = None
        self._file = None
        self._tmp = ""
        self._rel = ""
        self._bytes = 0
        self._part = 0
        self._pending: list[tuple[str, str]] = []
        self.rows = 0

    def _open(self) -> None:
        self._rel = f"{self.folder}/{part_name_of(self.stem, self._part)}{'.arrow' if self.ipc else '.parquet'}"
        self.where.makedirs(self.folder)
        self._tmp = self.where.temp_path(self._rel)
        self._file = self.where.fs.open(self._tmp, "wb")
        codec = None if self.options.compression == "none" else self.options.compression
        level = self.options.compression_level if codec == "zstd" else None
        if self.ipc:
            options = pa.ipc.IpcWriteOptions(compression=pa.Codec(codec, level) if codec else None)
            self._writer = pa.ipc.new_file(self._file, self.schema, options=options)
            self._bytes = 0
            return
        # A transient file (read once by a reduce) has no dictionary pages and no column statistics: no reader
        # looks at them, and they are a third of an uncompressed write of long text.
        plain = {"use_dictionary": False, "write_statistics": False} if self.transient else {}
        self._writer = pq.ParquetWriter(
            self._file, self.schema, compression=codec, compression_level=level, **plain
        )
        self._bytes = 0

    def _close_current(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._file.close()
            self._pending.append((self._tmp, self._rel))
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
        if self.schema is None:
            self.schema = table.schema  # an empty first table still fixes the schema: close() writes it
        if table.num_rows == 0:
            return
        # Row group by row group, so that a file rotates within a large batch too.
        step = self.options.row_group_rows
        for start in range(0, table.num_rows, step):
            part = table.slice(start, step)
            if self._writer is None:
                self._open()
            if self.ipc:
                self._writer.write_table(part, max_chunksize=step)
            else:
                self._writer.write_table(part, row_group_size=step)
            self.rows += part.num_rows
            self._bytes += part.nbytes
            if self.rotate and self._bytes >= self.options.max_shard_bytes:
                self._close_current()

    def close(self) -> list[str]:
        """Finish: commit every file. With no rows at all, write one empty file (the schema)."""
        if self._writer is None and not self._pending and self.schema is not None:
            self._open()
        self._close_current()
        names = []
        for tmp, rel in self._pending:
            self.where.commit(tmp, rel)
            names.append(posixpath.basename(rel))
        self._pending = []
        return names

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                self._file.close()
            except Exception:
                pass
            self._pending.append((self._tmp, self._rel))
        for tmp, _ in self._pending:
            if self.where.local:
                try:
                    self.where.fs.rm(tmp)
                except Exception:
                    pass
        self._pending = []


def part_name_of(stem: str, rotation: int) -> str:
    return stem if rotation == 0 else f"{stem}-{rotation}"
