import json
import random
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import paragraphs, write_shards
from test_tokenize import documents

from train.mixture import Source, allocate, parse_mix, partial_epoch, plan_targets
from train.tokenize import tokenize_mixture


def allocate_oracle(total: int, weights: list[float]) -> list[int]:
    """The plain twin of allocate: hand out one unit at a time to the part furthest below its quota."""
    ws = [Fraction(w) for w in weights]
    quotas = [total * w / sum(ws) for w in ws]
    parts = [0] * len(ws)
    floors = [int(q) for q in quotas]
    parts = floors[:]
    for _ in range(total - sum(floors)):
        i = max(range(len(ws)), key=lambda j: (quotas[j] - parts[j], -j))
        parts[i] += 1
    return parts


def test_allocate_is_exact() -> None:
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]  # ties to the earlier source
    assert allocate(100, [0.7, 0.2, 0.1]) == [70, 20, 10]
    assert allocate(7, [0.5, 0.5]) == [4, 3]
    rng = random.Random(0)
    for _ in range(300):
        weights = [rng.choice([rng.random(), rng.randint(1, 9)]) for _ in range(rng.randint(1, 6))]
        total = rng.randint(0, 10**12)
        parts = allocate(total, weights)
        assert sum(parts) == total and parts == allocate_oracle(total, weights)
        quotas = [total * Fraction(w) / sum(map(Fraction, weights)) for w in weights]
        assert all(abs(p - q) < 1 for p, q in zip(parts, quotas))


def test_plan_targets_respects_the_caps() -> None:
    a, b = Source("a", ("x",), 0.5, 2.0), Source("b", ("y",), 0.5, 1.0)
    assert plan_targets([a, b], [100, 300], None) == [200, 200]  # a at its cap of 2 epochs
    assert plan_targets([a, b], [1000, 300], None) == [300, 300]  # b at 1 epoch
    assert plan_targets([a, b], [1000, 300], 500) == [250, 250]
    with pytest.raises(ValueError, match="'b'.*2.00 epochs"):
        plan_targets([a, b], [1000, 300], 1200)
    uncapped = Source("c", ("z",), 1.0, None)
    assert plan_targets([a, uncapped], [100, 5], None) == [200, 400]  # c (weight 1 to a's 0.5) repeats freely
    with pytest.raises(ValueError, match="total_tokens"):
        plan_targets([uncapped], [5], None)
    with pytest.raises(ValueError, match="no training tokens"):
        plan_targets([a, b], [0, 5], None)


def test_parse_mix() -> None:
    assert parse_mix("web=s3://b/run/data/*.parquet:0.7") == Source(
        "web", ("s3://b/run/data/*.parquet",), 0.7
    )
    assert parse_mix("x=a.parquet,b/*.jsonl:2").inputs == ("a.parquet", "b/*.jsonl")
    for bad in ("web", "web=path", "web=path:heavy", "we b=p:1", "w=p:0"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def partial_oracle(
    keys: list[np.ndarray], offsets: list[np.ndarray], tokens: int
) -> list[tuple[int, int, int]]:
    """The plain twin of partial_epoch: sort every document by (key, file, position), take until the budget."""
    docs = sorted((int(k[j]), s, j) for s, k in enumerate(keys) for j in range(len(k)))
    taken, used = [], 0
    for _, s, j in docs:
        n = int(offsets[s][j + 1] - offsets[s][j])
        if used + n > tokens:
            if tokens > used:
                taken.append((s, j, tokens - used))
            break
        taken.append((s, j, n))
        used += n
    return taken


def test_partial_epoch_matches_its_oracle() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        keys, offsets = [], []
        for _ in range(rng.integers(1, 5)):
            n = int(rng.integers(0, 30))
            # Small key ranges make ties (the same id twice) common; large ones make them rare.
            k = np.sort(rng.integers(0, 2**64 if trial % 2 else 5, n, dtype=np.uint64))
            keys.append(k)
            offsets.append(np.concatenate([[0], np.cumsum(rng.integers(1, 50, n))]).astype(np.uint64))
        total = sum(int(o[-1]) for o in offsets)
        if total == 0:
            continue
        tokens = int(rng.integers(0, total))
        limits, cut = partial_epoch(keys, offsets, tokens)
        got = [
            (s, j, int(offsets[s][j + 1] - offsets[s][j])) for s in range(len(keys)) for j in range(limits[s])
        ]
        if cut is not None:
            got.append(cut)
        expected = partial_oracle(keys, offsets, tokens)
        assert sorted(got) == sorted(expected) and sum(t for *_, t in got) == tokens


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sources of different sizes: 'small' (60 paragraphs in 2 files), 'large' (the rest in 3)."""
    root = tmp_path_factory.mktemp("mix")
    texts = paragraphs()
    write_shards(root / "small", texts[:60], 2, prefix="s")
    write_shards(root / "large", texts[60:], 3, prefix="l")
    return root


def test_mixture_hits_its_ratios_exactly(
    two_sources: Path, tokenizer_path: Path, tmp_path: Path, ray_session
) -> None:
    out = tmp_path / "mix"
    m = tokenize_mixture(
        [f"small={two_sources}/small:0.4", Source("large", (str(two_sources / "large"),), 0.6)],
        tokenizer_path,
        out,
        max_epochs=2.5,
        val_fraction=0.1,
        shard_tokens=15_000,
        progress=False,
    )
    src = m["sources"]
    small, large = src["small"], src["large"]
    total = small["target_tokens"] + large["target_tokens"]
    assert m["train_tokens"] == total
    assert [small["target_tokens"], large["target_tokens"]] == allocate(total, [0.4, 0.6])
    # small is the binding source: at its cap of 2.5 epochs (to the rounding of one token).
    assert small["target_tokens"] == int(2.5 * small["available"]["train"]["tokens"])
    assert small["full_epochs"] == 2 and large["full_epochs"] == 0 and large["epochs"] < 1
    for s in (small, large):
        assert s["written"]["train"]["tokens"] == s["target_tokens"]  # exact, not about
        assert s["written"]["val"] == s["available"]["val"]  # validation: every document once
    # What the shards hold: small's documents 2 or 3 times each, large's at most once, one cut document each.
    texts = paragraphs()
    counts = Counter(documents(out, "train"))
    smalls, larges = set(texts[:60]), set(texts[60:])
    val = set(documents(out, "val"))
    whole = {d: c for d, c in counts.items() if d in smalls | larges}
    cut = [d for d in counts if d not in smalls | larges]
    assert len(cut) <= 2 and all(any(t.startswith(c) for t in smalls | larges) for c in cut)
    once = {t for t, n in Counter(texts).items() if n == 1} - val  # paragraphs that are one document
    assert {c for d, c in whole.items() if d in smalls & once} <= {2, 3}
    assert {c for d, c in whole.items() if d in larges & once} == {1}
    # Copies of one document are spread out, not side by side.
    train = documents(out, "train")
    assert sum(a == b for a, b in zip(train, train[1:])) < 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"] == src and manifest["shuffle"] == "global"


def test_mixture_errors(two_sources: Path, tokenizer_path: Path, tmp_path: Path, ray_session) -> None:
    with pytest.raises(ValueError, match="distinct"):
        tokenize_mixture([f"a={two_sources}/small:1", f"a={two_sources}/large:1"], tokenizer_path, tmp_path)
    with pytest.raises(ValueError, match="max_epochs"):
        tokenize_mixture([f"a={two_sources}/small:1", f"b={two_sources}/large:1"], tokenizer_path,
                         tmp_path / "m", total_tokens=10**7, progress=False)  # fmt: skip
