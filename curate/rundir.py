"""The run directory: one object that owns every path of a run's layout and every atomic write.

Local disk, ``s3://``, ``gs://`` or any fsspec URL: the same class, the same layout (DESIGN.md)::

    run.yaml                          resolved recipe, inputs, versions, start/end, fingerprint
    data/part-NNNNN[-R].parquet       kept documents of shard NNNNN (R: size rotation)
    intermediate/sK/part-NNNNN….arrow the output of map pass K when a global stage follows it (Arrow IPC)
    rejected/part-NNNNN[-sK].parquet  dropped documents (pass K > 0 adds -sK)
    stats/part-NNNNN[-sK].json        per-shard, per-pass counts
    markers/sK/part-NNNNN.json        completion marker of shard NNNNN in map pass K (written last)
    markers/global-PP-NAME.json       completion marker of a global stage's reduce pass
    failed/part-NNNNN.txt             why a shard failed (removed when a rerun finishes it)
    global/PP-NAME/                   a global stage's own files (a :class:`StageDir`)
    lock.json                         who is running on this directory now

**Atomic writes, one scheme.** On a local filesystem a file is written to ``<name>.tmp-<8 hex>`` in the same
folder and renamed into place (``os.replace``). On an object store a PUT (or a completed multipart upload)
is atomic by itself, so the object is written under its final key: a reader sees all of it or nothing, and
no rename (a copy on S3) is needed. Leftover temporary files of a killed run are removed by
:meth:`RunDir.clean_leftovers` when the run resumes. Completion markers are written last, so a file that
exists without its marker is from an attempt that did not finish and is rewritten by the rerun.
"""

from __future__ import annotations

import io
import json
import posixpath
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import batch_rows as rows_of

T = TypeVar("T")

TMP_MARK = ".tmp-"
# Errors of the storage layer worth another try (a 5xx, a reset connection, a timeout). Missing files and
# permissions are not: they fail the operation at once.
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def part_name(shard: int, rotation: int = 0, suffix: str = "") -> str:
    """``part-NNNNN[-R][suffix]``: the one place a shard's file stem is spelled."""
    return f"part-{shard:05d}" + (f"-{rotation}" if rotation else "") + suffix


