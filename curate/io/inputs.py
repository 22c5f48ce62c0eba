"""Inputs: expand paths, globs, fsspec URLs and Common Crawl listings into shards, and read each shard.

A shard is one input file. Kinds, by name: WARC/ARC/WET (``.warc``, ``.warc.gz``, ``.arc``, ``.arc.gz``,
``.wet``, ``.wet.gz``), Parquet (``.parquet``: an earlier run's ``data/``), JSONL (``.jsonl``, ``.jsonl.gz``,
``.jsonl.zst``, ``.json.gz``) with a ``text`` column (``id`` kept when present). A Common Crawl listing
(``warc.paths.gz``, ``*.paths``) expands to the files it names under ``base_url``.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from curate.errors import RecipeError, ShardError
from curate.schema import Document

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz", ".warc.wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".jsonl.bz2", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
LISTING_SUFFIXES = (".paths.gz", ".paths")


@dataclass(frozen=True)
class Shard:
    """One input file and its position in the run (the shard index names every output file)."""

    index: int
    path: str
    kind: str  # "warc" | "parquet" | "jsonl"

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/"))


def kind_of(path: str) -> str:
    p = path.lower().split("?", 1)[0]
    if p.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if p.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if p.endswith(WARC_SUFFIXES):
        return "warc"
    raise RecipeError(f"--input {path}: unknown input type (expected WARC/ARC/WET, Parquet or JSONL)")


def expand_inputs(patterns: list[str], base_url: str | None = None) -> list[Shard]:
    """Expand globs and listings into a sorted, de-duplicated list of shards."""
    paths: list[str] = []
    for pat in patterns:
        if pat.lower().endswith(LISTING_SUFFIXES):
            if not base_url:
                raise RecipeError(f"--input {pat}: a listing needs --base-url (e.g. https://data.commoncrawl.org/)")
            from curate.io.remote import expand_listing

            paths.extend(expand_listing(pat, base_url))
            continue
        if pat.startswith(("http://", "https://")):
            paths.append(pat)
            continue
        fs, _, found = fsspec.get_fs_token_paths(pat)
        if not found:
            raise RecipeError(f"--input {pat}: no files match")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        for f in found:
            paths.append(f if protocol in ("file", "local") else f"{protocol}://{f}")
    seen: set[str] = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    unique.sort()
    return [Shard(i, p, kind_of(p)) for i, p in enumerate(unique)]


def read_shard(shard: Shard, limits: Any, batch_rows: int = 1024) -> Iterator[Document]:
    """Stream the documents (and counted skips, marked ``_skip``) of one shard."""
    if shard.kind == "warc":
        from curate.io.warc import read_warc

        yield from read_warc(shard.path, source=shard.name, limits=limits)
    elif shard.kind == "parquet":
        yield from read_parquet(shard.path, batch_rows)
    else:
        yield from read_jsonl(shard.path, shard.name)


def read_parquet(path: str, batch_rows: int = 1024) -> Iterator[Document]:
    import pyarrow.parquet as pq

    try:
        with fsspec.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            if "text" not in pf.schema_arrow.names:
                raise ShardError(f"{path}: no 'text' column")
            for batch in pf.iter_batches(batch_size=batch_rows):
                yield from batch.to_pylist()
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: unreadable Parquet: {e}") from e


def read_jsonl(path: str, source: str) -> Iterator[Document]:
    try:
        f = fsspec.open(path, "rt", compression="infer", encoding="utf-8", errors="replace").open()
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: cannot open: {e}") from e
    with f:
        lineno = 0
        while True:
            try:
                line = f.readline()
            except (OSError, EOFError, ValueError):  # truncated compressed stream
                yield {"id": f"{source}:{lineno + 1}", "source": source, "_skip": "read_truncated_file"}
                return
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                yield {"id": f"{source}:{lineno}", "source": source, "_skip": "read_bad_json"}
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                rid = row.get("id") if isinstance(row, dict) and row.get("id") is not None else f"{source}:{lineno}"
                yield {"id": str(rid), "source": source, "_skip": "read_no_text"}
                continue
            row["id"] = str(row["id"]) if row.get("id") is not None else f"{source}:{lineno}"
            row.setdefault("source", source)
            for k in ("url", "date"):
                if k in row and row[k] is not None and not isinstance(row[k], str):
                    row[k] = str(row[k])
            yield row
