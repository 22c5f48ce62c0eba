"""``classifier``: any fastText classifier, any label, an absolute threshold or an exact global percentile.

Toxicity, NSFW, educational value, a domain: a user trains a fastText model (``curate quality train`` or
elsewhere), names the label whose probability is the score and the column it goes to, and keeps one side:

- ``keep: high`` keeps high scores (educational value, quality); ``keep: low`` keeps low ones (toxicity);
- ``threshold``: per document, in ``process_batch`` — high keeps ``score >= threshold``, low keeps
  ``score <= threshold`` (reasons ``classifier_below_threshold`` / ``classifier_above_threshold``);
- ``fraction``: the top (high) or bottom (low) fraction of all documents of the run, cut at the exact score
  quantile by the reduce (``filters.percentile``, as the ``quality`` stage), written to
  ``global/PP-classifier/threshold.json`` and applied at the head of the next map pass (reasons
  ``classifier_below_percentile`` / ``classifier_above_percentile``); ties at the cut are all kept;
- neither: annotate only (every document kept, with its score).

With both, the fraction is of the documents that passed the threshold.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from curate.quality.model import load_model, predict_positive, resolve_model_path
from curate.rundir import StageDir
from curate.schema import SCHEMA_FIELDS, Document
from curate.stage import GlobalStage, register, worker_cache
from filters.percentile import bottom_fraction_threshold, load_scores, top_fraction_threshold

THRESHOLD_FILE = "threshold.json"
# The engine types a run's columns from curate/schema.py, so a score column must be declared there float32.
SCORE_COLUMNS = tuple(n for n, f in SCHEMA_FIELDS.items() if f.type == pa.float32() and n.endswith("_score"))


def _model(path: str) -> Any:
    return worker_cache(("classifier_model", path, os.path.getmtime(path)), lambda: load_model(path))


@register("classifier")
class Classifier(GlobalStage):
    """Score every document with a fastText model's P(label); keep by threshold or exact global fraction.

    Parameters:
        model: a fastText model file (``.bin`` / ``.ftz``), or ``default`` (the committed quality stand-in).
        label: the label whose probability is the score (``__label__toxic`` or ``toxic``). Checked against
            the model's labels when the recipe is built.
        column: the float32 column the score is written to (``edu_score``, ``toxicity_score``, …; the
            names declared in ``curate/schema.py``).
        keep: ``high`` keeps high scores, ``low`` keeps low scores.
        threshold: absolute cut (see the module docstring), or null.
        fraction: the fraction of the run's documents to keep, the highest (``high``) or lowest (``low``)
            scores, or null.
        batch_size: documents per fastText call.
    """

    reduce_jobs = "exact score quantile over every shard (fraction) → threshold.json"

    def __init__(
        self,
        model: str | None = None,
        label: str | None = None,
        column: str = "classifier_score",
        keep: Literal["high", "low"] = "high",
        threshold: float | None = None,
        fraction: float | None = None,
        batch_size: int = 1024,
    ) -> None:
        if model is None or label is None:
            raise ValueError(
                "classifier needs `model` (a fastText model file) and `label` (the label to score)"
            )
        if column not in SCORE_COLUMNS:
            raise ValueError(
                f"column {column!r} is not a float32 score column of curate/schema.py: {list(SCORE_COLUMNS)}"
            )
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        if fraction is not None and not 0.0 < fraction <= 1.0:
            raise ValueError("fraction must be within (0, 1]")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = str(resolve_model_path(model))  # FileNotFoundError → RecipeError naming classifier.model
        # the labels are checked here, before any work; the model a worker scores with is loaded once per
        # process in setup (not through worker_cache here: the recipe itself is built inside that cache)
        labels = list(load_model(self.model).labels)
        self.label = label if label.startswith("__label__") else f"__label__{label}"
        if self.label not in labels:
            raise ValueError(f"label {label!r} is not a label of {model} (labels: {labels})")
        self.column, self.keep, self.threshold, self.fraction = column, keep, threshold, fraction
        self.batch_size = batch_size
        self.columns = (column,)  # per instance: the run's schema is decided from it
        self._cuts: dict[str, float] = {}

    def setup(self) -> None:
        self._model = _model(self.model)

    def score(self, texts: list[str]) -> list[float]:
        m = _model(self.model) if getattr(self, "_model", None) is None else self._model
        out: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            out += predict_positive(m, texts[i : i + self.batch_size], self.label)
        return out

    def _kept(self, score: float, cut: float) -> bool:
        s = np.float32(score)
        return bool(s >= np.float32(cut)) if self.keep == "high" else bool(s <= np.float32(cut))

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        reasons: list[str | None] = []
        side = "below" if self.keep == "high" else "above"
        for d, s in zip(docs, self.score([d["text"] for d in docs])):
            d[self.column] = s
            drop = self.threshold is not None and not self._kept(s, self.threshold)
            reasons.append(f"classifier_{side}_threshold" if drop else None)
        return reasons

    def collect(self, docs: list[Document]) -> pa.Table:
        return pa.table(
            {
                "id": pa.array([str(d["id"]) for d in docs], pa.string()),
                "score": pa.array([d[self.column] for d in docs], pa.float32()),
            }
        )

    def reduce(self, sdir: StageDir, shards: list[int], executor: Any) -> dict[str, Any]:
        if self.fraction is None:
            return {"threshold": self.threshold, "column": self.column}
        if sdir.exists(THRESHOLD_FILE):  # resumable: a finished pass is not redone (unless its cut differs)
            done = sdir.read_json(THRESHOLD_FILE)
            if (done.get("fraction"), done.get("keep")) == (self.fraction, self.keep):
                return done
        scores = load_scores(sdir, sorted(shards), "score")
        pick = top_fraction_threshold if self.keep == "high" else bottom_fraction_threshold
        cut, k = pick(scores, self.fraction)
        c = np.float32(cut)
        kept = (
            int((scores >= c).sum() if self.keep == "high" else (scores <= c).sum())
            if math.isfinite(cut)
            else 0
        )
        summary = {
            "column": self.column,
            "label": self.label,
            "keep": self.keep,
            "fraction": self.fraction,
            "threshold": cut if math.isfinite(cut) else None,
            "documents": int(len(scores)),
            "requested": k,
            "kept": kept,  # k plus the documents tied with the k-th score
        }
        sdir.write_json(THRESHOLD_FILE, summary)
        return summary

    def apply(self, docs: list[Document], shard: int, sdir: StageDir) -> list[str | None]:
        if self.fraction is None:
            return [None] * len(docs)
        if sdir.url not in self._cuts:
            t = sdir.read_json(THRESHOLD_FILE)["threshold"]
            self._cuts[sdir.url] = t if t is not None else (math.inf if self.keep == "high" else -math.inf)
        cut = self._cuts[sdir.url]
        missing = [d for d in docs if d.get(self.column) is None]
        for d, s in zip(missing, self.score([d["text"] for d in missing])):
            d[self.column] = s
        side = "below" if self.keep == "high" else "above"
        return [None if self._kept(d[self.column], cut) else f"classifier_{side}_percentile" for d in docs]
