"""``paragraph_dedup`` (DCLM-Baseline's BFF, ``old-both``) on real text, against a plain sequential BFF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import regex

from curate.dedup.paragraph import bff_words, document_ngrams, remove_paragraphs
from curate.stage import build_stage
from curate.testing import LocalRunner, run_global_stage, stage_path


def docs_from(texts: list[str]) -> list[dict]:
    return [{"id": f"d{i:04d}", "text": t, "source": f"src{i % 2}"} for i, t in enumerate(texts)]


def plain_words(paragraph: str) -> list[str]:
    """The oracle of ``bff_words``: every UAX #29 segment that is not all whitespace."""
    return [s for s in regex.split(r"(?w)\b", paragraph) if s and not s.isspace()]


def bff_oldboth(docs: list[dict], ngram: int = 13, threshold: float = 0.8) -> dict[str, str | None]:
    """BFF's ``process_line_oldboth`` line by line, with an exact set for the Bloom filter: id -> text kept
    (None: dropped). Documents are taken in the order given."""
    seen: set[tuple[str, ...]] = set()
    out: dict[str, str | None] = {}
    for d in docs:
        text = d["text"]
        cuts = [0] + [i for i, c in enumerate(text) if c == "\n"] + [len(text)]
        windows, total, contained_total = [], 0, 0
        for a, b in zip(cuts, cuts[1:]):
            w = plain_words(text[a:b])
            grams = [tuple(w[i : i + ngram]) for i in range(len(w) - ngram + 1)]
            contained = sum(g in seen for g in grams)  # looked up before any of them is inserted
            total += len(grams)
            contained_total += contained
            if grams and contained / len(grams) > threshold:
                windows.append((a, b))
            else:
                seen.update(grams)
        kept, last = "", 0
        for a, b in windows:
            kept += text[last:a]
            last = b
        kept += text[last:]
        if total and contained_total / total > threshold:
            kept = ""
        out[d["id"]] = kept if kept.strip() else None
    return out


PARTITIONED = {"inline_below": 0}  # the reduce as its partitioned jobs, not in memory (a small reduce's default)


def stage_output(
    shards: list[list[dict]], workdir: Path, workers: int = 1, params: dict | None = None
) -> dict[str, str | None]:
    stage = build_stage("paragraph_dedup", params or {})
    kept, dropped = run_global_stage(stage, shards, workdir, LocalRunner(workers))
    out: dict[str, str | None] = {d["id"]: d["text"] for s in kept for d in s}
    out.update({d["id"]: None for d, _ in dropped})
    return out


BOILER = (
    "Copyright 2024 The Example Gazette. All rights reserved. This material may not be published, broadcast, "
    "rewritten or redistributed without written permission."
)


def corpus(paragraphs: list[str], entries: list[str]) -> list[list[dict]]:
    """Three shards of real text: pages of Wikipedia paragraphs, a planted boilerplate footer, short menu
    lines, a page copied whole, a paragraph repeated inside one page."""
    pages = []
    for i in range(24):
        body = [paragraphs[2 * i], paragraphs[2 * i + 1]]
        extra = [BOILER] if i % 3 == 0 else []
        menu = ["Home | News | Contact"]  # < 13 words: always kept
        pages.append("\n".join(menu + body + extra))
    pages.append(pages[4])  # a whole copy: one of the two is dropped
    pages.append(paragraphs[60] + "\n" + paragraphs[61] + "\n" + paragraphs[60])  # repeated within one page
    pages.append(paragraphs[62] + " " + paragraphs[62])  # repeated inside one paragraph: not seen
    pages.append(entries[0])  # verse: lines of fewer than 13 words, never removed
    pages.append(entries[0])
    docs = docs_from(pages)
    return [docs[0::3], docs[1::3], docs[2::3]]


def test_words_are_uax29_segments(paragraphs, entries) -> None:
    for p in (
        paragraphs
        + entries
        + ["Ça coûte 3,50 € — d'accord?", "東京は首都。", "a.b 1,000.5 e-mail: x@y.org ..."]
    ):
        assert bff_words(p) == plain_words(p)
    assert bff_words("It's 3.14, ok.") == ["It's", "3.14", ",", "ok", "."]


