"""Engine benchmarks (issue 11): driver overhead on many shards, one big file on 1 vs 2 workers, S3 vs disk.

    python benchmarks/bench_engine.py shards --shards 10000      # driver ms per shard-pass, driver peak RSS
    python benchmarks/bench_engine.py bigfile --gb 2              # one Parquet file: 2 workers vs 1 worker
    python benchmarks/bench_engine.py s3                          # the bench crawl on local disk vs on S3 (moto)

Each prints its figure beside its reference (the target of the issue, or the other configuration measured in
the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import socket
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "warc" / "bench"
WIKI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "wikitext2-valid.txt"


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _paragraphs() -> list[str]:
    text = WIKI.read_text(encoding="utf-8") if WIKI.exists() else "lorem ipsum dolor sit amet " * 5000
    return [p.strip() for p in text.splitlines() if len(p.split()) > 20][:5000] or ["lorem ipsum dolor " * 50]


def bench_shards(n: int, workers: int) -> None:
    """Many tiny JSONL shards through a recipe with a global stage (exact dedup): 2 map passes + 1 reduce."""
    import ray

    from curate.raysession import init_ray
    from curate.runner import run

    tmp = Path(tempfile.mkdtemp(prefix="curate-shards-"))
    paras = _paragraphs()
    rng = random.Random(0)
    inp = tmp / "in"
    inp.mkdir()
    for i in range(n):
        with open(inp / f"s{i:05d}.jsonl", "w") as f:
            for j in range(3):
                f.write(json.dumps({"id": f"{i}-{j}", "text": rng.choice(paras)}) + "\n")
    init_ray(num_cpus=workers)
    ray.get([ray.remote(lambda: __import__("curate.mappass")).remote() for _ in range(workers)])
    recipe = tmp / "r.yaml"
    recipe.write_text("stages:\n  - length_filter: {min_words: 5}\n  - exact_dedup\n")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = run(str(recipe), [str(inp / "*.jsonl")], str(tmp / "out"), progress=False)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    assert res.ok, list(res.failed.items())[:3]
    passes = res.processed
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {machine()}; Ray workers: {workers}")
    print(f"{n:,} JSONL shards x 2 map passes + 1 reduce: {passes:,} shard-passes in {wall:.1f} s wall")
    print(f"driver CPU per shard-pass: {1000 * cpu / passes:.2f} ms   (target < 20 ms)")
    print(f"driver wall per shard-pass: {1000 * wall / passes:.2f} ms (includes the workers' own time)")
    print(f"driver peak RSS: {rss:.0f} MB   (target < 1024 MB)")
    shutil.rmtree(tmp)


def bench_bigfile(gb: float, split_mb: int) -> None:
    """One big Parquet file, split into shards by row groups, through a per-document recipe."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from curate.raysession import init_ray
    from curate.runner import run

    tmp = Path(tempfile.mkdtemp(prefix="curate-big-"))
    path = tmp / "big.parquet"
    paras = _paragraphs()
    rng = random.Random(0)
    target = int(gb * 2**30)
    writer = None
    written, k = 0, 0
    while written < target:
        texts = [" ".join(rng.choice(paras) for _ in range(3)) for _ in range(20_000)]
        t = pa.table({"id": [f"d{k}-{i}" for i in range(len(texts))], "text": texts})
        writer = writer or pq.ParquetWriter(path, t.schema, compression="none")
        writer.write_table(t, row_group_size=5_000)
        written += t.nbytes
        k += 1
    writer.close()
    size = path.stat().st_size
    recipe = tmp / "r.yaml"
    recipe.write_text(
        "stages:\n  - gopher_quality: {min_words: 50}\n  - gopher_repetition\n  - length_filter: {min_words: 5}\n"
    )
    walls = {}
    for w in (1, 2):
        ray.shutdown()
        init_ray(num_cpus=w)
        ray.get([ray.remote(lambda: __import__("curate.mappass")).remote() for _ in range(w)])
        t0 = time.perf_counter()
        res = run(str(recipe), [str(path)], str(tmp / f"out{w}"), progress=False, split_bytes=split_mb * 2**20)
        walls[w] = time.perf_counter() - t0
        assert res.ok, res.failed
        print(f"{w} worker(s): {res.shards} shards from one {size / 2**30:.2f} GiB file, {walls[w]:.1f} s, "
              f"{size / 2**20 / walls[w]:.1f} MB/s")
    print(f"machine: {machine()}")
    print(f"2 workers vs 1 worker on one file: {walls[1] / walls[2]:.2f}x   (target >= 1.8x; one file one task: 1.0x)")
    shutil.rmtree(tmp)


def bench_s3(files: int) -> None:
    """The bench crawl through the heuristics recipe with input and output on local disk vs on S3 (moto)."""
    import logging

    import ray
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        import fsspec

        from curate.raysession import init_ray
        from curate.runner import run

        warcs = sorted(BENCH.glob("*.warc.gz"))[:files]
        fs = fsspec.filesystem("s3")
        fs.mkdir("bench")
        for p in warcs:
            fs.put_file(str(p), f"bench/in/{p.name}")
        mb = sum(p.stat().st_size for p in warcs) / 2**20
        init_ray()
        tmp = Path(tempfile.mkdtemp(prefix="curate-s3-"))
        t0 = time.perf_counter()
        assert run("heuristics", [str(p) for p in warcs], str(tmp / "local"), progress=False).ok
        local = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert run("heuristics", ["s3://bench/in/*.warc.gz"], "s3://bench/out", progress=False).ok
        remote = time.perf_counter() - t0
        print(f"machine: {machine()}; {len(warcs)} bench WARC files, {mb:.0f} MiB; recipe heuristics; "
              f"{int(ray.cluster_resources()['CPU'])} workers")
        print(f"local disk: {mb / local:.2f} MiB/s ({local:.1f} s); S3 on loopback (moto): {mb / remote:.2f} MiB/s "
              f"({remote:.1f} s); S3 / local throughput = {local / remote:.2f}")
        shutil.rmtree(tmp)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("shards")
    a.add_argument("--shards", type=int, default=10_000)
    a.add_argument("--workers", type=int, default=2)
    b = sub.add_parser("bigfile")
    b.add_argument("--gb", type=float, default=2.0)
    b.add_argument("--split-mb", type=int, default=128)
    c = sub.add_parser("s3")
    c.add_argument("--files", type=int, default=4)
    args = ap.parse_args()
    if args.what == "shards":
        bench_shards(args.shards, args.workers)
    elif args.what == "bigfile":
        bench_bigfile(args.gb, args.split_mb)
    else:
        bench_s3(args.files)


if __name__ == "__main__":
    main()
