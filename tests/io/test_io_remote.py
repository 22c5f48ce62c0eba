"""Remote reading over HTTP from a local http.server on 127.0.0.1 (never any other address)."""

from __future__ import annotations

import functools
import gzip
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard
from _warcgen import DATA
from test_io_damage import members

from curate.errors import RetryableError
from curate.io.remote import expand_listing, open_with_retries
from curate.io.warc import read_warc

WIKI = DATA.parent / "quality" / "wiki.jsonl"
FILES = [
    "cc-main-2020-34-excerpt.warc.gz",
    "cc-main-2024-22-whirlwind.warc.wet.gz",
    "ia-2008-crawl-excerpt.arc.gz",
    "warcio-example.warc",
]


class FlakyHandler(SimpleHTTPRequestHandler):
    """Serves a folder; answers 503 to the first ``failures[path]`` GETs of a path; honours ``Range``
    (``bytes=A-`` / ``bytes=A-B``) unless ``ranges`` is False."""

    failures: dict[str, int] = {}
    gets: dict[str, int] = {}
    ranges = True

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.gets[self.path] = self.gets.get(self.path, 0) + 1
        if self.failures.get(self.path, 0) > 0:
            self.failures[self.path] -= 1
            self.send_error(503, "try later")
            return
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and self.ranges:
            data = Path(self.translate_path(self.path)).read_bytes()
            start, end = int(m.group(1)), int(m.group(2) or len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Content-Length", str(end + 1 - start))
            self.end_headers()
            self.wfile.write(data[start : end + 1])
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    for name in FILES:
        shutil.copy(DATA / name, root / name)
    (root / "warc.paths.gz").write_bytes(
        gzip.compress("\n".join(f"crawl/{n}" for n in FILES).encode() + b"\n")
    )
    data = bytearray((DATA / FILES[0]).read_bytes())
    start, end = members(bytes(data))[5]  # a ~105 KB response record
    data[(start + end) // 2] ^= 0x55
    (root / "damaged.warc.gz").write_bytes(bytes(data))
    (root / "wiki.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(WIKI.read_bytes()))
    shutil.copy(WIKI, root / "wiki-no-suffix")
    (root / "crawl").mkdir()
    for name in FILES:
        shutil.copy(DATA / name, root / "crawl" / name)
    handler = functools.partial(FlakyHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_listing_then_read_over_http_matches_local(server):
    urls = expand_listing(f"{server}/warc.paths.gz", server + "/")
    assert urls == [f"{server}/crawl/{n}" for n in FILES]
    for url, name in zip(urls, FILES):
        remote = list(read_warc(url))
        local = list(read_warc(str(DATA / name)))
        assert remote == local and remote


def test_plain_listing_and_absolute_lines(tmp_path):
    listing = tmp_path / "warc.paths"
    listing.write_text(
        "# comment\n\ncrawl-data/a.warc.gz\n/crawl-data/b.warc.gz\nhttp://127.0.0.1:1/c.warc.gz\n"
    )
    assert expand_listing(str(listing), "https://data.commoncrawl.org") == [
        "https://data.commoncrawl.org/crawl-data/a.warc.gz",
        "https://data.commoncrawl.org/crawl-data/b.warc.gz",
        "http://127.0.0.1:1/c.warc.gz",
    ]


def test_transient_503_is_retried(server):
    path = "/crawl/cc-main-2020-34-excerpt.warc.gz"
    FlakyHandler.failures[path], FlakyHandler.gets[path] = 2, 0
    docs = list(read_warc(server + path))
    assert len(docs) == 16 and FlakyHandler.gets[path] >= 3


def test_persistent_503_raises_retryable(server):
    path = "/crawl/warcio-example.warc"
    FlakyHandler.failures[path] = 100
    with pytest.raises(RetryableError):
        open_with_retries(server + path, retries=2, backoff=0.01)
    FlakyHandler.failures[path] = 0


def test_missing_remote_file_is_not_retried(server):
    with pytest.raises(FileNotFoundError):
        open_with_retries(server + "/nope.warc.gz", retries=3, backoff=0.01)


def test_damaged_remote_warc_resumes_like_a_local_one(server, tmp_path):
    local_copy = tmp_path / "damaged.warc.gz"
    with open_with_retries(f"{server}/damaged.warc.gz") as f:
        local_copy.write_bytes(f.read())
    local = list(read_warc(str(local_copy)))
    remote = list(read_warc(f"{server}/damaged.warc.gz"))
    assert remote == local
    assert sum("_skip" not in d for d in remote) == 15 and [d["_skip"] for d in remote if "_skip" in d] == [
        "read_corrupt_record"
    ]
    FlakyHandler.ranges = False  # a server without ranges cannot take the reader back: counted, then stop
    try:
        docs = list(read_warc(f"{server}/damaged.warc.gz"))
    finally:
        FlakyHandler.ranges = True
    assert docs == local[: len(docs)] and docs[-1]["_skip"] in ("read_corrupt_record", "read_truncated_file")


def test_remote_jsonl_compressed_and_sniffed(server):
    from curate.io.inputs import expand_inputs, read_shard
    from curate.io.warc import ReadLimits

    local = [d["text"] for d in read_shard(expand_inputs([str(WIKI)])[0], ReadLimits())]
    for name in ("wiki.jsonl.zst", "wiki-no-suffix"):
        [shard] = expand_inputs([f"{server}/{name}"])
        docs = list(read_shard(shard, ReadLimits()))
        assert shard.kind == "jsonl" and [d["text"] for d in docs] == local
        assert docs[0]["id"] == f"{name}:1" and docs[0]["source"] == name
