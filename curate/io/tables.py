"""Read JSONL and Parquet inputs into documents; bad rows are counted skips, never a failed shard.

Ids: a row's own ``id`` is kept (as a string). A row without one gets ``<source>:<n>``, with ``source`` the
file's path relative to the common root of the run's inputs (so ``a/data.jsonl`` and ``b/data.jsonl`` never
collide) and ``n`` the 1-based line (JSONL) or row (Parquet) number in the whole file. A JSONL file split into
byte ranges numbers its rows by byte offset instead (``<source>@<offset>``): a range does not know how many
lines came before it.

Skips: ``read_bad_json`` (a line that is not JSON), ``read_no_text`` (no string ``text``),
``read_truncated_file`` (a compressed stream or the last line cut short), ``read_corrupt_record`` (corrupt
compressed JSONL: the rest of the file is lost; a Parquet row group that cannot be decoded, the next one is
read; a Parquet value that is not valid UTF-8), ``read_malformed_record`` (a file that is not Parquet at all). Repairs: a UTF-8 BOM is dropped; a lone UTF-16 surrogate escape (a cut emoji,
``"\\ud83d"``) becomes U+FFFD, so the text can be written as UTF-8.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator

import fsspec
import zstandard

from curate.errors import ShardError
from curate.io.payload import CORRUPT, MALFORMED, TRUNCATED, _Prefixed
from curate.schema import Document, batch_rows

BAD_JSON = "read_bad_json"
NO_TEXT = "read_no_text"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _open_raw(path: str):  # noqa: ANN202 - binary file
    try:
        return fsspec.open(path, "rb").open()
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: cannot open: {e!r}") from e


class _ZstdReader(io.RawIOBase):
    """Decompress concatenated zstd frames; a stream that ends inside a frame raises EOFError (zstandard's
    own stream reader returns a clean end of file there, which made a cut file look complete)."""

    def __init__(self, f):  # noqa: ANN001
        self.f, self.d, self.pending, self.in_frame = f, zstandard.ZstdDecompressor().decompressobj(), b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        while not self.pending:
            chunk = self.f.read(1 << 16)
            if not chunk:
                if self.in_frame:
                    raise EOFError("zstd stream ends inside a frame")
                return 0
            while chunk:
                self.in_frame = True
                self.pending += self.d.decompress(chunk)
                if not self.d.eof:
                    break
                chunk, self.in_frame = self.d.unused_data, False
                self.d = zstandard.ZstdDecompressor().decompressobj()
        n = min(len(b), len(self.pending))
        b[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


def _decompressed(f, head: bytes):  # noqa: ANN001, ANN202 - binary stream of lines
    """The line stream of ``f``, decompressed by its magic bytes (not its name)."""
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f)
    if head[:4] == ZSTD_MAGIC:
        return io.BufferedReader(_ZstdReader(f))
    if head[:3] == b"BZh":
        return bz2.BZ2File(f)
    return f


def _repair(value: object) -> object:
    """Replace lone surrogates in every string of a parsed row by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_repair(v) for v in value]
    if isinstance(value, dict):
        return {_repair(k): _repair(v) for k, v in value.items()}
    return value


def _finish(row: dict, rid: str, source: str) -> Document:
    row["id"] = str(row["id"]) if row.get("id") is not None else rid
    if row.get("source") is None:
        row["source"] = source
    for k in ("url", "date", "source"):
        if k in row and row[k] is not None and not isinstance(row[k], str):
            row[k] = str(row[k])
    return row


