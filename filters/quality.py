"""Model-based quality filtering: the ``quality`` stage (fastText score, absolute or percentile threshold).

DCLM scores each page with a fastText bigram classifier and keeps the top 10%. This stage writes
``quality_score`` = P(positive label) on every document it sees and then keeps documents by

- an absolute ``threshold`` (per document, in ``process_batch``; reason ``quality_below_threshold``), and/or
- ``keep_top_fraction``: a global pass computes the exact score quantile over all shards, writes it to
  ``global/PP-quality/threshold.json``, and the next per-shard pass drops scores below it (reason
  ``quality_below_percentile``). With both, the fraction is of the documents that passed the threshold.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from curate.annotate import stored_key, text_variants
from curate.quality.model import load_model, predict_positive, resolve_model_path, resolve_positive_label
from curate.rundir import StageDir
from curate.schema import Document
from curate.stage import GlobalStage, register, worker_cache
from filters.percentile import load_scores, top_fraction_threshold

__all__ = ["Quality", "top_fraction_threshold"]

THRESHOLD_FILE = "threshold.json"
VARIANT_DTYPE = np.dtype([("key", "<u8"), ("score", "<f4")])  # quality__variants: stored_key as uint64, score


@register("quality")
class Quality(GlobalStage):
    """Score documents with a fastText quality classifier; keep by absolute threshold or top fraction.

    Parameters:
        model: path to a fastText model file (``.bin``/``.ftz``; DCLM's ``fasttext_oh_eli5.bin`` works), or
            ``"default"`` for the committed stand-in ``filters/data/quality-default.ftz``. Required.
        positive_label: label whose probability is the score; when the model lacks it, a recognisable
            positive (``__label__1``, ``__label__pos``…) or the non-negative of two labels is used.
        threshold: drop documents with ``quality_score < threshold`` (``quality_below_threshold``).
        keep_top_fraction: keep this fraction of documents, the highest scores, over the whole run (exact
            quantile; ties at the cut are all kept) (``quality_below_percentile``). DCLM: 0.1.
        batch_size: documents per fastText call.

    Writes ``quality_score`` (float32, P(positive)) on every document, dropped ones included. In
    ``mode: annotate`` it also writes ``quality__key`` (:func:`curate.annotate.stored_key` of the text and the
    model), and a document that carries a matching key is not scored again: ``curate select`` re-scores only
    the documents whose text changed after annotation (a paragraph dedup before it removed some paragraphs).
    It also stores ``quality__variants``, the scores of the texts such a dedup may leave
    (:func:`curate.annotate.text_variants`), so that a select finds most of those scores too.
    """

    columns = ("quality_score",)
    measures = ("quality__key", "quality__variants")

    def __init__(
        self,
        model: str | None = None,
        positive_label: str = "__label__hq",
        threshold: float | None = None,
        keep_top_fraction: float | None = None,
        batch_size: int = 1024,
    ) -> None:
        if model is None:
            raise ValueError(
                "quality.model is required: a fastText model path, or `default` for the committed stand-in "
                "(filters/data/quality-default.ftz). Build a classifier with `curate quality build-default "
                "--output models/quality-default.bin` or `curate quality train --positive … --negative … "
                "--output q.bin`, then --set quality.model=q.bin"
            )
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        if keep_top_fraction is not None and not 0.0 < keep_top_fraction <= 1.0:
            raise ValueError("keep_top_fraction must be within (0, 1]")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = resolve_model_path(model)  # FileNotFoundError → RecipeError naming quality.model
        self.positive_label = positive_label
        self.threshold = threshold
        self.keep_top_fraction = keep_top_fraction
        self.batch_size = batch_size
        self._cuts: dict[str, float] = {}  # workdir → threshold, read once per worker
        st = os.stat(self.model)
        self._salt = f"quality|{self.model}|{st.st_size}|{st.st_mtime_ns}|{positive_label}"

    def _load(self) -> None:
        # On first use, not in setup: a select whose documents all carry their stored score loads no model.
        path = str(self.model)
        key = ("quality_model", path, os.path.getmtime(path))
        self._model = worker_cache(key, lambda: load_model(path))
        self._label = resolve_positive_label(list(self._model.labels), self.positive_label)

    def score(self, texts: list[str]) -> list[float]:
        """P(positive) for raw texts, in batches of ``batch_size``."""
        if not texts:
            return []
        if not hasattr(self, "_model"):
            self._load()
        out: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            out += predict_positive(self._model, texts[i : i + self.batch_size], self._label)
        return out

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        todo = []
        for d in docs:
            if (s := self._stored(d)) is None:
                todo.append(d)
            else:
                d["quality_score"] = s
        for d, s in zip(todo, self.score([d["text"] for d in todo])):
            d["quality_score"] = s
        # float32, the dtype the score is stored in: a stored score and a fresh one decide alike
        below = [self.threshold is not None and np.float32(d["quality_score"]) < self.threshold for d in docs]
        return ["quality_below_threshold" if b else None for b in below]

    def _stored(self, doc: Document) -> float | None:
        """The score an annotating run stored for this very text and model: of the text it saw, or of one of
        the texts a later paragraph dedup may leave (``quality__variants``); None when there is none."""
        key = doc.get(self.measures[0])
        if key is None:
            return None
        now = stored_key(doc["text"], self._salt)
        if key == now and doc.get("quality_score") is not None:
            return doc["quality_score"]
        if raw := doc.get(self.measures[1]):
            v = np.frombuffer(raw, VARIANT_DTYPE)
            hit = v["score"][v["key"] == np.uint64(int(now, 16))]
            if len(hit):
                return float(hit[0])
        return None

    def annotate_batch(self, docs: list[Document]) -> list[str | None]:
        reasons = self.process_batch(docs)
        variants = [text_variants(d) for d in docs]
        scores = iter(self.score([v for vs in variants for v in vs]))
        for d, vs in zip(docs, variants):
            d[self.measures[0]] = stored_key(d["text"], self._salt)
            rows = [(int(stored_key(v, self._salt), 16), next(scores)) for v in vs]
            d[self.measures[1]] = np.array(rows, VARIANT_DTYPE).tobytes() if rows else None
        return reasons

    def collect(self, docs: list[Document]) -> Any:
        import pyarrow as pa

        return pa.table(
            {
                "id": pa.array([str(d["id"]) for d in docs], pa.string()),
                "quality_score": pa.array([d["quality_score"] for d in docs], pa.float32()),
            }
        )

    reduce_jobs = "exact score quantile over every shard (keep_top_fraction) → threshold.json"

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        if self.keep_top_fraction is None:
            return {"threshold": self.threshold}
        if sdir.exists(THRESHOLD_FILE):  # resumable: a finished pass is not redone (unless its fraction differs)
            done = sdir.read_json(THRESHOLD_FILE)
            if done.get("keep_top_fraction") == self.keep_top_fraction:
                return done
        scores = load_scores(sdir, sorted(shards), "quality_score")
        cut, k = top_fraction_threshold(scores, self.keep_top_fraction)
        kept = int((scores >= np.float32(cut)).sum()) if len(scores) else 0
        summary = {
            "keep_top_fraction": self.keep_top_fraction,
            "threshold": cut if math.isfinite(cut) else None,
            "documents": int(len(scores)),
            "requested": k,
            "kept": kept,  # k plus the documents tied with the k-th score
            "shards": len(shards),
        }
        sdir.write_json(THRESHOLD_FILE, summary)
        return summary

    def _cut(self, sdir: StageDir) -> np.float32:
        if sdir.url not in self._cuts:
            t = sdir.read_json(THRESHOLD_FILE)["threshold"]
            self._cuts[sdir.url] = math.inf if t is None else t
        return np.float32(self._cuts[sdir.url])

    def apply_table(self, table: Any, shard: int, sdir: StageDir) -> Any:
        """``apply`` on an Arrow table whose rows all carry their ``quality_score`` (float32, as stored): the
        reason per row, null where kept (the same float32 comparison). Every row has its score: the stage's
        ``process_batch`` gave it one before collecting it."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        if self.keep_top_fraction is None:
            return pa.nulls(n, pa.string())
        score = table.column("quality_score").cast(pa.float32())
        if score.null_count:
            raise ValueError("quality: a document without its score reached the percentile pass")
        keep = pc.greater_equal(score, pa.scalar(self._cut(sdir), pa.float32()))
        return pc.if_else(keep, pa.scalar(None, pa.string()), pa.scalar("quality_below_percentile")).combine_chunks()

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        if self.keep_top_fraction is None:
            return [None] * len(docs)
        cut = self._cut(sdir)
        missing = [d for d in docs if d.get("quality_score") is None]
        if missing:  # not expected (process_batch scored them); score rather than guess
            for d, s in zip(missing, self.score([d["text"] for d in missing])):
                d["quality_score"] = s
        return [None if np.float32(d["quality_score"]) >= cut else "quality_below_percentile" for d in docs]
