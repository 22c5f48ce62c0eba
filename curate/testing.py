"""In-process helpers to run global stages without Ray (tests, notebooks, the simple dedup API).

``LocalRunner`` has the two members a global stage's ``reduce`` uses from the engine's Ray runner:
``map(fn, args_list)`` and ``num_workers``. ``run_global_stage`` drives a global stage through the same
sequence the engine runs — ``process_batch`` → ``collect`` → collect files → ``reduce`` → ``apply`` — on
shards given as lists of documents.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import Document
from curate.stage import GlobalStage, ensure_setup


class LocalRunner:
    """Runs ``fn(*args)`` for each args tuple, in order, in this process.

    ``num_workers`` is what global stages read to decide how many partitions to make; set it above 1 to
    exercise the partitioned code paths sequentially.
    """

    def __init__(self, num_workers: int = 1) -> None:
        self.num_workers = num_workers

    def map(self, fn: Callable[..., Any], args_list: list[tuple]) -> list[Any]:
        return [fn(*a) for a in args_list]


def run_global_stage(
    stage: GlobalStage,
    shards: list[list[Document]],
    workdir: str | Path,
    runner: Any | None = None,
    batch_size: int = 1000,
) -> tuple[list[list[Document]], list[tuple[Document, str]]]:
    """Run a global stage over in-memory shards; return (kept documents per shard, [(dropped doc, reason)]).

    Documents are copied before ``apply`` without their transient ``_`` fields, as the engine's write and
    re-read of the shard would do.
    """
    workdir = Path(workdir)
    runner = runner or LocalRunner()
    ensure_setup(stage)
    dropped: list[tuple[Document, str]] = []
    survivors: list[list[Document]] = []
    for i, docs in enumerate(shards):
        docs = [dict(d) for d in docs]
        kept: list[Document] = []
        tables = []
        for lo in range(0, max(len(docs), 1), batch_size):
            batch = docs[lo : lo + batch_size]
            reasons = stage.process_batch(batch)
            ok = [d for d, r in zip(batch, reasons, strict=True) if r is None]
            dropped += [(d, r) for d, r in zip(batch, reasons, strict=True) if r is not None]
            tables.append(stage.collect(ok))
            kept += ok
        path = workdir / "collect" / f"part-{i:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(tables), path)
        survivors.append([{k: v for k, v in d.items() if not k.startswith("_")} for d in kept])
    stage.reduce(workdir, list(range(len(shards))), runner)
    out: list[list[Document]] = []
    for i, docs in enumerate(survivors):
        kept = []
        for lo in range(0, len(docs), batch_size):
            batch = docs[lo : lo + batch_size]
            reasons = stage.apply(batch, i, workdir)
            for d, r in zip(batch, reasons, strict=True):
                if r is None:
                    kept.append(d)
                else:
                    dropped.append((d, r))
        out.append(kept)
    return out, dropped
