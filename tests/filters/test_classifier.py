"""The generic ``classifier`` stage: a real fastText domain classifier trained here on real text."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.errors import RecipeError
from curate.local import run_documents
from curate.stage import build_stage
from curate.testing import LocalRunner, run_global_stage
from filters.percentile import bottom_fraction_threshold, top_fraction_threshold

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup"


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    """Wikipedia paragraphs (WikiText-2, CC BY-SA) and Devil's Dictionary entries (public domain)."""
    wiki = (DATA / "wikitext2_paragraphs.txt").read_text(encoding="utf-8").splitlines()
    devil = (DATA / "devils_dictionary_excerpt.txt").read_text(encoding="utf-8")
    entries = [" ".join(b.split()) for b in devil.split("\n\n") if len(b.split()) >= 30]
    return {"wiki": wiki, "devil": entries}


@pytest.fixture(scope="module")
def domain_model(texts, tmp_path_factory) -> str:
    """A two-label fastText model (``__label__wiki`` / ``__label__devil``) trained on the first halves."""
    import fasttext

    d = tmp_path_factory.mktemp("model")
    lines = [f"__label__wiki {t}" for t in texts["wiki"][:80]] + [
        f"__label__devil {t}" for t in texts["devil"][:40]
    ]
    (d / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(
        input=str(d / "train.txt"), epoch=25, lr=1.0, wordNgrams=2, seed=1, thread=1, verbose=0
    )
    model.save_model(str(d / "domain.bin"))
    return str(d / "domain.bin")


def held_out(texts) -> list[dict]:
    docs = [{"id": f"w{i:03d}", "text": t} for i, t in enumerate(texts["wiki"][80:140])]
    return docs + [{"id": f"v{i:03d}", "text": t} for i, t in enumerate(texts["devil"][40:70])]


def test_threshold_keeps_one_domain_and_writes_the_named_column(domain_model, texts) -> None:
    docs = held_out(texts)
    stage = (
        "classifier",
        {"model": domain_model, "label": "devil", "column": "domain_score", "keep": "low", "threshold": 0.5},
    )
    out = run_documents([stage], docs)
    kept = {d["id"] for d in out.kept}
    dropped = {r["id"]: r["reason"] for r in out.rejected}
    assert set(dropped.values()) == {"classifier_above_threshold"}
    wiki_kept = sum(i.startswith("w") for i in kept) / 60
    devil_dropped = sum(i.startswith("v") for i in dropped) / 30
    assert wiki_kept >= 0.9 and devil_dropped >= 0.9, (wiki_kept, devil_dropped)
    assert all(0.0 <= d["domain_score"] <= 0.5 for d in out.kept)
    assert "quality_score" not in out.kept[0] and "classifier_score" not in out.kept[0]


def test_fraction_is_exact_and_global_with_any_worker_count(domain_model, texts, tmp_path: Path) -> None:
    docs = held_out(texts)
    shards = [docs[0::2], docs[1::2]]
    results = []
    for w in (1, 2):
        stage = build_stage(
            "classifier",
            {"model": domain_model, "label": "__label__wiki", "column": "edu_score", "fraction": 0.25},
        )
        kept, dropped = run_global_stage(stage, shards, tmp_path / str(w), LocalRunner(w))
        results.append(({d["id"] for s in kept for d in s}, {d["id"] for d, _ in dropped}))
        assert {r for _, r in dropped} == {"classifier_below_percentile"}
    assert results[0] == results[1]
    scores = np.asarray(
        build_stage("classifier", {"model": domain_model, "label": "wiki"}).score([d["text"] for d in docs]),
        np.float32,
    )
    k = math.ceil(0.25 * len(docs))
    cut = np.sort(scores)[::-1][k - 1]
    assert results[0][0] == {d["id"] for d, s in zip(docs, scores) if s >= cut}
    data = pq.read_table(tmp_path / "1" / "data")
    assert str(data.schema.field("edu_score").type) == "float"


def test_bottom_fraction_keeps_the_lowest(domain_model, texts) -> None:
    docs = held_out(texts)
    stage = (
        "classifier",
        {"model": domain_model, "label": "devil", "column": "toxicity_score", "keep": "low", "fraction": 0.5},
    )
    out = run_documents([stage], docs)
    assert len(out.kept) == 45
    assert max(d["toxicity_score"] for d in out.kept) <= min(
        s
        for s in build_stage("classifier", {"model": domain_model, "label": "devil"}).score(
            [d["text"] for d in docs if d["id"] in {r["id"] for r in out.rejected}]
        )
    )
    assert {r["reason"] for r in out.rejected} == {"classifier_above_percentile"}


def test_bad_configuration_fails_when_the_recipe_is_built(domain_model) -> None:
    with pytest.raises(RecipeError, match="__label__devil"):
        build_stage("classifier", {"model": domain_model, "label": "toxic"})
    with pytest.raises(RecipeError, match="float32 score column"):
        build_stage("classifier", {"model": domain_model, "label": "wiki", "column": "my_col"})
    with pytest.raises(RecipeError, match="needs `model`"):
        build_stage("classifier", {"label": "wiki"})
    assert build_stage(
        "classifier", {"model": domain_model, "label": "wiki", "column": "nsfw_score"}
    ).columns == ("nsfw_score",)


def test_percentile_cuts_are_exact_with_ties() -> None:
    scores = np.asarray([0.1, 0.5, 0.5, 0.5, 0.9, 0.2, 0.7, 0.3], np.float32)
    assert bottom_fraction_threshold(scores, 0.25) == (pytest.approx(0.2), 2)
    t, k = bottom_fraction_threshold(scores, 0.5)  # the 4th lowest is 0.5, tied three ways: 6 kept
    assert (k, int((scores <= np.float32(t)).sum())) == (4, 6)
    assert top_fraction_threshold(scores, 0.25) == (pytest.approx(0.7), 2)
    assert bottom_fraction_threshold(np.zeros(0, np.float32), 0.1) == (-math.inf, 0)
