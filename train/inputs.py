"""Reading documents: local paths or fsspec URLs with globs → ``(id, text)`` pairs.

The trainer depends on the Parquet row contract (DESIGN.md) and nothing else: it reads only ``id`` and
``text``, never a filter's column, so any curated run (or any Parquet with those two columns) can feed it.
Beside Parquet it reads what people have lying around, by file name:

- ``*.parquet``: one document per row, the ``text`` column (``id`` when the file has one);
- ``*.jsonl``, ``*.json``, ``*.ndjson``, optionally ``.gz`` / ``.zst`` / ``.bz2`` / ``.xz``: one JSON object per
  line with a ``text`` field (``id`` when present);
- ``*.txt`` (and any other name), optionally compressed: the whole file is one document.

A document without an id is named ``<file name>:<row>``, so the id is stable across reruns. Every path goes
through fsspec (never ``pathlib``): ``s3://bucket/run/data/*.parquet`` works like a local glob.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence

import fsspec
import pyarrow.parquet as pq

COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2", ".xz")
TEXT_SUFFIXES = (".parquet", ".jsonl", ".json", ".ndjson", ".txt")


def input_kind(path: str) -> str:
    """``parquet``, ``jsonl`` or ``txt``, from the file name (a compression suffix is looked through)."""
    name = path.lower()
    for ext in COMPRESSIONS:
        name = name.removesuffix(ext)
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "txt"


def _is_input(path: str) -> bool:
    name = path.lower()
    for ext in COMPRESSIONS:
        name = name.removesuffix(ext)
    return name.endswith(TEXT_SUFFIXES)


def expand_inputs(patterns: str | Sequence[str], storage_options: dict | None = None) -> list[str]:
    """Expand paths, directories and globs (local or ``s3://…``) into a sorted list of input files.

    A directory stands for the input files directly inside it (``*.parquet``, ``*.jsonl[.gz|.zst]``,
    ``*.txt``…); a file named explicitly or matched by a glob is taken whatever its name. Sorting makes the
    list, and so every shard's name and position, the same on each rerun. Raises FileNotFoundError when
    nothing matches: an empty glob is a configuration error, not an empty dataset. ``storage_options``: passed
    to fsspec (e.g. ``{"endpoint_url": …}`` for an S3-compatible store); by default fsspec's own configuration
    and the environment (``AWS_*``) apply.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    found: set[str] = set()
    for pattern in patterns:
        fs, _, _ = fsspec.get_fs_token_paths(pattern, storage_options=storage_options)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        paths = fs.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
        for p in paths:
            if fs.isdir(p):
                paths_in = [q for q in fs.ls(p, detail=False) if _is_input(q) and not fs.isdir(q)]
            elif fs.exists(p):
                paths_in = [p]
            else:
                paths_in = []
            for q in paths_in:
                # Keep local files as plain paths; give remote ones back their protocol.
                found.add(q if protocol in ("file", "local") else f"{protocol}://{q.split('://')[-1]}")
    if not found:
        raise FileNotFoundError(f"no input matches {list(patterns)!r}")
    return sorted(found)


def _file_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def iter_documents(
    path: str, batch_rows: int = 4096, storage_options: dict | None = None
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(id, text)`` for every record of one input file, in file order (text may be None or empty:
    the caller counts those). Parquet is streamed by record batches, JSONL line by line."""
    kind, name = input_kind(path), _file_name(path)
    opts = storage_options or {}
    if kind == "parquet":
        with fsspec.open(path, "rb", **opts) as f:
            pf = pq.ParquetFile(f)
            has_id = "id" in pf.schema_arrow.names
            row = 0
            for batch in pf.iter_batches(
                batch_size=batch_rows, columns=["id", "text"] if has_id else ["text"]
            ):
                texts = batch.column("text").to_pylist()
                ids = batch.column("id").to_pylist() if has_id else [None] * len(texts)
                for i, (doc_id, text) in enumerate(zip(ids, texts)):
                    yield (doc_id if doc_id is not None else f"{name}:{row + i}"), text
                row += len(texts)
        return
    with fsspec.open(path, "rb", compression="infer", **opts) as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        if kind == "txt":
            yield f"{name}:0", stream.read()
            return
        row = 0
        for line in stream:
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec.get("text") if isinstance(rec, dict) else None
            doc_id = rec.get("id") if isinstance(rec, dict) else None
            yield (
                (str(doc_id) if doc_id is not None else f"{name}:{row}"),
                (text if isinstance(text, str) else None),
            )
            row += 1


def read_documents(path: str, storage_options: dict | None = None) -> tuple[list[str], list[str | None]]:
    """All ``(ids, texts)`` of one input file (one shard: what a tokenize task holds in memory)."""
    ids: list[str] = []
    texts: list[str | None] = []
    for doc_id, text in iter_documents(path, storage_options=storage_options):
        ids.append(doc_id)
        texts.append(text)
    return ids, texts


def iter_texts(
    paths: Sequence[str],
    max_docs: int | None = None,
    batch_rows: int = 4096,
    storage_options: dict | None = None,
) -> Iterator[str]:
    """Yield the non-empty texts of the files in order, stopping after ``max_docs`` documents.

    Streams record batches and lines, so a large file is never held in memory whole (a ``.txt`` file is
    one document, read whole)."""
    n = 0
    for path in paths:
        for _, text in iter_documents(path, batch_rows, storage_options):
            if not text:
                continue
            yield text
            n += 1
            if max_docs is not None and n >= max_docs:
                return
