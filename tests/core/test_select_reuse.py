"""A global stage stores its per-document measure when annotating, and reuses it only while its key matches:
the same text, the same model and parameters (what lets `curate select` skip the classifier and the hashing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.stage import build_stage

WIKI = Path(__file__).resolve().parents[1] / "data" / "dedup" / "wikitext2_paragraphs.txt"


@pytest.fixture
def docs() -> list[dict]:
    paras = [p for p in WIKI.read_text(encoding="utf-8").split("\n") if len(p.split()) > 40]
    return [{"id": str(i), "text": "\n".join(paras[3 * i : 3 * i + 3])} for i in range(6)]


def test_quality_reuses_a_stored_score_only_for_the_same_text_and_model(docs):
    q = build_stage("quality", {"model": "default"})
    q.annotate_batch(docs)
    assert all(len(d["quality__key"]) == 16 for d in docs)
    fresh = [d["quality_score"] for d in docs]
    for d in docs:
        d["quality_score"] = 0.123  # a stored score that scoring would not give: reused means kept
    docs[1]["text"] += "\nA paragraph removed after annotating changes the text, so this one is scored again."
    q.process_batch(docs)
    assert [d["quality_score"] for i, d in enumerate(docs) if i != 1] == [0.123] * 5
    assert docs[1]["quality_score"] != 0.123 and abs(docs[1]["quality_score"] - fresh[1]) < 0.5
    other = build_stage("quality", {"model": "default", "positive_label": "__label__lq"})
    other.process_batch(docs)  # another label, another measure: every stored score is stale
    assert all(d["quality_score"] != 0.123 for d in docs)


def test_quality_threshold_decides_on_the_stored_float32(docs):
    q = build_stage("quality", {"model": "default"})
    q.annotate_batch(docs)
    s = docs[0]["quality_score"]
    cut = float(np.float32(s))  # a threshold equal to the float32 score keeps it, stored or fresh
    keep = build_stage("quality", {"model": "default", "threshold": cut})
    assert keep.process_batch([dict(docs[0])])[0] is None
    assert keep.process_batch([{"id": "x", "text": docs[0]["text"]}])[0] is None


BOILER = (
    "Copyright 2024 The Example Gazette. All rights reserved. This material may not be published, broadcast, "
    "rewritten or redistributed without written permission."
)


def bff_pages() -> list[dict]:
    """Pages of real paragraphs with planted repeats: a footer on every third page, copied pages, short pages
    (so that a length filter before the dedup changes which copy comes first), a digest of other pages."""
    paras = [p for p in WIKI.read_text(encoding="utf-8").split("\n") if len(p.split()) > 40]
    pages = []
    for i in range(30):
        body = paras[2 * i : 2 * i + 2] if i % 4 else paras[2 * i : 2 * i + 1]
        pages.append("\n".join([*body, *([BOILER] if i % 3 == 0 else [])]))
    pages += [pages[3], pages[8] + "\n" + BOILER, pages[12][:400]]  # copies, whole or in part
    # a digest of four earlier paragraphs and two new ones that a later page repeats: six candidates, of
    # which BFF removes four (a subset that only the expected removals store a score for)
    new = paras[60:63]
    pages += ["\n".join([pages[1], pages[2], *new[:2]]), "\n".join(new)]
    return [{"id": f"p{i:03d}", "text": t} for i, t in enumerate(pages)]


@pytest.mark.parametrize("inline_below", [4_000_000, 0])  # the reduces in memory, and as partitioned jobs
def test_paragraph_dedup_annotates_only_shared_ngrams_and_select_decides_as_a_full_run(tmp_path, monkeypatch,
                                                                                       inline_below):
    import filters.quality
    from curate.annotate import select
    from curate.dedup.paragraph import document_ngrams, remove_paragraphs
    from curate.runner import run

    pages = bff_pages()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n  - length_filter: {min_words: 60}\n"
                      f"  - paragraph_dedup: {{ngram: 13, inline_below: {inline_below}}}\n"
                      "  - quality: {model: default, keep_top_fraction: 0.6}\n")
    shards = [pages[:15], pages[15:]]
    ann = tmp_path / "ann"
    assert run(str(recipe), [], str(ann), overrides=["recipe.mode=annotate"], executor="local", progress=False,
               documents=shards).ok
    stored = {r["id"]: r for f in sorted((ann / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()}
    assert set(stored) == {d["id"] for d in pages}  # annotate keeps every page

    # what each page stores: exactly its occurrences of the n-grams that two or more paragraphs hold
    full = {d["id"]: document_ngrams(d["text"], 13) for d in pages}
    holders: dict[int, set] = {}
    for pid, (h, per_para) in full.items():
        for k, para in enumerate(np.split(h, np.cumsum(per_para)[:-1])):
            for x in para.tolist():
                holders.setdefault(x, set()).add((pid, k))
    n_full = n_stored = 0
    for pid, (h, per_para) in full.items():
        row = stored[pid]
        keep = [holders[x].__len__() >= 2 for x in h.tolist()]
        want = h[np.array(keep, bool)] if len(h) else h
        got = np.frombuffer(row["paragraph_dedup__ngrams"], np.uint64)
        assert sorted(got.tolist()) == sorted(want.tolist()), pid
        assert np.frombuffer(row["paragraph_dedup__para_ngrams"], np.int32).tolist() == list(per_para)
        assert int(np.frombuffer(row["paragraph_dedup__para_shared"], np.int32).sum()) == len(want)
        n_full, n_stored = n_full + len(h), n_stored + len(want)
    assert 0 < n_stored < n_full / 2

    # the scores of the texts BFF may leave are stored with the page's own
    assert sum(bool(r["quality__variants"]) for r in stored.values()) >= 3
    scored: list[str] = []
    score = filters.quality.Quality.score
    monkeypatch.setattr(filters.quality.Quality, "score", lambda self, texts: scored.extend(texts) or score(self, texts))

    # a select with other parameters keeps, shortens and scores the pages a full run does
    for sets in (["length_filter.min_words=60"], ["length_filter.min_words=150"],
                 ["length_filter.min_words=30", "paragraph_dedup.threshold=0.5"]):
        out = {}
        for kind in ("select", "full"):
            dest = tmp_path / f"{kind}-{len(out)}-{sets[0]}"
            if kind == "select":
                scored.clear()
                assert select(str(ann), str(recipe), str(dest), overrides=sets, executor="local", progress=False).ok
                n_scored = len(scored)
                col = pq.read_table(dest / "global" / "01-paragraph_dedup" / "collect").to_pylist()
                assert col and all(r["ngram_count"] == len(stored[r["id"]]["paragraph_dedup__ngrams"]) // 8
                                   for r in col)  # what it looked up: the stored n-grams, not a new hashing
            else:
                assert run(str(recipe), [], str(dest), overrides=sets, executor="local", progress=False,
                           documents=shards).ok
            cols = ["id", "text", "paragraphs_removed", "quality_score"]
            out[kind] = {r["id"]: (r["text"], r["paragraphs_removed"], r["quality_score"])
                         for f in sorted((dest / "data").glob("*.parquet"))
                         for r in pq.read_table(f, columns=cols).to_pylist()}
        assert out["select"] == out["full"], sets
        shortened = sum(1 for _, n, _ in out["full"].values() if n)
        assert shortened  # the dedup removed paragraphs: a real test
        assert n_scored < shortened  # most shortened pages found their score among the stored variants
        if sets == ["length_filter.min_words=60"]:  # the annotating run's parameters: what it expected
            for pid, (text, n, _) in out["full"].items():
                raw = stored[pid]["paragraph_dedup__expected"]
                gone = set(np.frombuffer(raw, np.int32).tolist()) if raw else set()
                assert len(gone) == n and remove_paragraphs(stored[pid]["text"], gone) == text, pid
            assert n_scored == 0  # every shortened page's score was stored: no classifier ran


def test_paragraph_dedup_reads_back_its_stored_ngrams_while_the_key_matches(docs):
    from curate.annotate import stored_key

    pd = build_stage("paragraph_dedup", {"ngram": 13})
    plain = pd.collect([{"id": d["id"], "text": d["text"]} for d in docs])
    d = dict(docs[0])
    d["paragraph_dedup__ngrams"] = np.arange(3, dtype=np.uint64).tobytes()
    d["paragraph_dedup__para_ngrams"] = np.array([40, 2, 0], np.int32).tobytes()
    d["paragraph_dedup__para_shared"] = np.array([2, 1, 0], np.int32).tobytes()
    d["paragraph_dedup__key"] = stored_key(d["text"], pd._salt)
    got = pd.collect([d])
    assert got.column("ngrams").to_pylist() == [[0, 1, 2]]  # read back, not hashed
    assert got.column("para_ngrams").to_pylist() == [[40, 2, 0]] and got.column("para_hashes").to_pylist() == [[2, 1, 0]]
    d["text"] += " changed"
    assert len(pd.collect([d]).column("ngrams")[0]) > 3  # the text changed: hashed again
    other = build_stage("paragraph_dedup", {"ngram": 8})  # another n-gram size: another key
    d["text"] = docs[0]["text"]
    assert len(other.collect([d]).column("ngrams")[0]) != len(plain.column("ngrams")[0])


def test_select_names_the_columns_an_older_annotated_run_lacks(tmp_path):
    """A run annotated before a filter stored its measures: select says so before any work."""
    from curate.annotate import select
    from curate.errors import RecipeError
    from curate.runner import run

    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n  - gopher_quality\n  - length_filter: {min_words: 5}\n")
    texts = [p for p in WIKI.read_text(encoding="utf-8").split("\n") if len(p.split()) > 40][:30]
    ann = tmp_path / "ann"
    assert run(str(recipe), [], str(ann), overrides=["recipe.mode=annotate"], executor="local", progress=False,
               documents=[[{"id": str(i), "text": t} for i, t in enumerate(texts)]]).ok
    assert select(str(ann), str(recipe), str(tmp_path / "ok"), executor="local", progress=False).ok
    f = next((ann / "data").glob("*.parquet"))
    t = pq.read_table(f)
    pq.write_table(t.drop_columns(["gopher_symbol_ratio"]), f)  # as an older curate wrote it
    with pytest.raises(RecipeError, match="no gopher_symbol_ratio for gopher_quality"):
        select(str(ann), str(recipe), str(tmp_path / "old"), executor="local", progress=False)
    assert not (tmp_path / "old").exists()
