"""WARC → extracted text through the full engine, beside a bare loop doing the same work, in one run.

Prints, on ../shared/data/warc/bench/ (or --input):
  (a) bare fastwarc read alone (the WARC library's raw speed),
  (b) a bare loop: fastwarc read + charset decode + resiliparse extract_plain_text(main_content=True),
  (c) the engine (curate run, recipe = extract only, Parquet written) with 1 worker, and with 2 workers,
  (d) trafilatura and curate's own method (``method: curate``) in the same bare loop (trafilatura on a sample),
  (e) a worker's peak RSS on one input file vs on one 4x larger file (memory must stay flat).
Targets (issue 2): (c, 1 worker) >= 90% of (b); (c, 2 workers) >= 1.8x (c, 1 worker).

    .venv/bin/python benchmarks/bench_extract.py [--input 'glob'] [--trafilatura-docs 300]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "warc" / "bench"


def bare_read(files: list[str]) -> tuple[float, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    t = time.perf_counter()
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                rec.reader.read()
                n += 1
    return time.perf_counter() - t, n


def bare_extract(files: list[str], method: str = "resiliparse", max_docs: int | None = None) -> tuple[float, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text

    from curate.io.charset import decode_html

    if method == "trafilatura":
        import trafilatura
    elif method == "curate":
        from curate.extract_curate import extract_curate
    t = time.perf_counter()
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                ct = (rec.http_content_type or "").lower()
                if "html" not in ct:
                    continue
                html, _ = decode_html(rec.reader.read(), rec.http_charset)
                if method == "resiliparse":
                    extract_plain_text(html, main_content=True)
                elif method == "curate":
                    extract_curate(html)
                else:
                    trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=True)
                n += 1
                if max_docs and n >= max_docs:
                    return time.perf_counter() - t, n
    return time.perf_counter() - t, n


def engine(files: list[str], workers: int, out: str) -> tuple[float, dict]:
    import ray

    from curate.raysession import init_ray
    from curate.recipe import load_recipe
    from curate.runner import run
    from curate.stats import funnel

    if not ray.is_initialized() or int(ray.cluster_resources().get("CPU", 0)) != workers:
        if ray.is_initialized():
            ray.shutdown()
        init_ray(num_cpus=workers)
        time.sleep(10)  # let Ray's own daemons finish starting: they compete for the two cores at first
    recipe = Path(out).parent / "extract_only.yaml"
    recipe.write_text("stages:\n  - extract: {method: resiliparse}\n")
    # Warm the workers (process start, imports, the recipe built once per worker) so that the figure is the
    # engine's steady state on a long run, where those one-time costs vanish.
    rdict = load_recipe(str(recipe)).to_dict()

    def warm(d: dict) -> int:
        import time as _t

        from curate.shard import worker_pipeline

        worker_pipeline(d)
        _t.sleep(1.0)  # hold this worker so the next warm-up lands on another one
        return os.getpid()

    pids = ray.get([ray.remote(warm).remote(rdict) for _ in range(workers)])
    assert len(set(pids)) == workers, pids
    t = time.perf_counter()
    res = run(str(recipe), files, out, progress=False, overwrite=True)
    wall = time.perf_counter() - t
    assert res.ok, res.failed
    stats = [json.loads(p.read_text()) for p in Path(out, "stats").glob("*.json")]
    f = funnel(out)
    return wall, {"kept": f["stages"][-1]["docs_out"], "peak_rss_mb": max(s["worker_peak_rss_mb"] for s in stats),
                  "task_seconds": sum(s["seconds"] for s in stats)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=str(BENCH / "*.warc.gz"))
    ap.add_argument("--trafilatura-docs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    files = sorted(glob.glob(args.input))
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"input: {len(files)} files, {mb:.1f} MB of gzip WARC ({args.input})\n")

    tr, nrec = bare_read(files)
    print(f"(a) fastwarc read only          {mb / tr:7.2f} MB/s  {nrec / tr:8.0f} records/s")
    with tempfile.TemporaryDirectory() as tmp:
        # This VM's speed drifts by up to 30% between identical runs: interleave (b) and (c) and keep the best
        # of each, so the ratio compares the two under the same conditions.
        tb, t1 = float("inf"), float("inf")
        for rep in range(args.repeats):
            tb_i, ndoc = bare_extract(files)
            t1_i, s1 = engine(files, 1, f"{tmp}/e1")
            tb, t1 = min(tb, tb_i), min(t1, t1_i)
            print(f"    repeat {rep + 1}: bare {tb_i:.1f} s, engine {t1_i:.1f} s", flush=True)
        print(f"(b) bare read+decode+resiliparse {mb / tb:7.2f} MB/s  {ndoc / tb:8.0f} docs/s   (reference)")
        print(f"(c) engine, 1 worker             {mb / t1:7.2f} MB/s  {s1['kept'] / t1:8.0f} docs/s   "
              f"= {tb / t1:.0%} of (b)  [target >= 90%]")
        t2 = float("inf")
        for _ in range(max(1, args.repeats - 1)):
            t2_i, s2 = engine(files, 2, f"{tmp}/e2")
            t2 = min(t2, t2_i)
        # One file is one task: with 4 files of unequal size, 2 workers cannot reach exactly 2x.
        sizes = sorted((os.path.getsize(f) for f in files), reverse=True)
        loads = [0, 0]
        for sz in sizes:
            loads[loads.index(min(loads))] += sz
        ideal = sum(sizes) / max(loads)
        print(f"(c) engine, 2 workers            {mb / t2:7.2f} MB/s  {s2['kept'] / t2:8.0f} docs/s   "
              f"= {t1 / t2:.2f}x 1 worker  [target >= 1.8x; {ideal:.2f}x is the most these {len(files)} files allow]")
        tt, nt = bare_extract(files, "trafilatura", args.trafilatura_docs)
        print(f"(d) bare read+decode+trafilatura {'':7}       {nt / tt:8.0f} docs/s   "
              f"({nt} docs; resiliparse is {(ndoc / tb) / (nt / tt):.1f}x faster)")
        tc, nc = bare_extract(files, "curate")
        print(f"(d) bare read+decode+curate      {mb / tc:7.2f} MB/s  {nc / tc:8.0f} docs/s   "
              f"= {tb / tc:.0%} of (b)  [target >= 60%]")
        # Memory: one file vs the same records in one 4x larger file (gzip members concatenate).
        big = Path(tmp, "all.warc.gz")
        with open(big, "wb") as w:
            for f in files:
                with open(f, "rb") as r:
                    shutil.copyfileobj(r, w)
        _, m1 = engine(files[:1], 1, f"{tmp}/m1")
        _, m4 = engine([str(big)], 1, f"{tmp}/m4")
        print(f"(e) worker peak RSS: {m1['peak_rss_mb']:.0f} MB on 1 file ({os.path.getsize(files[0]) / 1e6:.0f} MB), "
              f"{m4['peak_rss_mb']:.0f} MB on one {big.stat().st_size / 1e6:.0f} MB file")


if __name__ == "__main__":
    main()
