"""A whole recipe in this process, on documents in memory: the Python API's runner (no Ray, no files to give).

>>> from curate.local import run_documents
>>> out = run_documents("demo", [{"id": "1", "text": "..."}, ...])
>>> out.kept, out.rejected, out.funnel

It runs the very plan that ``curate run`` runs — map passes, global stages' reduce passes, apply stages —
with :class:`~curate.executor.LocalExecutor`, in a temporary run directory that it reads back and removes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

from curate.recipe import Recipe
from curate.stage import BaseStage


@dataclass
class LocalRun:
    """What an in-process run kept and dropped. ``kept`` is per shard when shards were given."""

    kept: list[Any]
    rejected: list[dict[str, Any]]
    funnel: dict[str, Any] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)


def recipe_of(stages: list[BaseStage | tuple[str, dict[str, Any]] | str], name: str = "inline") -> Recipe:
    """A recipe from built stages (their parameters), ``(name, params)`` pairs or bare stage names."""
    items: list[tuple[str, dict[str, Any]]] = []
    for s in stages:
        if isinstance(s, BaseStage):
            items.append((s.name, s.params()))
        elif isinstance(s, str):
            items.append((s, {}))
        else:
            items.append((s[0], dict(s[1])))
    return Recipe(name=name, path=f"<{name}>", stages=items)


def run_documents(
    recipe: str | Recipe | list[Any],
    documents: list[dict[str, Any]] | list[list[dict[str, Any]]],
    *,
    overrides: list[str] | None = None,
    num_workers: int = 1,
    shard_size: int = 10_000,
    output: str | None = None,
) -> LocalRun:
    """Run ``recipe`` on documents (dicts with at least ``id`` and ``text``; or ``_html`` bytes for the
    extract stage) in this process; global stages included.

    ``documents`` is one list (split into shards of ``shard_size``) or a list of shards (lists).
    ``num_workers`` sets how many partitions global stages make (the result does not depend on it).
    ``output`` keeps the run directory there instead of a temporary one.
    """
    from curate.executor import LocalExecutor
    from curate.rundir import RunDir, part_name
    from curate.runner import run
    from curate.stats import funnel

    if isinstance(recipe, list):
        recipe = recipe_of(recipe)
    per_shard = bool(documents) and all(isinstance(d, list) for d in documents)
    if per_shard:
        shards = [list(s) for s in documents]
    else:
        docs = list(documents)
        shards = [docs[i : i + shard_size] for i in range(0, len(docs), shard_size)] or [[]]
    for shard in shards:
        for i, d in enumerate(shard):
            d.setdefault("id", str(i))
    with tempfile.TemporaryDirectory(prefix="curate-local-") as tmp:
        out = output or f"{tmp}/run"
        res = run(recipe, [], out, overrides=overrides, executor=LocalExecutor(num_workers), documents=shards,
                  progress=False)
        if not res.ok:
            raise RuntimeError(f"in-process run failed: {res.failed}")
        rundir = RunDir(out)
        kept: list[Any] = []
        for k in range(len(shards)):
            rows: list[dict[str, Any]] = []
            stem = part_name(k)
            for rel in rundir.glob(f"data/{stem}.parquet") + rundir.glob(f"data/{stem}-*.parquet"):
                rows += rundir.read_table(rel).to_pylist()
            kept.append(rows)
        rejected = []
        for rel in rundir.glob("rejected/*.parquet"):
            rejected += rundir.read_table(rel).to_pylist()
        result = LocalRun(kept if per_shard else [d for s in kept for d in s], rejected, funnel(out),
                          res.global_summaries)
    return result