def read_jsonl(
    path: str, source: str, byte_range: tuple[int, int] | None = None
) -> Iterator[Document]:
    """Stream the rows of a JSONL file (plain, gzip, zstd or bzip2, by magic bytes) as documents.

    ``byte_range=(start, end)`` (plain files only) reads the lines that start in ``[start, end)``; ``start``
    must be a line start (:func:`curate.io.split.jsonl_ranges` gives such ranges).
    """
    raw = _open_raw(path)
    with raw:
        try:
            if byte_range:
                raw.seek(byte_range[0])
                f = raw
            else:  # the first bytes are replayed, not re-read: a streaming remote file cannot seek
                head = raw.read(4)
                f = _decompressed(io.BufferedReader(_Prefixed(head, raw)), head)
        except (OSError, ValueError) as e:
            raise ShardError(f"{path}: cannot read: {e!r}") from e
        pos, end = (byte_range[0], byte_range[1]) if byte_range else (0, None)
        lineno = 0
        while end is None or pos < end:
            try:
                line = f.readline()
            except EOFError:  # a compressed stream that ends early
                yield {"id": f"{source}:{lineno + 1}", "source": source, "_skip": TRUNCATED}
                return
            except (OSError, ValueError, zlib.error, zstandard.ZstdError):  # corrupt compressed data
                yield {"id": f"{source}:{lineno + 1}", "source": source, "_skip": CORRUPT}
                return
            if not line:
                return
            start, pos, lineno = pos, pos + len(line), lineno + 1
            rid = f"{source}@{start}" if byte_range else f"{source}:{lineno}"
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8", "replace"))
                if b"\\u" in line and _SURROGATE_ESCAPE.search(line):
                    row = _repair(row)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
                reason = TRUNCATED if not line.endswith(b"\n") else BAD_JSON  # a last line cut short
                yield {"id": rid, "source": source, "_skip": reason}
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                own = row.get("id") if isinstance(row, dict) else None
                yield {"id": str(own) if own is not None else rid, "source": source, "_skip": NO_TEXT}
                continue
            yield _finish(row, rid, source)


def read_parquet(
    path: str, batch_rows: int = 1024, row_groups: tuple[int, ...] | None = None, source: str | None = None
) -> Iterator[Document]:
    """Stream the rows of a Parquet file (or of the given ``row_groups``) as documents.

    Rows without an ``id`` column get ``<source>:<row>`` (1-based row number in the file); rows whose
    ``text`` is missing or not a string are ``read_no_text`` skips; a row group that cannot be decoded is
    one ``read_corrupt_record`` skip and the next is read. ``source`` defaults to the file's base name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = source or path.rstrip("/").rsplit("/", 1)[-1]
    f = _open_raw(path)
    with f:
        try:
            pf = pq.ParquetFile(f)
        except (pa.ArrowException, ValueError, OSError) as e:
            if isinstance(e, OSError) and _may_pass(e):
                raise ShardError(f"{path}: cannot read: {e!r}") from e
            yield {"id": f"{source}:0", "source": source, "_skip": MALFORMED}  # not Parquet, or a bad footer
            return
        meta = pf.metadata
        first_row = [0]
        for i in range(meta.num_row_groups):
            first_row.append(first_row[-1] + meta.row_group(i).num_rows)
        has_text = "text" in pf.schema_arrow.names
        for g in row_groups if row_groups is not None else range(meta.num_row_groups):
            row = first_row[g]
            batches = pf.iter_batches(batch_size=batch_rows, row_groups=[g])
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, ValueError, OSError):  # damaged pages: this row group is lost
                    yield {"id": f"{source}:{row + 1}", "source": source, "_skip": CORRUPT}
                    break
                for r in _batch_rows(batch):
                    row += 1
                    rid = f"{source}:{row}"
                    if r is None:  # a value that does not decode (bad UTF-8 in a string column)
                        yield {"id": rid, "source": source, "_skip": CORRUPT}
                        continue
                    if not has_text or not isinstance(r.get("text"), str):
                        own = r.get("id")
                        yield {"id": str(own) if own is not None else rid, "source": source, "_skip": NO_TEXT}
                        continue
                    yield _finish(r, rid, source)


def _may_pass(e: OSError) -> bool:
    """An OS or network failure (worth a retry), not pyarrow's OSError for bytes it cannot decode."""
    return e.errno is not None or isinstance(e, ConnectionError | TimeoutError)


def _batch_rows(batch) -> Iterator[dict | None]:  # noqa: ANN001 - a pyarrow RecordBatch
    """The batch's rows as dicts; a row whose values cannot be converted is None (the others are kept)."""
    try:
        yield from batch_rows(batch)
        return
    except (UnicodeDecodeError, ValueError, ArithmeticError):
        pass
    for i in range(batch.num_rows):
        try:
            yield batch.slice(i, 1).to_pylist()[0]
        except (UnicodeDecodeError, ValueError, ArithmeticError):
            yield None
