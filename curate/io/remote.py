"""Remote inputs: Common Crawl listings and streaming opens with retries.

Any fsspec URL works (``http(s)://``, ``s3://``, ...); a path without a scheme is a local file. HTTP(S) is
read as one streaming GET (fsspec ``HTTPStreamFile``, aiohttp underneath), so a multi-GB WARC is never
downloaded into memory or onto disk first. If the connection breaks mid-stream, the reader reopens the URL
with range requests and continues at the same byte offset; a server without range support cannot resume,
and the read raises :class:`~curate.errors.RetryableError` so the engine retries the whole shard.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import time
from collections.abc import Callable
from typing import BinaryIO

import fsspec

from curate.errors import RetryableError

RANGE_BLOCK_SIZE = 8 * 2**20  # block size of range reads after a resume (and for s3:// and friends)
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def _is_transient(exc: BaseException) -> bool:
    """Connection resets, timeouts and 5xx/429 are worth retrying; 404, permissions and bad URLs are not."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | EOFError):
        return True
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientError):
            return True
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        pass
    # fsspec wraps some aiohttp failures in plain OSError / ValueError with the status in the message
    text = str(exc)
    return any(f" {code}" in text or f"{code}," in text for code in map(str, _TRANSIENT_STATUS))


def _with_retries(what: str, fn: Callable[[], BinaryIO], retries: int, backoff: float) -> BinaryIO:
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not _is_transient(exc):
                raise
            if attempt == retries:
                raise RetryableError(f"{what}: {exc!r} after {retries + 1} tries") from exc
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


class _ResumingStream(io.RawIOBase):
    """A forward-only remote byte stream that reopens at its current offset after a transient failure."""

    def __init__(self, url: str, retries: int, backoff: float):
        self.url, self.retries, self.backoff = url, retries, backoff
        self.fs, self.path = fsspec.core.url_to_fs(url)
        self.pos = 0
        self.protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        self.f = _with_retries(url, lambda: self._open(stream=True), retries, backoff)

    def _open(self, stream: bool) -> BinaryIO:
        if stream and self.protocol in ("http", "https"):
            return self.fs.open(self.path, "rb", block_size=0)  # HTTPStreamFile: one streaming GET
        f = self.fs.open(self.path, "rb", block_size=RANGE_BLOCK_SIZE)
        if self.pos:
            f.seek(self.pos)
        return f

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        for attempt in range(self.retries + 1):
            try:
                data = self.f.read(size)
                self.pos += len(data)
                return data
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _is_transient(exc) or attempt == self.retries:
                    raise RetryableError(f"{self.url}: read failed at byte {self.pos}: {exc!r}") from exc
                time.sleep(self.backoff * 2**attempt)
                try:  # resume with a range request; servers without ranges fail here and the shard is retried
                    self.f.close()
                    self.f = self._open(stream=False)
                except Exception:  # noqa: BLE001 - the next read attempt reports it
                    pass
        raise AssertionError("unreachable")

    def readinto(self, b) -> int:  # noqa: ANN001 - buffer protocol
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.pos

    def reopen_at(self, pos: int) -> None:
        """Continue reading at byte ``pos`` (a range request): how the WARC reader goes back after damage."""
        self.f.close()
        self.pos = pos
        self.f = _with_retries(self.url, lambda: self._open(stream=False), self.retries, self.backoff)

    def close(self) -> None:
        try:
            self.f.close()
        finally:
            super().close()


def open_with_retries(url: str, retries: int = 5, backoff: float = 0.5) -> BinaryIO:
    """Open a local path or fsspec URL for streaming binary reads.

    Remote opens and reads are retried ``retries`` times with exponential backoff (``backoff`` × 2^n s) on
    transient errors (connection reset, timeouts, 5xx, 429), then raise :class:`RetryableError`. A missing
    file or any other permanent failure raises the underlying ``OSError`` (``FileNotFoundError``) at once.
    Local paths return a seekable file; remote URLs a forward-only stream with ``tell()``.
    """
    if not is_remote(url):
        return open(url.removeprefix("file://"), "rb")
    return _ResumingStream(url, retries, backoff)


def expand_listing(listing: str, base_url: str) -> list[str]:
    """A Common Crawl listing (``warc.paths.gz`` or plain text: one relative path per line) -> full URLs.

    ``listing`` is a local path or URL; gzip is detected by its magic bytes. Blank lines and ``#`` comments
    are ignored; a line that already is a URL is kept as it is.
    """
    with open_with_retries(listing) as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    base = base_url.rstrip("/") + "/"
    urls = []
    for raw in data.decode("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        urls.append(line if "://" in line else base + line.lstrip("/"))
    return urls
