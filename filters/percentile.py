"""Exact global percentile cuts over a score column: the shared reduce of ``quality`` and ``classifier``.

A global stage that keeps a fraction of the documents by score collects ``(id, <score column>)`` per shard;
its reduce loads every collected score and picks the exact cut with an O(n) selection, and its apply keeps
the documents on the right side of the cut. Scores are float32 everywhere (the dtype they are stored in),
so the comparison in ``apply`` uses the very same numbers the cut was picked from.
"""

from __future__ import annotations

import math

import numpy as np

from curate.rundir import StageDir


def top_fraction_threshold(scores: np.ndarray, fraction: float) -> tuple[float, int]:
    """The score t such that ``scores >= t`` keeps the top ``ceil(fraction * n)`` scores, plus ties at t.

    Exact: an O(n) selection (``np.partition``) over all scores as float32, the dtype they are stored in,
    so the comparison in ``apply`` uses the very same numbers. Returns (t, k); ``t = inf`` when n = 0.
    """
    n = len(scores)
    k = min(n, math.ceil(fraction * n - 1e-9))
    if n == 0 or k == 0:
        return math.inf, 0
    s = np.asarray(scores, dtype=np.float32)
    return float(np.partition(s, n - k)[n - k]), k


def bottom_fraction_threshold(scores: np.ndarray, fraction: float) -> tuple[float, int]:
    """The score t such that ``scores <= t`` keeps the lowest ``ceil(fraction * n)`` scores, plus ties at t
    (``-inf`` when n = 0). Float32 negation is exact, so this is the top cut of the negated scores."""
    t, k = top_fraction_threshold(-np.asarray(scores, dtype=np.float32), fraction)
    return -t, k


def load_scores(sdir: StageDir, shards: list[int], column: str) -> np.ndarray:
    """Every collected score of ``column``, shards in order, as float32.

    Only the score column is read: 4 bytes a document, 400 MB for 100 M documents, on one machine. A
    bounded-memory variant would histogram the scores per shard in parallel, find the bin holding the
    quantile, then gather only that bin's scores for the exact pick; not needed at this scale.
    """
    parts = []
    for shard in shards:
        rel = sdir.collect_file(shard)
        if sdir.exists(rel):
            col = sdir.read_table(rel, columns=[column]).column(column)
            parts.append(col.to_numpy(zero_copy_only=False).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
