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


class _LinePrinter:
    """The part of tqdm's interface the loops use, printing one plain line every ``interval`` seconds."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 disable: bool = False, interval: float = 10.0, file: Any = None, **_: Any) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.disable, self.interval = disable, interval
        self.file = file or sys.stderr
        self.postfix: dict[str, Any] = {}
        self.t0 = self._last = time.time()

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.disable and time.time() - self._last >= self.interval:
            self._line()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kw}

    def write(self, s: str) -> None:
        print(s, file=self.file, flush=True)

    def _line(self) -> None:
        self._last = time.time()
        total = f"/{self.total}" if self.total else ""
        extra = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        print(f"{head}{self.n}{total} {self.unit}, {time.time() - self.t0:.0f} s {extra}".rstrip(), file=self.file,
              flush=True)

    def close(self) -> None:
        if not self.disable:
            self._line()


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """``tqdm(...)`` on a terminal; off one (a log file, CI, a cluster job) a plain line every ten seconds."""
    stream = kwargs.get("file") or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(*args, **kwargs)
    return _LinePrinter(*args, **kwargs)
