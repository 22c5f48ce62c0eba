"""One shard through one segment of a recipe: the fused per-document work of a Ray task.

Reads the shard (an input file for the first segment, the previous segment's output after a global
stage), applies the previous global stage's decision, runs the segment's per-document stages batch by batch,
lets the next global stage score and collect, and writes kept rows, rejected rows, collected rows, stats and
— last — the completion marker. Documents stream through in batches: a shard is never held in memory.
"""

from __future__ import annotations

import json
import os
import posixpath
import resource
import socket
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curate.errors import ShardError
from curate.io.writer import OutputOptions, ParquetShardWriter, atomic_write_bytes
from curate.recipe import Recipe, output_options, parse_recipe, read_limits, segments
from curate.schema import REJECTED_SCHEMA, Document, schema_for
from curate.stage import BaseStage, GlobalStage, ensure_setup, worker_cache
from curate.stats import StageStats

BATCH_DOCS = 512
BATCH_BYTES = 32 * 2**20


@dataclass
class Layout:
    """Where a run's files live (DESIGN.md's run directory)."""

    root: str

    def join(self, *parts: str) -> str:
        return posixpath.join(self.root.rstrip("/"), *parts)

    def data_dir(self, seg: int, last: bool) -> str:
        return self.join("data") if last else self.join("intermediate", f"s{seg}")

    @staticmethod
    def stem(shard: int, seg: int) -> str:
        return f"part-{shard:05d}" if seg == 0 else f"part-{shard:05d}-s{seg}"

    def marker(self, seg: int, shard: int) -> str:
        return self.join("markers", f"s{seg}", f"part-{shard:05d}.json")

    def global_dir(self, position: int, name: str) -> str:
        return self.join("global", f"{position:02d}-{name}")

    def global_marker(self, position: int, name: str) -> str:
        return self.join("markers", f"global-{position:02d}-{name}.json")


@dataclass
class Pipeline:
    """A recipe built in a worker: stages, segments and options, built once per process."""

    recipe: Recipe
    stages: list[BaseStage]
    segments: list[tuple[list[BaseStage], GlobalStage | None]]
    positions: dict[int, int]  # id(global stage) -> its position in the recipe
    stat_names: dict[int, str]  # id(stage) -> its name in the stats ("name", "name#2" when repeated)
    limits: Any
    output: OutputOptions


def build_pipeline(recipe_dict: dict[str, Any]) -> Pipeline:
    body = {k: v for k, v in recipe_dict.items() if k != "source"}
    recipe = parse_recipe(body, recipe_dict.get("source") or "recipe")
    stages = recipe.build()
    counts: dict[str, int] = {}
    names: dict[int, str] = {}
    for s in stages:
        counts[s.name] = counts.get(s.name, 0) + 1
        names[id(s)] = s.name if counts[s.name] == 1 else f"{s.name}#{counts[s.name]}"
    positions = {id(s): i for i, s in enumerate(stages) if isinstance(s, GlobalStage)}
    return Pipeline(recipe, stages, segments(stages), positions, names, read_limits(recipe), output_options(recipe))


def worker_pipeline(recipe_dict: dict[str, Any]) -> Pipeline:
    """The pipeline for this recipe, built once per worker process (stages keep their loaded models)."""
    key = ("pipeline", json.dumps(recipe_dict, sort_keys=True, default=str))
    return worker_cache(key, lambda: build_pipeline(recipe_dict))


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
        if text is None and self.snippet and doc.get("_html") is not None:
            text = doc["_html"][: self.snippet].decode("utf-8", "replace")
        self.rows.append(
            {
                "id": doc.get("id"),
                "url": doc.get("url"),
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
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=REJECTED_SCHEMA))
            self.rows = []


def _run_stage(
    fn: Any, name: str, docs: list[Document], st: StageStats, rejected: _Rejected, errors: list[str]
) -> list[Document]:
    """Run one stage's batch function on ``docs``; return the kept ones. A stage that raises on a batch is
    retried document by document, and a document it still raises on is dropped as ``<stage>_error``."""
    st.docs_in += len(docs)
    st.chars_in += _text_len(docs)
    t = time.perf_counter()
    try:
        results = fn(docs)
        if len(results) != len(docs):
            raise RuntimeError(f"stage {name} returned {len(results)} results for {len(docs)} documents")
    except Exception:
        results = []
        for d in docs:
            try:
                results.append(fn([d])[0])
            except Exception:
                if len(errors) < 5:
                    errors.append(f"{name}: {traceback.format_exc(limit=3)}")
                results.append(f"{name.split('#')[0]}_error")
    kept = []
    for d, r in zip(docs, results):
        if r is None:
            kept.append(d)
        else:
            st.reasons[r] += 1
            rejected.add(d, name, r)
    st.seconds += time.perf_counter() - t
    st.docs_out += len(kept)
    st.chars_out += _text_len(kept)
    return kept


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


def _source_docs(spec: dict[str, Any], pipe: Pipeline, read_stats: StageStats) -> Iterator[Document]:
    return _timed(_source_iter(spec, pipe), read_stats)


def _source_iter(spec: dict[str, Any], pipe: Pipeline) -> Iterator[Document]:
    seg = spec["segment"]
    if seg == 0:
        from curate.io.inputs import Shard, read_shard

        shard = Shard(**spec["shard"])
        limit = spec.get("limit")
        n = 0
        for d in read_shard(shard, pipe.limits):
            n += 1
            if limit and n > limit:
                return
            yield d
    else:
        from curate.io.inputs import read_parquet

        for path in spec["input_files"]:
            yield from read_parquet(path)


