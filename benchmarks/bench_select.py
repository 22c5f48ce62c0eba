"""Annotate once, select three times (issue 13): each select's data/ beside a full run with the same
parameters (same ids?), and the select's time beside the full run's.

Two ways of timing, both printed: in one Python session (Ray started once, its workers warm: the cost of
the work itself), and from the command line, each command a new process (what a user waits for: Python,
Ray's start-up and model loading included). `curate select` runs in its own process by default for small
runs (``--executor auto``), so the second table shows that choice beside `curate run`.

    python benchmarks/bench_select.py [--files 4] [--recipe dclm_baseline] [--rounds 2] [--no-cli]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "warc" / "bench"
SETS = [
    ["language.threshold=0.8"],
    ["quality.keep_top_fraction=0.2"],
    ["language.threshold=0.5", "quality.keep_top_fraction=0.05"],
]


def ids(run_dir: Path) -> list[str]:
    return sorted(r["id"] for f in sorted((run_dir / "data").glob("*.parquet"))
                  for r in pq.read_table(f, columns=["id"]).to_pylist())


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--recipe", default="dclm_baseline")
    ap.add_argument("--no-cli", action="store_true", help="skip the command-line timings")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; each figure is the best of them")
    args = ap.parse_args()
    import ray

    from curate.annotate import select
    from curate.raysession import init_ray
    from curate.runner import run

    files = [str(p) for p in sorted(BENCH.glob("*.warc.gz"))[: args.files]]
    tmp = Path(tempfile.mkdtemp(prefix="curate-select-"))
    init_ray()
    ray.get([ray.remote(lambda: __import__("curate.mappass")).remote() for _ in range(2)])
    t0 = time.perf_counter()
    assert run(args.recipe, files, str(tmp / "annotated"), overrides=["recipe.mode=annotate"], progress=False).ok
    t_annotate = time.perf_counter() - t0
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {len(files)} bench WARC "
          f"files; recipe {args.recipe}; annotate once: {t_annotate:.1f} s")
    print(f"best of {args.rounds} interleaved rounds (select, in-process select, full run, for each set in turn)")
    print(f"{'parameters':<55}{'select s':>9}{'in-proc s':>10}{'full s':>8}{'select/full':>12}{'docs':>7}  same ids")
    best: dict[tuple[int, str], float] = {}
    for _ in range(args.rounds):
        for i, sets in enumerate(SETS):
            for kind in ("sel", "loc", "full"):
                dest = tmp / f"{kind}{i}"
                shutil.rmtree(dest, ignore_errors=True)
                t0 = time.perf_counter()
                if kind == "full":
                    assert run(args.recipe, files, str(dest), overrides=sets, progress=False).ok
                else:  # "loc": the same select in this process (no Ray task overheads)
                    assert select(str(tmp / "annotated"), args.recipe, str(dest), overrides=sets, progress=False,
                                  executor="ray" if kind == "sel" else "local").ok
                best[i, kind] = min(best.get((i, kind), 1e9), time.perf_counter() - t0)
    for i, sets in enumerate(SETS):
        t_sel, t_loc, t_full = best[i, "sel"], best[i, "loc"], best[i, "full"]
        same = ids(tmp / f"sel{i}") == ids(tmp / f"full{i}") == ids(tmp / f"loc{i}")
        print(f"{' '.join(sets):<55}{t_sel:>9.2f}{t_loc:>10.2f}{t_full:>8.1f}{t_sel / t_full:>11.1%}"
              f"{len(ids(tmp / f'full{i}')):>7}  {same}")
    print("target: select <= 5% of the full run's time, same ids")
    if not args.no_cli:
        cli = [sys.executable, "-m", "curate.cli"]
        # Python caches compiled modules (.pyc) as an installed package does, even where the environment
        # turns that off (PYTHONDONTWRITEBYTECODE): else every process compiles curate's ~60 modules again.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        print(f"\nfrom the command line, each a new process (.pyc cached), best of {args.rounds} (wall s): "
              f"{'parameters':<45}{'select':>8}{'run':>8}{'select/run':>12}")
        for i, sets in enumerate(SETS):
            flags = [a for s in sets for a in ("--set", s)]
            t_sel = t_run = 1e9
            for _ in range(args.rounds):
                for d in (tmp / f"cli-sel{i}", tmp / f"cli-run{i}"):
                    shutil.rmtree(d, ignore_errors=True)
                t0 = time.perf_counter()
                subprocess.run([*cli, "select", str(tmp / "annotated"), "--recipe", args.recipe, *flags,
                                "--output", str(tmp / f"cli-sel{i}"), "-q"], check=True, env=env)
                t_sel = min(t_sel, time.perf_counter() - t0)
                t0 = time.perf_counter()
                subprocess.run([*cli, "run", args.recipe, "--input", *files, *flags, "--output",
                                str(tmp / f"cli-run{i}"), "-q"], check=True, env=env)
                t_run = min(t_run, time.perf_counter() - t0)
            same = ids(tmp / f"cli-sel{i}") == ids(tmp / f"cli-run{i}") == ids(tmp / f"full{i}")
            print(f"{'':51}{' '.join(sets):<45}{t_sel:>8.2f}{t_run:>8.1f}{t_sel / t_run:>11.1%}  same ids {same}")
        # pyarrow imports pandas on its first array wherever pandas is installed (here: the dev extra; curate
        # does not depend on it): what that adds to every command, for a reader comparing with a plain install
        extra = []
        for _ in range(args.rounds):
            base = "import curate.annotate, curate.runner, pyarrow.compute, pyarrow.parquet"  # what select loads
            with_pd, without = (_wall([sys.executable, "-c", f"{base}{m}"], env) for m in (", pandas", ""))
            extra.append(with_pd - without)
        print(f"of each command above, pandas (imported by pyarrow; a test dependency here): {min(extra):.2f} s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
