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
