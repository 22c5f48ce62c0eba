"""``paragraph_dedup``: DCLM-Baseline's BFF pass (``--remove-type old-both``), exact, distributed, deterministic.

What DCLM ran (``dedup/bff/src/main.rs``, ``process_line_oldboth``, with min = max n-gram size 13 and
threshold 0.8), and what this stage does the same:

* **Paragraphs** are cut before every ``"\\n"``: the windows ``[0, n1), [n1, n2), … [nk, len)``, so every
  paragraph but the first starts with its newline and goes with it when removed.
* **Words** are the UAX #29 word-bound segments that are not all whitespace — punctuation marks are words —
  compared exactly as written (no case folding, no normalisation).
* **N-grams**: every run of ``ngram`` (13) consecutive words inside one paragraph. A paragraph of fewer
  words has none (``min_ngram`` = ``ngram``, as DCLM ran it): it is always kept, never counts towards its
  document's fraction and adds nothing to what later paragraphs see. With ``min_ngram`` < ``ngram``, a
  paragraph of ``min_ngram`` … ``ngram - 1`` words is one n-gram, as in BFF.
* **Already seen**: an n-gram is seen when a paragraph *before* this one — of an earlier document, or
  earlier in the same document — contained it and was *kept*. BFF looks all of a paragraph's n-grams up
  before it inserts any, so a repeat inside one paragraph does not count; a removed paragraph inserts
  nothing (its few new n-grams stay new); a kept paragraph of a dropped document does insert its n-grams.
* **Paragraph removal**: seen / the paragraph's n-grams ``> threshold`` (strictly, as BFF's code has it),
  with multiplicity.
* **Document drop**: seen / all the document's n-grams ``> threshold``, summed over its paragraphs before any
  removal (``paragraph_dedup_document``). A document left with only whitespace is dropped as well (BFF
  writes no line for it): ``paragraph_dedup_empty``. Kept documents get ``paragraphs_removed``.

Two differences, on purpose. **Order**: BFF's threads share one Bloom filter, so which copy counts as the
first depends on thread timing; here "before" is the fixed order (shard, row, paragraph), so a rerun and any
worker count give the same output. **No false positives**: at DCLM's ``--fp-rate 0.01`` about 1% of new
n-grams are taken for seen; here n-grams are exact 64-bit hashes (~0.03 colliding pairs among 10^9).

**Why exact hashes, per 10^9 n-grams.** A Bloom filter at 1% FPR is small (9.6 bits an n-gram: 1.2 GB), but
it is one mutable object that every document must pass in order: one process, or answers that depend on
timing. Exact hashes partitioned by value take 16 bytes an occurrence (hash, position): 16 GB per 10^9
n-grams in all, but split over the reduce tasks, each holding only its partition: 53 bytes per n-gram of
it at its peak (the sort; measured with tracemalloc on 4·10^6), and the partition count grows with the data
(``ngrams_per_partition``, default 2·10^7: about 1.1 GB a task). The rounds hold only the n-grams found in
two or more paragraphs (44 bytes each). On the bench crawl the sequential rule took 2 rounds.

**The sequential rule, solved exactly in rounds.** Whether a paragraph is removed decides what later ones
see. Round 0 counts every earlier occurrence as inserted; round k counts only those outside the paragraphs
round k-1 removed. A decision depends only on paragraphs before it, so the earliest wrong decision moves
later every round, and the first round that changes nothing is the sequential answer (``max_rounds`` caps
the rounds; ``summary.json`` says whether it converged). Which copy is kept depends only on that order: the
first in (shard, row), whatever its id.

The reduce jobs and the files they write (``global/PP-paragraph_dedup/``) are in :mod:`curate.dedup.bff_reduce`;
what the stage stores in ``mode: annotate`` for ``curate select`` is in :mod:`curate.dedup.bff_annotate`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from curate.annotate import stored_key
from curate.dedup.bff_reduce import (
    COLLECT_SCHEMA,
    SHARD_SHIFT,
    check_partitions,
    collected,
    decide_round,
    load_decisions,
    reduce_in_memory,
    repeated,
    scatter,
    seen_counts,
)
from curate.dedup.workfiles import ShardCache
from curate.executor import LocalExecutor
from curate.rundir import StageDir
from curate.schema import Document
from curate.stage import GlobalStage, register
from filters.words import _ASCII_SEGMENT, _uax29_segments

_CACHE = ShardCache()

# --- words and n-grams ---------------------------------------------------------------------------------

# UAX #29 on ASCII: the word rule of filters.words, plus every other non-space character as its own segment.
_ASCII_BOUNDS = re.compile(_ASCII_SEGMENT.pattern + r"|[^\sA-Za-z0-9_]")


def bff_words(paragraph: str) -> list[str]:
    """BFF's words: UAX #29 word-bound segments that are not all whitespace (``tokenize`` in main.rs)."""
    if paragraph.isascii():
        return _ASCII_BOUNDS.findall(paragraph)
    out: list[str] = []
    for tok in paragraph.split():
        if tok.isascii():
            out += _ASCII_BOUNDS.findall(tok)
        else:
            out += [s for s in _uax29_segments(tok) if not s.isspace()]
    return out


