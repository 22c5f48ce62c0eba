"""Read throughput: bare fastwarc vs curate's read_warc vs read_warc + decode + resiliparse extraction.

Prints MB/s of compressed WARC and records/s, one core, one run, with the ratio read_warc / bare fastwarc.
Usage: python benchmarks/bench_read.py [WARC ...]   (default: ../shared/data/warc/bench/*.warc.gz)
"""

from __future__ import annotations

import glob
import os
import platform
import sys
import time

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text

from curate.io.charset import decode_html
from curate.io.warc import read_warc

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "warc", "bench", "*.warc.gz")


def bare(paths: list[str]) -> int:
    n = 0
    for p in paths:
        for rec in ArchiveIterator(open(p, "rb"), record_types=WarcRecordType.response, parse_http=True):
            rec.reader.read()
            n += 1
    return n


def curate_read(paths: list[str]) -> int:
    return sum(1 for p in paths for _ in read_warc(p))


def curate_extract(paths: list[str]) -> int:
    n = 0
    for p in paths:
        for doc in read_warc(p):
            if "_html" in doc:
                text, _ = decode_html(doc["_html"], doc["charset"])
                extract_plain_text(text, main_content=True)
            n += 1
    return n


def main() -> None:
    paths = sorted(sys.argv[1:] or glob.glob(DEFAULT))
    if not paths:
        sys.exit("no WARC files found")
    mb = sum(os.path.getsize(p) for p in paths) / 1e6
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python "
        f"{platform.python_version()}; input: {len(paths)} files, {mb:.1f} MB gzip"
    )
    results = {}
    # interleaved repeats, best of each: the machine may be shared, and the first pass warms the page cache
    runs = [("bare fastwarc", bare), ("read_warc", curate_read)] * 4 + [("read_warc+extract", curate_extract)]
    for name, fn in runs:
        t = time.perf_counter()
        n = fn(paths)
        dt = time.perf_counter() - t
        results[name] = min(results.get(name, dt), dt)  # best of the runs: the warm-cache figure
        print(f"{name:20s} {n:6d} records {dt:6.2f} s {mb / dt:7.1f} MB/s {n / dt:8.0f} rec/s")
    print(
        f"ratio read_warc / bare fastwarc (throughput, best runs): {results['bare fastwarc'] / results['read_warc']:.3f}"
    )


if __name__ == "__main__":
    main()
