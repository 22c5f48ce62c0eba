"""Resumable Ray tasks of ``curate tokenize``: each writes its outputs, then a ``.json`` info and a ``.done``
marker; a rerun skips the tasks whose marker exists with the same parameters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPLITS = ("train", "val")


def counts(info: dict) -> dict:
    return {f"{s}_{k}": info[s][k] for s in SPLITS for k in ("docs", "tokens")}


def finished(directory: Path, name: str, params: dict) -> dict | None:
    """The task's info if its marker exists and it was made with the same parameters."""
    if not (directory / f"{name}.done").exists():
        return None
    info = json.loads((directory / f"{name}.json").read_text())
    return info if all(info.get(k) == v for k, v in params.items()) else None


def run_tasks(
    fn: Callable, jobs: list[tuple[str, tuple, dict]], max_workers: int | None, progress: bool, desc: str
) -> dict[str, dict]:
    """Run ``fn(*args, **kwargs)`` as Ray tasks, at most ``max_workers`` in flight; results by name.

    Raises RuntimeError, after all the others finished, if a task failed its retries."""
    import ray
    from tqdm import tqdm

    task = ray.remote(num_cpus=1, max_retries=2, retry_exceptions=True)(fn)
    refs: dict[Any, str] = {}
    queue, results, failures = list(jobs), {}, {}

    def submit() -> None:
        name, args, kwargs = queue.pop(0)
        refs[task.remote(*args, **kwargs)] = name

    for _ in range(min(len(queue), max_workers or len(queue))):
        submit()
    bar = tqdm(total=len(jobs), desc=desc, unit="task", disable=not progress)
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        name = refs.pop(ready[0])
        try:
            results[name] = ray.get(ready[0])
        except Exception as e:  # reported after the rest finished, never dropped silently
            failures[name] = f"{type(e).__name__}: {e}"
        bar.update(1)
        if queue:  # keep at most max_workers tasks in flight
            submit()
    bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} task(s) failed; rerun to retry them: {failures}")
    return results
