"""C4 quality rules (Raffel et al. 2020), line by line, with datatrove's defaults (as FineWeb ran them)."""

from __future__ import annotations

import re
from typing import NamedTuple

from curate.measure import Getter, MeasuredFilter
from curate.schema import Document
from curate.stage import register, worker_cache
from filters.url import data_path
from filters.words import spacy_sentence_count

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCT = (".", "?", "!", '"', "'")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
# nltk's punkt is C4's sentence splitter; counting runs of terminal punctuation followed by a space (or the
# end of the line) gives the same count on ordinary prose at a fraction of the cost.
_SENT_END = re.compile(r"[.!?]+(?:['\")\]]*)(?=\s|$)")


def _bad_words_re(path: str | None) -> re.Pattern:
    p = data_path("ldnoobw.txt") if path in (None, "default") else path
    with open(p, encoding="utf-8") as f:
        words = sorted({w.strip().lower() for w in f if w.strip()}, key=len, reverse=True)
    return re.compile(r"(?:\W|^)(?:{})(?:\W|$)".format("|".join(map(re.escape, words))))


class _Lines(NamedTuple):
    """What C4's line filters leave of a page: the kept text, its sentences, and which line drops the page."""

    text: str
    sentences: int
    lorem_ipsum: int  # 1: the first line that drops the page mentions lorem ipsum
    curly_bracket: int  # 1: the first line that drops the page has a "{"


@register("c4")
class C4Filter(MeasuredFilter):
    """C4's line filters, then its page rules. Rewrites ``text`` to the kept lines.

    Per line (stripped): drop it if a word is longer than ``max_word_length``; remove Wikipedia citation
    marks; drop it without terminal punctuation (``. ? ! " '``, not ``...``) when
    ``filter_no_terminal_punct``; with fewer than ``min_words_per_line`` words; mentioning "javascript";
    containing a cookie/terms-of-use phrase. "lorem ipsum" or a ``{`` in a kept line drops the page. Then
    the page needs ``min_num_sentences`` sentences. ``filter_bad_words`` drops pages with a word from the
    LDNOOBW English list (or ``bad_words`` path), as C4's bad-words filter (off in FineWeb). ``-1``
    disables a count rule.

    ``sentence_split`` says how the sentences of a kept line are counted: ``regex`` (runs of ``. ! ?``
    before a space or the line end: the count of nltk's punkt on ordinary prose, fast) or ``spacy``
    (datatrove's: spaCy's rule-based sentencizer on the blank English pipeline, exact for FineWeb).

    Reasons: ``c4_lorem_ipsum``, ``c4_curly_bracket``, ``c4_too_few_sentences``, ``c4_bad_words``,
    ``c4_empty``.

    Measures (``mode: annotate``, which rewrites the text of every page, kept or not, so that later stages
    measure what a full run shows them): ``c4_lorem_ipsum`` / ``c4_curly_bracket`` (1: the first kept line
    that drops the page has it), ``c4_sentences`` (in the kept lines), ``c4_chars`` (of the kept text; 0:
    empty), ``c4_bad_words`` (1: the kept text has a listed word, whether or not ``filter_bad_words``).
    ``select`` may change ``min_num_sentences`` and ``filter_bad_words``; the line rules (every other
    parameter) decide the kept text itself, and changing them needs a new run.
    """

    measures = ("c4_lorem_ipsum", "c4_curly_bracket", "c4_sentences", "c4_chars", "c4_bad_words")
    decided_by = ("min_num_sentences", "filter_bad_words")

    def __init__(
        self,
        remove_citations: bool = True,
        filter_no_terminal_punct: bool = True,
        min_num_sentences: int = 5,
        min_words_per_line: int = 3,
        max_word_length: int = 1000,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        filter_bad_words: bool = False,
        bad_words: str | None = None,
        sentence_split: str = "regex",
    ) -> None:
        if sentence_split not in ("regex", "spacy"):
            raise ValueError("sentence_split must be 'regex' or 'spacy'")
        self.sentence_split = sentence_split
        self.remove_citations = remove_citations
        self.terminal = filter_no_terminal_punct
        self.min_sent = min_num_sentences
        self.min_words = min_words_per_line
        self.max_wl = max_word_length
        self.lorem = filter_lorem_ipsum
        self.js = filter_javascript
        self.curly = filter_curly_bracket
        self.policy = filter_policy
        self.bad = filter_bad_words
        self.bad_path = bad_words

    def _bad_words(self) -> re.Pattern:
        return worker_cache(("c4_bad_words", self.bad_path), lambda: _bad_words_re(self.bad_path))

    def setup(self) -> None:
        if self.bad:
            self._bad = self._bad_words()

    def _lines(self, doc: Document, stop_early: bool) -> _Lines:
        """The line filters; with ``stop_early``, the pass ends at the first line that drops the page."""
        n_sent = lorem = curly = 0
        kept = []
        for line in doc["text"].splitlines():
            line = line.strip()
            words = line.split()
            if self.max_wl != -1 and words and max(map(len, words)) > self.max_wl:
                continue
            if self.remove_citations and "[" in line:
                line = _CITATION.sub("", line)
            if self.terminal and (not line.endswith(_END_PUNCT) or line.endswith("...")):
                continue
            if len(words) < self.min_words:
                continue
            low = line.lower()
            if self.lorem and "lorem ipsum" in low:
                lorem = lorem or int(not curly)
                if stop_early:
                    break
                continue
            if self.js and "javascript" in low:
                continue
            if self.curly and "{" in line:
                curly = curly or int(not lorem)
                if stop_early:
                    break
                continue
            if self.policy and any(p in low for p in _POLICY):
                continue
            if self.sentence_split == "spacy":
                n_sent += spacy_sentence_count(line)
            else:
                n_sent += max(1, len(_SENT_END.findall(line)))
            kept.append(line)
        return _Lines("\n".join(kept).strip(), n_sent, lorem, curly)

    def _value(self, lines: _Lines, name: str) -> int:
        if name == "c4_bad_words":
            bad = self._bad if self.bad else self._bad_words()
            return int(bad.search(lines.text.lower()) is not None)
        if name == "c4_chars":
            return len(lines.text)
        return getattr(lines, name.removeprefix("c4_"))

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        return self._value(self._lines(doc, stop_early=False), name)

    def process(self, doc: Document) -> str | None:
        lines = self._lines(doc, stop_early=True)  # a page the pass stopped at is dropped by that line
        reason = self.decision(lambda name, bound=None: self._value(lines, name))
        if reason is None:
            doc["text"] = lines.text
        return reason

    def annotate(self, doc: Document) -> str | None:
        lines = self._lines(doc, stop_early=False)
        for name in self.measures:
            doc[name] = self._value(lines, name)
        doc["text"] = lines.text
        return self.decide(doc)

    def decision(self, get: Getter) -> str | None:
        if get("c4_lorem_ipsum"):
            return "c4_lorem_ipsum"
        if get("c4_curly_bracket"):
            return "c4_curly_bracket"
        if get("c4_sentences") < self.min_sent:
            return "c4_too_few_sentences"
        if not get("c4_chars"):
            return "c4_empty"
        if self.bad and get("c4_bad_words"):
            return "c4_bad_words"
        return None
