"""Byte-level BPE: train one on curated shards, load any Hugging Face ``tokenizer.json``.

The heavy lifting is the ``tokenizers`` library; this file fixes the choices that matter:

- byte-level (GPT-2 style): every string, any script, emoji or control character, encodes and decodes back
  exactly; there is no unknown token and no normaliser silently rewriting the text (no NFC, no lowercasing).
- ``<|endoftext|>`` is a special token, the document separator of the token shards.
- a major footgun: by default ``tokenizers`` turns the *text* ``<|endoftext|>`` inside a document into the
  separator id, so a web page that quotes it would split itself in two. :func:`encode_documents` encodes
  special tokens as plain text unless asked (``special_tokens=True``, for prompts and chat templates that
  are trusted strings); only the tokenize job inserts separators.

A tokenizer is trained here (:func:`train_tokenizer` on files, :func:`train_tokenizer_from_texts` on strings),
built from a given vocabulary and merges (:func:`tokenizer_from_vocab_merges`: GPT-2's ``vocab.json`` +
``merges.txt``), or loaded from any Hugging Face ``tokenizer.json`` (:func:`load_tokenizer`). Every path may be
an fsspec URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import fsspec
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from train import EOT  # noqa: F401 - re-exported: train.tokenizer.EOT
from train.inputs import expand_inputs, iter_texts


def train_tokenizer(
    inputs: str | Sequence[str],
    vocab_size: int,
    output: str | Path | None,
    *,
    max_docs: int | None = None,
    special_tokens: Sequence[str] = (EOT,),
    min_frequency: int = 2,
    seed: int = 0,
    storage_options: dict | None = None,
) -> Tokenizer:
    """Train a byte-level BPE on the texts of curated shards and save it as ``tokenizer.json``.

    ``inputs``: paths, directories or globs (local or fsspec URLs) of Parquet, JSONL or text files (formats:
    :mod:`train.inputs`). ``max_docs``: train on the first
    ``max_docs`` documents of the shards taken in a seeded random order (a sample spread over the dataset
    rather than the head of the first shard); None reads everything. ``vocab_size`` counts the 256 byte
    tokens, the merges and ``special_tokens`` (the first is the end-of-text separator). Returns the tokenizer;
    ``Tokenizer.from_file(output)`` loads it back (``output`` None: not saved). ``storage_options``: for
    fsspec, e.g. an S3 ``endpoint_url``.
    """
    paths = expand_inputs(inputs, storage_options)
    random.Random(seed).shuffle(paths)
    return train_tokenizer_from_texts(
        iter_texts(paths, max_docs=max_docs, storage_options=storage_options),
        vocab_size,
        output,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
    )


def train_tokenizer_from_texts(
    texts: Iterable[str],
    vocab_size: int,
    output: str | Path | None = None,
    *,
    special_tokens: Sequence[str] = (EOT,),
    min_frequency: int = 2,
) -> Tokenizer:
    """Train the byte-level BPE on an iterable of strings (the notebook entry point); save it if ``output``."""
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is below the 256 byte tokens + {len(special_tokens)} special"
        )
    # use_regex: GPT-2's split (letters, digits, punctuation, spaces apart) so merges never cross words.
    tok = _byte_level(Tokenizer(models.BPE()))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        # All 256 bytes from the start, seen in training or not: this is what makes any input encodable.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if output is not None:
        save_tokenizer(tok, output)
    return tok


def _byte_level(tok: Tokenizer) -> Tokenizer:
    """GPT-2's byte-level pre-tokenizer (its regex split, no prefix space) and decoder."""
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def tokenizer_from_vocab_merges(
    vocab: str | Path | dict[str, int],
    merges: str | Path | Sequence[tuple[str, str]],
    output: str | Path | None = None,
    *,
    special_tokens: Sequence[str] = (EOT,),
) -> Tokenizer:
    """A byte-level BPE from a given vocabulary and merge list, e.g. GPT-2's ``vocab.json`` + ``merges.txt``.

    ``vocab``: a ``vocab.json`` path/URL or a dict token → id, tokens spelled in the byte-level alphabet
    (``Ġ`` for a space, as GPT-2's files are). ``merges``: a ``merges.txt`` path/URL (one ``a b`` pair per
    line, a ``#version`` header allowed) or a list of pairs, in merge order. ``special_tokens`` are marked
    special (a token already in the vocabulary keeps its id, as GPT-2's ``<|endoftext|>`` 50256 does; a new
    one gets the next id). The result encodes as the original tokenizer did; save it with ``output``.
    """
    if not isinstance(vocab, dict):
        with fsspec.open(str(vocab), "r", encoding="utf-8") as f:
            vocab = json.load(f)
    if isinstance(merges, (str, Path)):
        with fsspec.open(str(merges), "r", encoding="utf-8") as f:
            lines = f.read().split("\n")
        pairs = []
        for n, line in enumerate(lines, 1):
            if not line.strip() or (n == 1 and line.startswith("#version")):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{merges}: line {n} is not a merge pair 'a b': {line!r}")
            pairs.append((parts[0], parts[1]))
        merges = pairs
    missing = sorted({t for pair in merges for t in (*pair, pair[0] + pair[1]) if t not in vocab})[:5]
    if missing:
        raise ValueError(f"merges name tokens missing from the vocabulary, e.g. {missing}")
    tok = _byte_level(Tokenizer(models.BPE(vocab=dict(vocab), merges=[tuple(m) for m in merges])))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    if output is not None:
        save_tokenizer(tok, output)
    return tok


