"""One map pass over one shard: the one per-shard code path (Ray tasks, the in-process runner and tests).

Reads the shard (the input file in the first pass, the previous pass's files after a global stage), runs the
pass's stages batch by batch (after a global stage, its apply stage comes first), lets the next global stage
prepare and collect, and writes kept rows, rejected rows, collected rows, stats and — last — the completion
marker. Documents stream through in batches: a shard is never held in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curate.io.inputs import Shard
from curate.io.writer import ParquetShardWriter, intermediate_options
from curate.plan import MapPass, Plan, compile_plan
from curate.recipe import Recipe, output_options, read_limits
from curate.rundir import STORAGE_RETRIES, RunDir, part_name
from curate.schema import REJECTED_SCHEMA, Document, docs_to_table
from curate.stage import ApplyStage, ensure_setup, worker_cache
from curate.stats import StageStats

BATCH_DOCS = 512
BATCH_BYTES = 32 * 2**20


@dataclass(frozen=True)
class ShardTask:
    """What crosses the Ray boundary to run one shard through one map pass."""

    run: RunDir
    recipe: Recipe
    pass_index: int
    shard: Shard
    schema: pa.Schema  # the run's one data schema (decided on the driver)
    input_files: tuple[str, ...] = ()  # pass > 0: the previous pass's files, relative to the run directory
    limit: int | None = None  # records per input file (first pass only)
    documents: tuple[Document, ...] | None = None  # in-process runs: the shard's documents, not a file


@dataclass
class ShardResult:
    """What a finished shard-pass sends back: its files (in the marker too), row counts and stats."""

    shard: int
    pass_index: int
    files: list[str]
    rows: int
    docs_read: int
    stats: dict[str, Any] = field(default_factory=dict)


def recipe_key(recipe: Recipe) -> str:
    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def worker_plan(recipe: Recipe) -> Plan:
    """The recipe's plan, its stages built once per worker process (they keep their loaded models)."""
    return worker_cache(("plan", recipe_key(recipe)), lambda: compile_plan(recipe.build()))


def _batches(docs: Iterable[Document]) -> Iterator[list[Document]]:
    batch: list[Document] = []
    size = 0
    for d in docs:
        batch.append(d)
        size += len(d.get("_html") or b"") + len(d.get("text") or "")
        if len(batch) >= BATCH_DOCS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _text_len(docs: list[Document]) -> int:
    return sum(len(d.get("text") or "") for d in docs)


class _Rejected:
    """Rows for rejected/: id, url, source, stage, reason, duplicate_of, a text snippet."""

    def __init__(self, writer: ParquetShardWriter, snippet: int) -> None:
        self.writer = writer
        self.snippet = snippet
        self.rows: list[dict[str, Any]] = []

    def add(self, doc: Document, stage: str, reason: str) -> None:
        text = doc.get("text")
        if not isinstance(text, str):
            text = None
        if text is None and self.snippet and doc.get("_html") is not None:
            text = doc["_html"][: self.snippet].decode("utf-8", "replace")
        self.rows.append(
            {
                "id": None if doc.get("id") is None else str(doc.get("id")),
                "url": doc.get("url") if isinstance(doc.get("url"), str) else None,
                "source": doc.get("source"),
                "stage": stage,
                "reason": reason,
                "duplicate_of": doc.get("_duplicate_of"),
                "text": text[: self.snippet] if (text and self.snippet) else None,
            }
        )
        if len(self.rows) >= 4096:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(docs_to_table(self.rows, REJECTED_SCHEMA))
            self.rows = []

    def add_table(self, dropped: pa.Table, stage: str, reasons: pa.Array) -> None:
        """The rows of ``add`` for a table of dropped documents (all with their text), at once."""
        import pyarrow.compute as pc

        self.flush()
        n = dropped.num_rows
        text = dropped.column("text")
        snippet = pc.utf8_slice_codeunits(text, 0, self.snippet) if self.snippet else pa.nulls(n, pa.string())
        snippet = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), snippet)
        cols = {
            "id": dropped.column("id").cast(pa.string()),
            "url": dropped.column("url") if "url" in dropped.column_names else pa.nulls(n, pa.string()),
            "source": dropped.column("source") if "source" in dropped.column_names else pa.nulls(n, pa.string()),
            "stage": pa.array([stage] * n, pa.string()),
            "reason": reasons,
            "duplicate_of": pa.nulls(n, pa.string()),
            "text": snippet,
        }
        self.writer.write_table(pa.table(cols).cast(REJECTED_SCHEMA))