_RNG = np.random.default_rng(0xBFF13)
_MULT = _RNG.integers(1, 2**63, size=256, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd, per position
_LEN_MULT = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _window_hashes(tok: np.ndarray, width: int) -> np.ndarray:
    """Hash of every run of ``width`` consecutive token hashes (order-sensitive)."""
    m = len(tok) - width + 1
    acc = np.full(m, (width * _LEN_MULT) % 2**64, dtype=np.uint64)
    for j in range(width):
        acc += tok[j : j + m] * _MULT[j]
    return _mix(acc)


def document_ngrams(text: str, ngram: int = 13, min_ngram: int | None = None) -> tuple[np.ndarray, list[int]]:
    """(n-gram hashes of the document in paragraph order, n-grams per paragraph) as BFF forms them."""
    min_ngram = max(1, ngram if min_ngram is None else min_ngram)
    counts: list[int] = []
    words: list[str] = []
    spans: list[
        tuple[int, int] | np.ndarray
    ] = []  # (first word, n-grams) of a long paragraph, or a short one's hash
    for para in text.split("\n"):
        w = bff_words(para)
        if len(w) >= ngram:
            spans.append((len(words), len(w) - ngram + 1))
            counts.append(len(w) - ngram + 1)
            words += w
        elif len(w) >= min_ngram:  # the whole short paragraph is one n-gram
            spans.append(_window_hashes(_token_hashes(w), len(w)))
            counts.append(1)
        else:
            counts.append(0)
    if not spans:
        return np.zeros(0, np.uint64), counts
    # windows over all long paragraphs' words at once; those that cross a paragraph's end are never taken
    long_h = _window_hashes(_token_hashes(words), ngram) if words else np.zeros(0, np.uint64)
    pieces = [s if isinstance(s, np.ndarray) else long_h[s[0] : s[0] + s[1]] for s in spans]
    return np.concatenate(pieces), counts


def _token_hashes(words: list[str]) -> np.ndarray:
    return np.fromiter(
        map(xxhash.xxh3_64_intdigest, map(str.encode, words)), dtype=np.uint64, count=len(words)
    )


def _peak(peaks: list[float], *reports: list[dict[str, Any]]) -> float:
    """The highest peak RSS of the reduce jobs: their own peaks and those their reports carry."""
    return round(max([*peaks, *(r["peak_rss_mb"] for rep in reports for r in rep)]), 1)


def remove_paragraphs(text: str, gone: set[int]) -> str:
    """The text without the paragraphs numbered in ``gone`` (each goes with the newline before it)."""
    parts = text.split("\n")
    for k in sorted(gone, reverse=True):
        del parts[k]
    out = "\n".join(parts)
    return "\n" + out if 0 in gone and parts else out  # the first paragraph left keeps its newline


def _collect_table(ids: list[str], rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """Collected rows (COLLECT_SCHEMA) from each document's (n-grams, n-grams listed per paragraph, the
    paragraphs' n-gram counts)."""

    def lists(arrs: list[np.ndarray], dtype: Any) -> pa.ListArray:
        off = np.concatenate([[0], np.cumsum([len(a) for a in arrs])]).astype(np.int32)
        values = np.concatenate(arrs).astype(dtype, copy=False) if arrs else np.zeros(0, dtype)
        return pa.ListArray.from_arrays(pa.array(off), pa.array(values))

    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "ngram_count": pa.array([len(r[0]) for r in rows], pa.int32()),
            "para_ngrams": lists([r[2] for r in rows], np.int32),
            "para_hashes": lists([r[1] for r in rows], np.int32),
            "ngrams": lists([r[0] for r in rows], np.uint64),
        },
        schema=COLLECT_SCHEMA,
    )


