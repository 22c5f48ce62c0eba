"""The decontaminate stage on real text: WikiText-2 paragraphs and Bierce definitions as benchmark items,
planted (exact and edited) into real Common Crawl pages (tests/data/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import stage as stage_module
from curate.errors import RecipeError
from curate.local import run_documents
from curate.recipe import load_recipe
from curate.runner import run
from curate.stage import build_stage
from filters.decontam_index import normalize_words, read_items

DATA = Path(__file__).resolve().parents[1] / "data"
WIKI = DATA / "dedup" / "wikitext2_paragraphs.txt"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def pages() -> list[dict]:
    """98 real crawl pages, none of which holds a benchmark item."""
    docs = _jsonl(DATA / "filters" / "dclm_docs.jsonl") + _jsonl(DATA / "quality" / "crawl_boilerplate.jsonl")
    return [{"id": f"page-{i:03d}", "text": d["text"]} for i, d in enumerate(docs)]


@pytest.fixture(scope="module")
def evals(tmp_path_factory) -> dict:
    """Three benchmarks: WikiText paragraphs (a text file), Bierce definitions as MMLU-style rows (JSONL:
    question, choices, integer answer) and short Bierce phrases (Parquet ``text``)."""
    d = tmp_path_factory.mktemp("evals")
    bierce = (DATA / "dedup" / "devils_dictionary_excerpt.txt").read_text(encoding="utf-8")
    entries = [" ".join(p.split()) for p in re.split(r"\n\s*\n", bierce) if len(p.split()) >= 25][:40]
    rows = [{"question": e, "choices": ["Yes", "No", "Maybe", "Never"], "answer": i % 4} for i, e in enumerate(entries)]
    (d / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    words = bierce.split()
    short = [" ".join(words[1000:1010]), " ".join(words[2000:2003])]  # 10 words (matched whole), 3 (too short)
    pq.write_table(pa.table({"text": short}), d / "short.parquet")
    return {
        "benchmarks": {
            "wiki": {"path": str(WIKI)},
            "qa": {"path": str(d / "qa.jsonl"), "fields": ["question", "choices", "answer"]},
            "short": {"path": str(d / "short.parquet"), "fields": ["text"]},
        },
        "paragraphs": WIKI.read_text(encoding="utf-8").splitlines(),
        "entries": entries,
        "short": short,
    }


def edit(passage: str) -> str:
    """The same words with case, whitespace and punctuation changed."""
    out = passage.title().replace(" , ", ",  ").replace(" . ", "!\n").replace(" ( ", " [").replace(" ) ", "] ")
    return out.replace("'", "\u2019").replace(";", " --")


def plant(page: dict, passage: str, new_id: str) -> dict:
    """The page with the passage as a line of its own in the middle."""
    lines = page["text"].split("\n")
    mid = len(lines) // 2
    return {"id": new_id, "text": "\n".join([*lines[:mid], passage, *lines[mid:]])}


def decontam(evals: dict, **params) -> list:
    return [("decontaminate", {"benchmarks": evals["benchmarks"], **params})]


def test_clean_pages_are_untouched_in_every_mode(pages, evals):
    for action in ("drop", "annotate", "remove_paragraphs"):
        out = run_documents(decontam(evals, action=action), [dict(p) for p in pages])
        assert out.rejected == []
        assert {r["id"]: r["text"] for r in out.kept} == {p["id"]: p["text"] for p in pages}
        if action != "drop":
            assert all(r["decontam_ngrams"] == 0 and r["decontam_benchmarks"] == [] for r in out.kept)


def test_drop_finds_exact_and_edited_copies_and_names_the_benchmark(pages, evals):
    paras, entries = evals["paragraphs"], evals["entries"]
    planted = []
    for i in range(10):
        wiki = " ".join(paras[i].split()[5:45])
        planted.append(plant(pages[i], wiki, f"wiki-exact-{i}"))
        planted.append(plant(pages[10 + i], edit(wiki), f"wiki-edited-{i}"))
        planted.append(plant(pages[20 + i], edit(entries[i]).upper(), f"qa-edited-{i}"))
    planted.append(plant(pages[40], evals["short"][0].lower() + ".", "short-whole"))
    out = run_documents(decontam(evals), [dict(p) for p in pages + planted])
    reasons = {r["id"]: (r["stage"], r["reason"]) for r in out.rejected}
    expected = {p["id"]: ("decontaminate", f"decontam_{p['id'].split('-')[0]}") for p in planted}
    assert reasons == expected
    assert {r["id"] for r in out.kept} == {p["id"] for p in pages}
    stage = next(s for s in out.funnel["stages"] if s["name"] == "decontaminate")
    assert stage["reasons"] == {"decontam_wiki": 20, "decontam_qa": 10, "decontam_short": 1}


def test_annotate_keeps_the_document_and_counts_matched_ngrams_per_benchmark(pages, evals):
    wiki = " ".join(evals["paragraphs"][3].split()[:60])
    both = plant(plant(pages[5], wiki, "x"), evals["entries"][2], "both")
    docs = [dict(p) for p in pages[:20]] + [both]
    out = run_documents(decontam(evals, action="annotate"), docs)
    assert out.rejected == []
    row = next(r for r in out.kept if r["id"] == "both")
    assert row["text"] == both["text"]
    assert set(row["decontam_benchmarks"]) == {"wiki", "qa"}
    wiki_grams = len(wiki.split()) - 13  # at least: wikitext's spaced punctuation tokens are no words
    assert row["decontam_ngrams"] > wiki_grams // 2
    assert all(r["decontam_ngrams"] == 0 for r in out.kept if r["id"] != "both")


def test_remove_paragraphs_cuts_only_the_contaminated_lines(pages, evals):
    page = pages[7]
    wiki = edit(" ".join(evals["paragraphs"][9].split()[:50]))
    doc = plant(page, wiki, "p")
    only = {"id": "only", "text": evals["entries"][4]}  # nothing left after the cut: dropped
    words = evals["entries"][6].split()  # an item laid out over lines, a blank and a "--" line inside it
    spread = "\n".join([" ".join(words[:15]), "", "--", " ".join(words[15:])])
    doc2 = plant(pages[9], spread, "spread")
    out = run_documents(decontam(evals, action="remove_paragraphs"), [doc, only, dict(pages[8]), doc2])
    kept = {r["id"]: r for r in out.kept}
    assert kept["p"]["text"] == page["text"]
    assert kept["spread"]["text"] == pages[9]["text"] and kept["spread"]["decontam_paragraphs"] == 4
    assert wiki.count("\n") >= 1  # the edit broke the passage over lines: each of them goes
    assert kept["p"]["decontam_paragraphs"] == wiki.count("\n") + 1 and kept["p"]["decontam_benchmarks"] == ["wiki"]
    assert kept[pages[8]["id"]]["text"] == pages[8]["text"] and kept[pages[8]["id"]]["decontam_paragraphs"] == 0
    assert [(r["id"], r["reason"]) for r in out.rejected] == [("only", "decontam_qa")]


def plain_counts(items: list[str], texts: list[str], n: int = 13, min_words: int = 8) -> list[int]:
    """The oracle of the vectorised hashing: word tuples in Python sets, every window of every text."""
    grams, whole = set(), set()
    for item in items:
        w = normalize_words(item).split()
        if len(w) >= n:
            grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
        elif len(w) >= min_words:
            whole.add(tuple(w))
    lengths = {len(x) for x in whole}
    out = []
    for t in texts:
        w = normalize_words(t).split()
        c = sum(tuple(w[i : i + n]) in grams for i in range(len(w) - n + 1))
        out.append(c + sum(tuple(w[i : i + k]) in whole for k in lengths for i in range(len(w) - k + 1)))
    return out


def test_matched_ngram_counts_equal_the_plain_set_oracle(pages, evals):
    items = [t for name, spec in evals["benchmarks"].items()
             for t in read_items(spec["path"], spec.get("fields", ["text"]), name)]
    paras, entries, short = evals["paragraphs"], evals["entries"], evals["short"]
    docs = [dict(p) for p in pages[:40]]
    docs += [plant(pages[i], edit(" ".join(paras[i].split()[i : 30 + 2 * i])), f"w{i}") for i in range(10)]
    docs += [plant(pages[i], f"{entries[i]} {short[0]} {short[0]}", f"q{i}") for i in range(5)]
    out = run_documents(decontam(evals, action="annotate"), docs)
    got = {r["id"]: r["decontam_ngrams"] for r in out.kept}
    want = dict(zip([d["id"] for d in docs], plain_counts(items, [d["text"] for d in docs])))
    assert got == want
    assert sum(v > 0 for v in want.values()) == 15


def test_short_items_match_whole_and_too_short_ones_are_not_indexed(pages, evals):
    ten, three = evals["short"]
    s = build_stage("decontaminate", {"benchmarks": evals["benchmarks"]})
    assert s(f"Before it. {ten.upper()}! After it.") == "decontam_short"
    assert s(" ".join(ten.split()[:9])) is None  # part of a short item is not the item
    assert s(f"{three} {three} {three}") is None
    out = run_documents(decontam(evals), [dict(pages[0])])
    short = out.summaries["decontaminate.prepare"]["benchmarks"]["short"]
    assert short == {"items": 2, "items_whole": 1, "items_too_short": 1, "ngrams": 1}


def test_digits_are_kept_so_other_numbers_are_another_text(evals):
    s = build_stage("decontaminate", {"benchmarks": {"t": {"path": str(WIKI)}}, "ngram": 5})
    line = next(p for p in evals["paragraphs"] if re.search(r"\d+ \w+ \w+ \w+ \w+", p))
    m = re.search(r"\d+ \w+ \w+ \w+ \w+", line).group(0)
    assert s(m) == "decontam_t"
    assert s(re.sub(r"\d+", lambda x: str(int(x.group(0)) + 1), m, count=1)) is None


def test_bad_configuration_names_the_key(tmp_path):
    with pytest.raises(RecipeError, match="benchmarks.MMLU"):
        build_stage("decontaminate", {"benchmarks": {"MMLU": {"path": str(WIKI)}}})
    with pytest.raises(RecipeError, match="benchmarks.m: unknown key"):
        build_stage("decontaminate", {"benchmarks": {"m": {"path": str(WIKI), "field": ["q"]}}})
    with pytest.raises(RecipeError, match="action"):
        build_stage("decontaminate", {"benchmarks": {"m": str(WIKI)}, "action": "erase"})
    rows = tmp_path / "m.jsonl"
    rows.write_text('{"question": "a b c"}\n')
    s = build_stage("decontaminate", {"benchmarks": {"m": {"path": str(rows), "fields": ["question", "answer"]}}})
    with pytest.raises(ValueError, match="benchmarks.m.fields: answer"):
        s("text")
    with pytest.raises(ValueError, match="benchmarks.m.path"):
        build_stage("decontaminate", {"benchmarks": {"m": str(tmp_path / "none.jsonl")}})("text")


RECIPE = """name: decontam_test
stages:
  - length_filter: {{min_words: 5}}
  - decontaminate:
      benchmarks:
        wiki: {{path: {wiki}}}
      ngram: 13
      action: drop
  - gopher_quality: {{min_words: 5}}
