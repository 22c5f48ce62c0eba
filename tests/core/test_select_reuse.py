"""A global stage stores its per-document measure when annotating, and reuses it only while its key matches:
the same text, the same model and parameters (what lets `curate select` skip the classifier and the hashing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_paragraph_dedup_reads_back_its_stored_ngrams_while_the_key_matches(docs):
    pd = build_stage("paragraph_dedup", {"ngram": 13})
    plain = pd.collect([{"id": d["id"], "text": d["text"]} for d in docs])
    pd.annotate_batch(docs)
    assert pd.collect(docs).equals(plain)  # the stored n-grams are the ones hashing gives
    docs[0]["paragraph_dedup__ngrams"] = np.arange(3, dtype=np.uint64).tobytes()
    docs[0]["paragraph_dedup__para_ngrams"] = np.array([3], np.int32).tobytes()
    assert pd.collect(docs[:1]).column("ngrams").to_pylist() == [[0, 1, 2]]  # read back, not hashed
    docs[0]["text"] += " changed"
    assert len(pd.collect(docs[:1]).column("ngrams")[0]) > 3  # the text changed: hashed again
    other = build_stage("paragraph_dedup", {"ngram": 8})
    assert len(other.collect(docs[1:2]).column("ngrams")[0]) != len(plain.column("ngrams")[1])


def test_select_names_the_columns_an_older_annotated_run_lacks(tmp_path):
    """A run annotated before a filter stored its measures: select says so before any work."""
    import pyarrow.parquet as pq

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
