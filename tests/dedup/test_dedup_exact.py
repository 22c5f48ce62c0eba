"""``exact_dedup`` and ``line_dedup`` global stages, and the simple API, on real text."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from conftest import docs_from

from curate.dedup.api import dedup_files, dedup_texts, find_duplicates
from curate.stage import build_stage
from curate.testing import LocalRunner, run_global_stage, stage_dir, stage_path


def test_exact_dedup_keeps_smallest_id_and_writes_content_hash(tmp_path: Path, paragraphs) -> None:
    p = paragraphs[3]
    docs = docs_from(paragraphs[:20])
    docs += [
        {"id": "z1", "text": p.upper()},  # same after normalisation
        {"id": "a1", "text": "  " + p.replace(" , ", ", ") + "\n"},
        {"id": "y1", "text": p + " Extra sentence."},  # differs: kept
    ]
    kept, dropped = run_global_stage(build_stage("exact_dedup"), [docs[::2], docs[1::2]], tmp_path)
    assert {d["id"]: (r, d["_duplicate_of"]) for d, r in dropped} == {
        "z1": ("exact_duplicate", "a1"),
        "d0003": ("exact_duplicate", "a1"),
    }
    all_kept = [d for s in kept for d in s]
    assert len(all_kept) == 21
    assert all(len(d["content_hash"]) == 32 for d in all_kept)


def test_exact_dedup_deterministic_across_workers_and_resumable(tmp_path: Path, paragraphs, entries) -> None:
    docs = docs_from(paragraphs[:40] + paragraphs[:10] + entries[:5] + entries[:5])
    results = []
    for k, w in enumerate([1, 3]):
        kept, dropped = run_global_stage(
            build_stage("exact_dedup"), [docs[i::4] for i in range(4)], tmp_path / str(k), LocalRunner(w)
        )
        results.append((kept, sorted((d["id"], d["_duplicate_of"]) for d, _ in dropped)))
    assert results[0] == results[1]
    assert len(results[0][1]) == 15
    wd = stage_path(tmp_path / "1", "exact_dedup")
    removes = sorted((wd / "remove").glob("*.parquet"))
    before = [pq.read_table(p).to_pylist() for p in removes]
    removes[2].unlink()
    (wd / "groups" / "part-00001.parquet").unlink()
    build_stage("exact_dedup").reduce(stage_dir(tmp_path / "1", "exact_dedup"), [0, 1, 2, 3], LocalRunner(3))
    assert [pq.read_table(p).to_pylist() for p in removes] == before


def test_line_dedup_removes_lines_shared_across_documents(tmp_path: Path, paragraphs, entries) -> None:
    nav = "Home | About us | Contact"
    footer = "Copyright 2021 Example Media. All rights reserved."
    texts = [
        f"{nav}\n{paragraphs[0]}\n\n{footer}",
        f"{nav}\n{paragraphs[1]}\n{paragraphs[1]}\nCopyright 2023 example media - all rights reserved!",
        f"{paragraphs[2]}",
        f"{nav}\n{footer}",  # only shared lines: dropped
        "",
    ]
    docs = docs_from(texts)
    kept, dropped = run_global_stage(
        build_stage("line_dedup"), [docs[:2], docs[2:]], tmp_path, LocalRunner(2)
    )
    assert [(d["id"], r) for d, r in dropped] == [("d0003", "line_dedup_empty")]
    out = {d["id"]: d["text"] for s in kept for d in s}
    assert out["d0000"] == f"{paragraphs[0]}\n"
    # a line repeated inside one document only is kept; the footer matches after normalising digits
    assert out["d0001"] == f"{paragraphs[1]}\n{paragraphs[1]}"
    assert out["d0002"] == paragraphs[2]
    assert out["d0004"] == ""  # empty before: not this stage's business


def test_simple_api(tmp_path: Path, paragraphs) -> None:
    texts = [paragraphs[0], paragraphs[1], paragraphs[0].upper(), paragraphs[0] + " (updated)", paragraphs[2]]
    assert dedup_texts(texts, method="exact") == [
        paragraphs[0],
        paragraphs[1],
        paragraphs[0] + " (updated)",
        paragraphs[2],
    ]
    assert find_duplicates(texts) == {0: 3, 2: 3}
    import pyarrow as pa

    pq.write_table(pa.table({"text": texts[:3], "n": [1, 2, 3]}), tmp_path / "a.parquet")
    (tmp_path / "b.txt").write_text(texts[3])
    stats = dedup_files([tmp_path / "a.parquet", tmp_path / "b.txt"], tmp_path / "out")
    assert stats == {"documents": 4, "removed": 2}
    assert pq.read_table(tmp_path / "out" / "a.parquet").column("n").to_pylist() == [2]