def process_shard(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one shard through one segment and write its outputs; return its stats.

    ``spec``: recipe (dict), run_dir, segment, shard ({index, path, kind}), input_files (segments > 0),
    limit (records, first segment only).
    """
    t0 = time.perf_counter()
    pipe = worker_pipeline(spec["recipe"])
    layout = Layout(spec["run_dir"])
    seg = spec["segment"]
    index = spec["shard"]["index"]
    last = seg == len(pipe.segments) - 1
    seg_stages, gstage = pipe.segments[seg]
    prev_g = pipe.segments[seg - 1][1] if seg > 0 else None
    stem = Layout.stem(index, seg)
    for s in pipe.stages:
        ensure_setup(s)

    # Columns every kept row carries: declared by the stages that ran so far (and any input columns).
    ran = [s for s in pipe.stages[: pipe.stages.index(gstage) + 1 if gstage else None]]
    declared = [c for s in ran for c in s.columns]

    # Data files are always part-NNNNN (each pass has its own folder); rejected/ and stats/ add -sK per pass.
    data_w = ParquetShardWriter(layout.data_dir(seg, last), f"part-{index:05d}", pipe.output)
    rej_w = ParquetShardWriter(layout.join("rejected"), stem, pipe.output, schema=REJECTED_SCHEMA, rotate=False)
    rejected = _Rejected(rej_w, pipe.output.rejected_text_chars)
    col_w = None
    if gstage is not None:
        gdir = layout.global_dir(pipe.positions[id(gstage)], gstage.name)
        col_w = ParquetShardWriter(posixpath.join(gdir, "collect"), f"part-{index:05d}", pipe.output, rotate=False)

    source_stats = StageStats("read" if seg == 0 else f"{prev_g.name}")
    stage_stats = [StageStats(pipe.stat_names[id(s)]) for s in seg_stages]
    g_stats = StageStats(f"{gstage.name}.prepare") if gstage is not None else None
    errors: list[str] = []
    shard_error = None
    input_bytes = 0
    if seg == 0 and not spec["shard"]["path"].startswith(("http://", "https://")):
        try:
            import fsspec

            input_bytes = int(fsspec.core.url_to_fs(spec["shard"]["path"])[0].size(spec["shard"]["path"]) or 0)
        except Exception:
            input_bytes = 0
    undeclared: set[str] = set()
    try:
        for batch in _batches(_source_docs(spec, pipe, source_stats)):
            if seg == 0:
                docs = []
                source_stats.docs_in += len(batch)
                for d in batch:
                    source_stats.chars_in += len(d.get("_html") or b"") + len(d.get("text") or "")
                    if "_skip" in d:
                        source_stats.reasons[d["_skip"]] += 1
                        rejected.add(d, "read", d["_skip"])
                    else:
                        docs.append(d)
                source_stats.docs_out += len(docs)
                source_stats.chars_out += sum(len(d.get("_html") or b"") + len(d.get("text") or "") for d in docs)
            else:
                wd = layout.global_dir(pipe.positions[id(prev_g)], prev_g.name)
                docs = _run_stage(
                    lambda b, g=prev_g, wd=wd: g.apply(b, index, wd), prev_g.name, batch, source_stats, rejected, errors
                )
            for s, st in zip(seg_stages, stage_stats):
                if not docs:
                    break
                docs = _run_stage(s.process_batch, st.name, docs, st, rejected, errors)
            if gstage is not None and docs:
                docs = _run_stage(gstage.process_batch, g_stats.name, docs, g_stats, rejected, errors)
                if docs:
                    t = time.perf_counter()
                    col_w.write_table(gstage.collect(docs))
                    g_stats.seconds += time.perf_counter() - t
            if docs:
                if data_w.schema is None:
                    keys: dict[str, Any] = {c: None for c in declared}
                    for d in docs:
                        for k, v in d.items():
                            if keys.get(k) is None:
                                keys[k] = v
                    data_w.schema = schema_for(keys, keys)
                names = set(data_w.schema.names)
                for d in docs:
                    for k in d:
                        if k not in names and not k.startswith("_"):
                            undeclared.add(k)
                data_w.write_docs(docs)
            rejected.flush()
    except ShardError as e:
        # The file cannot be read at all: the shard completes empty, and the stats say why.
        shard_error = str(e)
        source_stats.docs_in += 1
        source_stats.reasons["read_unreadable_file"] += 1
        rejected.add({"id": spec["shard"]["path"], "source": spec["shard"]["path"]}, "read", "read_unreadable_file")
    except BaseException:
        data_w.abort()
        rej_w.abort()
        if col_w is not None:
            col_w.abort()
        raise
    rejected.flush()
    if data_w.schema is None:
        data_w.schema = schema_for(declared, {c: None for c in declared})
    files = data_w.close()
    rej_w.close()
    if col_w is not None:
        if col_w.schema is None:
            try:
                col_w.write_table(gstage.collect([]))
            except Exception:
                pass
        col_w.close()
    stages = [source_stats] + stage_stats + ([g_stats] if g_stats else [])
    stats = {
        "shard": index,
        "segment": seg,
        "source": spec["shard"]["path"],
        "input_bytes": input_bytes,
        "docs_kept": data_w.rows,
        "seconds": round(time.perf_counter() - t0, 4),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages": [s.to_dict() for s in stages],
    }
    if errors:
        stats["errors"] = errors
    if shard_error:
        stats["error"] = shard_error
    if undeclared:
        stats["undeclared_columns"] = sorted(undeclared)  # dropped: declare them in curate/schema.py
    atomic_write_bytes(layout.join("stats", f"{stem}.json"), json.dumps(stats, indent=1).encode())
    marker = {"files": files, "rows": data_w.rows, "finished": time.time()}
    atomic_write_bytes(layout.marker(seg, index), json.dumps(marker).encode())
    return stats