def run_stage(
    fn: Any, name: str, docs: list[Document], st: StageStats, rejected: _Rejected, errors: list[str],
    mutates: bool = True, chars: int | None = None,
) -> tuple[list[Document], int]:
    """Run one stage's batch function on ``docs`` (``chars``: their text length, when known); return the kept
    ones and their text length.

    A batch that raises is retried document by document on unmodified copies of the documents (the failed
    call may have changed some of them); a document it still raises on is dropped as ``<stage>_error``.
    """
    chars_in = _text_len(docs) if chars is None else chars
    st.docs_in += len(docs)
    st.chars_in += chars_in
    t = time.perf_counter()
    originals = [copy.copy(d) for d in docs] if mutates else docs
    try:
        results = fn(docs)
        if len(results) != len(docs):
            raise RuntimeError(f"stage {name} returned {len(results)} results for {len(docs)} documents")
    except Exception:
        docs = originals
        results = []
        for d in docs:
            try:
                results.append(fn([d])[0])
            except Exception:
                if len(errors) < 5:
                    errors.append(f"{name}: {traceback.format_exc(limit=3)}")
                results.append(f"{name.split('#')[0]}_error")
    kept = []
    dropped = []
    for d, r in zip(docs, results):
        if r is None:
            kept.append(d)
        else:
            st.reasons[r] += 1
            rejected.add(d, name, r)
            dropped.append(d)
    # a stage that changes no text leaves the kept documents' length known: what came in, less the dropped
    chars_out = _text_len(kept) if mutates else chars_in - _text_len(dropped)
    st.seconds += time.perf_counter() - t
    st.docs_out += len(kept)
    st.chars_out += chars_out
    return kept, chars_out


def _timed(it: Iterator[Document], st: StageStats) -> Iterator[Document]:
    """Charge the time spent inside the reader to its stage's stats."""
    while True:
        t = time.perf_counter()
        try:
            d = next(it)
        except StopIteration:
            st.seconds += time.perf_counter() - t
            return
        st.seconds += time.perf_counter() - t
        yield d


def _source(task: ShardTask) -> Iterator[Document]:
    if task.documents is not None:
        yield from (copy.copy(d) for d in task.documents)
        return
    if task.pass_index == 0:
        from curate.io.inputs import read_shard

        n = 0
        for d in read_shard(task.shard, read_limits(task.recipe)):
            n += 1
            if task.limit is not None and n > task.limit:
                return
            yield d
    else:
        for rel in task.input_files:
            yield from task.run.iter_rows(rel)


def _input_bytes(task: ShardTask) -> int:
    if task.pass_index or task.documents is not None or task.shard.path.startswith(("http://", "https://")):
        return 0
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(task.shard.path, **task.run.storage_options)
        return int(fs.size(path) or 0)
    except Exception:
        return 0


def _columnar_apply(task: ShardTask, mp: MapPass) -> Any:
    """The global stage whose decision is this whole pass, when it decides on Arrow columns (``apply_table``:
    a percentile cut on a stored score); else None (the pass runs document by document)."""
    if task.pass_index == 0 or task.documents is not None or mp.collects is not None or len(mp.stages) != 1:
        return None
    head = mp.stages[0]
    return head if isinstance(head, ApplyStage) and head.columnar else None