def test_remove_paragraphs_takes_each_with_the_newline_before_it() -> None:
    from itertools import combinations

    def by_the_rule(text: str, gone: set[int]) -> str:
        return "".join(("\n" if k else "") + p for k, p in enumerate(text.split("\n")) if k not in gone)

    for text in ["a\nb\nc", "", "\n", "a", "\n\nx\n", "a\n\nb\n"]:
        n = text.count("\n") + 1
        for gone in (set(c) for r in range(n + 1) for c in combinations(range(n), r)):
            assert remove_paragraphs(text, gone) == by_the_rule(text, gone), (text, gone)
    assert remove_paragraphs("a\nb\nc", {0}) == "\nb\nc"


def test_short_paragraphs_have_no_ngrams(paragraphs) -> None:
    hashes, counts = document_ngrams("Home | News\n" + paragraphs[0] + "\nok")
    assert counts == [0, len(plain_words(paragraphs[0])) - 12, 0]
    assert len(hashes) == counts[1]
    assert document_ngrams("one two three", 13, 3)[1] == [1]  # BFF's min_ngram_size < max: one n-gram


def test_planted_boilerplate_removed_unique_text_kept(tmp_path: Path, paragraphs, entries) -> None:
    shards = corpus(paragraphs, entries)
    got = stage_output(shards, tmp_path)
    order = [d for s in shards for d in s]
    assert got == bff_oldboth(order)  # exactly BFF's rules, in the (shard, row) order
    assert not (stage_path(tmp_path, "paragraph_dedup") / "buckets").exists()  # it ran in memory
    assert stage_output(shards, tmp_path / "jobs", 2, PARTITIONED) == got  # in memory or in jobs: the same
    assert (stage_path(tmp_path / "jobs", "paragraph_dedup") / "buckets").is_dir()
    by_id = {d["id"]: d["text"] for d in order}
    footers = [i for i, d in by_id.items() if BOILER in d]
    first = min(footers, key=[d["id"] for d in order].index)
    assert BOILER in got[first]  # the first footer in the fixed order stays
    assert all(BOILER not in got[i] for i in footers if i != first)
    assert got["d0004"] is None  # d0024 copies it and comes first: shard 0 (row 8) before shard 1 (row 1)
    assert got["d0024"] == by_id["d0024"]
    for i in range(24):  # every unique Wikipedia paragraph is still there
        doc = f"d{i:04d}" if i != 4 else "d0024"
        assert paragraphs[2 * i] in got[doc] and paragraphs[2 * i + 1] in got[doc]
        assert got[doc].startswith("Home | News | Contact")
    assert got["d0025"] == paragraphs[60] + "\n" + paragraphs[61]  # the repeat within the page removed
    assert (
        got["d0026"] == paragraphs[62] + " " + paragraphs[62]
    )  # a repeat inside one paragraph does not count
    assert got["d0027"] == got["d0028"] == entries[0]  # short lines only: no n-grams, both kept
    kept, dropped = run_global_stage(build_stage("paragraph_dedup"), shards, tmp_path / "again")
    assert {r for _, r in dropped} == {"paragraph_dedup_document"}
    removed = {d["id"]: d["paragraphs_removed"] for s in kept for d in s}
    assert sum(removed.values()) == len(footers) - 1 + 1


def test_same_output_with_one_and_two_workers_and_any_shard_split(
    tmp_path: Path, paragraphs, entries
) -> None:
    shards = corpus(paragraphs, entries)
    one = stage_output(shards, tmp_path / "w1", 1, PARTITIONED)
    two = stage_output(shards, tmp_path / "w2", 2, PARTITIONED)
    assert one == two == stage_output(shards, tmp_path / "mem", 2)
    summary = json.loads((stage_path(tmp_path / "w2", "paragraph_dedup") / "summary.json").read_text())
    assert summary["partitions"] == 2 and summary["converged"]
    flat = [d for s in shards for d in s]
    assert stage_output([flat[:10], flat[10:]], tmp_path / "split", 2, PARTITIONED) == one  # other shard cut


