"""Text from a checkpoint: ``sample(checkpoint, prompt)``, the body of ``curate sample``."""

from __future__ import annotations

from pathlib import Path

import torch

from train.checkpoint import load_model, tokenizer_file
from train.tokenizer import EOT, encode_documents, eot_id, load_tokenizer


def sample(
    checkpoint: str | Path,
    prompt: str = "",
    *,
    max_new_tokens: int = 100,
    temperature: float = 0.8,
    top_k: int | None = 200,
    seed: int | None = 0,
    device: str = "cpu",
) -> str:
    """The prompt followed by up to ``max_new_tokens`` generated tokens, decoded.

    ``temperature`` 0 is greedy decoding. Generation stops at ``<|endoftext|>``. The context starts with
    ``<|endoftext|>``, as every document but the first does in the token shards, so the prompt reads as the
    beginning of a document. ``seed`` makes sampling reproducible (None: a fresh draw).
    """
    model, _ = load_model(checkpoint, device)
    tok = load_tokenizer(tokenizer_file(checkpoint))
    eot = eot_id(tok, EOT)
    ids = [eot] + (encode_documents(tok, [prompt])[0] if prompt else [])
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    gen = torch.Generator(device=device)
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    out = model.generate(
        idx, max_new_tokens, temperature=temperature, top_k=top_k, stop_token=eot, generator=gen
    )
    new = [t for t in out[0, len(ids) :].tolist()]
    if eot in new:
        new = new[: new.index(eot)]
    return prompt + tok.decode(new, skip_special_tokens=False)
