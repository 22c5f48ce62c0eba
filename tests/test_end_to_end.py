"""The main job end to end (reduced size): crawl → curated Parquet → tokenizer → GPT → samples → report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pipelines" / "sample"
INPUTS = [str(SAMPLE / n) for n in ("ia-2008-crawl.warc.gz", "dolma-sample-0000.warc.gz", "dolma-sample-0001.warc.gz",
                                    "cc-main-2020-34-excerpt.warc.gz")]
SECTIONS = ["Funnel", "DCLM-Baseline's published funnel", "Time per stage", "Distributions of kept documents",
            "Domains", "Random kept documents", "Random dropped documents, per reason", "Deduplication audit",
            "Training", "Samples"]


@pytest.fixture(scope="module")
def demo(ray_session, tmp_path_factory) -> tuple[Path, dict]:
    from curate.demo import run_demo

    out = tmp_path_factory.mktemp("e2e") / "demo"
    summary = run_demo(
        out, inputs=INPUTS, vocab_size=512, max_steps=4, progress=False, log=lambda *a: None,
        train_overrides=("n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4", "eval_interval=2",
                         "eval_batches=1", "warmup_steps=1"),
    )
    return out, summary


def test_curated_shards_and_funnel(demo):
    out, summary = demo
    df = pd.read_parquet(out / "curated" / "data")
    assert len(df) == summary["curated_docs"] > 0
    assert df["id"].is_unique and (df["language"] == "en").all() and df["quality_score"].notna().all()
    from curate.stats import funnel

    f = funnel(str(out / "curated"))
    rejected = pd.read_parquet(out / "curated" / "rejected")
    assert f["stages"][0]["docs_in"] == len(df) + len(rejected)  # every input record is kept or explained
    for s in f["stages"]:
        assert s["docs_in"] - s["docs_out"] == sum(s["reasons"].values())
    names = [s["name"] for s in f["stages"]]
    for stage in ("url_filter", "language", "gopher_quality", "exact_dedup", "minhash", "quality"):
        assert stage in names


def test_tokenizer_checkpoint_and_samples(demo):
    out, _ = demo
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    assert tok.decode(tok.encode("Hello, world").ids) == "Hello, world"
    from train.sample import sample

    text = sample(out / "model", "The history of the", max_new_tokens=8, seed=1)
    assert text.startswith("The history of the") and len(text) > len("The history of the")
    assert (out / "model" / "samples.txt").read_text().count("»") == 3


def test_report_has_every_section(demo):
    out, summary = demo
    html = (out / "report.html").read_text()
    for section in SECTIONS:
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 5
    assert "http://" not in html.split("<body>")[0]  # no external resources in the head


def test_report_renders_in_headless_chromium(demo, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed")
    out, _ = demo
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", (out / "report.html").as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert "data-figures-rendered" in dom
    rendered = dom.split('data-figures-rendered="', 1)[1].split('"', 1)[0]
    ok, total = (int(x) for x in rendered.split("/"))
    assert total >= 5 and ok == total
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1200,2000", f"--screenshot={shot}", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_ablation_table_over_two_recipes_and_two_seeds(ray_session, tmp_path):
    from curate.ablate import run_ablation
    from curate.report import write_report

    held_out = tmp_path / "held-out.txt"
    held_out.write_text((ROOT / "tests" / "train" / "data" / "wikitext2-valid-excerpt.txt").read_text()[:20_000])
    table = run_ablation(
        INPUTS[1:], ["raw", "quickstart"], held_out, tmp_path / "abl", seeds=(0, 1), max_tokens=2048,
        vocab_size=512, progress=False, log=lambda *a: None,
        train_overrides=("n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4", "eval_interval=1000"),
    )
    rows = {r["recipe"]: r for r in table["results"]}
    assert set(rows) == {"raw", "quickstart"}
    assert rows["quickstart"]["docs"] < rows["raw"]["docs"]  # the length filter removed something
    for r in rows.values():
        assert len(r["losses"]) == 2 and all(3.0 < x < 10.0 for x in r["losses"])  # near ln(512) = 6.2 early on
        assert r["losses"][0] != r["losses"][1]  # two seeds, two models
    saved = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert saved["results"] == table["results"]
    html = write_report(tmp_path / "abl" / "runs" / "quickstart", ablation=tmp_path / "abl" / "ablation.json").read_text()
    assert "Ablation: held-out loss by recipe" in html and "quickstart" in html