"""


def test_recipe_end_to_end_builds_the_index_once(pages, evals, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(wiki=WIKI))
    paras = evals["paragraphs"]
    planted = [plant(pages[i], edit(" ".join(paras[i].split()[:40])), f"planted-{i}") for i in range(6)]
    docs = [dict(p) for p in pages] + planted
    shards = [docs[i::3] for i in range(3)]
    before = {k for k in stage_module._WORKER_CACHE if k[0] == "decontaminate"}
    out = run_documents(load_recipe(str(recipe)), shards, num_workers=2, output=str(tmp_path / "run"))
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in (run_dir / "markers").glob("prepare-*")) == ["prepare-01-decontaminate.json"]
    assert (run_dir / "global" / "01-decontaminate" / "index.npz").exists()
    loaded = {k for k in stage_module._WORKER_CACHE if k[0] == "decontaminate"} - before
    assert [k[1] for k in loaded] == [str(run_dir / "global" / "01-decontaminate" / "index.npz")]
    assert {r["id"] for r in out.rejected if r["stage"] == "decontaminate"} == {p["id"] for p in planted}
    assert out.summaries["decontaminate.prepare"]["benchmarks"]["wiki"]["items"] == 160


def test_ray_run_ships_the_index_to_the_workers(ray_session, pages, evals, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(wiki=WIKI))
    paras = evals["paragraphs"]
    planted = [plant(pages[i], " ".join(paras[i].split()[:40]), f"planted-{i}") for i in range(4)]
    docs = [dict(p) for p in pages] + planted
    inputs = []
    for k in range(2):
        f = tmp_path / f"in-{k}.jsonl"
        f.write_text("".join(json.dumps(d) + "\n" for d in docs[k::2]), encoding="utf-8")
        inputs.append(str(f))
    res = run(str(recipe), inputs, str(tmp_path / "out"), progress=False)
    assert res.ok
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    assert {r["id"] for r in rejected if r["stage"] == "decontaminate"} == {p["id"] for p in planted}
    assert {r["reason"] for r in rejected if r["stage"] == "decontaminate"} == {"decontam_wiki"}
