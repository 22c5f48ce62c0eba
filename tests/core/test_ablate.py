"""`curate ablate` on a tiny run: the budget rule, the repeat flag, the fitted classifier fraction, several
held-out sets, and the significance line (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.ablate import (
    NOISE,
    compare,
    eval_sets,
    format_table,
    paired_difference,
    read_documents,
    significance_lines,
)

ROOT = Path(__file__).resolve().parents[2]
INPUTS = [str(ROOT / "pipelines" / "sample" / "dolma-sample-0000.warc.gz")]  # 22 documents after extraction
WIKI = (ROOT / "tests" / "train" / "data" / "wikitext2-valid-excerpt.txt").read_text(encoding="utf-8")
TRAIN = ("n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4", "eval_interval=1000",
         "warmup_steps=1")
STEP = 4 * 32  # tokens per optimizer step under TRAIN
# The smallest arm: extraction, then the stand-in classifier keeping the top 10% (3 of 22 documents).
TOP10 = """name: top10
stages:
  - extract: {method: resiliparse, main_content: true}
  - quality: {model: default, keep_top_fraction: 0.1}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ablate")
    (root / "top10.yaml").write_text(TOP10)
    (root / "wiki.txt").write_text(WIKI[:6000], encoding="utf-8")
    paras = [p for p in WIKI[6000:].split("\n") if len(p) > 200][:10]
    lines = "".join(json.dumps({"text": p}) + "\n" for p in paras)
    (root / "paras.jsonl").write_text(lines, encoding="utf-8")
    return {"root": root, "recipes": ["raw", str(root / "top10.yaml")],
            "evals": [f"wiki={root / 'wiki.txt'}", str(root / "paras.jsonl")]}


def ablate(setup: dict, **kw):
    from curate.ablate import run_ablation

    args = {"seeds": (0, 1), "vocab_size": 512, "progress": False, "log": lambda *a: None,
            "train_overrides": TRAIN}
    return run_ablation(INPUTS, setup["recipes"], setup["evals"], setup["root"] / "abl", **{**args, **kw})


@pytest.fixture(scope="module")
def default_run(ray_session, setup) -> dict:
    return ablate(setup)


