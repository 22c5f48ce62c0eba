"""The driver: compile a recipe into its plan, then run the passes over the shards, resumably.

Everything is checked before any work starts (the recipe, the options, the inputs, the output location).
Then each map pass runs one task per shard that has no marker yet, and each reduce pass runs once unless its
marker exists, so a killed run resumes with the same command and ends with exactly the rows of an
uninterrupted one. Tasks run on Ray (:class:`~curate.executor.RayExecutor`) or in this process
(:class:`~curate.executor.LocalExecutor`: the Python API, notebooks, tests): the same plan, the same code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from curate.annotate import SEP
from curate.errors import RecipeError
from curate.io.inputs import DEFAULT_SPLIT_BYTES, Shard, expand_inputs
from curate.lock import RunLock
from curate.mappass import ShardTask, run_map_pass
from curate.plan import MapPass, Plan, compile_plan
from curate.progress import Progress
from curate.recipe import Recipe, apply_overrides, dump_yaml, load_recipe, load_yaml, validate
from curate.rundir import RunDir
from curate.schema import run_schema
from curate.stage import ApplyStage, check_requirements

VERSIONED = ("curate", "ray", "pyarrow", "fastwarc", "resiliparse", "trafilatura", "fasttext", "numpy", "torch")


@dataclass
class RunResult:
    """What a run did: shard-passes run and skipped, failures, global summaries, the run directory."""

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


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def fingerprint(recipe: Recipe, shards: list[Shard], limit: int | None) -> str:
    inputs = [s.path if s.part is None else f"{s.path}#{s.part}" for s in shards]
    payload = {"recipe": recipe.to_dict() | {"source": None}, "inputs": inputs, "limit": limit}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_plan(recipe: str | Recipe, overrides: list[str] | None = None) -> tuple[Recipe, Plan]:
    """Parse and validate a recipe once, and compile its plan."""
    if isinstance(recipe, str):
        recipe = load_recipe(recipe, overrides, check=False)
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    stages = validate(recipe)
    check_requirements(stages, f"{recipe.path}: ")
    return recipe, compile_plan(stages)


def _check_options(limit: int | None, max_files: int | None, num_cpus: int | None) -> None:
    for name, v in (("--limit", limit), ("--max-files", max_files), ("--num-cpus", num_cpus)):
        if v is not None and v < 1:
            raise RecipeError(f"{name} must be at least 1 (got {v})")


def _check_text_stages(plan: Plan, shards: list[Shard]) -> None:
    """A text stage before ``extract`` sees no text on WARC records: it would drop every document."""
    if not any(s.kind == "warc" for s in shards):
        return
    names = [s.name for s in plan.stages]
    if "extract" not in names:
        return
    before = [s.name for s in plan.stages[: names.index("extract")] if s.needs_text]
    if before:
        raise RecipeError(
            f"stages {before} come before 'extract': on WARC input they would see no text and drop every "
            "document; move them after extract"
        )


def _check_output(run: RunDir, shards: list[Shard]) -> None:
    root = run.full().rstrip("/")
    if run.fs.isfile(root):
        raise RecipeError(f"--output {run.url}: is an existing file, not a folder")
    parent = root
    while parent and parent not in ("/", "."):
        parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
        if parent and run.fs.isfile(parent):
            raise RecipeError(f"--output {run.url}: {parent} is a file")
    for s in shards:
        if run.local and os.path.realpath(s.path).startswith(os.path.realpath(root) + os.sep):
            raise RecipeError(f"--output {run.url}: holds input {s.path}; write the run somewhere else")
    if run.local:
        try:
            run.makedirs()
            probe = f"{root}/.curate-write-probe"
            with open(probe, "wb"):
                pass
            os.remove(probe)
        except OSError as e:
            raise RecipeError(f"--output {run.url}: cannot write there ({e.strerror or e})") from e


def _prepare_run_dir(run: RunDir, recipe: Recipe, shards: list[Shard], limit: int | None, overwrite: bool) -> str:
    fp = fingerprint(recipe, shards, limit)
    if overwrite and run.exists(""):
        for rel in run.glob("*"):
            if rel != "lock.json":
                run.rm(rel, recursive=True)
    if run.exists("run.yaml"):
        old = load_yaml(run.read_bytes("run.yaml")) or {}
        if old.get("fingerprint") != fp:
            raise RecipeError(
                f"--output {run.url} holds a run of a different recipe, inputs or limit "
                f"(fingerprint {old.get('fingerprint')} vs {fp}): use a new --output, or --overwrite"
            )
    run.clean_leftovers()
    return fp


def _write_run_yaml(run: RunDir, recipe: Recipe, shards: list[Shard], fp: str, info: dict[str, Any]) -> None:
    doc = {
        "fingerprint": fp,
        "recipe": recipe.to_dict(),
        "inputs": [s.path for s in shards],
        "versions": dict(_versions()),
        "command": " ".join(sys.argv),
        **info,
    }
    run.write_bytes("run.yaml", dump_yaml(doc).encode())


def _input_fields(shards: list[Shard], storage_options: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Columns of the Parquet inputs (metadata only), so that every data file carries them; and apart, an
    annotated run's ``<stage>__<what>`` columns (select re-decides from them; data/ never carries them)."""
    import fsspec
    import pyarrow.parquet as pq

    fields: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    for s in shards:
        if s.kind != "parquet":
            continue
        try:
            with fsspec.open(s.path, "rb", **storage_options) as f:
                for fld in pq.ParquetFile(f).schema_arrow:
                    (annotations if SEP in fld.name else fields).setdefault(fld.name, fld)
        except (OSError, ValueError):
            continue  # unreadable now: its shard fails and says why
    return list(fields.values()), list(annotations.values())


