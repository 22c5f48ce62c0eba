"""``paragraph_dedup`` in ``mode: annotate`` (:class:`AnnotateBFF`): what it stores for ``curate select``.

It keeps every document and stores, per document:

* the n-grams that two or more paragraphs of the run hold (``paragraph_dedup__ngrams``), every paragraph's
  n-gram count (``__para_ngrams``), how many of them are stored (``__para_shared``) and the text's ``__key``
  (:func:`curate.annotate.stored_key`). Whatever subset of the documents a select keeps, an n-gram that only
  one of their paragraphs holds is never seen, so leaving it out changes no decision; on the bench crawl it
  leaves ~8% of the n-grams to store, to read back and to look up.
* ``__candidates``: the paragraphs a select may remove (more than ``threshold`` of their n-grams held by
  other paragraphs of the run too).
* ``__expected``: the paragraphs that a full run with the annotating run's own parameters removes. BFF runs
  for real, with the same reduce as a full run, over the documents that no earlier stage would drop, on
  their stored n-grams (``global/PP-paragraph_dedup/expected/``).

A later ``quality`` stage scores the texts BFF may leave too (:func:`bff_variants`, a
:data:`curate.annotate.TEXT_VARIANTS` entry): every subset of the candidates for up to
``MAX_VARIANTS_FROM`` of them, else all of them, and the expected text. A select whose filters keep about
the documents the annotating run kept finds the score of nearly every shortened page stored, and loads no
classifier at all when it finds them all.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa

from curate.annotate import TEXT_VARIANTS, kept_so_far, stored_key
from curate.dedup.bff_reduce import (
    collected,
    load_decisions,
    load_shared,
    paragraph_counts,
    repeated,
    scatter,
    shared_split,
)
from curate.dedup.paragraph import ParagraphDedup, _collect_table, _peak, remove_paragraphs
from curate.dedup.workfiles import ShardCache
from curate.rundir import StageDir
from curate.schema import Document
from curate.stage import GlobalStage

CANDIDATES = "paragraph_dedup__candidates"
EXPECTED = "paragraph_dedup__expected"
MAX_VARIANTS_FROM = 3  # candidates up to which every subset is a text variant (else only all of them removed)

_CACHE = ShardCache()


def bff_variants(doc: Document) -> list[str]:
    """The texts BFF may leave of an annotated document: its candidate paragraphs removed (every subset of
    them for up to MAX_VARIANTS_FROM, else all of them) and its expected ones; blank texts left out (BFF
    drops those)."""
    raw = doc.get(CANDIDATES)
    if not raw:
        return []
    cand = np.frombuffer(raw, np.int32).tolist()
    subsets = [tuple(cand)]
    if len(cand) <= MAX_VARIANTS_FROM:
        subsets = [c for r in range(1, len(cand) + 1) for c in itertools.combinations(cand, r)]
    if (raw := doc.get(EXPECTED)) and (expected := tuple(np.frombuffer(raw, np.int32).tolist())) not in subsets:
        subsets.append(expected)
    texts = (remove_paragraphs(doc["text"], set(c)) for c in subsets)
    return [t for t in texts if t.strip()]


TEXT_VARIANTS.append(bff_variants)


def expected_dir(sdir: StageDir) -> StageDir:
    """Where the annotating run's own BFF (over the documents it would keep) collects and decides."""
    return StageDir(f"{sdir.url}/expected", sdir.storage_options)