def _run_columnar(
    task: ShardTask, head: ApplyStage, st: StageStats, data_w: ParquetShardWriter, rejected: _Rejected,
    read_stats: StageStats,
) -> float:
    """The pass on Arrow batches: what ``run_stage`` does with the stage's ``apply`` (kept rows to data,
    dropped ones to rejected/ with their reason and snippet, the same counts), without Python documents."""
    import pyarrow.compute as pc

    peak = _rss_mb()
    batches = (b for rel in task.input_files for b in task.run.iter_batches(rel, BATCH_DOCS))
    for batch in batches:
        t = time.perf_counter()
        table = pa.Table.from_batches([batch])
        reasons = head.apply_table(table)
        keep = pc.is_null(reasons)
        kept, dropped = table.filter(keep), table.filter(pc.invert(keep))
        lengths = pc.utf8_length(table.column("text"))
        read_stats.docs_in += table.num_rows
        read_stats.docs_out += table.num_rows
        st.docs_in += table.num_rows
        st.docs_out += kept.num_rows
        st.chars_in += int(pc.sum(lengths).as_py() or 0)
        st.chars_out += int(pc.sum(pc.filter(lengths, keep)).as_py() or 0)
        counts = pc.value_counts(pc.drop_null(reasons))
        st.reasons.update(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))
        st.seconds += time.perf_counter() - t
        if kept.num_rows:
            data_w.write_table(kept.select(task.schema.names).cast(task.schema))
        if dropped.num_rows:
            rejected.add_table(dropped, st.name, pc.filter(reasons, pc.invert(keep)))
        peak = max(peak, _rss_mb())
    return peak


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_map_pass(task: ShardTask) -> ShardResult:
    """Run one shard through one map pass and write its outputs; return what it did.

    Raises (and writes no marker) when the shard cannot be read: the driver records it in ``failed/`` and a
    rerun retries it. Bad records inside a readable shard are counted skips, never raised.
    """
    t0 = time.perf_counter()
    retries0 = STORAGE_RETRIES[0]
    plan = worker_plan(task.recipe)
    mp: MapPass = plan.map_passes[task.pass_index]
    run, index, k = task.run, task.shard.index, task.pass_index
    for s in [*mp.stages, *([mp.collects] if mp.collects else [])]:
        if s.prepares:
            pos = next(i for i, x in enumerate(plan.stages) if x is s)
            s.use_prepared(run.stage_dir(pos, s.name))
        ensure_setup(s)
        s.start_shard()
    if mp.applies_position is not None:
        head = mp.stages[0]
        assert isinstance(head, ApplyStage)
        head.bind(run.stage_dir(mp.applies_position, head.name), index)
    for rel in run.shard_outputs(k, index, mp.last):  # what an unfinished earlier attempt left
        run.rm(rel)

    options = output_options(task.recipe)
    transient = intermediate_options(options, run.local)
    data_w = ParquetShardWriter(
        run, mp.output, part_name(index), options if mp.last else transient, schema=task.schema,
        ipc=not mp.last,
    )
    rej_w = ParquetShardWriter(
        run, "rejected", run.rejected_stem(index, k), options, schema=REJECTED_SCHEMA, rotate=False
    )
    rejected = _Rejected(rej_w, options.rejected_text_chars)
    col_w = None
    if mp.collects is not None:
        sdir = run.stage_dir(mp.collects_position, mp.collects.name)
        col_w = ParquetShardWriter(sdir, "collect", part_name(index), transient, rotate=False, transient=True)

    read_stats = StageStats("read")  # reported for the first pass only
    stage_stats = [StageStats(n) for n in mp.stat_names]
    g_stats = StageStats(f"{mp.collects.name}.prepare") if mp.collects is not None else None
    errors: list[str] = []
    undeclared: set[str] = set()
    peak = _rss_mb()
    columnar = _columnar_apply(task, mp)
    try:
        if columnar is not None:  # no document is made: the pass is one column comparison
            peak = _run_columnar(task, columnar, stage_stats[0], data_w, rejected, read_stats)
        batches = () if columnar is not None else _batches(_timed(_source(task), read_stats))
        for batch in batches:
            read_stats.docs_in += len(batch)
            docs = []
            for d in batch:
                read_stats.chars_in += len(d.get("_html") or b"") + len(d.get("text") or "")
                if "_skip" in d:
                    read_stats.reasons[d["_skip"]] += 1
                    rejected.add(d, "read", d["_skip"])
                else:
                    docs.append(d)
            read_stats.docs_out += len(docs)
            read_stats.chars_out += sum(len(d.get("_html") or b"") + len(d.get("text") or "") for d in docs)
            chars = None
            for s, st in zip(mp.stages, stage_stats):
                if not docs:
                    break
                docs, chars = run_stage(s.process_batch, st.name, docs, st, rejected, errors, s.mutates, chars)
            if mp.collects is not None and docs:
                docs, _ = run_stage(mp.collects.process_batch, g_stats.name, docs, g_stats, rejected, errors,
                                    chars=chars)
                if docs:
                    t = time.perf_counter()
                    col_w.write_table(mp.collects.collect(docs))
                    g_stats.seconds += time.perf_counter() - t
            if docs:
                table, extra_keys = docs_to_table(docs, task.schema, report=True)
                undeclared |= extra_keys
                data_w.write_table(table)
            rejected.flush()
            peak = max(peak, _rss_mb())
    except BaseException:
        for w in (data_w, rej_w, col_w):
            if w is not None:
                w.abort()
        raise
    rejected.flush()
    files = data_w.close()
    rej_w.close()
    if col_w is not None:
        if col_w.schema is None:
            col_w.write_table(mp.collects.collect([]))
        col_w.close()
    stats = {
        "shard": index,
        "segment": k,
        "source": task.shard.path,
        "input_bytes": _input_bytes(task),
        "docs_kept": data_w.rows,
        "seconds": round(time.perf_counter() - t0, 4),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "shard_peak_rss_mb": round(peak, 1),
        "storage_retries": STORAGE_RETRIES[0] - retries0,
        "stages": [s.to_dict() for s in [*([read_stats] if k == 0 else []), *stage_stats, *([g_stats] if g_stats else [])]],
    }
    if errors:
        stats["errors"] = errors
    if undeclared:
        stats["undeclared_columns"] = sorted(undeclared)  # not written: declare them in curate/schema.py
    run.write_json(run.stats_file(index, k), stats)
    run.write_json(run.marker(k, index), {"files": files, "rows": data_w.rows, "finished": time.time()})
    return ShardResult(index, k, files, data_w.rows, read_stats.docs_in, stats)
