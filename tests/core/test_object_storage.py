"""Runs on object storage: input and output on a real S3-protocol server (moto) on loopback.

Every built-in recipe gives the same ``data/`` and ``rejected/`` on S3 as on local disk, and the commands
that read a run (stats, dedup-report, report) work on the S3 run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from curate.recipe import builtin_recipes
from curate.runner import run
from curate.testing import read_rows as rows

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sorted((ROOT / "pipelines" / "sample").glob("*.warc.gz"))
LIMIT = 25  # records per file: enough for every stage and global stage to act, small enough to be quick


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


PLUGIN = Path(__file__).parent / "plugin_stages.py"


def slow_recipe(tmp_path: Path, seconds: float = 0.5) -> Path:
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(
        f"plugins: ['{PLUGIN}']\nstages:\n  - extract\n  - test_sleep: {{seconds: {seconds}}}\n"
        "  - length_filter: {min_words: 20}\n  - exact_dedup\n"
    )
    return recipe


def test_driver_killed_with_sigkill_on_s3_resumes_exactly(ray_session, s3_bucket, tmp_path):
    import os
    import signal
    import time

    recipe = slow_recipe(tmp_path)
    inputs = upload(s3_bucket)
    out = f"{s3_bucket}/runs/killed"
    args = [sys.executable, "-m", "curate.cli", "run", str(recipe), "--input", *inputs, "--output", out,
            "--limit", "30", "--num-cpus", "1", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    fs = fsspec.filesystem("s3")
    deadline = time.time() + 180
    while time.time() < deadline and not fs.glob(f"{out[5:]}/markers/s0/*.json"):
        fs.invalidate_cache()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    fs.invalidate_cache()
    done = len(fs.glob(f"{out[5:]}/markers/s0/*.json"))
    assert 1 <= done < len(SAMPLE), "the kill should land midway"
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    fresh = run(str(recipe), [str(p) for p in SAMPLE], str(tmp_path / "fresh"), limit=30, progress=False)
    assert fresh.ok
    assert rows(out, "data") == rows(str(tmp_path / "fresh"), "data")
    assert rows(out, "rejected") == rows(str(tmp_path / "fresh"), "rejected")


class FaultyProxy:
    """An HTTP proxy on loopback in front of the S3 server that answers every ``every``-th request with a
    503 (SlowDown) and drops the connection of every ``every``-th + 1 request without an answer."""

    def __init__(self, upstream: str, every: int = 7) -> None:
        import http.client
        import http.server
        import threading
        from urllib.parse import urlsplit

        up = urlsplit(upstream)
        proxy = self
        self.count = 0
        self.faults = 0
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # noqa: ANN002
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    proxy.count += 1
                    n = proxy.count
                if n % every == 0:
                    with lock:
                        proxy.faults += 1
                    msg = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if n % every == 1 and n > 1:
                    with lock:
                        proxy.faults += 1
                    self.close_connection = True
                    self.connection.close()
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = up.netloc
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                head = self.command == "HEAD"  # its Content-Length is the object's size, with no body
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection") and (head or k.lower() != "content-length"):
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not head:
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_storage_faults_are_retried_and_lose_nothing(ray_session, s3_bucket, tmp_path):
    """Every 7th request to the store answers 503 and the next one drops its connection: the run completes
    with the rows of a fault-free run."""
    inputs = upload(s3_bucket)
    proxy = FaultyProxy(__import__("os").environ["AWS_ENDPOINT_URL"])
    try:
        opts = {"endpoint_url": proxy.url}
        out = f"{s3_bucket}/runs/faulty"
        res = run("demo", [str(p) for p in SAMPLE], out, limit=20, progress=False, storage_options=opts)
        assert res.ok, res.failed
    finally:
        proxy.stop()
    assert proxy.faults > 10, proxy.faults
    clean = run("demo", inputs, str(tmp_path / "clean"), limit=20, progress=False)
    assert clean.ok
    assert rows(out, "data") == rows(str(tmp_path / "clean"), "data")
    assert rows(out, "rejected") == rows(str(tmp_path / "clean"), "rejected")