def _intermediate_schema(schema: Any, plan: Plan, annotations: list[Any]) -> Any:
    """The schema of the files between map passes: the run's, plus the stored measures of an annotated
    input that a stage of a later pass reads back (``quality__key``, in select), so they reach it."""
    import pyarrow as pa

    # an apply stage reads its decisions from the reduce's files, not the stored measures of its owner
    later = [st for mp in plan.map_passes[1:] for st in (*mp.stages, mp.collects)
             if st is not None and not isinstance(st, ApplyStage)]
    wanted = {m for st in later for m in getattr(st, "measures", ())}
    carried = [f for f in annotations if f.name in wanted]
    return pa.schema([*schema, *carried]) if carried else schema


def make_executor(kind: Any, ray_address: str | None, num_cpus: int | None) -> Any:
    """``"ray"`` (embedded or ``ray_address``), ``"local"`` (this process), or an executor instance."""
    from curate.executor import LocalExecutor, RayExecutor

    if not isinstance(kind, str):
        return kind
    if kind == "local":
        return LocalExecutor()
    from curate.raysession import init_ray

    init_ray(ray_address, num_cpus=num_cpus)
    return RayExecutor()


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
    storage_options: dict[str, Any] | None = None,
    executor: Any = "ray",
    documents: list[list[dict[str, Any]]] | None = None,
    split_bytes: int | None = DEFAULT_SPLIT_BYTES,
) -> RunResult:
    """Run ``recipe`` (a built-in name, a YAML path or a Recipe) over ``inputs`` into the run directory ``output``.

    Everything is validated before any work starts. ``executor="local"`` runs every task in this process
    (no Ray). ``documents`` (shards given as lists of documents) replaces ``inputs`` for in-process runs.
    ``split_bytes``: Parquet and uncompressed JSONL inputs larger than this are split into several shards
    (None: one file, one shard); WARC files are always one shard.
    Returns a :class:`RunResult`; failed shards are listed in it (and in ``failed/``) rather than raised, so
    the caller decides the exit status.
    """
    t0 = time.time()
    _check_options(limit, max_files, num_cpus)
    recipe, plan = load_plan(recipe, overrides)
    if documents is not None:
        shards = [Shard(i, f"<documents {i}>", "memory") for i in range(len(documents))]
    else:
        shards = expand_inputs(inputs, base_url=base_url, split_bytes=split_bytes)
    if max_files:
        shards = shards[:max_files]
    if not shards:
        raise RecipeError("--input matched no files")
    _check_text_stages(plan, shards)
    storage_options = storage_options or {}
    rundir = RunDir(output, storage_options)
    _check_output(rundir, shards)
    declared = [c for s in plan.stages for c in s.columns]
    input_fields, annotations = _input_fields(shards, storage_options)
    schema = run_schema(declared, input_fields, with_extra=any(s.kind in ("jsonl", "memory") for s in shards))
    schemas = (schema, _intermediate_schema(schema, plan, annotations))
    with RunLock(rundir):
        fp = _prepare_run_dir(rundir, recipe, shards, limit, overwrite)
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        _write_run_yaml(rundir, recipe, shards, fp, {"started": started, "finished": None})
        ex = make_executor(executor, ray_address, num_cpus)
        result = RunResult(run_dir=output, shards=len(shards))
        _prepare_stages(rundir, plan, result, progress)
        for p in plan.passes:
            if isinstance(p, MapPass):
                _map_pass(ex, rundir, recipe, p, plan, shards, schemas[not p.last], limit, documents, result,
                          progress)
                if result.failed:
                    break  # a global stage needs every shard: report, and let a rerun finish the failed ones
                continue
            marker = rundir.global_marker(p.position, p.stage.name)
            if rundir.exists(marker):
                result.global_summaries[p.stage.name] = rundir.read_json(marker)
                continue
            tg = time.time()
            if progress:
                print(f"reduce {p.stage.name}: over {len(shards)} shards", file=sys.stderr)
            sdir = rundir.stage_dir(p.position, p.stage.name)
            summary = p.stage.reduce(sdir, [s.index for s in shards], ex) or {}
            summary = {"seconds": round(time.time() - tg, 3), **summary}
            rundir.write_json(marker, summary)
            result.global_summaries[p.stage.name] = summary
        if result.ok and len(plan.map_passes) > 1 and not keep_intermediate:
            rundir.rm("intermediate", recursive=True)
        result.seconds = time.time() - t0
        _write_run_yaml(
            rundir, recipe, shards, fp,
            {"ray": {"address": ray_address or os.environ.get("RAY_ADDRESS") or "embedded",
                     "cpus": ex.num_workers} if executor == "ray" else {"address": "in-process", "cpus": 1},
             "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z") if result.ok else None,
             "failed_shards": {str(k): v for k, v in result.failed.items()},
             "global": result.global_summaries},
        )
    return result