def _stored_lists(first: int, counts: np.ndarray, pos: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A document's stored n-grams (every repeated occurrence, in order) and how many each paragraph holds,
    from its row of :func:`_shared_rows`."""
    return np.repeat(h, c), np.bincount(pos - first, weights=c, minlength=len(counts)).astype(np.int32)


def expected_collect(sdir: StageDir, shard: int) -> int:
    """What a full run's map pass would collect for shard NNNNN (its documents that no earlier stage drops,
    in order, with the n-grams a select reads back), as the collect file of :func:`expected_dir`."""
    rel = sdir.collect_file(shard)
    ids: list[str] = []
    rows = {}
    if sdir.exists(rel):
        t = sdir.read_table(rel, columns=["id", "para_ngrams", "kept"])  # one read for both
        ids = [i for i, k in zip(t.column("id").to_pylist(), t.column("kept").to_pylist()) if k]
        rows = _shared_rows(sdir, shard, t) if ids else {}
    lists = []
    for i in ids:
        first, counts, pos, h, c = rows[i]
        lists.append((*_stored_lists(first, counts, pos, h, c), counts))
    sub = expected_dir(sdir)
    sub.write_table(sub.collect_file(shard), _collect_table(ids, lists))
    return len(ids)


class AnnotateBFF(GlobalStage):
    """``paragraph_dedup`` in ``mode: annotate``: keeps every document and stores what a select reads back
    (see the module docstring)."""

    reduce_jobs = (
        "n-grams to hash partitions → repeated n-grams → split by shard (what each document stores); then "
        "paragraph_dedup's own reduce over the documents the run would keep (the expected removals)"
    )

    def __init__(self, inner: ParagraphDedup, reason_col: str) -> None:
        self.inner = inner
        self.reason_col = reason_col
        self.columns = (*inner.columns, *inner.measures, CANDIDATES, EXPECTED, reason_col)  # type: ignore[misc]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def collect(self, docs: list[Document]) -> pa.Table:
        t = _collect_table([str(d["id"]) for d in docs], [self.inner._hashed(d["text"]) for d in docs])
        return t.append_column("kept", pa.array([kept_so_far(d) for d in docs], pa.bool_()))

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        shards = sorted(shards)
        parts, jobs = self.inner._partitions(sdir, shards, executor, self.inner._total(sdir, shards))
        peaks = jobs.map(scatter, [(sdir, s, parts) for s in shards])
        dups = jobs.map(repeated, [(sdir, shards, p) for p in range(parts)])
        split = jobs.map(shared_split, [(sdir, p, parts) for p in range(parts)])
        jobs.map(expected_collect, [(sdir, s) for s in shards])
        expected = self.inner.reduce(expected_dir(sdir), shards, executor)
        summary = {
            "stage": self.name,
            "mode": "annotate",
            "partitions": parts,
            "ngrams": sum(d["ngrams"] for d in dups),
            "distinct_ngrams": sum(d["distinct"] for d in dups),
            "stored_ngrams": sum(s["occurrences"] for s in split),
            "expected": {k: expected[k] for k in ("documents", "removed_paragraphs", "dropped", "converged")},
            "reduce_peak_rss_mb": max(_peak(peaks, dups, split), expected["reduce_peak_rss_mb"]),
        }
        sdir.write_json("summary.json", summary)
        return summary

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        rows = _CACHE.get((sdir.url, shard, "shared"), lambda: _shared_rows(sdir, shard))
        expected = _CACHE.get((sdir.url, shard, "expected"), lambda: load_decisions(expected_dir(sdir), shard))
        ng_col, para_col, shared_col, key_col = self.inner.measures
        for d in docs:
            first, counts, pos, h, c = rows[str(d["id"])]
            ngrams, shared = _stored_lists(first, counts, pos, h, c)
            d[ng_col], d[para_col], d[shared_col] = ngrams.tobytes(), counts.tobytes(), shared.tobytes()
            with np.errstate(divide="ignore", invalid="ignore"):  # the paragraphs a select may find seen
                d[CANDIDATES] = np.flatnonzero((counts > 0) & (shared / counts > self.inner.threshold)).astype(
                    np.int32).tobytes()
            removed, drop = expected.get(str(d["id"]), ((), False))
            d[EXPECTED] = np.array(removed, np.int32).tobytes() if removed and not drop else None
            d[key_col] = stored_key(d["text"], self.inner._salt)
            d[self.reason_col] = None
        return [None] * len(docs)


def _shared_rows(
    sdir: StageDir, shard: int, t: pa.Table | None = None
) -> dict[str, tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """id → (its first paragraph's ordinal in the shard, its paragraphs' n-gram counts, and its repeated
    occurrences: ordinals, hashes, counts), from the shard's collected rows (``t``: already read, with ``id``
    and ``para_ngrams``) and ``shared/``."""
    parts = sdir.read_json("partitions.json")["parts"]
    pos, h, c = load_shared(sdir, shard, parts)
    t = collected(sdir, shard, ["id", "para_ngrams"]) if t is None else t
    counts, offsets = paragraph_counts(t)
    counts = counts.astype(np.int32)
    cut = np.searchsorted(pos, offsets)
    return {
        i: (int(offsets[k]), counts[offsets[k] : offsets[k + 1]], pos[cut[k] : cut[k + 1]], h[cut[k] : cut[k + 1]],
            c[cut[k] : cut[k + 1]])
        for k, i in enumerate(t.column("id").to_pylist())
    }
