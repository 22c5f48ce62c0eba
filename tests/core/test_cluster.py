"""The same recipe against a separate Ray cluster (``ray start --head``), reached through --ray-address."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "pipelines" / "sample"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_on_a_ray_cluster_started_with_ray_start(tmp_path):
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    # --block keeps the head attached to this process group, so the test can stop exactly this cluster
    # (``ray stop`` would also stop the test session's embedded instance).
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
         "--block"],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # Wait for the head to say it is up: only then does `auto` resolve to it (and not to an older cluster).
        lines = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = head.stdout.readline()
            lines.append(line)
            if not line or "Ray runtime started" in line or "--block" in line and "started" in line:
                break
        assert any("started" in ln for ln in lines), "".join(lines)[-2000:]
        out = tmp_path / "run"
        deadline = time.time() + 120
        rc = None
        while time.time() < deadline:  # the head takes a few seconds to accept drivers
            proc = subprocess.run(
                [sys.executable, "-m", "curate.cli", "run", "quickstart", "--input",
                 str(SAMPLE / "cc-main-2020-34-excerpt.warc.gz"), "--output", str(out), "--ray-address", "auto",
                 "--quiet"],
                env=env, capture_output=True, text=True, timeout=180,
            )
            rc = proc.returncode
            if rc == 0 or "ConnectionError" not in proc.stderr:
                break
            time.sleep(2)
        assert rc == 0, proc.stderr[-3000:]
        table = pq.read_table(out / "data" / "part-00000.parquet")
        assert table.num_rows > 5
        import yaml

        info = yaml.safe_load((out / "run.yaml").read_text())
        assert info["ray"] == {"address": "auto", "cpus": 1}  # the head's one CPU, not this machine's two
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_three_node_cluster_on_s3_loses_a_node_in_a_map_and_a_reduce_pass(ray_session, s3_bucket, tmp_path):
    """3 raylets on loopback (ray.cluster_utils.Cluster), the run directory on the S3 server: one worker node
    killed while the first map pass runs, another while a reduce pass runs; the rows are an uninterrupted
    run's."""
    import json

    import fsspec

    from curate.runner import run
    from curate.testing import read_rows as rows

    plugin = Path(__file__).parent / "plugin_stages.py"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"plugins: ['{plugin}']\nstages:\n  - extract\n  - test_sleep: {{seconds: 0.7}}\n"
        "  - length_filter: {min_words: 20}\n  - test_slow_global: {jobs: 6, seconds: 1.5}\n  - exact_dedup\n"
    )
    fs = fsspec.filesystem("s3")
    for p in sorted(SAMPLE.glob("*.warc.gz")):
        fs.put_file(str(p), f"{s3_bucket[5:]}/in/{p.name}")
    out = f"{s3_bucket}/runs/cluster"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "cluster_run.py"), str(recipe), out, f"{s3_bucket}/in/*.warc.gz"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][len("RESULT "):])
    assert info["ok"], info
    assert info["removed"] == ["map", "reduce"] and info["nodes_alive"] == 1
    local = run(str(recipe), [str(p) for p in sorted(SAMPLE.glob("*.warc.gz"))], str(tmp_path / "local"), limit=30,
                progress=False)
    assert local.ok

    assert rows(out, "data") == rows(str(tmp_path / "local"), "data") and rows(out, "data")
    assert rows(out, "rejected") == rows(str(tmp_path / "local"), "rejected")
