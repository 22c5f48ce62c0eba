"""Model-based quality filtering: train, evaluate and apply fastText quality classifiers (DCLM's lever).

- :func:`curate.quality.model.preprocess` — the one text preprocessing shared by training and scoring;
- :func:`curate.quality.train.train_classifier` — ``curate quality train``; writes the model and its card;
- :func:`curate.quality.eval.evaluate_file` — ``curate quality eval``: accuracy, precision/recall, ROC AUC;
- :func:`curate.quality.default.build_default` — ``curate quality build-default``: the stand-in classifier;
- the ``quality`` stage lives in :mod:`filters.quality`.
"""

from curate.quality.model import (
    DEFAULT_MODEL,
    load_model,
    predict_positive,
    preprocess,
    resolve_positive_label,
)

__all__ = ["DEFAULT_MODEL", "load_model", "predict_positive", "preprocess", "resolve_positive_label"]
