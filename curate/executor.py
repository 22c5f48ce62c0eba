"""Executors: where the tasks of a plan run. Ray (the one distributed executor) or this process.

Both have the same three members, which is all the driver and the global stages' ``reduce`` use:
``num_workers`` (how many tasks run at once), ``imap_unordered(fn, args_list)`` (yield ``(position, result
or exception)`` as tasks finish) and ``map(fn, args_list)`` (results in order; raises the first failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from curate.errors import RetryableError


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


class _Base:
    num_workers: int = 1

    def imap_unordered(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> list[Any]:
        """``[fn(*args) for args in args_list]`` as parallel tasks; raises the first failure."""
        out: list[Any] = [None] * len(args_list)
        for i, r in self.imap_unordered(fn, args_list):
            if isinstance(r, BaseException):
                raise r
            out[i] = r
        return out


class LocalExecutor(_Base):
    """Runs every task in this process, in order (the Python API, notebooks, tests).

    ``num_workers`` is what global stages read to decide how many partitions to make; set it above 1 to
    exercise the partitioned code paths in one process.
    """

    def __init__(self, num_workers: int = 1) -> None:
        self.num_workers = num_workers

    def imap_unordered(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        for i, args in enumerate(args_list):
            try:
                yield i, fn(*args)
            except Exception as e:
                yield i, e


class RayExecutor(_Base):
    """Ray tasks, a bounded number in flight.

    Ray retries a task whose worker or node died (``max_retries``) and one that raised
    :class:`~curate.errors.RetryableError`; any other exception is deterministic (a bug, an unreadable
    file) and is reported at once rather than run again three times.
    """

    def __init__(self, max_in_flight: int | None = None, max_retries: int = 3) -> None:
        import ray

        from curate.raysession import cluster_cpus

        self.num_workers = cluster_cpus()
        self.max_in_flight = max_in_flight or 2 * self.num_workers
        self._task = ray.remote(max_retries=max_retries, retry_exceptions=[RetryableError])(_call)

    def imap_unordered(self, fn: Callable[..., Any], args_list: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        import ray

        pending: dict[Any, int] = {}
        todo = list(enumerate(args_list))
        todo.reverse()
        while todo or pending:
            while todo and len(pending) < self.max_in_flight:
                i, args = todo.pop()
                pending[self._task.remote(fn, tuple(args))] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    yield i, ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the task's own exception, after Ray's retries
                    cause = e.as_instanceof_cause()
                    yield i, cause if isinstance(cause, Exception) else e
                except Exception as e:  # a worker or node lost for good, an object lost
                    yield i, e
