"""Error hierarchy: what aborts a run, what fails a shard, what is retried.

- :class:`RecipeError` — bad configuration; raised before any work starts and names the key and the file.
- :class:`ShardError` — this shard cannot be processed (unreadable file); the run goes on, the shard is
  reported as failed in the stats and the run's exit status.
- :class:`RetryableError` — transient (network); the engine retries the shard.

Bad *records* inside a readable shard are not errors at all: they are counted skips with a reason.
"""


class CurateError(Exception):
    """Base class of curate's errors."""


class RecipeError(CurateError, ValueError):
    """The recipe or a parameter is invalid. The message names the key (and the file when known)."""


class ShardError(CurateError):
    """One input shard cannot be processed; the rest of the run goes on."""


class RetryableError(CurateError):
    """A transient failure (network, storage); retry the shard."""
