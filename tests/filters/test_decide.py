"""Filter mode and select agree (curate.measure): on real pages, for every measured filter and rule set, the
reason a filter gives with parameters P equals ``decide()`` with P on the measures an annotate run stored
with the recipe's parameters, read back through the run's Arrow schema, for each parameter select may
change moved up and down (and each rule disabled where it can be)."""

from __future__ import annotations

import glob
import json
import typing
from pathlib import Path

import pytest

from curate.schema import docs_to_table, run_schema, table_to_docs
from curate.stage import build_stage, ensure_setup, get_stage_class, stage_hints
from filters import text as T
from filters.url import data_path

ROOT = Path(__file__).resolve().parents[2]
SHARED_LABELS = ROOT.parent / "shared" / "data" / "quality" / "dclm-human-labels-dev.jsonl"
EDGE = ["", " \n \n", "word", "\n".join(["Home", "News", "Contact"] * 20), "lorem ipsum dolor sit amet.",
        "function f() { return 1; } is code.", "• one\n• two\n- three ...\nfour…", "# # # ... . . . …"]
SPLITS = ("_spacy_words", "_rep_words")


@pytest.fixture(scope="module")
def pages(dclm_docs, udhr) -> list[dict]:
    """Real pages: DCLM's labelled crawl pages, UDHR excerpts, the quality fixtures, the sample WARCs through
    the extract stage (and 150 of DCLM's dev pages when ../shared is there), with edge cases and variants."""
    from curate.io.warc import read_warc

    texts = [d["text"] for d in dclm_docs.values()] + list(udhr.values())
    for f in sorted((ROOT / "tests" / "data" / "quality").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines()]
    if SHARED_LABELS.exists():
        lines = SHARED_LABELS.read_text(encoding="utf-8").splitlines()[:150]
        texts += [json.loads(line)["text"] for line in lines]
    urls = [d.get("url", "") for d in dclm_docs.values()]
    extract = build_stage("extract", {})
    ensure_setup(extract)
    for path in sorted(glob.glob(str(ROOT / "pipelines" / "sample" / "*.warc.gz"))):
        for rec in read_warc(path):
            if not rec.get("_skip") and extract.process(rec) is None:
                texts.append(rec["text"])
                urls.append(rec.get("url") or "")
    for t in list(texts[:40]):  # repeated lines and boilerplate mixed into real pages
        lines = t.split("\n")
        texts.append("\n".join(lines + lines[: len(lines) // 2]))
        texts.append(t[:300] + "\n\nRead more...\n" + t + "\n\n" + t[:500])
    texts += EDGE
    soft = data_path("refinedweb_soft.txt").read_text().split()
    hard = data_path("refinedweb_hard.txt").read_text().split()
    urls += [f"https://example.org/{'-'.join(soft[i : i + k])}" for i, k in ((0, 1), (3, 2), (9, 3), (20, 4))]
    urls += [f"http://www.{hard[5]}.net/a", "https://0-casino.info/x", "https://news.bbc.co.uk/x", ""]
    docs = [{"id": str(i), "text": t, "url": urls[i % len(urls)]} for i, t in enumerate(texts)]
    for d in docs:  # the slow word splits, pure functions of the text, shared by every copy (see fresh)
        T.spacy_tokens(d), T.rep_words(d)
    return docs


def _scaled(v: float, f: float, hint: typing.Any) -> float:
    return int(round(v * f)) if int in typing.get_args(hint) or hint is int else v * f


def variations(name: str, base: dict) -> list[dict]:
    """Parameter sets for select: each ``decided_by`` parameter moved down and up (booleans flipped, n-gram
    tables scaled or cut to one size), or disabled where ``null`` disables it."""
    cls = get_stage_class(name)
    stage = build_stage(name, base)
    params, hints = stage.params(), stage_hints(cls)
    out: list[dict] = [{}]
    for key in cls.decided_by:
        v, hint = params[key], hints.get(key)
        if key in ("top_ngrams", "dup_ngrams"):
            table = dict(stage.top if key == "top_ngrams" else stage.dup)
            out += [{key: {n: f * s for n, f in table.items()}} for s in (0.5, 1.5)]
            out.append({key: dict([min(table.items())])})
        elif isinstance(v, bool):
            out.append({key: not v})
        elif isinstance(v, (int, float)):
            out += [{key: _scaled(v, f, hint)} for f in (0.5, 1.5)] if v else [{key: 2}, {key: 500}]
            if type(None) in typing.get_args(hint):
                out.append({key: None})
        elif v is None:
            out.append({key: 0.1})
    return out


CASES = [  # (stage, the annotate run's parameters: what it measured with, pages: all, or the first N)
    ("gopher_quality", {}, None),
    ("gopher_quality", {"rules": "datatrove"}, 200),
    ("gopher_repetition", {}, None),
    ("gopher_repetition", {"rules": "datatrove"}, 120),
    ("fineweb_quality", {}, None),
    ("fineweb_quality", {"rules": "datatrove"}, None),
    ("fineweb_quality", {"short_line_length": 60}, None),
    ("c4", {}, None),
    ("c4", {"filter_no_terminal_punct": False}, None),
    ("c4", {"filter_no_terminal_punct": False, "sentence_split": "spacy", "min_words_per_line": 5}, 60),
    ("length_filter", {}, None),
    ("url_filter", {}, None),
    ("url_filter", {"host": "dclm_netloc", "url_lists": [], "match_parent_domains": True}, None),
]


def fresh(doc: dict) -> dict:
    """A copy of the page with only the cached word splits (keyed to the same text object)."""
    return {k: doc[k] for k in ("id", "text", "url", *SPLITS)}


@pytest.mark.parametrize("name, base, limit", CASES, ids=[f"{n}-{json.dumps(b)}" for n, b, _ in CASES])
def test_filter_mode_equals_decide_on_stored_measures(pages, name, base, limit):
    pages = pages[:limit] + pages[-len(EDGE) :] if limit else pages
    annotator = build_stage(name, base)
    ensure_setup(annotator)
    annotated = [fresh(d) for d in pages]
    annotate_reasons = [annotator.annotate(d) for d in annotated]
    # through the run's schema, as select reads them: every measure a number of its declared type
    schema = run_schema(annotator.measures)
    stored = table_to_docs(docs_to_table(annotated, schema))
    for m in annotator.measures:
        assert str(schema.field(m).type) in ("int32", "int64", "double"), m
        assert all(isinstance(d[m], (int, float)) for d in stored), m
    reasons: dict = {}
    for params in variations(name, base):
        stage = build_stage(name, {**base, **params})
        ensure_setup(stage)
        decider = build_stage(name, {**base, **params})  # select's Decide: no setup, no lists or models
        for doc, ann, row in zip(pages, annotated, stored):
            filtered = fresh(doc)
            reason = stage.process(filtered)
            assert decider.decide(row) == reason, (params, doc["id"], doc["text"][:80])
            if reason is None:  # a text modifier (c4) stores the text a full run keeps
                assert ann["text"] == filtered["text"], (params, doc["id"])
            reasons.setdefault(json.dumps(params), []).append(reason)
    assert annotate_reasons == [build_stage(name, base).decide(r) for r in stored]
    # the moved thresholds change decisions, and several rules fire: the comparison is not vacuous
    assert len({tuple(r) for r in reasons.values()}) > 1
    assert len({r for rs in reasons.values() for r in rs}) >= 3


def test_decided_by_names_real_parameters():
    for name in {n for n, _, _ in CASES} | {"language"}:
        cls = get_stage_class(name)
        assert set(cls.decided_by) <= set(build_stage(name, {}).params()), name
        assert {"rules", "sentence_split", "model", "stop_words", "short_line_length", "domain_lists"}.isdisjoint(
            cls.decided_by
        ), name


def test_select_re_decides_c4_page_rules_and_refuses_its_line_rules():
    """c4 rewrites the text: it annotates (keeping every page, its text rewritten), the filters before it
    re-decide from their columns, and select changes its page rules but not its line rules."""
    from curate.annotate import Annotate, select_recipe, wrap
    from curate.errors import RecipeError
    from curate.recipe import Recipe

    assert isinstance(wrap(build_stage("c4", {}), "annotate", "c4", "c4", explicit=True), Annotate)
    annotated = {"mode": "annotate", "stages": [{"gopher_quality": {}}, {"c4": {"filter_no_terminal_punct": False}},
                                                {"fineweb_quality": {}}]}

    def new(**c4: object) -> Recipe:
        stages = [("gopher_quality", {"min_words": 80}), ("c4", {"filter_no_terminal_punct": False, **c4}),
                  ("fineweb_quality", {"line_punct_thr": 0.2})]
        return Recipe(name="r", path="<r>", stages=stages)

    compiled = select_recipe(annotated, new(min_num_sentences=2, filter_bad_words=True)).stages
    assert [(n, p["stage"]) for n, p in compiled] == [
        ("select_decide", "gopher_quality"), ("select_decide", "c4"), ("select_decide", "fineweb_quality")]
    with pytest.raises(RecipeError, match=r"c4\.min_words_per_line changed"):
        select_recipe(annotated, new(min_words_per_line=5))
