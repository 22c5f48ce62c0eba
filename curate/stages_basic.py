"""Two minimal stages: a pass-through (the template for a new stage) and a length filter."""

from __future__ import annotations

from curate.measure import Getter, MeasuredFilter
from curate.schema import Document
from curate.stage import Stage, register


@register("passthrough")
class Passthrough(Stage):
    """Keeps every document unchanged. The smallest possible stage: copy it to write a new one."""

    needs_text = False

    def process(self, doc: Document) -> str | None:
        return None


@register("length_filter")
class LengthFilter(MeasuredFilter):
    """Drops documents by length in characters and in whitespace-separated words.

    Parameters:
        min_chars, max_chars: inclusive bounds on ``len(text)`` (reasons ``length_too_short_chars``,
            ``length_too_long_chars``); ``max_chars=0`` means no upper bound.
        min_words, max_words: inclusive bounds on the number of words (``length_too_few_words``,
            ``length_too_many_words``); ``max_words=0`` means no upper bound.

    Measures (``mode: annotate``): ``length_chars``, ``length_words``; ``select`` may change every parameter.
    """

    measures = ("length_chars", "length_words")
    decided_by = ("min_chars", "max_chars", "min_words", "max_words")

    def __init__(self, min_chars: int = 0, max_chars: int = 0, min_words: int = 0, max_words: int = 0) -> None:
        for key, v in (("min_chars", min_chars), ("max_chars", max_chars), ("min_words", min_words), ("max_words", max_words)):
            if v < 0:
                raise ValueError(f"{key} must be >= 0")
        if max_chars and max_chars < min_chars:
            raise ValueError("max_chars must be >= min_chars")
        if max_words and max_words < min_words:
            raise ValueError("max_words must be >= min_words")
        self.min_chars, self.max_chars = min_chars, max_chars
        self.min_words, self.max_words = min_words, max_words

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        text = doc["text"]
        return len(text) if name == "length_chars" else len(text.split())

    def decision(self, get: Getter) -> str | None:
        n = get("length_chars")
        if n < self.min_chars:
            return "length_too_short_chars"
        if self.max_chars and n > self.max_chars:
            return "length_too_long_chars"
        if self.min_words or self.max_words:
            words = get("length_words")
            if words < self.min_words:
                return "length_too_few_words"
            if self.max_words and words > self.max_words:
                return "length_too_many_words"
        return None
