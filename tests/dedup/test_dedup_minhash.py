"""The ``minhash`` global stage end to end (process_batch → collect → reduce → apply) on real text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import docs_from, edit_words

from curate.errors import RecipeError
from curate.stage import build_stage
from curate.testing import LocalRunner, run_global_stage, stage_dir, stage_path


def corpus(paragraphs: list[str], entries: list[str]) -> tuple[list[dict], dict[str, str]]:
    """Real documents plus planted near-duplicates; returns (docs, {duplicate id: original id})."""
    docs = docs_from(paragraphs[:100] + entries[:20])
    planted: dict[str, str] = {}

    def add(new_id: str, text: str, of: str) -> None:
        docs.append({"id": new_id, "text": text, "url": "https://mirror.example/x", "source": "mirror"})
        planted[new_id] = of

    for i in range(0, 30, 3):
        add(f"e{i:04d}", edit_words(paragraphs[i], 0.01, seed=i), f"d{i:04d}")  # a few words edited
        reflowed = textwrap.fill(paragraphs[i + 1], width=60).replace(". ", ".   ")
        add(f"w{i:04d}", reflowed, f"d{i + 1:04d}")  # reflowed whitespace
        add(
            f"a{i:04d}", paragraphs[i + 2] + "\n\nOriginally published by The Example Times.", f"d{i + 2:04d}"
        )
    add("x0000", paragraphs[50], "d0050")  # exact copy
    add("x0001", paragraphs[50], "d0050")
    return docs, planted


def shards_of(docs: list[dict], n: int) -> list[list[dict]]:
    return [docs[i::n] for i in range(n)]


def removal_lists(run: Path) -> list[list[dict]]:
    wd = stage_path(run, "minhash")
    return [pq.read_table(p).to_pylist() for p in sorted((wd / "remove").glob("part-*.parquet"))]


def test_planted_near_duplicates_are_found_and_rest_kept(tmp_path: Path, paragraphs, entries) -> None:
    docs, planted = corpus(paragraphs, entries)
    kept, dropped = run_global_stage(build_stage("minhash"), shards_of(docs, 3), tmp_path)
    assert all(r == "minhash_duplicate" for _, r in dropped)
    # each planted cluster collapses to one document (its longest member), and nothing else is removed
    clusters: dict[str, set[str]] = {}
    for dup, orig in planted.items():
        clusters.setdefault(orig, {orig}).add(dup)
    dropped_ids = {d["id"] for d, _ in dropped}
    assert len(dropped) == sum(len(c) - 1 for c in clusters.values())
    for members in clusters.values():
        survivors = members - dropped_ids
        assert len(survivors) == 1
    kept_all = {d["id"]: d for shard in kept for d in shard}
    for d, _ in dropped:
        rep = kept_all[d["_duplicate_of"]]
        assert rep["dup_cluster"] == rep["id"] and rep["dup_cluster_size"] >= 2
    singles = [d for d in kept_all.values() if d["dup_cluster_size"] == 1]
    assert singles and all(d["dup_cluster"] is None for d in singles)
    assert kept_all[next(iter(clusters["d0050"] - dropped_ids))]["dup_cluster_size"] == 3


def test_representative_is_longest_then_smallest_id(tmp_path: Path, paragraphs) -> None:
    p = paragraphs[7]
    docs = [
        {"id": "c", "text": p},
        {"id": "b", "text": p + " And one more sentence at the end."},
        {"id": "a", "text": p + " And one more sentence at the end!"},
    ]
    kept, dropped = run_global_stage(build_stage("minhash"), [docs], tmp_path)
    assert [d["id"] for d in kept[0]] == ["a"]
    assert {d["id"]: d["_duplicate_of"] for d, _ in dropped} == {"b": "a", "c": "a"}


def test_shared_boilerplate_does_not_merge_unrelated_documents(tmp_path: Path, paragraphs, entries) -> None:
    boiler = entries[0]  # the same paragraph appended to unrelated articles (a footer)
    docs = docs_from([p + "\n\n" + boiler for p in paragraphs[:60]])
    kept, dropped = run_global_stage(build_stage("minhash"), shards_of(docs, 2), tmp_path)
    assert dropped == []
    assert sum(map(len, kept)) == 60


def test_exact_duplicates_always_collapse(tmp_path: Path, entries) -> None:
    short = "Read more about our privacy policy."  # fewer than 5 words after the first: one shingle
    docs = docs_from([entries[3]] * 5 + [short] * 3 + ["", "!!!"])
    kept, dropped = run_global_stage(build_stage("minhash"), shards_of(docs, 3), tmp_path)
    assert sorted(d["id"] for shard in kept for d in shard) == ["d0000", "d0005", "d0008", "d0009"]
    assert len(dropped) == 6


@pytest.mark.parametrize(
    "params", [{"bands": 93, "rows": 15}, {"bands": None, "rows": None, "threshold": 0.7}]
)
def test_other_settings_find_the_same_planted_duplicates(tmp_path: Path, paragraphs, entries, params) -> None:
    docs, planted = corpus(paragraphs, entries)
    _, dropped = run_global_stage(build_stage("minhash", params), shards_of(docs, 2), tmp_path)
    assert len(dropped) == len(planted)


def test_deterministic_across_runs_and_worker_counts(tmp_path: Path, paragraphs, entries) -> None:
    docs, _ = corpus(paragraphs, entries)
    outs = []
    for k, workers in enumerate([1, 3, 3]):
        wd = tmp_path / f"run{k}"
        kept, dropped = run_global_stage(build_stage("minhash"), shards_of(docs, 4), wd, LocalRunner(workers))
        outs.append((kept, sorted((d["id"], d["_duplicate_of"]) for d, _ in dropped), removal_lists(wd)))
    assert outs[0] == outs[1] == outs[2]


def test_each_pass_resumes(tmp_path: Path, paragraphs, entries) -> None:
    docs, _ = corpus(paragraphs, entries)
    stage = build_stage("minhash")
    run_global_stage(stage, shards_of(docs, 3), tmp_path)
    before = removal_lists(tmp_path)
    wd = stage_path(tmp_path, stage)
    summary = (wd / "summary.json").read_text()
    for f in [
        wd / "bands" / "band-004.parquet",
        wd / "components.parquet",
        *(wd / "remove").glob("*"),
    ]:
        f.unlink()
    (wd / "verified" / "part-00000.parquet").unlink()
    stage.reduce(stage_dir(tmp_path, stage), [0, 1, 2], LocalRunner())
    assert removal_lists(tmp_path) == before
    assert (wd / "summary.json").read_text() == summary


def test_distributed_components_fallback_gives_same_clusters(tmp_path: Path, paragraphs, entries) -> None:
    docs, _ = corpus(paragraphs, entries)
    run_global_stage(build_stage("minhash"), shards_of(docs, 3), tmp_path / "a", LocalRunner(2))
    run_global_stage(
        build_stage("minhash", {"max_pairs_in_memory": 0}), shards_of(docs, 3), tmp_path / "b", LocalRunner(2)
    )
    assert removal_lists(tmp_path / "a") == removal_lists(tmp_path / "b")


def test_parameters_are_validated() -> None:
    with pytest.raises(RecipeError, match="num_perm"):
        build_stage("minhash", {"bands": 14, "rows": 8, "num_perm": 64})
    with pytest.raises(RecipeError, match="both bands and rows"):
        build_stage("minhash", {"bands": None})
    stage = build_stage("minhash", {"bands": 93, "rows": 15})
    assert stage.num_perm == 1395


def test_apply_without_reduce_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reduce"):
        build_stage("minhash").apply([{"id": "1", "text": "x"}], 0, stage_dir(tmp_path, "minhash"))
