"""Sizing a model from a budget: the Chinchilla rule, tokens ≈ 20 × parameters (Hoffmann et al. 2022).

Training compute is C ≈ 6 · N · D FLOPs for N parameters and D tokens. With D = 20 N the compute-optimal
model for a budget C has N = sqrt(C / 120) parameters trained on D = 20 N tokens; for a budget of D tokens
it has N = D / 20. N counts all parameters, the (tied) embedding included, as Chinchilla does — at the
sizes a CPU trains, the embedding is a large share of the model.

Shapes follow one rule, n_embd = 64 · n_layer with 64-wide heads (GPT-2 small is 12 × 768), and the depth
whose parameter count lands closest to N wins. ``curate train --budget-tokens 50M`` applies it.
"""

from __future__ import annotations

import math
import re

TOKENS_PER_PARAM = 20


def count_params(n_layer: int, n_embd: int, vocab_size: int, mlp_hidden: int | None = None) -> int:
    """Parameters of :class:`train.model.GPT` without building it (equals ``GPT.num_params()``)."""
    h = mlp_hidden if mlp_hidden is not None else 64 * math.ceil(8 * n_embd / 3 / 64)
    per_layer = 4 * n_embd * n_embd + 3 * n_embd * h + 2 * n_embd  # attention, SwiGLU, two RMSNorms
    return n_layer * per_layer + vocab_size * n_embd + n_embd  # + tied embedding, final norm


def size_for_tokens(tokens: int, vocab_size: int, tokens_per_param: float = TOKENS_PER_PARAM) -> dict:
    """The model shape to train on ``tokens`` tokens: {n_layer, n_head, n_embd, params, max_tokens}."""
    target = tokens / tokens_per_param
    best = min(
        range(1, 49),
        key=lambda L: abs(math.log(count_params(L, 64 * L, vocab_size) / target)),
    )
    return {
        "n_layer": best,
        "n_head": best,
        "n_embd": 64 * best,
        "params": count_params(best, 64 * best, vocab_size),
        "max_tokens": int(tokens),
    }


def size_for_compute(flops: float, vocab_size: int, tokens_per_param: float = TOKENS_PER_PARAM) -> dict:
    """The compute-optimal shape and token count for ``flops`` training FLOPs (C = 6ND, D = 20N)."""
    params = math.sqrt(flops / (6 * tokens_per_param))
    return size_for_tokens(int(tokens_per_param * params), vocab_size, tokens_per_param)


def parse_count(text: str) -> int:
    """``"50M"`` → 50 000 000; accepts k/K, M, G/B, T suffixes and plain or scientific numbers."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKMGBT]?)\s*", text)
    if not m:
        raise ValueError(f"not a count: {text!r} (examples: 50M, 2.5B, 1e9)")
    scale = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}[m.group(2)]
    return int(float(m.group(1)) * scale)
