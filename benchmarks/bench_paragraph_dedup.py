"""paragraph_dedup (DCLM-Baseline's BFF rules) on the bench crawl: funnel beside DCLM's, memory, docs/s.

Prints, with the machine and inputs:
  (a) the funnel: the bench WARCs through the ``heuristics`` recipe (DCLM-Baseline's per-document part), then
      ``paragraph_dedup`` on its output — documents dropped and characters removed, in points of the pool
      (the extracted pages), beside DCLM's published "BFF removes 6.2 points of the pool" and beside
      ``exact_dedup`` (what dclm_baseline ran before) on the same documents;
  (b) the same output with 1 worker (in this process) and 2 Ray workers, and the rounds the exact
      sequential rule took;
  (c) docs/s of each run (wall; ``exact_dedup`` in the same run as the ratio's reference) and the peak RSS of
      a worker: the map tasks (``shard_peak_rss_mb`` in the stats) and the reduce jobs (``ru_maxrss``).

    .venv/bin/python benchmarks/bench_paragraph_dedup.py [--workdir /tmp/curate_bench_pdedup] [--reuse]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = SHARED / "warc" / "bench"
DCLM_BFF_POINTS = 6.2  # DCLM-Baseline: BFF removes 6.2 points of the pool (arXiv 2406.11794, the funnel)


def rows(run: Path) -> dict[str, str]:
    t = pq.read_table(run / "data", columns=["id", "text"])
    return dict(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))


def stage_counts(run: Path, name: str) -> dict[str, int]:
    from curate.stats import funnel

    st = funnel(str(run))["stages"]
    s = next(x for x in st if x["name"] == name)
    return {
        "docs_in": s["docs_in"],
        "docs_out": s["docs_out"],
        "chars_in": s["chars_in"],
        "chars_out": s["chars_out"],
    }


def peak_map_rss(run: Path) -> float:
    peaks = [json.loads(p.read_text()).get("shard_peak_rss_mb", 0.0) for p in (run / "stats").glob("*.json")]
    return max(peaks or [0.0])


def _cpu(fn) -> float:
    c = time.process_time()
    fn()
    return time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/curate_bench_pdedup")
    ap.add_argument("--reuse", action="store_true", help="reuse the heuristics run of an earlier invocation")
    args = ap.parse_args()
    work = Path(args.workdir)
    warcs = sorted(glob.glob(str(BENCH / "*.warc.gz")))
    size = sum(os.path.getsize(p) for p in warcs)
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared), python {platform.python_version()}"
    )
    print(f"inputs: {len(warcs)} bench WARCs, {size / 1e6:.1f} MB gzip ({BENCH})")

    from curate.executor import LocalExecutor
    from curate.runner import run
    from curate.stats import funnel

    heur = work / "heuristics"
    if not (args.reuse and (heur / "data").exists()):
        shutil.rmtree(work, ignore_errors=True)
        t = time.perf_counter()
        res = run("heuristics", warcs, str(heur), num_cpus=2, progress=False)
        assert res.ok, res.failed
        print(f"heuristics recipe: {time.perf_counter() - t:.0f} s (2 Ray workers)")
    f = funnel(str(heur))["stages"]
    pool = next(s for s in f if s["name"] == "extract")["docs_out"]
    pool_chars = next(s for s in f if s["name"] == "extract")["chars_out"]
    inputs = sorted(str(p) for p in (heur / "data").glob("*.parquet"))
    docs_in = sum(pq.ParquetFile(p).metadata.num_rows for p in inputs)

    def one(recipe_text: str, name: str, executor) -> tuple[Path, float]:
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        recipe = work / f"{name}.yaml"
        recipe.write_text(recipe_text)
        t, c = time.perf_counter(), time.process_time()
        res = run(str(recipe), inputs, str(out), executor=executor, num_cpus=2, progress=False)
        assert res.ok, res.failed
        cpu[name] = time.process_time() - c  # this process only: the whole run for the in-process executor
        return out, time.perf_counter() - t

    cpu: dict[str, float] = {}

    # inline_below 0: the partitioned reduce jobs, as a crawl of more than 4 M n-grams runs them (this one, with
    # ~10^6, would otherwise reduce in memory in the driver)
    pd_recipe = "name: bff\nstages:\n  - paragraph_dedup: {ngram: 13, threshold: 0.8, inline_below: 0}\n"
    ex_recipe = "name: exact\nstages:\n  - exact_dedup\n"
    local, t_local = one(pd_recipe, "pdedup-1", LocalExecutor(1))
    one(ex_recipe, "warm-up", "ray")  # Ray's start and its workers' imports are not the stage's cost
    ray2, t_ray = one(pd_recipe, "pdedup-ray2", "ray")
    exact, t_exact = one(ex_recipe, "exact-ray2", "ray")

    pd = stage_counts(ray2, "paragraph_dedup")
    ex = stage_counts(exact, "exact_dedup")
    summary = json.loads(next((ray2 / "global").glob("*-paragraph_dedup/summary.json")).read_text())
    dropped = pd["docs_in"] - pd["docs_out"]
    print(
        f"\n(a) funnel: pool = {pool:,} extracted pages ({pool_chars / 1e6:.1f} M chars); after heuristics "
        f"{docs_in:,} ({100 * docs_in / pool:.1f} % of the pool)"
    )
    print(
        f"  paragraph_dedup drops {dropped} documents = {100 * dropped / pool:.2f} points of the pool "
        f"({100 * dropped / max(1, docs_in):.2f} % of its input); DCLM published: BFF removes {DCLM_BFF_POINTS} "
        "points of the pool"
    )
    print(
        f"  it removes {summary['removed_paragraphs']:,} of {summary['paragraphs']:,} paragraphs; characters: "
        f"{pd['chars_in'] - pd['chars_out']:,} of {pd['chars_in']:,} "
        f"({100 * (pd['chars_in'] - pd['chars_out']) / max(1, pd['chars_in']):.2f} % of its input, "
        f"{100 * (pd['chars_in'] - pd['chars_out']) / pool_chars:.2f} points of the pool's characters)"
    )
    print(
        f"  n-grams: {summary['ngrams']:,} ({summary['distinct_ngrams']:,} distinct), seen "
        f"{summary['seen_ngrams']:,}; reference in this run, exact_dedup drops {ex['docs_in'] - ex['docs_out']} "
        f"documents = {100 * (ex['docs_in'] - ex['docs_out']) / pool:.2f} points"
    )
    print(
        "  (the bench crawl is 4 WARC files of one crawl: far less cross-page duplication than DCLM's 240 T-token "
        "pool, so fewer points are expected)"
    )

    same = rows(local) == rows(ray2)
    print(
        f"\n(b) 1 worker (in process) vs 2 Ray workers: identical data/ = {same} "
        f"({len(rows(ray2))} documents); rounds {summary['rounds']} (converged: {summary['converged']}), "
        f"partitions {summary['partitions']}"
    )
    assert same

    print("\n(c) throughput (wall, whole run: map + reduce + apply passes) and memory")
    print(f"  paragraph_dedup, 1 worker in process: {docs_in / t_local:8.1f} docs/s ({t_local:.1f} s)")
    print(f"  paragraph_dedup, 2 Ray workers:       {docs_in / t_ray:8.1f} docs/s ({t_ray:.1f} s)")
    print(
        f"  exact_dedup, 2 Ray workers:           {docs_in / t_exact:8.1f} docs/s ({t_exact:.1f} s); "
        f"paragraph_dedup / exact_dedup = {t_exact / t_ray:.2f}"
    )
    print(
        f"  paragraph_dedup, 1 worker in process, CPU time: {docs_in / cpu['pdedup-1']:8.1f} docs/s "
        f"({cpu['pdedup-1']:.1f} s; wall figures on this shared machine move with the other jobs' load)"
    )
    from curate.dedup.paragraph import document_ngrams

    texts = pq.read_table(heur / "data", columns=["text"]).column("text").to_pylist()
    best = min(_cpu(lambda: [document_ngrams(t) for t in texts]) for _ in range(3))
    print(
        f"  n-gram hashing alone (words + 13-gram hashes, the map side's work), CPU time, best of 3: "
        f"{len(texts) / best:,.0f} docs/s per core ({sum(map(len, texts)) / best / 1e6:.2f} M chars/s)"
    )
    print(
        f"  peak RSS of a worker: map tasks {peak_map_rss(ray2):.0f} MB (exact_dedup's {peak_map_rss(exact):.0f} MB), "
        f"reduce jobs {summary['reduce_peak_rss_mb']:.0f} MB (a worker process's whole-life peak)"
    )
    print(
        f"  reduce state: {summary['ngrams']:,} n-gram occurrences x 16 B = {16 * summary['ngrams'] / 2**20:.1f} MB "
        f"of (hash, position) over {summary['partitions']} partitions; 10^9 n-grams: 16 GB over the partitions, "
        "~53 B a partition's n-gram at its sort (20 M per partition by default: ~1.1 GB a task)"
    )


if __name__ == "__main__":
    main()
