"""Evaluate a quality classifier: accuracy, precision/recall per label, ROC AUC.

Used on the held-out split by ``curate quality train`` and on a labelled JSONL by ``curate quality eval``
(e.g. DCLM's human labels: ``{"text": …, "label": 0|1}``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_auc(scores: list[float] | np.ndarray, labels: list[int] | np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties get the average rank); NaN if one class."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average rank (1-based) over each run of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(scores: list[float], labels: list[int], threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy at ``threshold``, precision/recall per label (1 = positive, 0 = negative), ROC AUC."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pred = s >= threshold
    out: dict[str, Any] = {
        "n": int(len(s)),
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "threshold": threshold,
        "accuracy": float((pred == y).mean()) if len(s) else float("nan"),
        "roc_auc": roc_auc(s, y),
    }
    for name, truth, guess in (("positive", y, pred), ("negative", ~y, ~pred)):
        tp = int((truth & guess).sum())
        out[f"precision_{name}"] = tp / int(guess.sum()) if guess.any() else float("nan")
        out[f"recall_{name}"] = tp / int(truth.sum()) if truth.any() else float("nan")
    return out


def format_metrics(m: dict[str, Any], title: str = "evaluation") -> str:
    """A short human-readable block, one figure per line."""
    lines = [
        f"{title}: {m['n']} documents ({m['n_positive']} positive, {m['n_negative']} negative)",
        f"  accuracy      {m['accuracy']:.4f}  (P(positive) >= {m['threshold']})",
        f"  ROC AUC       {m['roc_auc']:.4f}",
        f"  positive      precision {m['precision_positive']:.4f}  recall {m['recall_positive']:.4f}",
        f"  negative      precision {m['precision_negative']:.4f}  recall {m['recall_negative']:.4f}",
    ]
    return "\n".join(lines)


def to_binary_label(value: Any, positive_label: str) -> int:
    """Map a label field to 1/0: 1/0, true/false, "hq"/"cc", "__label__hq"… (the positive label → 1)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value > 0.5)
    v = str(value).strip()
    bare = v.removeprefix("__label__").lower()
    if v == positive_label or bare == positive_label.removeprefix("__label__").lower():
        return 1
    if bare in ("1", "true", "yes", "pos", "positive", "hq", "high", "good"):
        return 1
    if bare in ("0", "false", "no", "neg", "negative", "cc", "low", "bad", "lq"):
        return 0
    raise ValueError(f"cannot read label {value!r} as positive/negative")


def evaluate_file(
    model_path: str,
    inputs: list[str],
    label_field: str = "label",
    positive_label: str = "__label__hq",
    threshold: float = 0.5,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Score labelled JSONL files with a model and return :func:`binary_metrics` (+ the resolved label)."""
    from curate.quality.model import load_model, predict_positive, resolve_positive_label
    from curate.quality.sources import expand, read_records

    model = load_model(model_path)
    pos = resolve_positive_label(list(model.labels), positive_label)
    texts: list[str] = []
    labels: list[int] = []
    for path in expand(inputs):
        for rec in read_records(path, txt_doc_words=0):
            if label_field not in rec:
                raise ValueError(f"{path}: a record has no {label_field!r} field")
            texts.append(rec["text"])
            labels.append(to_binary_label(rec[label_field], pos))
    scores: list[float] = []
    for i in range(0, len(texts), batch_size):
        scores += predict_positive(model, texts[i : i + batch_size], pos)
    m = binary_metrics(scores, labels, threshold)
    m["positive_label"] = pos
    return m