def save_tokenizer(tok: Tokenizer, output: str | Path) -> None:
    """Write ``tokenizer.json`` atomically (a temporary name, then a rename; one PUT on object storage)."""
    text = tok.to_str(pretty=True)
    fs, path = fsspec.core.url_to_fs(str(output))
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.tmp"
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, text.encode("utf-8"))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any Hugging Face ``tokenizer.json`` (ours or, e.g., GPT-2's), local or an fsspec URL."""
    with fsspec.open(str(path), "r", encoding="utf-8") as f:
        return Tokenizer.from_str(f.read())


def tokenizer_sha256(path: str | Path) -> str:
    """The SHA-256 of the tokenizer file: token shards and checkpoints record it to detect a mismatch."""
    with fsspec.open(str(path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def eot_id(tok: Tokenizer, eot: str = EOT) -> int:
    """The id of the end-of-text separator; a tokenizer without one cannot make token shards."""
    i = tok.token_to_id(eot)
    if i is None:
        raise ValueError(f"the tokenizer has no {eot!r} token; pass the name of its end-of-text token")
    return i


def encode_documents(tok: Tokenizer, texts: list[str], *, special_tokens: bool = False) -> list[list[int]]:
    """Token ids of each text.

    ``special_tokens`` False (the safe default, for untrusted text such as web pages): a special-token string
    in the text, e.g. ``<|endoftext|>``, is encoded as ordinary text. True: it becomes its special id (for a
    trusted prompt or template that means it). ``encode_batch_fast`` (no offsets) runs on a thread pool unless
    ``TOKENIZERS_PARALLELISM=false``; the tokenize job sets that in its workers, whose parallelism is one Ray
    task per core.
    """
    before = tok.encode_special_tokens
    # Inverted names: tokenizers' encode_special_tokens=True means "split special tokens as text".
    tok.encode_special_tokens = not special_tokens  # see the footgun in the module docstring
    try:
        return [e.ids for e in tok.encode_batch_fast(list(texts), add_special_tokens=False)]
    finally:
        tok.encode_special_tokens = before


def encode(tok: Tokenizer, text: str, *, special_tokens: bool = False) -> list[int]:
    """Token ids of one text; ``special_tokens`` as in :func:`encode_documents`."""
    return encode_documents(tok, [text], special_tokens=special_tokens)[0]


def encode_stream(
    tok: Tokenizer, texts: Iterable[str], *, batch_size: int = 1024, special_tokens: bool = False
) -> Iterator[list[int]]:
    """Token ids of each text of a (possibly endless) iterable, lazily, ``batch_size`` texts at a time.

    Memory holds one batch, so a generator over a corpus of any size can be encoded in one pass:
    ``for ids in encode_stream(tok, iter_texts(paths)): …``.
    """
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= batch_size:
            yield from encode_documents(tok, batch, special_tokens=special_tokens)
            batch = []
    if batch:
        yield from encode_documents(tok, batch, special_tokens=special_tokens)


def decode(tok: Tokenizer, ids: Sequence[int]) -> str:
    """Text of token ids, special tokens included (so a separator shows as ``<|endoftext|>``)."""
    return tok.decode(list(ids), skip_special_tokens=False)
