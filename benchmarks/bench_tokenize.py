"""Tokenization throughput: the `curate tokenize` Ray job beside `tokenizers`' own `encode_batch`.

Prints tokens/s per core of the job's tokenizing pass (`--shuffle shard`) with 1 and 2 workers (target: 2
workers ≥ 1.8× one), of the whole job with the global shuffle's second pass (2 workers), and of the
reference, `Tokenizer.encode_batch` (and `encode_batch_fast`) on one thread and on all threads, in the same run on the same text:
the English prose under ../shared/data/text (Project Gutenberg books, Tiny Shakespeare, WikiText-2,
Lee news), cut into ~2 KB documents, written as 8 curated Parquet shards. The figures are throughput, not
pass/fail; on a machine shared with other jobs the scaling reads low (the load average is printed).

    python benchmarks/bench_tokenize.py [--repeat 1] [--vocab-size 8192]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TEXT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"


def load_documents(repeat: int) -> list[str]:
    """~2 KB documents: paragraphs of the corpora, grouped; the corpus repeated ``repeat`` times."""
    files = [TEXT_DIR / "tinyshakespeare.txt", TEXT_DIR / "wikitext2-valid.txt", TEXT_DIR / "lee-news.txt"]
    files += sorted((TEXT_DIR / "gutenberg").glob("pg*.txt"))
    docs = []
    for f in files:
        buf = ""
        for para in f.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            buf += para + "\n\n"
            if len(buf) > 2000:
                docs.append(buf)
                buf = ""
        if buf:
            docs.append(buf)
    return docs * repeat


def write_shards(docs: list[str], out: Path, n: int) -> None:
    out.mkdir(parents=True)
    for s in range(n):
        part = docs[s::n]
        ids = [f"{s}-{i}" for i in range(len(part))]
        pq.write_table(pa.table({"id": ids, "text": part}), out / f"part-{s:05d}.parquet", compression="zstd")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="repeat the corpus to lengthen each shard")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--shards", type=int, default=8)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from curate.raysession import init_ray
    from train.tokenize import tokenize_shards
    from train.tokenizer import train_tokenizer_from_texts

    docs = load_documents(args.repeat)
    n_bytes = sum(len(d.encode()) for d in docs)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load average {os.getloadavg()}")
    print(f"input: {len(docs)} documents, {n_bytes / 1e6:.1f} MB from {TEXT_DIR}, {args.shards} shards")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_shards(docs, root / "data", args.shards)
        tok_path = root / "tokenizer.json"
        train_tokenizer_from_texts(docs[: len(docs) // args.repeat], args.vocab_size, tok_path)
        tok = Tokenizer.from_file(str(tok_path))

        # Reference: tokenizers' own batch encoder, one thread then all threads.
        ref = {}  # label → (tokens/s, cores)
        for fn in ("encode_batch", "encode_batch_fast"):  # _fast skips the offsets (what the job uses)
            for cores, parallel in ((1, "false"), (os.cpu_count() or 1, "true")):
                os.environ["TOKENIZERS_PARALLELISM"] = parallel
                t0 = time.perf_counter()
                n_tokens = sum(len(e.ids) for e in getattr(tok, fn)(docs))
                ref[f"{fn}, {cores} thread(s)"] = (n_tokens / (time.perf_counter() - t0), cores)
        os.environ.pop("TOKENIZERS_PARALLELISM")
        print(f"tokens: {n_tokens:,} ({n_bytes / n_tokens:.2f} bytes/token)")

        init_ray(num_cpus=2)
        tokenize_shards(
            str(root / "data"), tok_path, root / "warmup", max_workers=2, progress=False
        )  # workers up
        job, job_cpu = {}, {}  # tokens per wall-clock second, tokens per CPU-second of the tasks
        for workers in (1, 2):
            t0 = time.perf_counter()
            m = tokenize_shards(
                str(root / "data"), tok_path, root / f"w{workers}", max_workers=workers, progress=False,
                shuffle="shard",
            )  # fmt: skip
            dt = time.perf_counter() - t0
            total = m["totals"]["train"]["tokens"] + m["totals"]["val"]["tokens"]
            cpu = sum(
                json.loads((root / f"w{workers}" / "shards" / f"{s['name']}.json").read_text())["cpu_seconds"]
                for s in m["shards"]
            )
            job[workers] = total / dt
            job_cpu[workers] = total / cpu
        t0 = time.perf_counter()
        m = tokenize_shards(str(root / "data"), tok_path, root / "global", max_workers=2, progress=False,
                            shuffle="global", shard_tokens=max(1, total // 8))  # fmt: skip
        global_tps = (m["totals"]["train"]["tokens"] + m["totals"]["val"]["tokens"]) / (
            time.perf_counter() - t0
        )

    print()
    print(f"{'':42}{'tokens/s':>12}{'per core':>12}")
    for label, (tps, cores) in ref.items():
        print(f"{'tokenizers ' + label:42}{tps:12,.0f}{tps / cores:12,.0f}")
    for w, tps in job.items():
        print(
            f"{f'curate tokenize (Ray), {w} worker(s)':42}{tps:12,.0f}{tps / w:12,.0f}"
            f"   ({job_cpu[w]:,.0f} per task CPU-second)"
        )
    print(f"{'curate tokenize, global shuffle, 2 workers':42}{global_tps:12,.0f}{global_tps / 2:12,.0f}"
          f"   ({global_tps / job[2]:.2f}x the per-file shuffle: the second pass's cost)")  # fmt: skip
    print()
    print(f"job scaling 1 → 2 workers (wall clock): {job[2] / job[1]:.2f}x (target ≥ 1.8x)")
    print(f"per-core work, 2 workers vs 1 (tokens per task CPU-second): {job_cpu[2] / job_cpu[1]:.2f}x")
    print(
        f"job, 1 worker / encode_batch_fast, 1 thread: {job[1] / ref['encode_batch_fast, 1 thread(s)'][0]:.2f}x"
    )
    load = os.getloadavg()
    print(f"load average after: {load}")
    if load[0] > (os.cpu_count() or 1):
        print("note: the machine was busy with other work (load average above the core count): wall-clock")
        print(
            "scaling is capped by the CPU share this job got; the CPU-second figures are the load-free ones."
        )


if __name__ == "__main__":
    main()
