"""A plugin module for tests: stages a recipe can load with ``plugins: [plugin_stages]``."""

import os
import time
from pathlib import Path

from curate.stage import Stage, register


@register("test_sleep")
class Sleep(Stage):
    """Sleeps per batch (so a test can kill a run midway); announces its worker pid in ``pid_dir``."""

    def __init__(self, seconds: float = 0.5, pid_dir: str = "") -> None:
        self.seconds = seconds
        self.pid_dir = pid_dir

    def process_batch(self, docs):
        if self.pid_dir:
            Path(self.pid_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.pid_dir) / str(os.getpid())).touch()
        time.sleep(self.seconds)
        return [None] * len(docs)


@register("test_vanish")
class Vanish(Stage):
    """Moves the file ``path`` away (to ``path + '.away'``) the first time it sees a document: an input that
    disappears while the run is going on. Does nothing once ``path + '.away'`` has been moved back."""

    needs_text = False

    def __init__(self, path: str = "") -> None:
        self.path = path

    def process_batch(self, docs):
        flag = Path(self.path + ".vanished")
        if self.path and not flag.exists() and Path(self.path).exists():
            os.replace(self.path, self.path + ".away")
            flag.touch()
        return [None] * len(docs)


@register("test_flaky")
class Flaky(Stage):
    """Marks every document of the batch, then raises if the batch holds the document ``bad_id``: a stage
    that fails after it has already changed other documents of the batch."""

    def __init__(self, bad_id: str = "") -> None:
        self.bad_id = bad_id

    def process_batch(self, docs):
        for d in docs:
            d["text"] = d["text"] + " [seen]"
        if any(d["id"] == self.bad_id for d in docs):
            raise ValueError(f"cannot handle {self.bad_id}")
        return [None] * len(docs)


def _slow_job(sdir, job: int, seconds: float) -> int:  # noqa: ANN001
    time.sleep(seconds)
    sdir.write_json(f"jobs/{job:03d}.json", {"pid": os.getpid(), "job": job})
    return job


from curate.stage import GlobalStage  # noqa: E402


@register("test_slow_global")
class SlowGlobal(GlobalStage):
    """A global stage whose reduce runs ``jobs`` parallel jobs of ``seconds`` each (so a test can lose a node
    during a reduce pass); it keeps every document."""

    reduce_jobs = "sleeping jobs"

    def __init__(self, jobs: int = 6, seconds: float = 2.0) -> None:
        self.jobs = jobs
        self.seconds = seconds

    def collect(self, docs):
        import pyarrow as pa

        return pa.table({"id": pa.array([str(d["id"]) for d in docs], pa.string())})

    def reduce(self, sdir, shards, executor):
        done = executor.map(_slow_job, [(sdir, j, self.seconds) for j in range(self.jobs)])
        return {"jobs": len(done)}

    def apply(self, docs, shard, sdir):
        return [None] * len(docs)