# --- the stage --------------------------------------------------------------------------------------------


@register("paragraph_dedup")
class ParagraphDedup(GlobalStage):
    """DCLM-Baseline's BFF ``old-both`` dedup: remove paragraphs whose n-grams were seen, drop documents that
    were mostly seen (see the module docstring for the exact rules).

    Parameters:
        ngram: words per n-gram (DCLM: 13).
        min_ngram: paragraphs with ``min_ngram`` … ``ngram - 1`` words are one n-gram; shorter ones have none.
            Default: ``ngram`` (DCLM ran ``--min-ngram-size 13 --max-ngram-size 13``).
        threshold: a paragraph is removed, and a document dropped, when more than this fraction of its
            n-grams were already seen (DCLM: 0.8).
        ngrams_per_partition: n-gram occurrences per reduce task (memory: ~53 bytes each at the peak); the
            partition count is the larger of this bound and the number of workers.
        max_rounds: cap on the rounds that solve the sequential rule exactly.
        inline_below: with fewer n-gram occurrences than this to look up, the reduce runs in the driver, in
            memory (the same decisions, only the final ones written; ~200 MB at the bound): the jobs' files and
            ~10-25 ms of scheduling per Ray task cost more than the work on a few million n-grams (a select's,
            which reads back only the repeated ones). 0: always the partitioned jobs.

    Drop reasons: ``paragraph_dedup_document``, ``paragraph_dedup_empty``. Column: ``paragraphs_removed``.
    In ``mode: annotate`` it runs :class:`curate.dedup.bff_annotate.AnnotateBFF` and stores, per document, the
    n-grams two or more paragraphs of the run hold (``paragraph_dedup__ngrams``, uint64 bytes), every
    paragraph's n-gram count (``paragraph_dedup__para_ngrams``) and how many of them are stored
    (``paragraph_dedup__para_shared``, int32 bytes), the paragraphs a select may remove
    (``paragraph_dedup__candidates``), those a full run with its parameters removes
    (``paragraph_dedup__expected``) and the text's ``paragraph_dedup__key`` (:func:`curate.annotate.stored_key`):
    ``curate select`` reads them back instead of hashing again wherever the key matches.
    """

    columns = ("paragraphs_removed",)
    measures = (
        "paragraph_dedup__ngrams",
        "paragraph_dedup__para_ngrams",
        "paragraph_dedup__para_shared",
        "paragraph_dedup__key",
    )
    reduce_jobs = (
        "n-grams to hash partitions (one job per shard) → repeated n-grams (one job per partition) → rounds of "
        "seen counts (per partition) and decisions (per shard bucket) until none changes → per-shard lists"
    )

    def __init__(
        self,
        ngram: int = 13,
        min_ngram: int | None = None,
        threshold: float = 0.8,
        ngrams_per_partition: int = 20_000_000,
        max_rounds: int = 16,
        inline_below: int = 4_000_000,
    ) -> None:
        if not 1 <= ngram <= len(_MULT):
            raise ValueError(f"ngram must be within [1, {len(_MULT)}]")
        if min_ngram is not None and not 1 <= min_ngram <= ngram:
            raise ValueError("min_ngram must be within [1, ngram]")
        if not 0.0 <= threshold < 1.0:
            raise ValueError("threshold must be within [0, 1)")
        if ngrams_per_partition < 1 or max_rounds < 1:
            raise ValueError("ngrams_per_partition and max_rounds must be >= 1")
        if inline_below < 0:
            raise ValueError("inline_below must be >= 0")
        self.ngram, self.min_ngram, self.threshold = ngram, min_ngram, threshold
        self.ngrams_per_partition, self.max_rounds = ngrams_per_partition, max_rounds
        self.inline_below = inline_below

    @property
    def _salt(self) -> str:
        return f"paragraph_dedup|{self.ngram}|{self.min_ngram}"

    def _ngrams(self, doc: Document) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the n-grams to look up, how many of them per paragraph, the paragraphs' n-gram counts): those an
        annotating run stored when their key still matches (only the n-grams two of its paragraphs hold),
        else every n-gram of the text, hashed."""
        ng, per_para, shared, key = (doc.get(m) for m in self.measures)
        if key is not None and ng is not None and per_para is not None and key == stored_key(doc["text"], self._salt):
            counts = np.frombuffer(per_para, np.int32)
            return np.frombuffer(ng, np.uint64), counts if shared is None else np.frombuffer(shared, np.int32), counts
        return self._hashed(doc["text"])

    def _hashed(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every n-gram of ``text``, in the form of :meth:`_ngrams` (all of them listed)."""
        h, c = document_ngrams(text, self.ngram, self.min_ngram)
        counts = np.asarray(c, np.int32)
        return h, counts, counts

    def annotator(self, reason_col: str) -> GlobalStage:
        from curate.dedup.bff_annotate import AnnotateBFF

        return AnnotateBFF(self, reason_col)

    def collect(self, docs: list[Document]) -> pa.Table:
        return _collect_table([str(d["id"]) for d in docs], [self._ngrams(d) for d in docs])

    def _partitions(self, sdir: StageDir, shards: list[int], executor: Any, total: int) -> tuple[int, Any]:
        """The partition count, and where the reduce jobs run (``executor``, or the driver when small)."""
        if total < self.inline_below:
            executor = LocalExecutor()  # one job after the other: one partition is as fast, with fewer files
        parts = max(1, int(getattr(executor, "num_workers", 1)), math.ceil(total / self.ngrams_per_partition))
        check_partitions(sdir, parts)
        return parts, executor

    @staticmethod
    def _total(sdir: StageDir, shards: list[int]) -> int:
        """The n-grams to look up, in all (what sizes the reduce); checks the shard count fits a position."""
        if shards and max(shards) >= 1 << (64 - SHARD_SHIFT):
            raise ValueError(f"paragraph_dedup: at most {1 << (64 - SHARD_SHIFT)} shards")
        return sum(int(collected(sdir, s, ["ngram_count"]).column(0).to_numpy().sum()) for s in shards)

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        shards = sorted(shards)
        total = self._total(sdir, shards)
        if total < self.inline_below:
            summary = {"stage": self.name, **reduce_in_memory(sdir, shards, self.threshold, self.max_rounds)}
            sdir.write_json("summary.json", summary)
            return summary
        parts, executor = self._partitions(sdir, shards, executor, total)
        peaks = executor.map(scatter, [(sdir, s, parts) for s in shards])
        dups = executor.map(repeated, [(sdir, shards, p) for p in range(parts)])
        buckets = [[s for s in shards if s % parts == q] for q in range(parts)]
        converged, rnd, res = False, 0, []
        for rnd in range(self.max_rounds):
            peaks += executor.map(seen_counts, [(sdir, p, parts, rnd) for p in range(parts)])
            res = executor.map(
                decide_round, [(sdir, buckets[q], q, parts, rnd, self.threshold) for q in range(parts)]
            )
            if sum(r["changed"] for r in res) == 0:
                converged = True
                break
        keys = ("documents", "paragraphs", "ngrams", "seen_ngrams", "removed_paragraphs", "dropped")
        summary = {
            "stage": self.name,
            "round": rnd,
            "rounds": rnd + 1,
            "converged": converged,
            "partitions": parts,
            **{k: sum(r[k] for r in res) for k in keys},
            "distinct_ngrams": sum(d["distinct"] for d in dups),
            "repeated_ngram_rows": sum(d["dup_rows"] for d in dups),
            "reduce_peak_rss_mb": _peak(peaks, dups, res),
        }
        sdir.write_json("summary.json", summary)
        return summary

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        decided = _CACHE.get((sdir.url, shard), lambda: load_decisions(sdir, shard))
        out: list[str | None] = []
        for d in docs:
            removed, drop = decided.get(str(d["id"]), ((), False))
            if drop:
                out.append("paragraph_dedup_document")
                continue
            if removed:
                d["text"] = remove_paragraphs(d["text"], set(removed))
            d["paragraphs_removed"] = len(removed)
            out.append("paragraph_dedup_empty" if not d["text"].strip() else None)
        return out
