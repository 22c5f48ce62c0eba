"""Split a big Parquet or JSONL input into pieces, so that one file uses every core (issue 11).

Parquet: consecutive whole row groups of about ``split_bytes`` (compressed) each. JSONL (uncompressed only:
a gzip or zstd stream cannot be entered in the middle): byte ranges of about ``split_bytes`` whose starts
are line starts, found by reading forward from each nominal cut to the next newline. Both depend only on the
file, so a resumed run plans the same pieces.
"""

from __future__ import annotations

import fsspec

from curate.errors import ShardError

_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh")


def split_points(path: str, kind: str, split_bytes: int) -> list | None:
    """Row-group tuples (Parquet) or (start, end) byte ranges (JSONL); None when the file stays whole."""
    try:
        fs, p = fsspec.core.url_to_fs(path)
        size = fs.size(p)
        if size is None or size <= split_bytes:
            return None
        with fs.open(p, "rb") as f:
            if kind == "parquet":
                return parquet_pieces(f, split_bytes)
            return jsonl_ranges(f, size, split_bytes)
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: cannot read to plan its pieces: {e!r}") from e


def parquet_pieces(f, split_bytes: int) -> list[tuple[int, ...]] | None:  # noqa: ANN001
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(f).metadata
    except Exception:  # noqa: BLE001 - a damaged file is read whole and its damage counted by the reader
        return None
    pieces, current, size = [], [], 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        g_size = sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
        if current and size + g_size > split_bytes:
            pieces.append(tuple(current))
            current, size = [], 0
        current.append(g)
        size += g_size
    if current:
        pieces.append(tuple(current))
    return pieces if len(pieces) > 1 else None


def jsonl_ranges(f, size: int, split_bytes: int) -> list[tuple[int, int]] | None:  # noqa: ANN001
    if f.read(4).startswith(_COMPRESSED_MAGIC):
        return None
    starts = [0]
    cut = split_bytes
    while cut < size:
        f.seek(cut - 1)  # from the byte before the cut: a cut just after a newline is a line start already
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                start = size
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                start = f.tell() - len(chunk) + nl + 1
                break
        if start >= size:
            break
        if start > starts[-1]:
            starts.append(start)
        cut = max(start, cut) + split_bytes
    if len(starts) < 2:
        return None
    return [(s, e) for s, e in zip(starts, starts[1:] + [size])]
