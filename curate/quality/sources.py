"""Read training and evaluation documents from Parquet, JSONL(.gz/.zst) or plain-text files.

Inputs are local paths or fsspec URLs, globs allowed. Formats, by file name:

- ``*.parquet``: one document per row, from the ``text`` column;
- ``*.jsonl``, ``*.json``, ``*.jsonl.gz``, ``*.jsonl.zst``: one JSON object per line with a ``text`` field
  (other fields are passed through, e.g. ``label`` for evaluation);
- anything else (``*.txt``): plain text. A book or a Wikipedia dump has no document boundaries, so the file
  is split into paragraphs (blocks separated by blank lines) and consecutive paragraphs are grouped into
  documents of at least ``txt_doc_words`` words (default 200 — about a short web page, the unit DCLM
  scores); the last group of a file is kept if it has at least a quarter of that. ``txt_doc_words=0``
  makes each whole file one document.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

TXT_DOC_WORDS = 200


def expand(patterns: list[str]) -> list[str]:
    """Expand globs (local or fsspec); a pattern that matches nothing is an error naming it."""
    import fsspec

    out: list[str] = []
    for pat in patterns:
        fs, _, paths = fsspec.get_fs_token_paths(pat)
        if not paths:
            raise FileNotFoundError(f"no input matches {pat!r}")
        proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        out += sorted(p if proto in ("file", "local") else f"{proto}://{p}" for p in paths)
    return out


def _kind(path: str) -> str:
    name = path.lower()
    for ext in (".gz", ".zst", ".zstd", ".bz2", ".xz"):
        name = name.removesuffix(ext)
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "txt"


def split_paragraph_docs(text: str, min_words: int = TXT_DOC_WORDS) -> list[str]:
    """Group blank-line-separated paragraphs into documents of at least ``min_words`` words."""
    if min_words <= 0:
        return [text] if text.strip() else []
    docs, cur, n = [], [], 0
    for para in text.replace("\r\n", "\n").split("\n\n"):
        para = para.strip()
        if not para:
            continue
        cur.append(para)
        n += len(para.split())
        if n >= min_words:
            docs.append("\n\n".join(cur))
            cur, n = [], 0
    if cur and n >= min_words / 4:
        docs.append("\n\n".join(cur))
    return docs


def read_records(
    path: str, txt_doc_words: int = TXT_DOC_WORDS, text_column: str = "text"
) -> Iterator[dict[str, Any]]:
    """Yield ``{"text": …, …}`` records from one file (see the module docstring for formats)."""
    import fsspec

    kind = _kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb") as f:
            table = pq.read_table(f, columns=[text_column])
        for t in table.column(text_column).to_pylist():
            if t:
                yield {"text": t}
        return
    with fsspec.open(path, "rb", compression="infer") as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        if kind == "jsonl":
            for line in stream:
                if line.strip():
                    rec = json.loads(line)
                    if isinstance(rec.get(text_column), str):
                        rec["text"] = rec[text_column]
                        yield rec
            return
        for doc in split_paragraph_docs(stream.read(), txt_doc_words):
            yield {"text": doc}


def read_texts(
    patterns: list[str], txt_doc_words: int = TXT_DOC_WORDS, text_column: str = "text"
) -> dict[str, list[str]]:
    """Texts per input file (file path → non-empty texts), files in a stable order."""
    out: dict[str, list[str]] = {}
    for path in expand(patterns):
        out[path] = [r["text"] for r in read_records(path, txt_doc_words, text_column) if r["text"].strip()]
    return out
