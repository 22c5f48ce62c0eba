"""Quality classifiers: training separates real encyclopedic text from crawl boilerplate, the card is written,
eval prints accuracy/AUC, the percentile filter keeps exactly the requested fraction across shards."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import RecipeError
from curate.executor import LocalExecutor as LocalRunner
from curate.quality.cli import register
from curate.quality.eval import roc_auc
from curate.quality.model import preprocess, resolve_positive_label
from curate.quality.sources import read_texts, split_paragraph_docs
from curate.quality.train import train_classifier
from curate.rundir import StageDir
from curate.stage import build_stage
from filters.quality import Quality, top_fraction_threshold

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"
WIKI = DATA / "wiki.jsonl"  # WikiText-2 paragraphs (CC BY-SA 3.0)
CRAWL = DATA / "crawl_boilerplate.jsonl"  # full-page text of real crawled pages (Apache-2.0 test WARCs)
BOOK = DATA / "book.txt"  # a public-domain Gutenberg excerpt


def _jsonl(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("model") / "q.bin"
    # Parquet and JSONL inputs through the same reader the CLI uses
    pos_parquet = out.parent / "wiki.parquet"
    pq.write_table(pa.table({"text": _jsonl(WIKI)[:40]}), pos_parquet)
    pos = read_texts([str(pos_parquet), str(DATA / "book.txt")])
    pos["wiki-rest"] = _jsonl(WIKI)[40:]
    neg = read_texts([str(CRAWL)])
    card = train_classifier(
        pos,
        neg,
        out,
        params={"dim": 16, "epoch": 25, "lr": 0.5, "thread": 1, "bucket": 100_000},
        valid_fraction=0.25,
        seed=0,
        verbose=False,
    )
    return out, card


def test_preprocess_joins_lines_like_dclm() -> None:
    assert preprocess("  Title\nfirst line\r\n\nsecond\tline  ") == "Title first line second line"
    assert preprocess("") == ""


def test_preprocess_is_dclms_join_then_one_space_for_every_run_of_ascii_whitespace() -> None:
    """The str.replace form gives exactly the regex definition, on real crawl and book text and on the
    separators that differ: tabs, runs, Unicode spaces kept inside tokens, line separators of splitlines."""
    import re

    def reference(text: str) -> str:
        return re.sub(r"[ \t\r\n\v\f]+", " ", " ".join(text.strip().splitlines())).strip()

    odd = ["a\x1fb", "a\xa0 b", "a\u2028b", "a\x85b", " x\n\n y\t", "a\x1cb", "\u3000a", "a\r\nb\x0bc\x0cd",
           "a \t b", "a\t\tb", " \t a", "a  ", "\ta\t", "a" + " " * 37 + "b", "\xa0 a \xa0", "x\t\n\ty"]
    texts = [*odd, *_jsonl(CRAWL), *_jsonl(WIKI), BOOK.read_text()]
    assert [preprocess(t) for t in texts] == [reference(t) for t in texts]


def test_txt_reader_groups_paragraphs() -> None:
    docs = split_paragraph_docs(BOOK.read_text(), 120)
    assert len(docs) >= 10 and all(len(d.split()) >= 30 for d in docs)
    assert split_paragraph_docs("one\n\ntwo", 0) == ["one\n\ntwo"]


def test_training_separates_encyclopedic_from_boilerplate(trained: tuple[Path, dict]) -> None:
    path, card = trained
    held = card["metrics"]["held_out"]
    assert held["n"] >= 40
    assert held["accuracy"] >= 0.9
    assert held["roc_auc"] >= 0.95
    stage = Quality(model=str(path))
    wiki = (
        "The river rises in the northern hills and flows south through the county, where it was an "
        "important route for trade in the eighteenth century before the railway was built."
    )
    boiler = (
        "Home | About Us | Contact | Login\nCopyright 2008 All rights reserved\nPrivacy Policy | Site Map"
    )
    assert stage.score([wiki])[0] > 0.5 > stage.score([boiler])[0]


def test_model_card_is_written(trained: tuple[Path, dict]) -> None:
    path, _ = trained
    card = json.loads(Path(str(path) + ".card.json").read_text())
    assert card["labels"] == {"positive": "__label__hq", "negative": "__label__cc"}
    n_book = len(split_paragraph_docs(BOOK.read_text()))
    assert card["counts"]["positive"] == 80 + n_book and card["counts"]["negative"] == len(_jsonl(CRAWL))
    assert card["parameters"]["wordNgrams"] == 2 and card["parameters"]["dim"] == 16
    assert set(card["sources"]["positive"]) >= {str(DATA / "book.txt")}
    assert card["fasttext_version"] and card["created"] and card["bytes"] == path.stat().st_size


def test_eval_cli_prints_accuracy_and_auc(
    trained: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    labelled = tmp_path / "labelled.jsonl"
    rows = [{"text": t, "label": 1} for t in _jsonl(WIKI)[:20]] + [
        {"text": t, "label": "cc"} for t in _jsonl(CRAWL)[:20]
    ]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["quality", "eval", "--model", str(trained[0]), "--input", str(labelled), "--json"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "ROC AUC" in out
    m = json.loads(out.strip().splitlines()[-1])
    assert m["n"] == 40 and m["accuracy"] >= 0.9 and m["roc_auc"] >= 0.95


def test_absolute_threshold_scores_every_document(trained: tuple[Path, dict]) -> None:
    stage = build_stage("quality", {"model": str(trained[0]), "threshold": 0.5})
    docs = [{"id": "w", "text": _jsonl(WIKI)[0]}, {"id": "c", "text": _jsonl(CRAWL)[0]}]
    assert stage.process_batch(docs) == [None, "quality_below_threshold"]
    assert all(0.0 <= d["quality_score"] <= 1.0 for d in docs)


def test_top_fraction_threshold_is_exact_with_ties() -> None:
    scores = np.array([0.1, 0.5, 0.5, 0.5, 0.9, 0.2, 0.3, 0.8, 0.7, 0.6], dtype=np.float32)
    assert top_fraction_threshold(scores, 0.3) == (pytest.approx(0.7), 3)
    t, k = top_fraction_threshold(scores, 0.5)  # the 5th best is 0.5, tied three ways: 7 kept
    assert k == 5 and (scores >= np.float32(t)).sum() == 7
    assert top_fraction_threshold(np.zeros(0, np.float32), 0.1) == (math.inf, 0)


def _run_global(stage: Quality, shards: list[list[dict]], workdir: Path) -> list[list[str | None]]:
    """process_batch → collect (part-NNNNN.parquet per shard) → reduce → apply, as the engine does."""
    sdir = StageDir(str(workdir))
    kept_per_shard = []
    for i, docs in enumerate(shards):
        reasons = stage.process_batch(docs)
        kept = [d for d, r in zip(docs, reasons) if r is None]
        sdir.write_table(sdir.collect_file(i), stage.collect(kept))
        kept_per_shard.append(kept)
    stage.reduce(sdir, list(range(len(shards))), LocalRunner())
    return [stage.apply(kept, i, sdir) for i, kept in enumerate(kept_per_shard)]


def test_percentile_keeps_requested_fraction_across_shards(
    trained: tuple[Path, dict], tmp_path: Path
) -> None:
    texts = _jsonl(WIKI) + _jsonl(CRAWL) + _jsonl(WIKI)[:10]  # the repeats give exact ties
    docs = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    shards = [docs[0::3], docs[1::3], docs[2::3]]
    for fraction in (0.1, 0.25):
        stage = build_stage("quality", {"model": str(trained[0]), "keep_top_fraction": fraction})
        workdir = tmp_path / f"f{fraction}"
        results = _run_global(stage, shards, workdir)
        kept = [d["quality_score"] for s, res in zip(shards, results) for d, r in zip(s, res) if r is None]
        dropped = {r for res in results for r in res if r is not None}
        assert dropped == {"quality_below_percentile"}
        n, k = len(docs), math.ceil(fraction * len(docs))
        summary = json.loads((workdir / "threshold.json").read_text())
        all_scores = np.array([d["quality_score"] for d in docs], dtype=np.float32)
        ties = int((all_scores == np.float32(summary["threshold"])).sum())
        assert summary["documents"] == n and summary["requested"] == k
        assert k <= len(kept) <= k + ties - 1 and len(kept) == summary["kept"]
        # the kept documents are exactly the top scores
        assert min(kept) >= max(s for s in all_scores if s < np.float32(summary["threshold"]))


def test_the_percentile_pass_on_arrow_columns_writes_what_the_document_path_does(
    trained: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last pass of a recipe ending with a percentile is one float32 comparison, run on Arrow batches
    (``apply_table``): the same data/, rejected/ rows (reasons, snippets) and stats as document by document."""
    import curate.mappass
    from curate.runner import run

    texts = _jsonl(WIKI) + _jsonl(CRAWL) + _jsonl(WIKI)[:10] + [""]  # ties at the cut, an empty text
    docs = [{"id": str(i), "text": t, "url": f"https://e.example/{i}"} for i, t in enumerate(texts)]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"stages:\n  - quality: {{model: {trained[0]}, keep_top_fraction: 0.3}}\n")
    calls = []
    columnar = curate.mappass._columnar_apply
    monkeypatch.setattr(curate.mappass, "_columnar_apply", lambda t, mp: calls.append(columnar(t, mp)) or calls[-1])
    outs = []
    for name in ("columns", "documents"):
        assert run(str(recipe), [], str(tmp_path / name), executor="local", progress=False,
                   documents=[docs[0::2], docs[1::2]]).ok
        outs.append({sub: sorted((r for f in sorted((tmp_path / name / sub).glob("*.parquet"))
                                  for r in pq.read_table(f).to_pylist()), key=lambda r: r["id"])
                     for sub in ("data", "rejected")})
        stats = [json.loads(f.read_text()) for f in sorted((tmp_path / name / "stats").glob("*-s1.json"))]
        outs[-1]["stats"] = [[{k: v for k, v in st.items() if k != "seconds"} for st in s["stages"]] for s in stats]
        monkeypatch.setattr(curate.mappass, "_columnar_apply", lambda t, mp: None)
    assert any(c is not None for c in calls)  # the first run took the column path
    assert outs[0] == outs[1]
    assert {r["reason"] for r in outs[0]["rejected"]} == {"quality_below_percentile"}
    assert 0 < len(outs[0]["data"]) < len(docs)


