"""Mixtures: several sources in target token ratios, each repeated at most ``max_epochs`` times.

A mixture is a list of :class:`Source` (a name, its inputs, a weight). After every source is tokenized, the
job knows each source's training tokens exactly (``available``), and this module decides how many tokens each
source contributes and which documents make them up:

- :func:`allocate` splits a total into integers in the ratio of the weights, exactly (largest remainder: the
  parts sum to the total, no drift from rounding);
- :func:`plan_targets` picks the total: the one given, or else the largest that no source's repetition cap
  forbids (a source at its cap of ``max_epochs`` × its tokens binds);
- a source's target is ``full`` whole epochs plus a remainder; :func:`partial_epoch` takes the remainder as
  the documents of smallest shuffle key (a seeded random subset, the same on every rerun) across the source's
  stage files, cutting the last one so the source contributes exactly its target (tokens count separators).

Token counts include the ``<|endoftext|>`` that ends each document: they are what the trainer reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

KEY_SPACE = 2**64
NAME = re.compile(r"^[A-Za-z0-9_.-]*$")  # empty: the one source of a plain tokenize job


@dataclass(frozen=True)
class Source:
    """One source of a mixture: ``name`` (letters, digits, ``_.-``), ``inputs`` (paths/globs/URLs),
    ``weight`` (> 0; weights are normalised) and ``max_epochs`` (repetition cap; None for no cap)."""

    name: str
    inputs: tuple[str, ...]
    weight: float = 1.0
    max_epochs: float | None = 1.0

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"mixture source name {self.name!r}: use letters, digits, '_', '.', '-'")
        if not self.weight > 0:
            raise ValueError(f"mixture source {self.name!r}: weight must be > 0, got {self.weight}")
        if self.max_epochs is not None and not self.max_epochs > 0:
            raise ValueError(f"mixture source {self.name!r}: max_epochs must be > 0, got {self.max_epochs}")


def parse_mix(spec: str, max_epochs: float | None = 1.0) -> Source:
    """``NAME=PATH_OR_GLOB[,PATH_OR_GLOB…]:WEIGHT`` → a Source (the weight after the last ``:``, so
    ``s3://…`` paths keep theirs)."""
    name, sep, rest = spec.partition("=")
    paths, colon, weight = rest.rpartition(":")
    if not sep or not colon or not paths:
        raise ValueError(f"--mix {spec!r}: expected NAME=PATH_OR_GLOB:WEIGHT")
    try:
        w = float(weight)
    except ValueError:
        raise ValueError(f"--mix {spec!r}: weight {weight!r} is not a number") from None
    return Source(name.strip(), tuple(p for p in paths.split(",") if p), w, max_epochs)


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split into integers proportional to ``weights``; they sum to ``total`` exactly.

    Each part gets the floor of its exact quota, then the leftover units go to the largest fractional parts
    (ties to the earlier source): Hamilton's method, deterministic, off by less than one from the quota.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    ws = [Fraction(w) for w in weights]
    quotas = [total * w / sum(ws) for w in ws]
    parts = [math.floor(q) for q in quotas]
    order = sorted(range(len(ws)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _cap(source: Source, available: int) -> float:
    return math.inf if source.max_epochs is None else source.max_epochs * available


def plan_targets(sources: Sequence[Source], available: Sequence[int], total_tokens: int | None) -> list[int]:
    """Training tokens per source: ``total_tokens`` (or the largest total the caps allow) split by weight.

    Raises ValueError, naming the source, when a source has no tokens or the total would repeat a source
    more than its ``max_epochs``.
    """
    for s, a in zip(sources, available):
        if a == 0:
            raise ValueError(f"mixture source {s.name!r} has no training tokens")
    weights = [s.weight for s in sources]
    if total_tokens is None:
        wsum = sum(weights)
        bounds = [_cap(s, a) * wsum / s.weight for s, a in zip(sources, available)]
        if all(math.isinf(b) for b in bounds):
            raise ValueError("no source has max_epochs: give the mixture a total_tokens")
        total = int(min(bounds))
        while True:  # rounding up a part can push one source a token past its cap: shrink until none is
            parts = allocate(total, weights)
            if all(p <= _cap(s, a) for p, s, a in zip(parts, sources, available)):
                return parts
            total -= 1
    parts = allocate(total_tokens, weights)
    for p, s, a in zip(parts, sources, available):
        if p > _cap(s, a):
            raise ValueError(
                f"mixture source {s.name!r}: {p:,} tokens would be {p / a:.2f} epochs of its {a:,} tokens, "
                f"above its max_epochs={s.max_epochs} (lower total_tokens or raise max_epochs)"
            )
    return parts


def count_below(keys: np.ndarray, value: int) -> int:
    """How many of the sorted uint64 ``keys`` are < ``value`` (``value`` may be 2**64)."""
    if value >= KEY_SPACE:
        return len(keys)
    if value <= 0:
        return 0
    return int(np.searchsorted(keys, np.uint64(value), side="left"))


def partial_epoch(
    keys: Sequence[np.ndarray], offsets: Sequence[np.ndarray], tokens: int
) -> tuple[list[int], tuple[int, int, int] | None]:
    """The first ``tokens`` tokens of a source in shuffle-key order, across its stage files.

    ``keys[s]`` are the sorted keys of file s's documents, ``offsets[s]`` their token offsets (n + 1 values).
    Documents are taken in (key, file, position) order. Returns, per file, how many leading documents are
    taken whole, and the document cut short — ``(file, position, tokens kept)`` with the separator among the
    tokens kept — or None when the whole documents add up exactly. Requires ``tokens`` < the source's total.
    """

    def below(t: int) -> int:  # tokens of the documents with key < t
        return sum(int(off[count_below(k, t)]) for k, off in zip(keys, offsets))

    total = sum(int(off[-1]) for off in offsets)
    if not 0 <= tokens < total:
        raise ValueError(f"a partial epoch takes 0 <= tokens < {total}, got {tokens}")
    # The smallest key tau whose documents (key <= tau) pass the budget: all below tau fit.
    lo, hi = 0, KEY_SPACE - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if below(mid + 1) > tokens:
            hi = mid
        else:
            lo = mid + 1
    tau = lo
    limits = [count_below(k, tau) for k in keys]
    used = below(tau)
    for s, (k, off) in enumerate(zip(keys, offsets)):  # documents with key == tau, in file order
        j = limits[s]
        while j < len(k) and int(k[j]) == tau:
            n = int(off[j + 1] - off[j])
            if used + n > tokens:
                return limits, ((s, j, tokens - used) if tokens > used else None)
            used += n
            j += 1
            limits[s] = j
    raise AssertionError("unreachable: the documents at tau pass the budget")
