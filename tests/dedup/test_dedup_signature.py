"""Signatures: normalisation, vectorised shingling, estimated vs exact Jaccard on real text pairs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import edit_words

from curate.dedup.lsh import optimal_params
from curate.dedup.normalize import content_hash, normalize_text
from curate.dedup.signature import minhash_signatures, shingle_hashes
from curate.dedup.unionfind import UnionFind, components


def shingles(text: str, n: int = 5) -> set[str]:
    w = normalize_text(text).split()
    return {" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))} if w else set()


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_normalisation_folds_case_accents_punctuation_numbers_and_space() -> None:
    assert (
        normalize_text("Café  NAÏVE — “Quoted”, don’t!\n\t2023 vs 17.5%") == "cafe naive quoted dont 0 vs 0 0"
    )
    assert normalize_text("  ") == ""
    assert content_hash("Hello,   World!") == content_hash("hello world")
    assert content_hash("hello world") != content_hash("hello there world")


def test_shingles_match_the_normalised_words(paragraphs: list[str]) -> None:
    # The vectorised hashes must be a function of the normalised n-grams only: equal shingle sets, equal
    # hash sets, whatever the spacing, punctuation or neighbours in the batch.
    text = paragraphs[0]
    variant = text.upper().replace(" ", "   ").replace(",", " ,")
    docs, hashes = shingle_hashes([paragraphs[1], text, variant, ""], 5)
    h1, h2 = set(hashes[docs == 1].tolist()), set(hashes[docs == 2].tolist())
    assert h1 == h2
    assert len(h1) == len(shingles(text))
    assert not np.any(docs == 3)


def test_short_and_empty_documents() -> None:
    sig, valid = minhash_signatures(["two words", "Two, words!", "", "!!!", "one"], num_perm=64)
    assert valid.tolist() == [True, True, False, False, True]
    assert np.array_equal(sig[0], sig[1])
    assert not np.array_equal(sig[0], sig[4])


def test_estimated_jaccard_tracks_exact_on_real_pairs(paragraphs: list[str]) -> None:
    base = paragraphs[:120]
    edited = [edit_words(t, rate=0.01 + 0.05 * (i % 6) / 5, seed=i) for i, t in enumerate(base)]
    a, _ = minhash_signatures(base, 112)
    b, _ = minhash_signatures(edited, 112)
    est = (a == b).mean(axis=1)
    exact = np.array([exact_jaccard(x, y) for x, y in zip(base, edited, strict=True)])
    assert 0.3 < exact.mean() < 0.95
    err = est - exact
    # MinHash with k permutations: standard error sqrt(J(1-J)/k) (<= 0.047 at k = 112)
    sd = np.sqrt(exact * (1 - exact) / 112)
    assert np.abs(err).mean() < 0.045
    assert abs(err.mean()) < 0.015  # no bias
    assert np.mean(np.abs(err) <= 3 * sd + 1e-9) >= 0.97
    datasketch = pytest.importorskip("datasketch")
    ma = datasketch.MinHash.bulk([[s.encode() for s in shingles(t)] for t in base], num_perm=112)
    mb = datasketch.MinHash.bulk([[s.encode() for s in shingles(t)] for t in edited], num_perm=112)
    ds = np.array([x.jaccard(y) for x, y in zip(ma, mb, strict=True)])
    # ours must be no worse than datasketch's on the same pairs (allowing for sampling noise of 120 pairs)
    assert np.sqrt(np.mean(err**2)) <= 1.3 * np.sqrt(np.mean((ds - exact) ** 2))


def test_optimal_params_match_datasketch_criterion() -> None:
    assert optimal_params(0.8, 112) == (9, 12)
    assert optimal_params(0.5, 128) == (25, 5)
    with pytest.raises(ValueError):
        optimal_params(1.5, 112)


def test_vectorised_components_match_reference_union_find() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3000, 2500)
    b = rng.integers(0, 3000, 2500)
    nodes, labels = components(a, b)
    uf = UnionFind()
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        uf.union(x, y)
    assert {int(n): int(lab) for n, lab in zip(nodes, labels, strict=True)} == {
        n: uf.find(n) for n in nodes.tolist()
    }