def retry_io(fn: Callable[[], T], what: str, attempts: int = 5, base_delay: float = 0.2) -> T:
    """Call ``fn`` again after a transient storage error, with exponential backoff and jitter."""
    for attempt in range(attempts):
        try:
            return fn()
        except _PERMANENT:
            raise
        except (OSError, TimeoutError, ConnectionError) as e:
            if attempt == attempts - 1:
                raise OSError(f"{what}: {type(e).__name__}: {e} (after {attempts} attempts)") from e
            STORAGE_RETRIES[0] += 1
            time.sleep(base_delay * (2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


# Retries counted in this process (read and reset by the map pass for its stats).
STORAGE_RETRIES = [0]


class Folder:
    """An fsspec folder with atomic writes: the common base of :class:`RunDir` and :class:`StageDir`.

    Relative paths (``"collect/part-00000.parquet"``) are joined to the folder's root. Instances pickle
    (URL + storage options), so Ray tasks receive them as arguments.
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/") or "/"
        self.storage_options = dict(storage_options or {})
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["storage_options"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return self._fs

    @property
    def root(self) -> str:
        self.fs  # noqa: B018 - resolves the root
        return self._root.rstrip("/") or "/"

    def fresh(self) -> fsspec.AbstractFileSystem:
        """The filesystem with its listings cache dropped: other processes (the workers, another node) write
        here too, and a cached listing or size of an object store would hide their files or show old sizes."""
        fs = self.fs
        if not self.local:
            fs.invalidate_cache()
        return fs

    @property
    def local(self) -> bool:
        proto = self.fs.protocol
        return (proto if isinstance(proto, str) else proto[0]) in ("file", "local")

    def full(self, rel: str = "") -> str:
        """The filesystem path (no protocol) of ``rel``."""
        return posixpath.join(self.root, rel) if rel else self.root

    def uri(self, rel: str = "") -> str:
        """The URL of ``rel`` as a user would type it (``s3://bucket/run/data/...``)."""
        return posixpath.join(self.url, rel) if rel else self.url

    def sub(self, rel: str) -> Folder:
        return Folder(self.uri(rel), self.storage_options)

    # --- reading -----------------------------------------------------------------------------------

    def exists(self, rel: str) -> bool:
        return retry_io(lambda: self.fresh().exists(self.full(rel)), f"exists {self.uri(rel)}")

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching ``pattern`` (sorted); temporary files are never listed."""
        base = self.root + "/"
        found = retry_io(lambda: self.fresh().glob(self.full(pattern)), f"list {self.uri(pattern)}")
        rels = [p[len(base) :] if p.startswith(base) else p.lstrip("/")[len(base) - 1 :] for p in found]
        return sorted(r for r in rels if TMP_MARK not in posixpath.basename(r))

    def read_bytes(self, rel: str) -> bytes:
        return retry_io(lambda: self.fresh().cat_file(self.full(rel)), f"read {self.uri(rel)}")

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        def go() -> pa.Table:
            with self.fresh().open(self.full(rel), "rb") as f:  # one file: no pyarrow.dataset (8 ms to import)
                return pq.ParquetFile(f).read(columns=columns)

        return retry_io(go, f"read {self.uri(rel)}")

    def num_rows(self, rel: str) -> int:
        def go() -> int:
            with self.fresh().open(self.full(rel), "rb") as f:
                return pq.ParquetFile(f).metadata.num_rows

        return retry_io(go, f"read {self.uri(rel)}")

    def schema(self, rel: str) -> pa.Schema:
        def go() -> pa.Schema:
            with self.fresh().open(self.full(rel), "rb") as f:
                return pq.ParquetFile(f).schema_arrow

        return retry_io(go, f"read {self.uri(rel)}")

    def iter_batches(self, rel: str, batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
        """Record batches of a Parquet file, streamed, or of an Arrow IPC file (``.arrow``: the files between
        map passes; memory-mapped on a local disk)."""
        if rel.endswith(".arrow"):
            with pa.memory_map(self.full(rel)) if self.local else self.fresh().open(self.full(rel), "rb") as f:
                reader = pa.ipc.open_file(f)
                for i in range(reader.num_record_batches):
                    batch = reader.get_batch(i)
                    for start in range(0, batch.num_rows, batch_rows):
                        yield batch.slice(start, batch_rows)
            return
        with self.fresh().open(self.full(rel), "rb") as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_rows)

    def iter_rows(self, rel: str, batch_rows: int = 1024) -> Iterator[dict[str, Any]]:
        """Rows of a Parquet file as dicts, a batch at a time."""
        for batch in self.iter_batches(rel, batch_rows):
            yield from rows_of(batch)

    # --- writing (atomic) --------------------------------------------------------------------------

    def temp_path(self, rel: str) -> str:
        """Where ``rel`` is written before it is committed (itself on an object store)."""
        final = self.full(rel)
        return f"{final}{TMP_MARK}{uuid.uuid4().hex[:8]}" if self.local else final

    def commit(self, tmp: str, rel: str) -> None:
        """Make a file written at ``temp_path(rel)`` visible under ``rel``."""
        final = self.full(rel)
        if tmp != final:
            self.fs.mv(tmp, final)

    def makedirs(self, rel: str = "") -> None:
        if self.local:
            self.fs.makedirs(self.full(rel), exist_ok=True)

    @contextmanager
    def open_atomic(self, rel: str) -> Iterator[Any]:
        """A binary file handle whose content appears under ``rel`` only when the block exits cleanly."""
        self.makedirs(posixpath.dirname(rel))
        tmp = self.temp_path(rel)
        f = self.fs.open(tmp, "wb")
        try:
            yield f
        except BaseException:
            f.close() if self.local else getattr(f, "discard", f.close)()
            if self.local:
                self.fs.rm(tmp)
            raise
        f.close()
        self.commit(tmp, rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        def go() -> None:
            with self.open_atomic(rel) as f:
                f.write(data)

        retry_io(go, f"write {self.uri(rel)}")

    def write_json(self, rel: str, obj: Any) -> None:
        self.write_bytes(rel, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())

    def write_table(self, rel: str, table: pa.Table) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(rel, buf.getvalue())

    def rm(self, rel: str, recursive: bool = False) -> None:
        def go() -> None:
            try:
                self.fs.rm(self.full(rel), recursive=recursive)
            except FileNotFoundError:
                pass

        retry_io(go, f"remove {self.uri(rel)}")


class StageDir(Folder):
    """A global stage's own folder, ``global/PP-NAME/`` (what ``reduce`` and the apply stage receive)."""

    @staticmethod
    def shard_file(folder: str, shard: int) -> str:
        return f"{folder}/{part_name(shard, suffix='.parquet')}"

    def collect_file(self, shard: int) -> str:
        """Rows the map pass collected from ``shard`` for this stage (written by the engine)."""
        return self.shard_file("collect", shard)

    def remove_file(self, shard: int) -> str:
        return self.shard_file("remove", shard)


class RunDir(Folder):
    """One run's output folder (see the module docstring for its layout)."""

    def data_folder(self, pass_index: int, last: bool) -> str:
        return "data" if last else f"intermediate/s{pass_index}"

    @staticmethod
    def pass_suffix(pass_index: int) -> str:
        return f"-s{pass_index}" if pass_index else ""

    def rejected_stem(self, shard: int, pass_index: int) -> str:
        return part_name(shard, suffix=self.pass_suffix(pass_index))

    def stats_file(self, shard: int, pass_index: int) -> str:
        return f"stats/{part_name(shard, suffix=self.pass_suffix(pass_index))}.json"

    def marker(self, pass_index: int, shard: int) -> str:
        return f"markers/s{pass_index}/{part_name(shard, suffix='.json')}"

    def global_marker(self, position: int, name: str) -> str:
        return f"markers/global-{position:02d}-{name}.json"

    def failed_file(self, shard: int) -> str:
        return f"failed/{part_name(shard, suffix='.txt')}"

    def stage_dir(self, position: int, name: str) -> StageDir:
        return StageDir(self.uri(f"global/{position:02d}-{name}"), self.storage_options)

    def shard_outputs(self, pass_index: int, shard: int, last: bool) -> list[str]:
        """Files an attempt of (pass, shard) may have written before its marker: removed before a retry, so
        a rerun that rotates into fewer files leaves none of the old attempt's behind."""
        folder, stem = self.data_folder(pass_index, last), part_name(shard)
        ext = "parquet" if last else "arrow"
        rejected = f"rejected/{self.rejected_stem(shard, pass_index)}.parquet"
        return self.glob(f"{folder}/{stem}.{ext}") + self.glob(f"{folder}/{stem}-*.{ext}") + self.glob(rejected)

    def clean_leftovers(self) -> int:
        """Remove temporary files a killed run left behind (local disk only: object stores have none)."""
        if not self.local or not self.fs.exists(self.root):
            return 0
        n = 0
        for p in self.fs.glob(f"{self.root}/**/*{TMP_MARK}*"):
            try:
                self.fs.rm(p)
                n += 1
            except FileNotFoundError:
                pass
        return n
