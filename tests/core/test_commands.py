"""The command line: stages, stats, errors before work, and a Common Crawl listing served over HTTP."""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq

from curate.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "sample"
FILES = ["cc-main-2020-34-excerpt.warc.gz", "cc-commoncrawl-org.warc.gz"]


def test_stages_lists_parameters_and_kinds(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    assert "length_filter  [document]" in out and "minhash  [global]" in out
    assert "    min_words: int = 0" in out
    assert "method: Literal['resiliparse', 'trafilatura', 'curate'] = 'resiliparse'" in out


def test_configuration_errors_exit_2_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - language: {treshold: 0.7}\n")
    out = tmp_path / "out"
    assert main(["run", str(bad), "--input", str(SAMPLE / FILES[0]), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "treshold" in err and str(bad) in err
    assert not out.exists()
    assert main(["run", "quickstart", "--input", str(tmp_path / "nothing*.warc.gz"), "--output", str(out)]) == 2
    assert "no files match" in capsys.readouterr().err


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_run_over_a_cc_listing_served_on_loopback(ray_session, tmp_path, capsys):
    www = tmp_path / "www"
    (www / "crawl").mkdir(parents=True)
    for name in FILES:
        shutil.copy(SAMPLE / name, www / "crawl" / name)
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress("".join(f"crawl/{n}\n" for n in FILES).encode()))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        out = tmp_path / "out"
        rc = main(["run", "quickstart", "--input", str(listing), "--base-url", base, "--output", str(out), "-q"])
        assert rc == 0
        local = tmp_path / "local"
        assert main(["run", "quickstart", "--input", *[str(www / "crawl" / n) for n in FILES], "--output",
                     str(local), "-q"]) == 0
    finally:
        httpd.shutdown()
    remote_ids = sorted(pq.read_table(out / "data").column("id").to_pylist())
    local_ids = sorted(pq.read_table(local / "data").column("id").to_pylist())
    assert remote_ids == local_ids and len(remote_ids) > 5
    capsys.readouterr()
    assert main(["stats", str(out)]) == 0
    stats = capsys.readouterr().out
    assert stats.splitlines()[1].startswith("read") and "length_too_few_words" in stats
