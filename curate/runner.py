"""The driver: run a recipe over input shards on Ray, segment by segment, resumably.

Each segment (per-document stages up to a global stage) is one Ray task per shard, a bounded number in
flight, retried by Ray when a worker dies or a task raises. Between segments a global stage runs its passes
(``reduce``) through :class:`RayRunner`. Completion markers make a rerun skip finished work, so a killed run
resumes to exactly the rows of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import fsspec
import yaml

from curate.errors import RecipeError
from curate.io.inputs import Shard, expand_inputs
from curate.io.writer import atomic_write_bytes
from curate.raysession import cluster_cpus, init_ray
from curate.recipe import Recipe, load_recipe, segments, validate
from curate.shard import Layout, process_shard

VERSIONED = ("curate", "ray", "pyarrow", "fastwarc", "resiliparse", "trafilatura", "fasttext", "numpy", "torch")


def _remote_call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


class RayRunner:
    """Runs functions as Ray tasks with a bounded number in flight; what global stages' ``reduce`` gets."""

    def __init__(self, max_in_flight: int | None = None, max_retries: int = 3) -> None:
        import ray

        self.num_workers = cluster_cpus()
        self.max_in_flight = max_in_flight or 2 * self.num_workers
        self._task = ray.remote(max_retries=max_retries, retry_exceptions=True)(_remote_call)

    def imap_unordered(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> Any:
        """Yield (position, result or exception) as tasks finish."""
        import ray

        pending: dict[Any, int] = {}
        todo = list(enumerate(args_list))
        todo.reverse()
        while todo or pending:
            while todo and len(pending) < self.max_in_flight:
                i, args = todo.pop()
                pending[self._task.remote(fn, tuple(args))] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    yield i, ray.get(ref)
                except Exception as e:  # after Ray's retries
                    yield i, e

    def map(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> list[Any]:
        """``[fn(*args) for args in args_list]`` as parallel Ray tasks; raises the first failure."""
        out: list[Any] = [None] * len(args_list)
        for i, r in self.imap_unordered(fn, args_list):
            if isinstance(r, Exception):
                raise r
            out[i] = r
        return out


@dataclass
class RunResult:
    """What a run did: per-segment shard counts, failures, global summaries, the run directory."""

    run_dir: str
    shards: int
    processed: int = 0
    skipped: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    global_summaries: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _exists(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    return fs.exists(path)


def _read_json(url: str) -> Any:
    with fsspec.open(url, "rt") as f:
        return json.load(f)


def fingerprint(recipe: Recipe, shards: list[Shard], limit: int | None) -> str:
    payload = {"recipe": recipe.to_dict() | {"source": None}, "inputs": [s.path for s in shards], "limit": limit}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prepare_run_dir(layout: Layout, recipe: Recipe, shards: list[Shard], limit: int | None, overwrite: bool) -> str:
    fs, root = fsspec.core.url_to_fs(layout.root)
    fp = fingerprint(recipe, shards, limit)
    run_yaml = layout.join("run.yaml")
    if fs.exists(root) and overwrite:
        fs.rm(root, recursive=True)
    if _exists(run_yaml):
        with fsspec.open(run_yaml, "rt") as f:
            old = yaml.safe_load(f) or {}
        if old.get("fingerprint") != fp:
            raise RecipeError(
                f"--output {layout.root} holds a run of a different recipe, inputs or limit "
                f"(fingerprint {old.get('fingerprint')} vs {fp}): use a new --output, or --overwrite"
            )
    # Leftover temporary files of a killed run are never read (their names end in .tmp-XXXX); remove them.
    for p in fs.glob(f"{root.rstrip('/')}/**/*.tmp-*") if fs.exists(root) else []:
        try:
            fs.rm(p)
        except FileNotFoundError:
            pass
    return fp


def _write_run_yaml(layout: Layout, recipe: Recipe, shards: list[Shard], fp: str, info: dict[str, Any]) -> None:
    doc = {
        "fingerprint": fp,
        "recipe": recipe.to_dict(),
        "inputs": [s.path for s in shards],
        "versions": _versions(),
        "command": " ".join(sys.argv),
        **info,
    }
    atomic_write_bytes(layout.join("run.yaml"), yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode())


def run(
    recipe: str | Recipe,
    inputs: list[str],
    output: str,
    *,
    overrides: list[str] | None = None,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    limit: int | None = None,
    max_files: int | None = None,
    base_url: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    keep_intermediate: bool = False,
) -> RunResult:
    """Run ``recipe`` (a built-in name, a YAML path or a Recipe) over ``inputs`` into the run directory ``output``.

    Everything is validated before any work starts. Returns a :class:`RunResult`; failed shards are listed in
    it (and in ``failed/``) rather than raised, so the caller decides the exit status.
    """
    t0 = time.time()
    if isinstance(recipe, str):
        recipe = load_recipe(recipe, overrides, check=False)  # validated once, just below
    elif overrides:
        from curate.recipe import apply_overrides

        recipe = apply_overrides(recipe, overrides)
    stages = validate(recipe)
    shards = expand_inputs(inputs, base_url=base_url)
    if max_files:
        shards = shards[:max_files]
    if not shards:
        raise RecipeError("--input matched no files")
    layout = Layout(output)
    fp = _prepare_run_dir(layout, recipe, shards, limit, overwrite)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_run_yaml(layout, recipe, shards, fp, {"started": started, "finished": None})

    init_ray(ray_address, num_cpus=num_cpus)
    runner = RayRunner()
    segs = segments(stages)
    recipe_dict = recipe.to_dict()
    result = RunResult(run_dir=output, shards=len(shards))
    positions = {id(s): i for i, s in enumerate(stages)}
    for k, (_, gstage) in enumerate(segs):
        specs = []
        for sh in shards:
            if _exists(layout.marker(k, sh.index)):
                result.skipped += 1
                continue
            spec = {"recipe": recipe_dict, "run_dir": output, "segment": k, "limit": limit,
                    "shard": {"index": sh.index, "path": sh.path, "kind": sh.kind}}
            if k > 0:
                prev = _read_json(layout.marker(k - 1, sh.index))
                spec["input_files"] = [f"{layout.data_dir(k - 1, False)}/{f}" for f in prev["files"]]
            specs.append(spec)
        _run_shards(runner, specs, result, desc=f"segment {k + 1}/{len(segs)}", progress=progress)
        if result.failed:
            break  # a global stage needs every shard: report, and let a rerun finish the failed ones
        if gstage is not None:
            pos = positions[id(gstage)]
            marker = layout.global_marker(pos, gstage.name)
            if _exists(marker):
                result.global_summaries[gstage.name] = _read_json(marker)
            else:
                wd = layout.global_dir(pos, gstage.name)
                fs, wpath = fsspec.core.url_to_fs(wd)
                fs.makedirs(wpath, exist_ok=True)
                tg = time.time()
                if progress:
                    print(f"global stage {gstage.name}: reducing over {len(shards)} shards", file=sys.stderr)
                summary = gstage.reduce(_local_path(wd), [s.index for s in shards], runner) or {}
                summary = {"seconds": round(time.time() - tg, 3), **summary}
                atomic_write_bytes(marker, json.dumps(summary, default=str).encode())
                result.global_summaries[gstage.name] = summary
    if result.ok and len(segs) > 1 and not keep_intermediate:
        fs, ipath = fsspec.core.url_to_fs(layout.join("intermediate"))
        if fs.exists(ipath):
            fs.rm(ipath, recursive=True)
    result.seconds = time.time() - t0
    _write_run_yaml(
        layout, recipe, shards, fp,
        {"ray": {"address": ray_address or os.environ.get("RAY_ADDRESS") or "embedded", "cpus": runner.num_workers},
         "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z") if result.ok else None,
         "failed_shards": {str(k): v for k, v in result.failed.items()},
         "global": result.global_summaries},
    )
    return result


def _local_path(url: str) -> Any:
    from pathlib import Path

    fs, path = fsspec.core.url_to_fs(url)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return Path(path) if proto in ("file", "local") else url


def _run_shards(runner: RayRunner, specs: list[dict[str, Any]], result: RunResult, desc: str, progress: bool) -> None:
    if not specs:
        return
    from tqdm import tqdm

    bar = tqdm(total=len(specs), desc=desc, unit="shard", disable=not progress, file=sys.stderr)
    kept = read = 0
    for i, r in runner.imap_unordered(process_shard, [(s,) for s in specs]):
        shard = specs[i]["shard"]["index"]
        if isinstance(r, Exception):
            msg = f"{type(r).__name__}: {r}"
            result.failed[shard] = msg
            layout = Layout(specs[i]["run_dir"])
            atomic_write_bytes(layout.join("failed", f"part-{shard:05d}.txt"), msg.encode())
        else:
            result.processed += 1
            kept += r["docs_kept"]
            failed = Layout(specs[i]["run_dir"]).join("failed", f"part-{shard:05d}.txt")
            if _exists(failed):  # an earlier run's failure, now finished
                fs, fpath = fsspec.core.url_to_fs(failed)
                fs.rm(fpath)
            read += r["stages"][0]["docs_in"]
        bar.set_postfix(docs_in=read, kept=kept, failed=len(result.failed))
        bar.update(1)
    bar.close()