def test_reduce_is_resumable(trained: tuple[Path, dict], tmp_path: Path) -> None:
    docs = [{"id": str(i), "text": t} for i, t in enumerate(_jsonl(WIKI)[:10] + _jsonl(CRAWL)[:10])]
    stage = build_stage("quality", {"model": str(trained[0]), "keep_top_fraction": 0.5})
    _run_global(stage, [docs], tmp_path)
    marker = tmp_path / "threshold.json"
    done = json.loads(marker.read_text())
    marker.write_text(json.dumps({**done, "threshold": 2.0}))  # a finished pass is reused, not redone
    assert stage.reduce(StageDir(str(tmp_path)), [0], LocalRunner())["threshold"] == 2.0


def test_missing_model_names_the_key() -> None:
    with pytest.raises(RecipeError, match=r"quality\.model.*build-default"):
        build_stage("quality", {})
    with pytest.raises(RecipeError, match="quality"):
        build_stage("quality", {"model": "/nonexistent/q.bin"})
    with pytest.raises(RecipeError, match="keep_top_fraction"):
        build_stage("quality", {"model": str(WIKI), "keep_top_fraction": 1.5})


def test_default_model_loads_and_ranks() -> None:
    stage = build_stage("quality", {"model": "default"})
    wiki, crawl = stage.score(_jsonl(WIKI)[:30]), stage.score(_jsonl(CRAWL)[:30])
    assert roc_auc(wiki + crawl, [1] * 30 + [0] * 30) > 0.8


def test_positive_label_auto_detection() -> None:
    assert resolve_positive_label(["__label__cc", "__label__hq"]) == "__label__hq"
    assert resolve_positive_label(["__label__0", "__label__1"]) == "__label__1"
    assert resolve_positive_label(["__label__cc", "__label__wikipedia"]) == "__label__wikipedia"
    with pytest.raises(ValueError, match="labels"):
        resolve_positive_label(["__label__a", "__label__b"])


def test_roc_auc_with_ties() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
