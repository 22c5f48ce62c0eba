"""Held-out loss: the number the data ablations compare.

``evaluate(model_or_checkpoint, data)`` is the mean next-token cross-entropy (nats per token) over
non-overlapping windows of the model's context, on either

- a token directory's ``val`` (or ``train``) split — the split ``curate tokenize`` held out — or
- raw text (a string, a list of documents, or a ``.txt`` file), tokenized with the checkpoint's tokenizer,
  each document followed by ``<|endoftext|>``. Text results add bits per UTF-8 byte, which, unlike loss
  per token, compares models with different tokenizers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import load_model, tokenizer_file
from train.data import TokenSplit, sequential_batches
from train.model import GPT
from train.tokenize import MANIFEST
from train.tokenizer import EOT, encode_documents, eot_id, load_tokenizer


class ArraySplit:
    """An in-memory token array with :class:`train.data.TokenSplit`'s reading interface."""

    def __init__(self, tokens: np.ndarray, split: str = "text") -> None:
        self.tokens, self.size, self.split = tokens, int(tokens.size), split

    def read(self, start: int, length: int) -> np.ndarray:
        return self.tokens[start : start + length].astype(np.int64)


@torch.no_grad()
def evaluate(
    model_or_checkpoint: GPT | str | Path,
    data: str | Path | list[str],
    *,
    split: str = "val",
    batch_size: int = 8,
    max_batches: int | None = None,
    tokenizer: str | Path | None = None,
    device: str = "cpu",
) -> dict:
    """Mean loss of a model on held-out data; returns {"loss", "perplexity", "tokens"} (+ "bits_per_byte",
    "bytes" for text).

    ``model_or_checkpoint``: a :class:`GPT` or a checkpoint directory / ``ckpt.pt``. ``data``: a token
    directory (holding ``manifest.json``), a ``.txt`` file, a string of text, or a list of documents.
    ``tokenizer``: for text with a bare model (a checkpoint brings its own). ``max_batches`` caps the work.
    """
    if isinstance(model_or_checkpoint, GPT):
        model = model_or_checkpoint
        was_training = model.training
        tok_path = tokenizer
    else:
        model, _ = load_model(model_or_checkpoint, device)
        was_training = False
        tok_path = tokenizer or tokenizer_file(model_or_checkpoint)
    dev = next(model.parameters()).device

    n_bytes = None
    # A string is a path only when it could be one (a long text or one with newlines is the text itself).
    maybe_path = isinstance(data, Path) or (isinstance(data, str) and len(data) < 1024 and "\n" not in data)
    if maybe_path and (Path(data) / MANIFEST).exists():
        source = TokenSplit(data, split)
    else:
        if isinstance(data, Path) or (maybe_path and data.endswith(".txt") and Path(data).exists()):
            docs = [Path(data).read_text(encoding="utf-8")]
        else:
            docs = [data] if isinstance(data, str) else list(data)
        if tok_path is None:
            raise ValueError("evaluating text with a bare model needs tokenizer=")
        tok = load_tokenizer(tok_path)
        eot = eot_id(tok, EOT)
        ids = [t for doc in encode_documents(tok, docs) for t in [*doc, eot]]
        source = ArraySplit(np.asarray(ids, dtype=np.int64))
        n_bytes = sum(len(d.encode("utf-8")) for d in docs)

    model.eval()
    loss_sum, n = 0.0, 0
    for x, y in sequential_batches(source, batch_size, model.cfg.block_size, max_batches):
        _, loss = model(x.to(dev), y.to(dev))
        loss_sum += loss.item() * y.numel()
        n += y.numel()
    model.train(was_training)
    if n == 0:
        raise ValueError("no tokens to evaluate: the data is empty (or the split holds < 2 tokens)")
    result = {"loss": loss_sum / n, "perplexity": math.exp(loss_sum / n), "tokens": n}
    if n_bytes is not None and max_batches is None:
        # Every token but the first is predicted: total nats / ln 2 / bytes.
        result.update(bits_per_byte=loss_sum / math.log(2) / n_bytes, bytes=n_bytes)
    return result
