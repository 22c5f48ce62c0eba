"""The engine core: failures that fail a shard, per-document retries on clean copies, the in-process runner
agreeing with Ray, one run at a time per directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.executor import LocalExecutor
from curate.local import run_documents
from curate.lock import RunLock, RunLocked
from curate.rundir import RunDir
from curate.runner import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sorted((ROOT / "pipelines" / "sample").glob("*.warc.gz"))
PLUGIN = Path(__file__).parent / "plugin_stages.py"


def rows(run_dir: Path, folder: str) -> list[dict]:
    out = []
    for p in sorted((run_dir / folder).glob("*.parquet")):
        out += pq.read_table(p).to_pylist()
    return sorted(out, key=lambda r: (str(r.get("stage")), str(r["id"])))


def test_in_process_runner_gives_the_ray_runner_rows(ray_session, tmp_path):
    """The demo recipe has exact dedup, MinHash and the quality percentile: every kind of pass."""
    inputs = [str(p) for p in SAMPLE]
    a = run("demo", inputs, str(tmp_path / "ray"), limit=30, progress=False)
    b = run("demo", inputs, str(tmp_path / "local"), limit=30, progress=False, executor=LocalExecutor(3))
    assert a.ok and b.ok
    assert rows(tmp_path / "ray", "data") == rows(tmp_path / "local", "data")
    assert rows(tmp_path / "ray", "rejected") == rows(tmp_path / "local", "rejected")
    assert len(rows(tmp_path / "ray", "data")) > 10
    assert set(a.global_summaries) == {"exact_dedup", "minhash", "quality"}


def test_a_shard_whose_file_vanishes_fails_and_the_rerun_completes_it(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in SAMPLE[:3]:
        shutil.copy(p, inputs / p.name)
    files = sorted(inputs.glob("*.warc.gz"))
    victim = files[1]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"plugins: ['{PLUGIN}']\nstages:\n  - test_vanish: {{path: '{victim}'}}\n  - extract\n"
        "  - length_filter: {min_words: 20}\n  - exact_dedup\n"
    )
    out = tmp_path / "out"
    env = {**os.environ}
    env.pop("RAY_ADDRESS", None)

    def curate(output: Path) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "curate.cli", "run", str(recipe), "--input", str(inputs / "*.warc.gz"),
               "--output", str(output), "--limit", "20", "--num-cpus", "1", "--quiet"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    first = curate(out)
    assert first.returncode == 1, first.stderr[-3000:]
    assert "shard 1 failed" in first.stderr and "rerun" in first.stderr
    assert (out / "failed" / "part-00001.txt").exists()
    assert not (out / "markers" / "s0" / "part-00001.json").exists()  # never marked done
    assert (out / "markers" / "s0" / "part-00000.json").exists()
    assert not (out / "data").exists() or not list((out / "data").glob("*.parquet"))  # dedup needs every shard

    os.replace(str(victim) + ".away", victim)  # the file is back
    second = curate(out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert not (out / "failed" / "part-00001.txt").exists()

    fresh = tmp_path / "fresh"  # the same recipe, uninterrupted (the vanish stage has done its one move)
    third = curate(fresh)
    assert third.returncode == 0, third.stderr[-3000:]
    assert rows(out, "data") == rows(fresh, "data") and len(rows(fresh, "data")) > 5
    assert [r for r in rows(out, "rejected") if r["stage"] != "read"] == [
        r for r in rows(fresh, "rejected") if r["stage"] != "read"
    ]


def test_a_stage_that_raises_mid_batch_leaves_the_other_documents_unchanged():
    recipe = [("test_flaky", {"bad_id": "d3"})]
    from curate.local import recipe_of

    r = recipe_of(recipe)
    r.plugins = [str(PLUGIN)]
    docs = [{"id": f"d{i}", "text": f"document number {i}"} for i in range(8)]
    out = run_documents(r, docs)
    assert sorted(d["id"] for d in out.kept) == [f"d{i}" for i in range(8) if i != 3]
    # each kept document went through the stage exactly once: as if the failed batch had never run
    assert all(d["text"] == f"document number {d['id'][1:]} [seen]" for d in out.kept)
    assert [(x["id"], x["reason"]) for x in out.rejected] == [("d3", "test_flaky_error")]
    assert out.funnel["stages"][-1]["reasons"] == {"test_flaky_error": 1}


def test_a_live_run_holds_the_directory_and_a_dead_one_does_not(tmp_path):
    rd = RunDir(str(tmp_path / "out"))
    with RunLock(rd):
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()}"):
            run("quickstart", [str(SAMPLE[0])], str(tmp_path / "out"), limit=3, executor="local", progress=False)
        proc = subprocess.run(
            [sys.executable, "-m", "curate.cli", "run", "quickstart", "--input", str(SAMPLE[0]), "--output",
             str(tmp_path / "out"), "--limit", "3", "--quiet"], capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 1 and "in use by another curate run" in proc.stderr
    # a holder that died (its pid is gone) does not block the next run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    rd.write_json("lock.json", {"host": os.uname().nodename, "pid": dead.pid, "started": "then", "token": "x"})
    res = run("quickstart", [str(SAMPLE[0])], str(tmp_path / "out"), limit=3, executor="local", progress=False)
    assert res.ok and not (tmp_path / "out" / "lock.json").exists()
    assert json.loads((tmp_path / "out" / "markers" / "s0" / "part-00000.json").read_text())["rows"] >= 0


def test_a_stage_whose_package_is_missing_fails_before_any_work(tmp_path, monkeypatch):
    """A broken install (here: a trafilatura whose import fails as it did under pip 23) is one configuration
    error with the pip command, raised on the driver before any task starts."""
    import sys

    from curate.errors import RecipeError

    broken = tmp_path / "site" / "trafilatura"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        "raise ImportError('lxml.html.clean module is now a separate project lxml_html_clean', name='lxml.html.clean')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for mod in [m for m in sys.modules if m == "trafilatura" or m.startswith("trafilatura.")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(RecipeError, match=r"stage 'extract' needs 'trafilatura'.*pip install lxml_html_clean"):
        run("fineweb", [str(SAMPLE[0])], str(tmp_path / "out"), executor="local", progress=False)
    assert not (tmp_path / "out" / "markers").exists()


def test_intermediate_files_are_uncompressed_arrow_on_a_local_disk_unless_the_recipe_says(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.errors import RecipeError
    from curate.runner import run

    paras = (Path(__file__).resolve().parents[1] / "data" / "dedup" / "wikitext2_paragraphs.txt").read_text(
        encoding="utf-8").splitlines()
    docs = [[{"id": f"{s}-{i}", "text": paras[5 * s + i]} for i in range(5)] for s in range(2)]
    sizes, kept = {}, {}
    for setting in (None, "zstd", "lz4"):
        recipe = tmp_path / f"r-{setting}.yaml"
        out = f"\noutput: {{intermediate_compression: {setting}}}\n" if setting else "\n"
        recipe.write_text("stages:\n  - exact_dedup\n  - length_filter: {min_words: 3}" + out)
        dest = tmp_path / f"run-{setting}"
        assert run(str(recipe), [], str(dest), executor="local", progress=False, documents=docs,
                   keep_intermediate=True).ok
        files = sorted((dest / "intermediate" / "s0").iterdir())
        assert files and all(f.suffix == ".arrow" for f in files)  # Arrow IPC between passes
        rows = [r for f in files for r in pa.ipc.open_file(pa.memory_map(str(f))).read_all().to_pylist()]
        assert sorted(r["id"] for r in rows) == sorted(d["id"] for s in docs for d in s)
        sizes[setting] = sum(f.stat().st_size for f in files)
        kept[setting] = sorted(r["id"] for f in (dest / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist())
        assert {pq.ParquetFile(f).metadata.row_group(0).column(1).compression
                for f in (dest / "data").glob("*.parquet")} == {"ZSTD"}  # the output keeps its codec
    assert sizes["zstd"] < sizes[None] and sizes["lz4"] < sizes[None]  # the text compresses
    assert kept[None] == kept["zstd"] == kept["lz4"] and kept[None]
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - exact_dedup\noutput: {intermediate_compression: snappy}\n")
    with pytest.raises(RecipeError, match="intermediate_compression"):
        run(str(bad), [], str(tmp_path / "bad"), executor="local", progress=False, documents=docs)
