"""Byte-level BPE: train one on curated shards, load any Hugging Face ``tokenizer.json``.

The heavy lifting is the ``tokenizers`` library; this file fixes the choices that matter:

- byte-level (GPT-2 style): every string, any script, emoji or control character, encodes and decodes back
  exactly; there is no unknown token and no normaliser silently rewriting the text (no NFC, no lowercasing).
- ``<|endoftext|>`` is a special token, the document separator of the token shards.
- a major footgun: by default ``tokenizers`` turns the *text* ``<|endoftext|>`` inside a document into the
  separator id, so a web page that quotes it would split itself in two. :func:`encode_documents` encodes
  special tokens as plain text; only the tokenize job inserts separators.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from train.inputs import expand_inputs, iter_texts

EOT = "<|endoftext|>"


def train_tokenizer(
    inputs: str | Sequence[str],
    vocab_size: int,
    output: str | Path | None,
    *,
    max_docs: int | None = None,
    special_tokens: Sequence[str] = (EOT,),
    min_frequency: int = 2,
    seed: int = 0,
) -> Tokenizer:
    """Train a byte-level BPE on the ``text`` column of curated shards and save it as ``tokenizer.json``.

    ``inputs``: paths, directories or globs (local or fsspec URLs). ``max_docs``: train on the first
    ``max_docs`` documents of the shards taken in a seeded random order (a sample spread over the dataset
    rather than the head of the first shard); None reads everything. ``vocab_size`` counts the 256 byte
    tokens, the merges and ``special_tokens`` (the first is the end-of-text separator). Returns the tokenizer;
    ``Tokenizer.from_file(output)`` loads it back (``output`` None: not saved).
    """
    paths = expand_inputs(inputs)
    random.Random(seed).shuffle(paths)
    return train_tokenizer_from_texts(
        iter_texts(paths, max_docs=max_docs),
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
    tok = Tokenizer(models.BPE())
    # use_regex: GPT-2's split (letters, digits, punctuation, spaces apart) so merges never cross words.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
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
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{output}.tmp")
        tok.save(str(tmp))
        tmp.replace(output)
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any Hugging Face ``tokenizer.json`` (ours or, e.g., GPT-2's)."""
    return Tokenizer.from_file(str(path))


def tokenizer_sha256(path: str | Path) -> str:
    """The SHA-256 of the tokenizer file: token shards and checkpoints record it to detect a mismatch."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def eot_id(tok: Tokenizer, eot: str = EOT) -> int:
    """The id of the end-of-text separator; a tokenizer without one cannot make token shards."""
    i = tok.token_to_id(eot)
    if i is None:
        raise ValueError(f"the tokenizer has no {eot!r} token; pass the name of its end-of-text token")
    return i


def encode_documents(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, with special-token strings in the text encoded as ordinary text.

    ``encode_batch_fast`` (no offsets) runs on a thread pool unless ``TOKENIZERS_PARALLELISM=false``;
    the tokenize job sets that in its workers, whose parallelism is one Ray task per core.
    """
    before = tok.encode_special_tokens
    tok.encode_special_tokens = True  # see the footgun in the module docstring
    try:
        return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    finally:
        tok.encode_special_tokens = before


def decode(tok: Tokenizer, ids: Sequence[int]) -> str:
    """Text of token ids, special tokens included (so a separator shows as ``<|endoftext|>``)."""
    return tok.decode(list(ids), skip_special_tokens=False)
