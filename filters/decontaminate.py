"""Decontamination against evaluation sets: exact hashed word n-grams, built once on the driver.

The index (:mod:`filters.decontam_index`) is built by :meth:`Decontaminate.prepare` on the driver, before
any pass, into the stage's folder (``global/PP-decontaminate/index.npz``), and each worker process loads it
once (:func:`curate.stage.worker_cache`), whatever number of shards it runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

import numpy as np

from curate.errors import RecipeError
from curate.schema import Document
from curate.stage import Stage, register, worker_cache
from filters.decontam_index import NgramIndex, build_index, normalize_words

INDEX_FILE = "index.npz"
_NAME = re.compile(r"^[a-z0-9_]+$")
Action = Literal["drop", "remove_paragraphs", "annotate"]
ACTIONS = ("drop", "remove_paragraphs", "annotate")


@register("decontaminate")
class Decontaminate(Stage):
    """Find documents that contain evaluation items (their normalised word n-grams) and drop, cut or tag them.

    Normalisation folds case, whitespace, punctuation and accents (digits are kept); items shorter than
    ``ngram`` words are matched whole (see :mod:`filters.decontam_index`).

    Parameters:
        benchmarks: ``{name: {path: FILE_OR_GLOB, fields: [question, choices, answer]}}``; JSONL and Parquet
            rows (the fields' values joined in order; lists flattened, numbers as text; default ``[text]``),
            or any other file, one item per non-empty line. Names are lowercase letters, digits and ``_``.
        ngram: words per n-gram (13).
        action: ``drop`` the document (reason ``decontam_<benchmark>``, the benchmark with the most matched
            n-grams), ``remove_paragraphs`` (the lines that matched n-grams cover, half of a line's words or
            ``ngram`` of them; the document is dropped when no line with a word is left), or ``annotate`` (keep every document).
        min_matches: matched n-grams that make a document contaminated (1).
        min_item_words: shorter items are not indexed (8; ``"True"`` or ``"Paris"`` would match everything).

    The recipe-level ``mode`` key is the engine's (``filter``/``annotate``, :mod:`curate.annotate`); this stage
    changes the text in ``remove_paragraphs``, so it always runs as itself and tags with ``action: annotate``.

    Columns (actions ``annotate`` and ``remove_paragraphs``): ``decontam_benchmarks`` (benchmarks hit, most
    matches first; empty when clean), ``decontam_ngrams`` (matched n-grams), and for ``remove_paragraphs``
    ``decontam_paragraphs`` (lines removed).
    """

    prepares = True
    columns = ("decontam_benchmarks", "decontam_ngrams", "decontam_paragraphs")

    def __init__(
        self,
        benchmarks: dict[str, Any],
        ngram: int = 13,
        action: Action = "drop",
        min_matches: int = 1,
        min_item_words: int = 8,
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if ngram < 1:
            raise ValueError("ngram must be >= 1")
        if min_matches < 1:
            raise ValueError("min_matches must be >= 1")
        if min_item_words < 1:
            raise ValueError("min_item_words must be >= 1")
        if not isinstance(benchmarks, dict) or not benchmarks:
            raise ValueError("benchmarks: give at least one {name: {path: ..., fields: [...]}}")
        if len(benchmarks) > 64:
            raise ValueError("benchmarks: at most 64")
        self.benchmarks: dict[str, tuple[str, list[str]]] = {}
        for name, spec in benchmarks.items():
            where = f"benchmarks.{name}"
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"{where}: a name is lowercase letters, digits and '_' (it is in the reason)")
            if isinstance(spec, str):
                spec = {"path": spec}
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
                raise ValueError(f"{where}: expected {{path: FILE, fields: [...]}}, got {spec!r}")
            unknown = set(spec) - {"path", "fields"}
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (accepted: path, fields)")
            fields = spec.get("fields", ["text"])
            fields = [fields] if isinstance(fields, str) else fields
            if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
                raise ValueError(f"{where}.fields: expected a list of field names, got {fields!r}")
            self.benchmarks[name] = (spec["path"], list(fields))
        self.ngram, self.action = ngram, action
        self.min_matches, self.min_item_words = min_matches, min_item_words
        self.columns = {"drop": (), "annotate": Decontaminate.columns[:2]}.get(action, Decontaminate.columns)
        config = [self.benchmarks, ngram, min_item_words]
        self._fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        self._folder: Any = None
        self._index: NgramIndex | None = None
        self._index_key: Any = None

    # --- the index: built once on the driver, loaded once per worker process ------------------------

    def _build(self) -> tuple[NgramIndex, dict[str, Any]]:
        """Read the eval files; one that is missing, unreadable or lacks a field is a configuration error."""
        try:
            return build_index(self.benchmarks, self.ngram, self.min_item_words)
        except (ValueError, OSError, KeyError) as e:
            sep = "." if str(e).startswith("benchmarks.") else ": "
            raise RecipeError(f"{self.name}{sep}{e}") from e

    def prepare(self, folder: Any) -> dict[str, Any]:
        index, summary = self._build()
        folder.write_bytes(INDEX_FILE, index.to_bytes())
        return summary

    def use_prepared(self, folder: Any) -> None:
        self._folder = folder

    def setup(self) -> None:
        self._load()

    def _load(self) -> NgramIndex:
        # Without a run (a notebook calling the stage on a text), the index is built here, once per process.
        if self._folder is None:
            key = ("decontaminate", "built", self._fingerprint)
            factory = lambda: self._build()[0]  # noqa: E731
        else:
            folder = self._folder
            key = ("decontaminate", folder.uri(INDEX_FILE), self._fingerprint)
            factory = lambda: NgramIndex.from_bytes(folder.read_bytes(INDEX_FILE))  # noqa: E731
        if key != self._index_key:
            self._index, self._index_key = worker_cache(key, factory), key
        return self._index

    # --- per batch ----------------------------------------------------------------------------------

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        index = self._load()
        texts = [d["text"] if isinstance(d.get("text"), str) else "" for d in docs]
        found = index.match(texts)
        counts = np.bincount(found.doc, minlength=len(docs))
        results: list[str | None] = [None] * len(docs)
        if self.action != "drop":
            for d in docs:
                d["decontam_benchmarks"], d["decontam_ngrams"] = [], 0
                if self.action == "remove_paragraphs":
                    d["decontam_paragraphs"] = 0
        for i in np.flatnonzero(counts >= self.min_matches).tolist():
            sel = found.doc == i
            m = found.mask[sel]
            per = {b: int(((m >> np.uint64(k)) & np.uint64(1)).sum()) for k, b in enumerate(index.benchmarks)}
            hits = sorted((b for b in per if per[b]), key=lambda b: (-per[b], b))
            reason = f"decontam_{hits[0]}"
            doc = docs[i]
            if self.action == "drop":
                results[i] = reason
                continue
            doc["decontam_benchmarks"], doc["decontam_ngrams"] = hits, int(counts[i])
            if self.action == "remove_paragraphs":
                first = found.first[sel]
                results[i] = self._remove_paragraphs(doc, texts[i], first, first + found.words[sel] - 1, reason)
        return results

    def _remove_paragraphs(
        self, doc: Document, text: str, first: np.ndarray, last: np.ndarray, reason: str
    ) -> str | None:
        """Remove the lines that matched words (``first[j]..last[j]``) cover: at least half of a line's words or
        ``ngram`` of them (so a line whose first word merely ends a match stays), and the lines without words
        between two removed ones. The reason when no line with a word is left.

        A line's words are the document's words in order (normalisation never joins two lines), so the
        cumulative word counts of the lines map each word to its line.
        """
        lines = text.split("\n")
        ends = np.cumsum([len(normalize_words(ln).split()) for ln in lines])
        cov = np.zeros(int(ends[-1]) + 1, np.int64)
        np.add.at(cov, first, 1)
        np.add.at(cov, last + 1, -1)
        covered = np.flatnonzero(np.cumsum(cov)[:-1] > 0)
        n_cov = np.bincount(np.searchsorted(ends, covered, side="right"), minlength=len(lines))
        n_words = np.diff(ends, prepend=0)
        gone = (n_cov > 0) & ((2 * n_cov >= n_words) | (n_cov >= self.ngram))
        # a line without words between two removed lines is part of the passage (a "," or a blank line)
        worded = np.flatnonzero(n_words > 0)
        at = np.searchsorted(worded, np.arange(len(lines)))
        inside = (n_words == 0) & (at > 0) & (at < len(worded))
        inside[inside] = gone[worded[at[inside] - 1]] & gone[worded[at[inside]]]
        gone |= inside
        doc["decontam_paragraphs"] = int(gone.sum())
        kept = [ln for ln, g in zip(lines, gone) if not g]
        if not any(normalize_words(ln) for ln in kept):
            return reason
        doc["text"] = "\n".join(kept)
        return None
