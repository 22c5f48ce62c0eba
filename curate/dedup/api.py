"""A simple dedup API outside a recipe: texts or files in, deduplicated texts or files out. No Ray needed.

>>> from curate.dedup.api import dedup_texts
>>> dedup_texts(["the same text here", "The same text, here!", "another text"], method="exact")
['the same text here', 'another text']

Internally this runs the same global stages as a recipe (``minhash``, ``exact_dedup``) through
``curate.testing.run_global_stage`` in this process, in a temporary work folder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.stage import build_stage

_STAGES = {"minhash": "minhash", "exact": "exact_dedup"}


def find_duplicates(texts: list[str], method: str = "minhash", **params: Any) -> dict[int, int]:
    """``{index of a duplicate: index of the text kept in its place}``.

    ``method``: ``"minhash"`` (near duplicates; ``params`` are the ``minhash`` stage's: ngram, bands, rows,
    threshold, ...) or ``"exact"`` (identical after normalisation). The kept text of a group is the longest
    (minhash) or the first (exact); ties go to the first.
    """
    if method not in _STAGES:
        raise ValueError(f"method must be one of {sorted(_STAGES)}")
    from curate.testing import run_global_stage

    stage = build_stage(_STAGES[method], params)
    docs = [{"id": f"{i:012d}", "text": t} for i, t in enumerate(texts)]
    shard_size = 100_000
    shards = [docs[i : i + shard_size] for i in range(0, len(docs), shard_size)] or [[]]
    with tempfile.TemporaryDirectory(prefix="curate-dedup-") as wd:
        _, dropped = run_global_stage(stage, shards, wd)  # type: ignore[arg-type]
    return {int(d["id"]): int(d["_duplicate_of"]) for d, _ in dropped}


def dedup_texts(texts: list[str], method: str = "minhash", **params: Any) -> list[str]:
    """The texts without their duplicates, in input order (see ``find_duplicates``)."""
    dup = find_duplicates(texts, method, **params)
    return [t for i, t in enumerate(texts) if i not in dup]


def _read(path: Path, text_column: str) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            return pa.Table.from_pylist([json.loads(line) for line in f if line.strip()])
    return pa.table({text_column: [path.read_text(encoding="utf-8")]})  # one text file = one document


def dedup_files(
    paths: list[str | Path],
    output_dir: str | Path,
    text_column: str = "text",
    method: str = "minhash",
    **params: Any,
) -> dict[str, int]:
    """Deduplicate documents across Parquet / JSONL files (or plain text files, one document each).

    Writes ``output_dir/<name>.parquet`` for each input with the duplicates removed (near duplicates are
    judged across all files together); returns ``{"documents": n, "removed": m}``.
    """
    paths = [Path(p) for p in paths]
    tables = [_read(p, text_column) for p in paths]
    texts: list[str] = []
    for t in tables:
        if text_column not in t.column_names:
            raise ValueError(f"no column {text_column!r} in an input (columns: {t.column_names})")
        texts += [x or "" for x in t.column(text_column).to_pylist()]
    dup = find_duplicates(texts, method, **params)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    for p, t in zip(paths, tables, strict=True):
        keep = [i not in dup for i in range(start, start + t.num_rows)]
        pq.write_table(t.filter(pa.array(keep, pa.bool_())), out / f"{p.stem}.parquet")
        start += t.num_rows
    return {"documents": len(texts), "removed": len(dup)}
