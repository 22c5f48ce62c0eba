"""MinHash LSH dedup benchmark: speed per core, passes with 1 and 2 Ray workers, memory, recall/precision,
all beside datasketch (``MinHash.bulk`` + ``MinHashLSH``) measured in the same run.

    python benchmarks/make_dedup_corpus.py --docs 100000 --out /tmp/dedup-100k
    python benchmarks/bench_minhash.py /tmp/dedup-100k [--workers 1 2] [--ds-sample 20000]

Recall: planted pairs (same ground-truth cluster) whose exact 5-gram Jaccard is >= 0.8, found in the same
output cluster. Precision: output same-cluster pairs that are planted pairs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.dedup.normalize import normalize_text
from curate.dedup.signature import minhash_signatures
from curate.rundir import StageDir
from curate.stage import build_stage


def _measured(fn, *args):  # noqa: ANN001, ANN202 - runs inside a Ray task
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RayRunner:
    """``runner.map`` on Ray tasks (1 CPU each); records peak RSS of the workers that ran them."""

    def __init__(self, num_workers: int) -> None:
        import ray

        self.ray, self.num_workers, self.peak_mb = ray, num_workers, 0.0
        self._remote = ray.remote(num_cpus=1)(_measured)

    def map(self, fn, args_list):  # noqa: ANN001, ANN201
        res = self.ray.get([self._remote.remote(fn, *a) for a in args_list])
        self.peak_mb = max([self.peak_mb] + [r[2] for r in res])
        return [r[0] for r in res]


def _map_shard(stage, path: str, workdir: str, shard: int) -> int:  # noqa: ANN001
    docs = pq.read_table(path, columns=["id", "text", "url", "source"]).to_pylist()
    tables = []
    for lo in range(0, len(docs), 2000):
        batch = docs[lo : lo + 2000]
        stage.process_batch(batch)
        tables.append(stage.collect(batch))
    import pyarrow as pa

    sdir = StageDir(workdir)
    sdir.write_table(sdir.collect_file(shard), pa.concat_tables(tables))
    return len(docs)


def _apply_shard(stage, path: str, workdir: str, shard: int) -> list[tuple[str, str]]:  # noqa: ANN001
    docs = pq.read_table(path, columns=["id", "text"]).to_pylist()
    reasons = stage.apply(docs, shard, StageDir(workdir))
    return [(d["id"], d["_duplicate_of"]) for d, r in zip(docs, reasons, strict=True) if r]


def shingles(text: str, n: int = 5) -> set[str]:
    w = normalize_text(text).split()
    return {" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def speed(texts: list[str]) -> dict:
    from datasketch import MinHash

    minhash_signatures(texts[:1000], 112, 5)  # warm-up: per-process tables (powers of the prefix hash)
    t = time.perf_counter()
    minhash_signatures(texts, 112, 5)
    ours = len(texts) / (time.perf_counter() - t)
    sub = texts[: max(500, len(texts) // 4)]
    t = time.perf_counter()
    MinHash.bulk([[s.encode() for s in shingles(x)] for x in sub], num_perm=112)
    ds = len(sub) / (time.perf_counter() - t)
    return {"ours": ours, "datasketch": ds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ds-sample", type=int, default=20_000)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    files = sorted(Path(args.corpus).glob("part-*.parquet"))
    ids, clusters = [], []
    for f in files:
        t = pq.read_table(f, columns=["id", "cluster"])
        ids += t.column("id").to_pylist()
        clusters += t.column("cluster").to_pylist()
    n = len(ids)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; corpus {args.corpus}: "
        f"{n} docs in {len(files)} shards"
    )

    # 1. signatures per core, ours vs datasketch, on the first shard's texts
    texts = pq.read_table(files[0], columns=["text"]).column("text").to_pylist()[:5000]
    sp = speed(texts)
    print(
        f"signatures (112 perms, 1 core): ours {sp['ours']:.0f} docs/s, datasketch MinHash.bulk "
        f"{sp['datasketch']:.0f} docs/s -> {sp['ours'] / sp['datasketch']:.1f}x  "
        f"(mean {np.mean([len(x) for x in texts]):.0f} chars/doc)"
    )

    # 2. end to end with 1 and 2 Ray workers
    from curate.raysession import init_ray

    stage = build_stage("minhash")
    results = {}
    for w in args.workers:
        import ray

        ray.shutdown()
        init_ray(num_cpus=w)
        runner = RayRunner(w)
        wd = Path(tempfile.mkdtemp(prefix=f"mh-bench-{w}-"))
        times = {}
        t = time.perf_counter()
        runner.map(_map_shard, [(stage, str(f), str(wd), i) for i, f in enumerate(files)])
        times["map: signatures + collect"] = time.perf_counter() - t
        t = time.perf_counter()
        summary = stage.reduce(StageDir(str(wd)), list(range(len(files))), runner)
        times["reduce: bands + verify + components + lists"] = time.perf_counter() - t
        t = time.perf_counter()
        dropped = runner.map(_apply_shard, [(stage, str(f), str(wd), i) for i, f in enumerate(files)])
        times["apply"] = time.perf_counter() - t
        total = sum(times.values())
        results[w] = (list(itertools.chain.from_iterable(dropped)), summary)
        print(
            f"\n{w} worker(s): total {total:.1f} s ({n / total:.0f} docs/s); peak worker RSS {runner.peak_mb:.0f} MB"
        )
        for k, v in times.items():
            print(f"  {k:45s} {v:7.1f} s")
        print(
            f"  candidates {summary['candidate_pairs']}, verified {summary['verified_pairs']}, removed "
            f"{summary['removed']}, clusters {summary['cluster_size_histogram']}"
        )
        if not args.keep:
            shutil.rmtree(wd)
    first = results[args.workers[0]][0]
    assert all(sorted(r[0]) == sorted(first) for r in results.values()), "outputs differ across worker counts"

    # 3. recall / precision on planted clusters
    kept_of = dict(first)
    pred = {i: kept_of.get(i, i) for i in ids}
    text_of = {}
    clustered = [i for i, c in zip(ids, clusters, strict=True) if c >= 0]
    need = set(clustered) | {x for pair in first for x in pair}
    for f in files:
        t = pq.read_table(f, columns=["id", "text"])
        for i, x in zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True):
            if i in need:
                text_of[i] = shingles(x)
    gt: dict[int, list[str]] = {}
    for i, c in zip(ids, clusters, strict=True):
        if c >= 0:
            gt.setdefault(c, []).append(i)
    cl_of = dict(zip(ids, clusters, strict=True))
    pos = found = 0
    for members in gt.values():
        for a, b in itertools.combinations(members, 2):
            if jaccard(text_of[a], text_of[b]) >= 0.8:
                pos += 1
                found += pred[a] == pred[b]
    groups: dict[str, list[str]] = {}
    for i, k in pred.items():
        groups.setdefault(k, []).append(i)
    pp = tp = 0
    for members in groups.values():
        for a, b in itertools.combinations(members, 2):
            pp += 1
            tp += cl_of[a] >= 0 and cl_of[a] == cl_of[b]
    print(
        f"\nplanted pairs with J >= 0.8: {pos}; recall {found / max(pos, 1):.4f}; precision {tp / max(pp, 1):.4f} "
        f"({pp} predicted pairs)"
    )

    # 4. datasketch MinHashLSH (14 x 8) on a subsample: agreement of same-cluster pairs
    from datasketch import MinHash, MinHashLSH

    rng = np.random.default_rng(0)
    sample_ids = set(rng.choice(ids, size=min(args.ds_sample, n), replace=False).tolist()) | set(
        clustered[: args.ds_sample // 10]
    )
    stexts = {}
    for f in files:
        t = pq.read_table(f, columns=["id", "text"])
        for i, x in zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True):
            if i in sample_ids:
                stexts[i] = x
    t = time.perf_counter()
    keys = list(stexts)
    mhs = MinHash.bulk([[s.encode() for s in shingles(stexts[k])] for k in keys], num_perm=112)
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    ds_pairs = set()
    for k, m in zip(keys, mhs, strict=True):
        for other in lsh.query(m):
            ds_pairs.add(tuple(sorted((k, other))))
        lsh.insert(k, m)
    ds_time = time.perf_counter() - t
    by_pred: dict[str, list[str]] = {}
    for k in keys:
        by_pred.setdefault(pred[k], []).append(k)
    our_pairs = {tuple(sorted(p)) for m in by_pred.values() for p in itertools.combinations(m, 2)}
    inter = len(our_pairs & ds_pairs)
    print(
        f"datasketch MinHash.bulk + MinHashLSH(14x8) on {len(keys)} docs: {len(keys) / ds_time:.0f} docs/s "
        f"(1 core); its candidate pairs {len(ds_pairs)}, ours (same-cluster) {len(our_pairs)}, both {inter}"
    )


if __name__ == "__main__":
    main()
