"""The engine end to end on the bundled real WARC files, with the embedded Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curate.errors import RecipeError
from curate.runner import run
from curate.stats import funnel

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "pipelines" / "sample"
SMALL = [str(SAMPLE / n) for n in ("cc-main-2020-34-excerpt.warc.gz", "dolma-sample-0000.warc.gz",
                                   "dolma-sample-0001.warc.gz", "cc-commoncrawl-org.warc.gz")]
PLUGIN_DIR = str(Path(__file__).parent)


def read_ids(run_dir: Path) -> list[str]:
    return [i for f in sorted((run_dir / "data").glob("*.parquet")) for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]


def check_funnel_adds_up(run_dir: Path) -> dict:
    f = funnel(str(run_dir))
    stages = f["stages"]
    for prev, cur in zip(stages, stages[1:]):
        assert cur["docs_in"] == prev["docs_out"], (prev, cur)
    for s in stages:
        assert s["docs_in"] - s["docs_out"] == sum(s["reasons"].values()), s
    kept = len(read_ids(run_dir))
    assert stages[-1]["docs_out"] == kept
    rejected = sum(pq.read_table(p).num_rows for p in (run_dir / "rejected").glob("*.parquet"))
    assert stages[0]["docs_in"] == kept + rejected
    return f


@pytest.fixture(scope="module")
def demo_run(ray_session, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    result = run("quickstart", SMALL, str(out), progress=False)
    assert result.ok and result.processed == len(SMALL)
    return out


def test_outputs_layout_and_readers(demo_run):
    assert (demo_run / "run.yaml").exists()
    files = sorted((demo_run / "data").glob("part-*.parquet"))
    assert [f.name for f in files] == [f"part-{i:05d}.parquet" for i in range(len(SMALL))]
    table = pq.read_table(files[1])
    assert table.schema.names[:5] == ["id", "text", "url", "date", "source"]
    assert str(table.schema.field("text").type) == "string"
    assert table.num_rows > 0
    df = pd.read_parquet(demo_run / "data")
    assert df["id"].is_unique
    assert df["id"].str.startswith("<urn:uuid:").all()
    assert (df["text"].str.split().str.len() >= 20).all()
    assert pq.ParquetFile(files[1]).metadata.row_group(0).column(1).compression == "ZSTD"
    assert len(list((demo_run / "stats").glob("*.json"))) == len(SMALL)
    assert len(list((demo_run / "markers" / "s0").glob("*.json"))) == len(SMALL)
    assert not list(demo_run.rglob("*.tmp-*"))


def test_funnel_adds_up_and_rejected_explains_every_drop(demo_run):
    f = check_funnel_adds_up(demo_run)
    assert f["stages"][0]["name"] == "read"
    rej = pd.read_parquet(demo_run / "rejected")
    assert set(rej.columns) >= {"id", "url", "stage", "reason"}
    assert rej["reason"].notna().all() and rej["stage"].isin(["read", "extract", "length_filter"]).all()


def test_extracted_text_is_what_resiliparse_gives(demo_run):
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text

    from curate.io.charset import decode_html

    df = pd.read_parquet(demo_run / "data").set_index("id")
    checked = 0
    with open(SMALL[0], "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            rid = rec.headers["WARC-Record-ID"]
            if rid in df.index:
                html, _ = decode_html(rec.reader.read(), rec.http_charset)
                assert df.loc[rid, "text"] == extract_plain_text(html, main_content=True)
                checked += 1
    assert checked >= 5


def test_rerun_skips_finished_shards(demo_run):
    before = read_ids(demo_run)
    result = run("quickstart", SMALL, str(demo_run), progress=False)
    assert result.processed == 0 and result.skipped == len(SMALL)
    assert read_ids(demo_run) == before


def test_changed_recipe_in_same_output_is_refused(demo_run):
    with pytest.raises(RecipeError, match="different recipe"):
        run("quickstart", SMALL, str(demo_run), overrides=["length_filter.min_words=5"], progress=False)


def test_recompose_parquet_output_as_input(demo_run, tmp_path):
    out = tmp_path / "second"
    result = run("quickstart", [str(demo_run / "data" / "*.parquet")], str(out), overrides=["length_filter.min_words=100"],
                 progress=False)
    assert result.ok
    ids = read_ids(out)
    assert set(ids) <= set(read_ids(demo_run)) and 0 < len(ids) < len(read_ids(demo_run))
    df = pd.read_parquet(out / "data")
    assert (df["text"].str.split().str.len() >= 100).all()


def test_jsonl_input_keeps_ids(ray_session, tmp_path):
    src = tmp_path / "docs.jsonl"
    rows = [{"id": "a", "text": "one two three four five"}, {"text": "six seven"}, "not json", {"id": "c"}]
    src.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "run"
    result = run("quickstart", [str(src)], str(out), overrides=["length_filter.min_words=3"], progress=False)
    assert result.ok
    assert read_ids(out) == ["a"]
    rej = pd.read_parquet(out / "rejected").sort_values("id")
    assert dict(zip(rej["id"], rej["reason"])) == {
        "docs.jsonl:2": "length_too_few_words", "docs.jsonl:3": "read_bad_json", "c": "read_no_text"}


def test_worker_killed_mid_shard_leaves_exact_output(ray_session, demo_run, tmp_path):
    """A test thread SIGKILLs the Ray worker while it holds a shard; Ray retries; the output is exact."""
    pid_dir = tmp_path / "pids"
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(
        f"plugins: ['{PLUGIN_DIR}/plugin_stages.py']\nstages:\n  - extract\n  - test_sleep: {{seconds: 1.0, pid_dir: '{pid_dir}'}}\n"
        "  - length_filter: {min_words: 20}\n"
    )
    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            pids = list(pid_dir.glob("*")) if pid_dir.exists() else []
            if pids:
                pid = int(pids[0].name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer)
    t.start()
    try:
        result = run(str(recipe), SMALL, str(tmp_path / "out"), progress=False)
    finally:
        t.join()
    assert killed, "the test never saw a worker to kill"
    assert result.ok, result.failed
    ids = read_ids(tmp_path / "out")
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(read_ids(demo_run))
    check_funnel_adds_up(tmp_path / "out")


def _curate(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "curate.cli", *args], env=env, **kw)


def test_driver_killed_with_sigkill_resumes_exactly(demo_run, tmp_path):
    """SIGKILL the whole `curate run` halfway; the rerun ends with exactly the uninterrupted rows."""
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(f"plugins: ['{PLUGIN_DIR}/plugin_stages.py']\nstages:\n  - extract\n  - test_sleep: {{seconds: 1.0}}\n"
                      "  - length_filter: {min_words: 20}\n")
    env = dict(os.environ)
    out = tmp_path / "out"
    args = ["run", str(recipe), "--input", *SMALL, "--output", str(out), "--num-cpus", "1", "--quiet"]
    proc = _curate(*args, env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list((out / "markers" / "s0").glob("*.json"))) >= 1 if (out / "markers" / "s0").exists() else False:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "markers" / "s0").glob("*.json")))
    assert 1 <= done < len(SMALL), "the kill should land midway"
    rerun = _curate(*args, env=env)
    assert rerun.wait(timeout=300) == 0
    ids = read_ids(out)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(read_ids(demo_run))
    check_funnel_adds_up(out)


def test_global_stages_between_segments(ray_session, tmp_path):
    """A recipe with two global stages (one trailing): every drop is explained, duplicates name their keeper."""
    recipe = tmp_path / "dedup.yaml"
    recipe.write_text("stages:\n  - extract\n  - exact_dedup\n  - length_filter: {min_words: 20}\n"
                      "  - minhash: {ngram: 5, bands: 14, rows: 8}\n")
    out = tmp_path / "out"
    result = run(str(recipe), SMALL, str(out), progress=False)
    assert result.ok and set(result.global_summaries) == {"exact_dedup", "minhash"}
    f = check_funnel_adds_up(out)
    names = [s["name"] for s in f["stages"]]
    assert names == ["read", "extract", "exact_dedup.prepare", "exact_dedup", "length_filter", "minhash.prepare",
                     "minhash"]
    rej = pd.read_parquet(out / "rejected")
    dups = rej[rej["reason"] == "exact_duplicate"]
    assert len(dups) >= 1 and dups["duplicate_of"].notna().all()
    kept = pd.read_parquet(out / "data")
    assert set(dups["duplicate_of"]) <= set(kept["id"])
    assert {"content_hash", "dup_cluster_size"} <= set(kept.columns)
    assert not (out / "intermediate").exists()
    # Resume: a rerun does nothing and changes nothing.
    again = run(str(recipe), SMALL, str(out), progress=False)
    assert again.processed == 0 and sorted(read_ids(out)) == sorted(kept["id"])


def test_data_files_keep_their_names_after_global_stages(ray_session, tmp_path):
    recipe = tmp_path / "g.yaml"
    recipe.write_text("stages:\n  - extract\n  - exact_dedup\n")
    out = tmp_path / "out"
    assert run(str(recipe), SMALL[:2], str(out), progress=False).ok
    assert sorted(p.name for p in (out / "data").glob("*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]
    assert sorted(p.name for p in (out / "stats").glob("*.json")) == [
        "part-00000-s1.json", "part-00000.json", "part-00001-s1.json", "part-00001.json"]


def test_size_rotated_shards_hold_every_row(ray_session, demo_run, tmp_path):
    out = tmp_path / "rot"
    result = run("quickstart", SMALL, str(out), overrides=["output.max_shard_bytes=20000", "output.row_group_rows=5"],
                 progress=False)
    assert result.ok
    names = sorted(p.name for p in (out / "data").glob("*.parquet"))
    assert "part-00001-1.parquet" in names and len(names) > len(SMALL)
    assert sorted(read_ids(out)) == sorted(read_ids(demo_run))
    marker = json.loads((out / "markers" / "s0" / "part-00001.json").read_text())
    assert len(marker["files"]) > 1
