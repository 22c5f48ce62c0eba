"""Helpers for tests and notebooks that exercise one global stage (production code never imports this).

``run_global_stage`` runs a one-stage recipe through the in-process runner — the same plan, map passes,
reduce pass and apply stage as ``curate run`` — and returns what it kept per shard and what it dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.local import recipe_of, run_documents
from curate.rundir import RunDir, StageDir
from curate.schema import Document
from curate.stage import GlobalStage

LocalRunner = __import__("curate.executor", fromlist=["LocalExecutor"]).LocalExecutor


def run_global_stage(
    stage: GlobalStage,
    shards: list[list[Document]],
    workdir: str | Path,
    runner: Any | None = None,
) -> tuple[list[list[Document]], list[tuple[Document, str]]]:
    """Run a global stage over in-memory shards; return (kept documents per shard, [(dropped doc, reason)]).

    The run directory is ``workdir``; :func:`stage_dir` gives the stage's own folder inside it. Dropped
    documents come back from ``rejected/`` with their whole text and ``_duplicate_of``.
    """
    recipe = recipe_of([stage])
    recipe.output = {"rejected_text_chars": 2**31 - 1}
    out = run_documents(recipe, [[dict(d) for d in s] for s in shards] or [[]], output=str(workdir),
                        num_workers=getattr(runner, "num_workers", 1))
    dropped = [({"id": r["id"], "text": r["text"] or "", "url": r["url"], "source": r["source"],
                 "_duplicate_of": r["duplicate_of"]}, r["reason"]) for r in out.rejected]
    return out.kept, dropped


def stage_dir(workdir: str | Path, stage: GlobalStage | str, position: int = 0) -> StageDir:
    """The folder of the stage at ``position`` inside the run directory ``workdir``."""
    return RunDir(str(workdir)).stage_dir(position, stage if isinstance(stage, str) else stage.name)


def stage_path(workdir: str | Path, stage: GlobalStage | str, position: int = 0) -> Path:
    """The same folder as a local :class:`~pathlib.Path`."""
    return Path(stage_dir(workdir, stage, position).url)


def read_rows(url: str, folder: str) -> list[dict[str, Any]]:
    """Every row of ``folder`` (``data``, ``rejected``) of a run directory on any filesystem, in a stable order:
    what tests compare between two runs."""
    import fsspec
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(str(url))
    fs.invalidate_cache()
    out: list[dict[str, Any]] = []
    for p in sorted(fs.glob(f"{root}/{folder}/*.parquet")):
        with fs.open(p, "rb") as f:
            out += pq.read_table(f).to_pylist()
    return sorted(out, key=lambda r: (str(r.get("stage")), str(r["id"])))
