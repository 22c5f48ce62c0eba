"""Synthetic dedup corpus from real sentences, with planted near-duplicate clusters of known ground truth.

Sentences come from Project Gutenberg books and WikiText-2 (``../shared/data/text/``). Each document is
8–30 random sentences; ``--dup-share`` of the documents belong to planted clusters of 2–5: a base document
and variants, each with about 1% of its words replaced, its whitespace reflowed, and half of them with an
attribution line appended. Shards are Parquet with columns id, text, url, source, cluster (-1: none).

    python benchmarks/make_dedup_corpus.py --docs 100000 --out /tmp/dedup-100k
"""

from __future__ import annotations

import argparse
import random
import re
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def sentences() -> list[str]:
    out: list[str] = []
    for p in sorted((TEXT / "gutenberg").glob("pg*.txt")):
        body = p.read_text(encoding="utf-8", errors="replace")
        body = re.sub(r"\s+", " ", body)
        out += re.split(r"(?<=[.!?])\s+(?=[A-Z])", body)
    for line in (TEXT / "wikitext2-valid.txt").read_text(encoding="utf-8").splitlines():
        out += re.split(r"(?<= \.) ", line.strip())
    return [s for s in (x.strip() for x in out) if 6 <= len(s.split()) <= 60]


def variant(text: str, rng: random.Random, pool: list[str]) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 100)):
        words[rng.randrange(len(words))] = rng.choice(rng.choice(pool).split())
    out = textwrap.fill(" ".join(words), width=rng.choice([60, 72, 80, 100]))
    if rng.random() < 0.5:
        out += f"\n\nSource: {rng.choice(['The Daily Example', 'Example Wire', 'Newsroom'])}, {rng.randint(1990, 2024)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument("--dup-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pool = sentences()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    shard = 0
    n = 0
    cluster = 0

    def emit(text: str, cl: int) -> None:
        nonlocal rows, shard, n
        rows.append(
            {
                "id": f"doc{n:08d}",
                "text": text,
                "url": f"https://site{rng.randrange(500)}.example/{n}",
                "source": f"crawl-{n % 4}",
                "cluster": cl,
            }
        )
        n += 1
        if len(rows) == args.shard_size:
            pq.write_table(pa.Table.from_pylist(rows), out / f"part-{shard:05d}.parquet")
            rows, shard = [], shard + 1

    while n < args.docs:
        base = " ".join(rng.choices(pool, k=rng.randint(8, 30)))
        if rng.random() < args.dup_share / 3.5:  # clusters of 2-5 (mean 3.5)
            size = min(rng.randint(2, 5), args.docs - n)
            emit(base, cluster)
            for _ in range(size - 1):
                emit(variant(base, rng, pool), cluster)
            cluster += 1
        else:
            emit(base, -1)
    if rows:
        pq.write_table(pa.Table.from_pylist(rows), out / f"part-{shard:05d}.parquet")
    print(f"{n} documents, {cluster} planted clusters, {len(pool)} sentences in the pool -> {out}")


if __name__ == "__main__":
    main()