def test_a_removed_paragraph_inserts_nothing(tmp_path: Path, paragraphs) -> None:
    """BFF inserts only kept paragraphs' n-grams: the new tail of a removed paragraph stays unseen. Round 0
    (every earlier occurrence counts) gets the third page wrong; the next round corrects it."""
    p = paragraphs[10]
    w = p.split()
    tail = "and then the lobsters came back home"
    docs = docs_from([p, p + " " + tail, " ".join(w[-12:]) + " " + tail])
    for params, where in ((PARTITIONED, tmp_path / "jobs"), ({}, tmp_path / "mem")):
        got = stage_output([docs], where, 1, params)
        assert got == bff_oldboth(docs)
        assert got["d0001"] is None  # >80% seen: the paragraph goes, and with it the document
        assert got["d0002"] == docs[2]["text"]  # its n-grams were only in the removed paragraph
        summary = json.loads((stage_path(where, "paragraph_dedup") / "summary.json").read_text())
        assert summary["converged"] and summary["rounds"] == 3


def test_reduce_resumes_from_its_files(tmp_path: Path, paragraphs, entries) -> None:
    shards = corpus(paragraphs, entries)
    first = stage_output(shards, tmp_path, 2, PARTITIONED)
    wd = stage_path(tmp_path, "paragraph_dedup")
    decided = sorted((wd / "decided").glob("r*/part-*.parquet"))
    before = [pq.read_table(p).to_pylist() for p in decided]
    for rel in [
        "summary.json",
        "buckets/done/part-00001.json",
        "dups/part-00000.json",
        "seen/r00/p00001/done.json",
        "rounds/r00-00001.json",
    ]:
        (wd / rel).unlink()
    from curate.testing import stage_dir

    build_stage("paragraph_dedup", PARTITIONED).reduce(stage_dir(tmp_path, "paragraph_dedup"), [0, 1, 2], LocalRunner(2))
    assert [pq.read_table(p).to_pylist() for p in decided] == before
    assert first == bff_oldboth([d for s in shards for d in s])


def test_ray_run_matches_the_local_run(ray_session, tmp_path: Path, paragraphs, entries) -> None:
    from curate.annotate import select
    from curate.runner import run

    shards = corpus(paragraphs, entries)
    inputs = []
    for k, s in enumerate(shards):
        f = tmp_path / f"in-{k}.jsonl"
        f.write_text("".join(json.dumps(d) + "\n" for d in s), encoding="utf-8")
        inputs.append(str(f))
    recipe = tmp_path / "r.yaml"
    expected = bff_oldboth([d for s in shards for d in s])
    want = {i: t for i, t in expected.items() if t is not None}
    for inline in (0, 10**9):  # the reduce jobs as Ray tasks, then in the driver (a small reduce's default)
        recipe.write_text(f"name: p\nstages:\n  - paragraph_dedup: {{inline_below: {inline}}}\n")
        assert run(str(recipe), inputs, str(tmp_path / f"out{inline}"), progress=False).ok
        kept = pq.read_table(tmp_path / f"out{inline}" / "data").to_pylist()
        assert {d["id"]: d["text"] for d in kept} == want
        # annotated on Ray: the expected removals are the full run's; a select on Ray decides as it did
        ann, sel = tmp_path / f"ann{inline}", tmp_path / f"sel{inline}"
        assert run(str(recipe), inputs, str(ann), overrides=["recipe.mode=annotate"], progress=False).ok
        shortened = 0
        for d in pq.read_table(ann / "data").to_pylist():
            gone = set(np.frombuffer(d["paragraph_dedup__expected"] or b"", np.int32).tolist())
            if d["id"] in want:
                assert remove_paragraphs(d["text"], gone) == want[d["id"]], d["id"]
                shortened += bool(gone)
        assert shortened  # the planted boilerplate was removed somewhere: a real check
        assert select(str(ann), str(recipe), str(sel), executor="ray", progress=False).ok
        assert {d["id"]: d["text"] for d in pq.read_table(sel / "data").to_pylist()} == want


def test_a_shard_left_empty_before_the_stage(paragraphs) -> None:
    from curate.local import run_documents

    shards = [
        [{"id": "a", "text": "too short"}],
        [{"id": "b", "text": paragraphs[0]}],
        [{"id": "c", "text": paragraphs[0]}],
    ]
    out = run_documents([("length_filter", {"min_words": 5}), "paragraph_dedup"], shards)
    assert [[d["id"] for d in s] for s in out.kept] == [[], ["b"], []]
    assert {r["id"]: r["reason"] for r in out.rejected} == {
        "a": "length_too_few_words",
        "c": "paragraph_dedup_document",
    }
