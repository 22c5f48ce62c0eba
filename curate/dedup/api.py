"""A simple dedup API outside a recipe: texts or files in, deduplicated texts or files out. No Ray needed.

>>> from curate.dedup.api import dedup_texts
>>> dedup_texts(["the same text here", "The same text, here!", "another text"], method="exact")
['the same text here', 'another text']

Internally this runs the same global stages as a recipe (``minhash``, ``exact_dedup``, ``line_dedup``)
through the in-process runner (:func:`curate.local.run_documents`): the plan ``curate run`` runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_STAGES = {"minhash": "minhash", "exact": "exact_dedup"}


def find_duplicates(texts: list[str], method: str = "minhash", **params: Any) -> dict[int, int]:
    """``{index of a duplicate: index of the text kept in its place}``.

    ``method``: ``"minhash"`` (near duplicates; ``params`` are the ``minhash`` stage's: ngram, bands, rows,
    threshold, ...) or ``"exact"`` (identical after normalisation). The kept text of a group is the longest
    (minhash) or the first (exact); ties go to the first.
    """
    if method not in _STAGES:
        raise ValueError(f"method must be one of {sorted(_STAGES)}")
    from curate.local import run_documents

    docs = [{"id": f"{i:012d}", "text": t} for i, t in enumerate(texts)]
    out = run_documents([(_STAGES[method], params)], docs, shard_size=100_000)
    return {int(r["id"]): int(r["duplicate_of"]) for r in out.rejected if r["duplicate_of"] is not None}


def dedup_texts(texts: list[str], method: str = "minhash", **params: Any) -> list[str]:
    """The texts without their duplicates, in input order (see ``find_duplicates``)."""
    dup = find_duplicates(texts, method, **params)
    return [t for i, t in enumerate(texts) if i not in dup]


def dedup_lines(texts: list[str], normalize: bool = True, drop_empty: bool = False) -> list[str | None]:
    """CCNet line dedup over a list of texts: every line found in more than one text is removed from all.

    ``normalize``: compare normalised lines (case, punctuation, numbers folded; CCNet) or exact lines.
    A text left without any line is ``None`` when ``drop_empty``, else its remaining (blank) text.
    """
    from curate.local import run_documents

    docs = [{"id": f"{i:012d}", "text": t} for i, t in enumerate(texts)]
    out = run_documents([("line_dedup", {"normalize": normalize, "drop_empty": drop_empty})], docs,
                        shard_size=100_000)
    by_id = {d["id"]: d["text"] for d in out.kept}
    return [by_id.get(f"{i:012d}") for i in range(len(texts))]


def _read(path: Path, text_column: str) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            return pa.Table.from_pylist([json.loads(line) for line in f if line.strip()])
    return pa.table({text_column: [path.read_text(encoding="utf-8")]})  # one text file = one document


def _write(table: pa.Table, src: Path, out: Path, text_column: str) -> Path:
    """Write the kept rows in the input's own format (Parquet, JSONL, or a text file)."""
    dest = out / src.name
    if src.suffix == ".parquet":
        pq.write_table(table, dest)
    elif src.suffix in (".jsonl", ".json"):
        with open(dest, "w", encoding="utf-8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif table.num_rows:
        dest.write_text(table.column(text_column)[0].as_py(), encoding="utf-8")
    return dest


def dedup_files(
    paths: list[str | Path],
    output_dir: str | Path,
    text_column: str = "text",
    method: str = "minhash",
    **params: Any,
) -> dict[str, int]:
    """Deduplicate documents across Parquet / JSONL files (or plain text files, one document each).

    Writes each input's kept rows to ``output_dir/<same name>`` in the input's format (a text file that is a
    duplicate of another is not written); near duplicates are judged across all files together. Returns
    ``{"documents": n, "removed": m}``.
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
        _write(t.filter(pa.array(keep, pa.bool_())), p, out, text_column)
        start += t.num_rows
    return {"documents": len(texts), "removed": len(dup)}
