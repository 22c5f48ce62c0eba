"""Inputs: expand paths, globs, fsspec URLs and Common Crawl listings into shards, and read each shard.

A shard is one input file, or one piece of a big Parquet / JSONL file. Kinds, by name: WARC/ARC/WET
(``.warc``, ``.warc.gz``, ``.arc``, ``.arc.gz``, ``.wet``, ``.wet.gz``), Parquet (``.parquet``: an earlier
run's ``data/``), JSONL (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``, ``.json.gz``, ``.ndjson``) with a ``text``
column (``id`` kept when present). A file whose name says nothing is recognised by its first bytes (gzip or
zstd + ``WARC/``, ``filedesc://``, ``PAR1``, a JSON object per line); one that is neither is a configuration
error naming it. A Common Crawl listing (``warc.paths.gz``, ``*.paths``) expands to the files it names under
``base_url``.

Every shard carries ``source``, its file's path relative to the common root of all inputs: documents take it
as their ``source`` and JSONL / Parquet rows without an id are numbered under it, so ids are unique per run.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec

from curate.errors import RecipeError, ShardError
from curate.io.sniff import sniff_kind
from curate.io.tables import read_jsonl, read_parquet  # noqa: F401 - part of this module's API
from curate.schema import Document

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz", ".warc.wet.gz", ".warc.zst")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".jsonl.bz2", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
LISTING_SUFFIXES = (".paths.gz", ".paths")
DEFAULT_SPLIT_BYTES = 256 * 2**20  # what the engine passes as split_bytes unless told otherwise


@dataclass(frozen=True)
class Shard:
    """One input file, or one piece of it, and its position in the run (the index names every output file).

    ``rel``: the file's path relative to the common root of the run's inputs (``source`` of its documents;
    empty: the base name). A big Parquet / JSONL file is split into pieces numbered ``part`` (0, 1, …): a
    Parquet piece reads ``row_groups``, a JSONL piece the lines that start in ``byte_range`` = (start, end).
    ``part`` is None for a whole file.
    """

    index: int
    path: str
    kind: str  # "warc" | "parquet" | "jsonl"
    rel: str = ""
    part: int | None = None
    row_groups: tuple[int, ...] | None = None
    byte_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:  # a shard rebuilt from JSON or YAML has lists where tuples were
        for key in ("row_groups", "byte_range"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, key, tuple(value))

    @property
    def name(self) -> str:
        """The file's base name, with ``#NNNN`` for a piece of a split file."""
        base = posixpath.basename(self.path.rstrip("/"))
        return base if self.part is None else f"{base}#{self.part:04d}"

    @property
    def source(self) -> str:
        return self.rel or posixpath.basename(self.path.rstrip("/"))


def kind_by_name(path: str) -> str | None:
    p = path.lower().split("?", 1)[0]
    if p.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if p.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if p.endswith(WARC_SUFFIXES):
        return "warc"
    return None


def kind_of(path: str) -> str:
    """'warc', 'parquet' or 'jsonl': by the name, else by the first bytes; RecipeError naming the file."""
    kind = kind_by_name(path)
    if kind:
        return kind
    try:
        with fsspec.open(path, "rb") as f:
            head = f.read(1 << 16)
    except IsADirectoryError as e:
        raise RecipeError(f"--input {path}: is a folder (give its files, e.g. '{path}/*.parquet')") from e
    except (OSError, ValueError) as e:
        raise ShardError(f"--input {path}: cannot read its first bytes to tell its type: {e!r}") from e
    kind = sniff_kind(head)
    if kind is None:
        raise RecipeError(
            f"--input {path}: not a WARC/ARC/WET, Parquet or JSONL file, by its name or by its first bytes"
        )
    return kind


def common_root(paths: list[str]) -> str:
    """The longest common folder of ``paths`` (URLs compared by their text), '' when there is none."""
    if not paths:
        return ""
    parts = [p.split("/")[:-1] for p in paths]
    root = parts[0]
    for p in parts[1:]:
        n = 0
        while n < min(len(root), len(p)) and root[n] == p[n]:
            n += 1
        root = root[:n]
    return "/".join(root)


def relative(path: str, root: str) -> str:
    return path[len(root) :].lstrip("/") if root and path.startswith(root + "/") else path


def expand_inputs(
    patterns: list[str], base_url: str | None = None, split_bytes: int | None = None
) -> list[Shard]:
    """Expand globs and listings into a sorted, de-duplicated list of shards.

    ``split_bytes``: a Parquet file larger than this is split into pieces of whole row groups of about this
    many bytes, an uncompressed JSONL file into byte ranges aligned to line starts; WARC files and compressed
    JSONL stay whole. None (the default) splits nothing. The same files give the same shards every time.
    """
    if split_bytes is not None and split_bytes <= 0:
        raise RecipeError(f"split_bytes: must be a positive number of bytes, got {split_bytes}")
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
    unique = sorted(set(paths))
    root = common_root(unique)
    shards: list[Shard] = []
    for p in unique:
        kind, rel = kind_of(p), relative(p, root)
        pieces = None
        if split_bytes is not None and kind != "warc":
            from curate.io.split import split_points

            pieces = split_points(p, kind, split_bytes)
        if not pieces:
            shards.append(Shard(len(shards), p, kind, rel))
            continue
        for part, piece in enumerate(pieces):
            if kind == "parquet":
                shards.append(Shard(len(shards), p, kind, rel, part, row_groups=piece))
            else:
                shards.append(Shard(len(shards), p, kind, rel, part, byte_range=piece))
    return shards


def read_shard(shard: Shard, limits: Any, batch_rows: int = 1024) -> Iterator[Document]:
    """Stream the documents (and counted skips, marked ``_skip``) of one shard."""
    if shard.kind == "warc":
        from curate.io.warc import read_warc

        yield from read_warc(shard.path, source=shard.source, limits=limits)
    elif shard.kind == "parquet":
        yield from read_parquet(shard.path, batch_rows, row_groups=shard.row_groups, source=shard.source)
    else:
        yield from read_jsonl(shard.path, shard.source, byte_range=shard.byte_range)