def _prepare_stages(rundir: RunDir, plan: Plan, result: RunResult, progress: bool) -> None:
    """Stages that build something once on the driver (an index) do it before the first pass, resumably."""
    for pos, s in enumerate(plan.stages):
        if not s.prepares:
            continue
        marker = f"markers/prepare-{pos:02d}-{s.name}.json"
        if rundir.exists(marker):
            result.global_summaries[f"{s.name}.prepare"] = rundir.read_json(marker)
            continue
        if progress:
            print(f"prepare {s.name}", file=sys.stderr)
        t = time.time()
        summary = {"seconds": 0.0, **(s.prepare(rundir.stage_dir(pos, s.name)) or {})}
        summary["seconds"] = round(time.time() - t, 3)
        rundir.write_json(marker, summary)
        result.global_summaries[f"{s.name}.prepare"] = summary


def _map_pass(
    ex: Any, rundir: RunDir, recipe: Recipe, mp: MapPass, plan: Plan, shards: list[Shard], schema: Any,
    limit: int | None, documents: list[list[dict[str, Any]]] | None, result: RunResult, progress: bool,
) -> None:
    tasks: list[ShardTask] = []
    done = set(rundir.glob(f"markers/s{mp.index}/*.json"))
    prev = set(rundir.glob(f"markers/s{mp.index - 1}/*.json")) if mp.index else set()
    for sh in shards:
        if rundir.marker(mp.index, sh.index) in done:
            result.skipped += 1
            continue
        inputs: tuple[str, ...] = ()
        if mp.index > 0:
            pm = rundir.marker(mp.index - 1, sh.index)
            if pm not in prev:
                raise RuntimeError(f"{pm} is missing: the previous pass did not finish shard {sh.index}")
            folder = rundir.data_folder(mp.index - 1, False)
            inputs = tuple(f"{folder}/{f}" for f in rundir.read_json(pm)["files"])
        docs = tuple(documents[sh.index]) if documents is not None and mp.index == 0 else None
        tasks.append(ShardTask(rundir, recipe, mp.index, sh, schema, inputs, limit if mp.index == 0 else None, docs))
    if not tasks:
        return
    bar = Progress(len(tasks), f"map {mp.index + 1}/{len(plan.map_passes)}", enabled=progress)
    kept = read = 0
    failed_before = set(rundir.glob("failed/*.txt"))
    for i, r in ex.imap_unordered(run_map_pass, [(t,) for t in tasks]):
        shard = tasks[i].shard.index
        if isinstance(r, BaseException):
            msg = _plain(f"{type(r).__name__}: {r}")
            result.failed[shard] = msg
            rundir.write_bytes(rundir.failed_file(shard), msg.encode())
        else:
            result.processed += 1
            kept += r.rows
            read += r.docs_read
            if rundir.failed_file(shard) in failed_before:  # an earlier run's failure, now finished
                rundir.rm(rundir.failed_file(shard))
        bar.update(docs_in=read, kept=kept, failed=len(result.failed))
    bar.close()


def _plain(msg: str) -> str:
    """A message without terminal colour codes (Ray colours its tracebacks)."""
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", msg)
