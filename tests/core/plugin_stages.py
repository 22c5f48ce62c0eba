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
