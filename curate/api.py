"""One-liners for a notebook, over the very stage code a recipe runs (``import curate`` exposes them).

>>> import curate
>>> text = curate.extract_text(html_bytes)                 # resiliparse main content, as DCLM
>>> curate.identify_language(text)                        # ('en', 0.93)
>>> curate.check("gopher_quality", text)                  # None (kept) or the drop reason
>>> curate.mask_pii("mail jane@example.com")               # ('mail email@example.com', {'pii_email': 1, …})
>>> curate.quality_score(text)                            # P(high quality) of the default classifier
>>> curate.dedup_texts([...]); curate.dedup_lines([...])   # MinHash / exact / CCNet line dedup
>>> curate.run_documents("demo", docs)                    # a whole recipe, global stages too, no Ray

Stages are built once per set of parameters and kept, so calling these in a loop loads each model once.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from curate.schema import Document
from curate.stage import BaseStage, build_stage, ensure_setup


@lru_cache(maxsize=64)
def _stage(name: str, params_json: str) -> BaseStage:
    stage = build_stage(name, json.loads(params_json))
    ensure_setup(stage)
    return stage


def stage(name: str, **params: Any) -> BaseStage:
    """The registered stage ``name`` built with ``params`` (cached: one model load per parameter set)."""
    return _stage(name, json.dumps(params, sort_keys=True, default=str))


def extract_text(html: bytes | str, method: str = "resiliparse", charset: str | None = None, **params: Any) -> str:
    """Main text of an HTML page (bytes are decoded by the HTTP ``charset``, then ``<meta>``, then detection).

    ``method``: ``resiliparse`` (DCLM's), ``trafilatura`` (FineWeb's), or any other the ``extract`` stage
    offers; ``params`` are that stage's. Returns ``""`` when nothing is left (the stage's drop reason says why:
    use ``check("extract", …)``).
    """
    payload = html.encode("utf-8") if isinstance(html, str) else html
    doc: Document = {"id": "0", "_html": payload, "charset": charset}
    reason = stage("extract", method=method, **params)(doc)
    return "" if reason else doc["text"]


def identify_language(text: str, model: str | None = None) -> tuple[str, float]:
    """(language code, probability) from fastText LID (lid.176.ftz by default, or any fastText LID model)."""
    doc: Document = {"id": "0", "text": text}
    stage("language", languages=[], threshold=0.0, **({"model": model} if model else {}))(doc)
    return doc["language"], float(doc["language_score"])


def check(name: str, text: str | Document, **params: Any) -> str | None:
    """Run the stage ``name`` on one text or document: ``None`` when kept, else its drop reason."""
    return stage(name, **params)(text)


def mask_pii(text: str, **params: Any) -> tuple[str, dict[str, int]]:
    """(text with e-mails, phone numbers and IP addresses replaced, counts per kind: ``pii_email`` …)."""
    doc: Document = {"id": "0", "text": text}
    stage("pii", **params)(doc)
    counts = {k: int(v) for k, v in doc.items() if k.startswith("pii_") and isinstance(v, int)}
    return doc["text"], counts


def quality_score(text: str | list[str], model: str = "default") -> float | list[float]:
    """P(positive) of a fastText quality classifier (the committed default, or a model path)."""
    q = stage("quality", model=model)
    scores = q.score([text] if isinstance(text, str) else list(text))  # type: ignore[attr-defined]
    return scores[0] if isinstance(text, str) else scores


def describe_plan(recipe: str, overrides: list[str] | None = None) -> str:
    """The printed plan of passes of a recipe (what ``curate plan`` shows)."""
    from curate.runner import load_plan

    r, p = load_plan(recipe, overrides)
    return p.describe(r.name)
