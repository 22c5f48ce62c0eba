"""The one preprocessing function, model loading and batched scoring shared by training and the stage.

Training (``curate quality train``), evaluation (``curate quality eval``) and the ``quality`` stage all call
:func:`preprocess` on a text before fastText sees it, so a model scores text exactly as it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The committed default classifier (a stand-in for DCLM's OH-2.5+ELI5 model; see filters/data/README.md).
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "filters" / "data" / "quality-default.ftz"

POSITIVE_LABEL = "__label__hq"  # DCLM's names: __label__hq (positive) vs __label__cc (Common Crawl)
NEGATIVE_LABEL = "__label__cc"
# Label names recognised when a model's labels are not hq/cc (auto-detection of the positive label).
_POSITIVE_NAMES = {"hq", "1", "pos", "positive", "high", "good", "wiki", "keep", "true"}
_NEGATIVE_NAMES = {"cc", "0", "neg", "negative", "low", "bad", "lq", "drop", "false"}


def preprocess(text: str) -> str:
    """DCLM's scoring preprocessing: strip, join the lines with spaces; then collapse runs of whitespace.

    DCLM scores ``" ".join(content.strip().splitlines())``. fastText splits tokens on ASCII whitespace, so
    collapsing runs of it changes no token (Unicode spaces such as NBSP are left alone: fastText keeps them
    inside tokens). No lowercasing: DCLM's released model sees cased text, and so must any model here.
    """
    # re.sub(r"[ \t\r\n\v\f]+", " ", joined) in effect (those are the separators fastText splits on, besides
    # NUL): after splitlines only spaces and tabs are left of them, and str.replace collapses their runs ~3x
    # faster than the regex substitution (tests/quality/test_quality.py checks that the two agree)
    out = " ".join(text.strip().splitlines())
    if "\t" in out:
        out = out.replace("\t", " ")
    while "  " in out:
        out = out.replace("  ", " ")
    return out.strip()


def resolve_model_path(model: str) -> Path:
    """``"default"`` → the committed default model; anything else is a local path that must exist."""
    path = DEFAULT_MODEL if model == "default" else Path(model).expanduser()
    if not path.is_file():
        if model == "default":
            raise FileNotFoundError(
                f"the default quality model {path} is missing; build it with "
                "`curate quality build-default --output filters/data/quality-default.ftz`"
            )
        raise FileNotFoundError(f"quality model file not found: {path}")
    return path


def load_model(path: str | Path) -> Any:
    """Load a fastText model file (.bin or quantized .ftz); an install hint if fastText is absent."""
    try:
        import fasttext
    except ImportError as e:  # pragma: no cover - fasttext is a core dependency
        raise ImportError("the quality stage needs fastText: pip install fasttext") from e
    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model deprecation notice
    return fasttext.load_model(str(path))


def resolve_positive_label(labels: list[str], wanted: str = POSITIVE_LABEL) -> str:
    """The positive label of a model: ``wanted`` if the model has it, else one recognised by name.

    A two-label model whose other label is a known negative name (``__label__cc``, ``__label__0``…) also
    resolves. Raises ValueError listing the model's labels otherwise.
    """
    if wanted in labels:
        return wanted

    def bare(label: str) -> str:
        return label.removeprefix("__label__").lower()

    pos = [lab for lab in labels if bare(lab) in _POSITIVE_NAMES]
    if len(pos) == 1:
        return pos[0]
    if len(labels) == 2:
        neg = [lab for lab in labels if bare(lab) in _NEGATIVE_NAMES]
        if len(neg) == 1:
            return next(lab for lab in labels if lab != neg[0])
    raise ValueError(f"positive_label {wanted!r} is not a label of the model (labels: {labels}); set it")


def predict_positive(model: Any, texts: list[str], positive_label: str) -> list[float]:
    """P(positive_label) for each raw text (preprocessed here), in one batched fastText call.

    fastText 0.9.3 under numpy 2 fails on ``predict`` of a single string (``np.array(probs, copy=False)``);
    the batched form (a list) goes through ``multilinePredict`` and returns plain arrays, so it works — and
    it is the fast path anyway (one C++ call per batch).
    """
    if not texts:
        return []
    lines = [preprocess(t) for t in texts]
    try:
        labels, probs = model.predict(lines, k=-1)
    except UnicodeError:  # lone surrogates cannot cross into C++: replace them, then retry once
        lines = [t.encode("utf-8", "replace").decode("utf-8") for t in lines]
        labels, probs = model.predict(lines, k=-1)
    out = []
    for labs, ps in zip(labels, probs):
        score = 0.0
        for lab, p in zip(labs, ps):
            if lab == positive_label:
                score = float(p)
                break
        # fastText's softmax adds 1e-5 to each probability (to avoid log 0): clip back into [0, 1]
        out.append(min(1.0, max(0.0, score)))
    return out
