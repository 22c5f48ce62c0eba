"""Read training and evaluation documents from Parquet, JSONL(.gz/.zst) or plain-text files.

Inputs are local paths or fsspec URLs, globs allowed. Formats, by file name:

- ``*.parquet``: one document per row, from the ``text`` column;
- ``*.jsonl``, ``*.json``, ``*.jsonl.gz``, ``*.jsonl.zst``: one JSON object per line with a ``text`` field
  (other fields are passed through, e.g. ``label`` for evaluation). A record without one is read as
  instruction data when it has a known shape (:func:`instruction_text`): OpenHermes-style
  ``conversations`` (or chat ``messages``), ELI5-style ``title``/``selftext`` + ``answers``, or
  ``question``/``answer``, ``instruction``/``input``/``output``, ``prompt``/``response`` pairs — DCLM's
  positives (OpenHermes-2.5 and r/ELI5) read as they are published;
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


_TURN_TEXT = ("value", "content", "text")
_SKIP_ROLES = {"system"}
_PAIRS = (("question", "answer"), ("instruction", "output"), ("prompt", "response"), ("prompt", "completion"))


def instruction_text(rec: dict[str, Any]) -> str | None:
    """The text of one instruction-style record (turns joined by blank lines), or None if not one.

    - ``conversations`` / ``messages``: a list of turns ``{"from"|"role": …, "value"|"content": …}``; system
      turns are left out (a fixed preamble, not text a page would hold);
    - ELI5: ``title`` (+ ``selftext``) and ``answers``, either ``{"text": [...], "score": [...]}`` (the Hugging
      Face ``eli5`` layout; the best-scored answer is kept) or a list of strings;
    - ``question``/``answer``, ``instruction``/``input``/``output``, ``prompt``/``response`` pairs.
    """
    turns = rec.get("conversations", rec.get("messages"))
    if isinstance(turns, list):
        parts = []
        for turn in turns:
            if not isinstance(turn, dict) or str(turn.get("from", turn.get("role", ""))).lower() in _SKIP_ROLES:
                continue
            value = next((turn[k] for k in _TURN_TEXT if isinstance(turn.get(k), str)), "")
            if value.strip():
                parts.append(value.strip())
        return "\n\n".join(parts) or None
    if "answers" in rec and isinstance(rec.get("title", rec.get("question")), str):
        answers = rec["answers"]
        if isinstance(answers, dict):
            texts, scores = answers.get("text") or [], answers.get("score") or []
            best = max(range(len(texts)), key=lambda i: scores[i] if i < len(scores) else 0, default=None)
            answer = texts[best] if best is not None else ""
        elif isinstance(answers, list) and answers:
            first = answers[0]
            answer = first if isinstance(first, str) else str(first.get("text", "")) if isinstance(first, dict) else ""
        else:
            answer = ""
        question = rec.get("title", rec.get("question", ""))
        body = rec.get("selftext") if isinstance(rec.get("selftext"), str) else ""
        parts = [p.strip() for p in (question, body, answer) if p and p.strip()]
        return "\n\n".join(parts) if answer.strip() else None
    for q, a in _PAIRS:
        if isinstance(rec.get(q), str) and isinstance(rec.get(a), str):
            extra = rec.get("input") if q == "instruction" and isinstance(rec.get("input"), str) else ""
            parts = [p.strip() for p in (rec[q], extra, rec[a]) if p and p.strip()]
            return "\n\n".join(parts) or None
    return None


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
                    elif (text := instruction_text(rec)) is not None:
                        rec["text"] = text
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
