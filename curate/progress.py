"""Progress of a pass: a live bar on a terminal, one plain line every few seconds in a log file.

Carriage-return bars written to a file (``nohup``, CI, a cluster job's log) become one line of thousands of
characters; off a terminal this prints a short line at most every ``interval`` seconds, and at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, total: int, desc: str, enabled: bool = True, interval: float = 10.0, stream: Any = None):
        self.total, self.desc, self.enabled, self.interval = total, desc, enabled, interval
        self.stream = stream or sys.stderr
        self.n = 0
        self.info: dict[str, Any] = {}
        self.t0 = self._last = time.time()
        self._bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="shard", file=self.stream)

    def update(self, **info: Any) -> None:
        self.n += 1
        self.info = info
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(**info)
            self._bar.update(1)
        elif time.time() - self._last >= self.interval:
            self._line()

    def _line(self) -> None:
        self._last = time.time()
        extra = " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in self.info.items())
        print(f"{self.desc}: {self.n}/{self.total} shards, {time.time() - self.t0:.0f} s {extra}".rstrip(),
              file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self._line()
