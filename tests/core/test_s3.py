"""Runs on object storage: input and output on a real S3-protocol server (moto) on loopback.

Every built-in recipe gives the same ``data/`` and ``rejected/`` on S3 as on local disk, and the commands
that read a run (stats, dedup-report, report) work on the S3 run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest

from curate.recipe import builtin_recipes
from curate.runner import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sorted((ROOT / "pipelines" / "sample").glob("*.warc.gz"))
LIMIT = 25  # records per file: enough for every stage and global stage to act, small enough to be quick


def rows(url: str, folder: str) -> list[dict]:
    fs, root = fsspec.core.url_to_fs(url)
    out = []
    for p in sorted(fs.glob(f"{root}/{folder}/*.parquet")):
        with fs.open(p, "rb") as f:
            out += pq.read_table(f).to_pylist()
    return sorted(out, key=lambda r: (str(r.get("stage")), str(r["id"])))


def upload(bucket: str) -> list[str]:
    fs = fsspec.filesystem("s3")
    for p in SAMPLE:
        fs.put_file(str(p), f"{bucket[5:]}/warcs/{p.name}")
    return [f"{bucket}/warcs/*.warc.gz"]


@pytest.mark.parametrize("recipe", sorted(builtin_recipes()))
def test_every_builtin_recipe_gives_the_same_rows_on_s3(ray_session, s3_bucket, tmp_path, recipe):
    local = run(recipe, [str(p) for p in SAMPLE], str(tmp_path / "local"), limit=LIMIT, progress=False)
    remote_out = f"{s3_bucket}/runs/{recipe}"
    remote = run(recipe, upload(s3_bucket), remote_out, limit=LIMIT, progress=False)
    assert local.ok and remote.ok, (local.failed, remote.failed)
    assert rows(remote_out, "data") == rows(str(tmp_path / "local"), "data")
    assert rows(remote_out, "rejected") == rows(str(tmp_path / "local"), "rejected")
    assert len(rows(remote_out, "data")) > 0 or recipe == "dclm_baseline"
    fs = fsspec.filesystem("s3")
    assert not fs.glob(f"{remote_out[5:]}/intermediate/**")  # removed at the end, as on disk
    assert not fs.exists(f"{remote_out[5:]}/lock.json")


def test_commands_that_read_a_run_work_on_s3(ray_session, s3_bucket, tmp_path):
    out = f"{s3_bucket}/runs/demo"
    assert run("demo", upload(s3_bucket), out, limit=LIMIT, progress=False).ok

    def cli(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    assert "minhash" in cli("stats", out) and "exact_dedup" in cli("stats", out)
    assert "== 07-exact_dedup ==" in cli("dedup-report", out)
    report = cli("report", out).strip()
    assert report == f"{out}/report.html"
    with fsspec.open(report, "rt") as f:
        assert "curate report" in f.read()
