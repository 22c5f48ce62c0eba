"""Annotate once, select later: each select equals a full run with those parameters (same ids)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.annotate import select
from curate.errors import RecipeError
from curate.runner import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = [str(p) for p in sorted((ROOT / "pipelines" / "sample").glob("*.warc.gz"))]
RECIPE = """stages:
  - extract
  - url_filter
  - refinedweb_preclean
  - language: {threshold: 0.65}
  - gopher_repetition
  - refinedweb_line_modifiers
  - length_filter: {min_words: 30}
  - exact_dedup
  - quality: {model: default, keep_top_fraction: 0.5}
"""


def ids(run_dir: Path) -> list[str]:
    return sorted(r["id"] for f in sorted((run_dir / "data").glob("*.parquet"))
                  for r in pq.read_table(f, columns=["id"]).to_pylist())


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annotate")
    recipe = tmp / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp / "annotated"
    assert run(str(recipe), SAMPLE, str(out), overrides=["recipe.mode=annotate"], limit=60, executor="local",
               progress=False).ok
    return recipe, out


def test_annotated_run_keeps_everything_and_records_reasons(annotated):
    recipe, out = annotated
    import pandas as pd

    t = pd.concat([pq.read_table(f).to_pandas() for f in sorted((out / "data").glob("*.parquet"))])
    from curate.stats import funnel

    stages = {st["name"]: st for st in funnel(str(out))["stages"]}
    for name in ("url_filter", "language", "gopher_repetition", "length_filter", "exact_dedup", "quality"):
        assert stages[name]["docs_in"] == stages[name]["docs_out"] > 50  # annotating stages keep everything
    assert len(t) == stages["length_filter"]["docs_out"]
    assert {"language__reason", "length_filter__reason", "quality__reason", "language_score",
            "quality_score", "content_hash"} <= set(t.columns)
    assert t["length_filter__reason"].isin([None, "length_too_few_words"]).all()
    assert (t["language__reason"] == "lang_low_score").any() or (t["language__reason"] == "lang_not_allowed").any()
    assert not list((out / "global").glob("*")) if (out / "global").exists() else True  # no reduce pass


@pytest.mark.parametrize("sets", [[], ["language.threshold=0.8"],
                                  ["length_filter.min_words=100", "quality.keep_top_fraction=0.3"],
                                  ["gopher_repetition.dup_line_frac=0.1", "gopher_repetition.top_ngrams={2: 0.08}",
                                   "url_filter.soft_min_hits=1"]])
def test_select_equals_a_full_run(annotated, tmp_path, sets):
    recipe, out = annotated
    sel = select(str(out), str(recipe), str(tmp_path / "sel"), overrides=sets, executor="local", progress=False)
    full = run(str(recipe), SAMPLE, str(tmp_path / "full"), overrides=sets, limit=60, executor="local",
               progress=False)
    assert sel.ok and full.ok
    assert ids(tmp_path / "sel") == ids(tmp_path / "full") and ids(tmp_path / "full")
    cols = pq.read_table(sorted((tmp_path / "sel" / "data").glob("*.parquet"))[0]).column_names
    assert not [c for c in cols if "__" in c]  # the decision columns are not carried into the selection
    rej = {r["reason"] for f in (tmp_path / "sel" / "rejected").glob("*.parquet")
           for r in pq.read_table(f, columns=["reason"]).to_pylist()}
    assert "quality_below_percentile" in rej


def test_select_refuses_what_it_cannot_re_decide(annotated, tmp_path):
    recipe, out = annotated
    with pytest.raises(RecipeError, match="refinedweb_preclean cannot re-decide"):
        select(str(out), str(recipe), str(tmp_path / "x"), overrides=["refinedweb_preclean.remove_urls=false"],
               executor="local", progress=False)
    # a parameter its decide() does not read changes what was measured: refused, the key named
    for key in ("gopher_repetition.rules=datatrove", "language.newlines=delete"):
        with pytest.raises(RecipeError, match=key.split("=")[0].replace(".", r"\.") + " changed"):
            select(str(out), str(recipe), str(tmp_path / "x"), overrides=[key], executor="local", progress=False)
    with pytest.raises(RecipeError, match="gopher_rep_dup_11gram, which the annotated run did not measure"):
        select(str(out), str(recipe), str(tmp_path / "x"), overrides=["gopher_repetition.dup_ngrams={11: 0.1}"],
               executor="local", progress=False)
    with pytest.raises(RecipeError, match="differ from the annotated run"):
        select(str(out), "quickstart", str(tmp_path / "y"), executor="local", progress=False)


def test_select_command_runs_small_runs_in_process(annotated, tmp_path, capsys):
    """`curate select` (executor auto) re-decides a small run in this process: no Ray start-up for a few MB."""
    from curate.cli import main, select_executor

    recipe, out = annotated
    assert select_executor("auto", str(out), None) == "local"
    assert select_executor("auto", str(out), "auto") == "ray"  # a cluster was asked for
    assert select_executor("ray", str(out), None) == "ray"
    assert main(["select", str(out), "--recipe", str(recipe), "--set", "language.threshold=0.8",
                 "--output", str(tmp_path / "sel"), "-q"]) == 0
    assert "in-process" in (tmp_path / "sel" / "run.yaml").read_text()
    py = select(str(out), str(recipe), str(tmp_path / "py"), overrides=["language.threshold=0.8"],
                executor="local", progress=False)
    assert py.ok and ids(tmp_path / "sel") == ids(tmp_path / "py")
    assert 0 < len(ids(tmp_path / "sel")) < len(ids(out))
