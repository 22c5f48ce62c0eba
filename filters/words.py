"""Word and sentence splitters, one per reference: what a "word" is decides many filter verdicts.

* ``uax29_words``: DCLM's ``split_words(text, model="uniseg", ignore_punctuation=True)`` — Unicode word
  segmentation (UAX #29), keeping the segments that start with a letter or digit. uniseg is ~80x slower
  than this: ASCII tokens go through one regex that encodes the UAX #29 rules for ASCII, the others through
  the ``regex`` module's Unicode word boundaries (``(?w)\\b``, the same standard). Word for word equal to
  uniseg 0.10.1 on 2,178 of the 2,179 bench texts; the other differs where Unicode versions do (the regex
  module's newer data makes U+00B8 CEDILLA a letter, uniseg's does not).
* ``spacy_words`` / ``spacy_sentence_count``: datatrove's English ``split_into_words`` /
  ``split_into_sentences`` — spaCy's blank English tokenizer (rules only, no model download) and its
  rule-based sentencizer, tokens stripped and empty ones dropped. Needs ``pip install spacy``.
* ``is_symbol_word``: datatrove's punctuation set (a "word" made only of these is a symbol in its Gopher
  rules): ASCII punctuation, the keys of CCNet's Unicode-punctuation table, C0/C1 controls except tab and
  newline, and the Unicode ``Sentence_Terminal`` characters.
"""

from __future__ import annotations

import re
import string
from typing import Any

import regex

from curate.stage import worker_cache

# UAX #29 on ASCII: letters, digits and "_" (ExtendNumLet) join; ":" "." "'" join two letters (MidLetter,
# MidNumLet, Single_Quote); "," ";" "." "'" join two digits (MidNum, MidNumLet, Single_Quote).
_ASCII_SEGMENT = re.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))[A-Za-z0-9_]+)*")
_BOUNDARY = regex.compile(r"(?w)\b")
_SPLIT_NOT_NNBSP = re.compile(r"[^\S\u202f]+")


def _uax29_segments(tok: str) -> list[str]:
    cuts = [m.start() for m in _BOUNDARY.finditer(tok)]
    if not cuts or cuts[0] != 0:
        cuts.insert(0, 0)
    if cuts[-1] != len(tok):
        cuts.append(len(tok))
    return [tok[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def uax29_words(text: str, tokens: list[str] | None = None) -> list[str]:
    """UAX #29 words of ``text`` that start with a letter or digit (DCLM's repetition words). ``tokens``:
    ``text.split()`` when the caller has it (a segment never spans whitespace that ``str.split`` cuts at,
    except U+202F NARROW NO-BREAK SPACE, which UAX #29 joins like "_": pages holding it are split apart)."""
    if "\u202f" in text:
        tokens = [t for t in _SPLIT_NOT_NNBSP.split(text) if t]
    elif tokens is None:
        tokens = text.split()
    out: list[str] = []
    add, extend, find = out.append, out.extend, _ASCII_SEGMENT.findall
    for tok in tokens:
        if tok.isascii():
            if tok.isalnum():
                add(tok)
            else:
                extend(w for w in find(tok) if w[0] != "_")
        else:
            extend(w for w in _uax29_segments(tok) if w[0].isalnum())
    return out


CCNET_UNICODE_PUNCT = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►"
_CONTROLS = "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
# datatrove's TERMINAL_PUNCTUATION is Unicode's Sentence_Terminal property of an older Unicode version (the
# regex module's is newer: 16 code points more, 3 Khmer signs fewer; none of them occur in the bench texts)
SENTENCE_TERMINAL = regex.compile(r"\p{Sentence_Terminal}")
_PUNCT_CLASS = regex.escape(string.punctuation + CCNET_UNICODE_PUNCT + _CONTROLS, special_only=False)
_SYMBOL_WORD = regex.compile(rf"[{_PUNCT_CLASS}\p{{Sentence_Terminal}}]+")


def is_symbol_word(word: str) -> bool:
    """Whether every character of ``word`` is in datatrove's ``PUNCTUATION_SET``."""
    return _SYMBOL_WORD.fullmatch(word) is not None


def ends_sentence(line: str) -> bool:
    """Whether ``line`` ends with a sentence terminal (datatrove's FineWeb ``stop_chars`` default)."""
    return bool(line) and SENTENCE_TERMINAL.match(line[-1]) is not None


def _load_spacy() -> Any:
    try:
        import spacy
    except ImportError as e:  # pragma: no cover - a dependency of curate
        raise ImportError("words: spacy needs `pip install spacy` (no model: the blank English tokenizer)") from e
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def spacy_nlp() -> Any:
    """spaCy's blank English pipeline with a sentencizer, once per process."""
    return worker_cache("spacy_blank_en", _load_spacy)


def _doc(text: str) -> Any:
    nlp = spacy_nlp()
    nlp.max_length = len(text) + 10
    return nlp(text)


def spacy_words(text: str) -> list[str]:
    """datatrove's English words: spaCy tokens, stripped, empty ones dropped (the tokenizer alone: the
    sentencizer that datatrove also runs does not change the tokens)."""
    nlp = spacy_nlp()
    nlp.max_length = len(text) + 10
    with nlp.memory_zone():
        return [s for t in nlp.tokenizer(text) if (s := t.text.strip())]


def spacy_sentence_count(text: str) -> int:
    """Number of pieces datatrove's ``split_into_sentences`` cuts ``text`` into (at least 1)."""
    nlp = spacy_nlp()
    with nlp.memory_zone():
        return max(1, sum(1 for _ in _doc(text).sents))
