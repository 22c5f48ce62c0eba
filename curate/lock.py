"""One run at a time on a run directory: ``lock.json`` names the holder (host, pid, start) and its heartbeat.

A second ``curate run`` on the same output refuses with the holder's name. A holder that died does not
block the next run for long: on the same host its pid is checked; from another host its heartbeat (renewed
every ``HEARTBEAT_S`` seconds) must be younger than ``STALE_S``. On object storage there is no atomic
create-if-absent through fsspec, so the lock is written and read back: of two runs that start in the same
instant, the one whose write landed last holds it and the other refuses.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

from curate.errors import CurateError
from curate.rundir import RunDir

HEARTBEAT_S = 10.0
STALE_S = 60.0
LOCK = "lock.json"


class RunLocked(CurateError):
    """Another run holds this run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_is_live(info: dict[str, Any], now: float | None = None) -> bool:
    now = time.time() if now is None else now
    if info.get("host") == socket.gethostname():
        return _alive(int(info.get("pid", -1)))
    return now - float(info.get("heartbeat", 0)) < STALE_S


class RunLock:
    """Context manager holding ``lock.json`` of a run directory for the duration of a run."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.token = uuid.uuid4().hex
        self.info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "token": self.token,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _current(self) -> dict[str, Any] | None:
        try:
            return self.run.read_json(LOCK)
        except (FileNotFoundError, ValueError):
            return None

    def _write(self) -> None:
        self.run.write_json(LOCK, {**self.info, "heartbeat": time.time()})

    def __enter__(self) -> RunLock:
        held = self._current()
        if held and held.get("token") != self.token and holder_is_live(held):
            raise RunLocked(
                f"{self.run.url} is in use by another curate run (host {held.get('host')}, pid {held.get('pid')}, "
                f"started {held.get('started')}); wait for it to finish, or stop it"
            )
        self._write()
        if (self._current() or {}).get("token") != self.token:
            raise RunLocked(f"{self.run.url}: another curate run took the lock at the same moment")
        self._thread = threading.Thread(target=self._beat, name="curate-lock", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._write()
            except Exception:
                pass  # a missed heartbeat only makes the lock look older

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if (self._current() or {}).get("token") == self.token:
            self.run.rm(LOCK)