def test_default_budget_is_the_smallest_recipes_unique_tokens(default_run):
    rows = {r["recipe"]: r for r in default_run["results"]}
    assert set(rows) == {"raw", "top10"}
    assert rows["top10"]["docs"] < rows["raw"]["docs"]
    smallest = rows["top10"]["unique_tokens"]
    assert smallest < rows["raw"]["unique_tokens"]
    # Whole steps of whole windows, none drawn twice: the most steps the smallest recipe's windows allow.
    budget = default_run["max_tokens"]
    assert budget == ((smallest - 1) // 32 // 4) * STEP
    assert smallest - STEP < budget <= smallest
    for r in rows.values():
        assert r["trained_tokens"] == budget and not r["repeated"] and r["epochs"] <= 1.0
    assert "smallest recipe's unique tokens ('top10')" in default_run["note"]
    assert "*" not in format_table(default_run).split("\n", 1)[1]


def test_one_column_per_held_out_set_with_bits_per_byte(default_run):
    assert default_run["sets"] == ["wiki", "paras"]
    for r in default_run["results"]:
        for s in ("wiki", "paras"):
            v = r["sets"][s]
            assert len(v["losses"]) == 2 and v["losses"][0] != v["losses"][1]  # two seeds, two models
            assert 3.0 < v["loss_mean"] < 10.0 and 0.5 < v["bits_per_byte_mean"] < 10.0
    head = format_table(default_run).splitlines()[0]
    assert "wiki loss" in head and "paras loss" in head and head.count("bits/byte") == 2


def test_significance_line_for_the_pair_on_each_set(default_run):
    lines = default_run["significance"]
    assert len(lines) == 2 + 1  # one pair × two sets, then the verdict
    for line, s in zip(lines, ("wiki", "paras")):
        assert line.startswith(f"{s}: raw - top10 = ") and "paired over seeds 0,1" in line
        c = default_run["comparison"]["pairs"][0]["sets"][s]
        lower = "raw lower" if c["diff"] < 0 else "top10 lower"
        assert line.endswith(lower if c["beyond_noise"] else NOISE)
    assert lines[-1] == default_run["comparison"]["verdict"]
    saved = json.loads((Path(default_run["results"][0]["run_dir"]).parents[1] / "ablation.json").read_text())
    assert saved["significance"] == lines


def test_larger_budget_is_capped_without_allow_repeat(setup, default_run):
    table = ablate(setup, max_tokens=4 * default_run["max_tokens"], fit_quality=False)
    assert table["max_tokens"] == default_run["max_tokens"]
    assert "capped from" in table["note"] and "--allow-repeat" in table["note"]
    assert not any(r["repeated"] for r in table["results"])


def test_allow_repeat_trains_past_one_epoch_and_marks_the_row(setup, default_run):
    budget = 4 * default_run["max_tokens"]
    table = ablate(setup, max_tokens=budget, allow_repeat=True, fit_quality=False, seeds=(0,))
    rows = {r["recipe"]: r for r in table["results"]}
    assert table["max_tokens"] == budget
    assert rows["top10"]["repeated"] and rows["top10"]["epochs"] > 3.0
    assert not rows["raw"]["repeated"] and rows["raw"]["epochs"] < 1.0
    text = format_table(table)
    assert "\ntop10 *" in text and "\nraw *" not in text and "more than once (--allow-repeat)" in text
    # One seed: no spread to judge a gap by, and the line says so.
    assert all("one seed: no noise estimate" in line for line in table["significance"][:-1])


def test_fit_quality_raises_keep_top_fraction_to_reach_the_budget(setup, default_run):
    wanted = 2 * default_run["max_tokens"]
    table = ablate(setup, max_tokens=wanted, seeds=(0,))
    top = {r["recipe"]: r for r in table["results"]}["top10"]
    assert top["keep_top_fraction"]["recipe"] == 0.1 and top["keep_top_fraction"]["chosen"] > 0.1
    assert top["recipe_overrides"] == [f"quality.keep_top_fraction={top['keep_top_fraction']['chosen']}"]
    assert top["unique_tokens"] >= wanted and table["max_tokens"] >= wanted  # no cap was needed
    assert not top["repeated"] and "keep_top_fraction=" in table["note"]


def test_report_shows_sets_unique_tokens_epochs_and_significance(default_run, tmp_path):
    from curate.report import ablation_section

    (tmp_path / "ablation.json").write_text(json.dumps(default_run))  # later tests rewrite the run's own
    html = ablation_section(tmp_path / "ablation.json")
    assert "Ablation: held-out loss by recipe" in html
    for text in ("wiki loss", "paras bits/byte", "unique training tokens", "epochs", "raw - top10",
                 "Paired comparisons"):
        assert text in html, text
    assert f"{default_run['results'][1]['unique_tokens']:,}" in html


# ---- the pieces, on figures given by hand

def test_paired_difference_tells_noise_from_a_gap():
    gap = paired_difference([5.0, 5.1, 5.2], [5.5, 5.62, 5.69])  # b higher by ~0.5 on every seed
    assert gap["beyond_noise"] and gap["diff"] == pytest.approx(-0.5033, abs=1e-4)
    noise = paired_difference([5.0, 5.2, 5.1], [5.1, 5.0, 5.15])  # signs disagree across seeds
    assert noise["beyond_noise"] is False and noise["half_width"] > abs(noise["diff"])
    one = paired_difference([5.0], [5.3])
    assert one["half_width"] is None and one["beyond_noise"] is None


def _row(recipe: str, **losses: list[float]) -> dict:
    sets = {s: {"losses": v, "loss_mean": sum(v) / len(v)} for s, v in losses.items()}
    return {"recipe": recipe, "sets": sets}


def test_verdict_says_where_a_recipe_does_not_win_on_every_set():
    rows = [_row("full", wiki=[6.0, 6.1, 6.05], news=[7.0, 7.2, 7.1]),
            _row("heuristics", wiki=[6.3, 6.41, 6.33], news=[7.05, 7.15, 7.13])]
    table = {"seeds": [0, 1, 2], "comparison": compare(rows, ["wiki", "news"])}
    lines = significance_lines(table)
    assert lines[0].startswith("wiki: full - heuristics = -0.2967 ±") and lines[0].endswith("full lower")
    assert lines[1].startswith("news: full - heuristics = ") and lines[1].endswith(NOISE)
    assert lines[2] == "No recipe wins on every set: wiki: full; news: full lowest, but not beyond noise."
    rows[1]["sets"]["news"] = {"losses": [7.5, 7.7, 7.6], "loss_mean": 7.6}
    verdict = compare(rows, ["wiki", "news"])["verdict"]
    assert verdict.startswith("full has the lowest loss on every held-out set")


def test_eval_sets_read_text_jsonl_and_parquet(tmp_path):
    (tmp_path / "a.txt").write_text("one document\n\nstill the same one")
    (tmp_path / "b.jsonl").write_text('{"text": "first"}\n\n{"text": "second"}\n{"id": "no text"}\n')
    pq.write_table(pa.table({"id": ["1", "2", "3"], "text": ["x y", "", "z"]}), tmp_path / "c.parquet")
    sets = eval_sets([str(tmp_path)])
    assert list(sets) == ["a", "b", "c"]
    assert read_documents(sets["a"][0]) == ["one document\n\nstill the same one"]
    assert read_documents(sets["b"][0]) == ["first", "second"]
    assert read_documents(sets["c"][0]) == ["x y", "z"]
    named = eval_sets([f"mine={tmp_path / 'b.jsonl'}", str(tmp_path / "*.parquet")])
    assert named == {"mine": [tmp_path / "b.jsonl"], "c": [tmp_path / "c.parquet"]}
    with pytest.raises(FileNotFoundError, match="--eval gone=.*no such file"):
        eval_sets(["gone=" + str(tmp_path / "missing.txt")])
    (tmp_path / "empty.jsonl").write_text('{"text": ""}\n')
    with pytest.raises(ValueError, match="no text"):
        read_documents(tmp_path / "empty.jsonl")


def test_cli_defaults_three_seeds_no_budget_no_repeat_and_repeatable_eval():
    import argparse

    from curate.report_cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    argv = ["ablate", "-i", "c.warc.gz", "--eval", "wiki=w.txt", "n.jsonl", "--eval", "p.parquet", "-o", "o"]
    args = parser.parse_args(argv)
    assert args.eval == ["wiki=w.txt", "n.jsonl", "p.parquet"] and args.output == "o"
    assert args.seeds == "0,1,2" and args.max_tokens is None
    assert not args.allow_repeat and not args.no_fit_quality
